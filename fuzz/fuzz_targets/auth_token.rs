//! Our decoding of `authorizationToken` (base64 "AWS:<password>") and `expiresAt`: bytes 0..8 are
//! expiresAt (i64, little-endian), the rest the token text. Checks: never a panic, the same
//! answer twice, expiresAt kept when non-negative, and, for the input taken as a password,
//! base64("AWS:" + password) decoding back to exactly that password.
#![no_main]

use base64::Engine as _;
use docker_credential_ecr_login::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, text) = data.split_at(8);
    let expires = i64::from_le_bytes(head.try_into().expect("8 bytes"));
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let a = fuzzing::decode_token(Some(text), Some(expires));
    let b = fuzzing::decode_token(Some(text), Some(expires));
    match (&a, &b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x.password.expose(), y.password.expose());
            assert_eq!(x.expires_at, u64::try_from(expires).ok());
        }
        (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
        _ => panic!("not deterministic"),
    }

    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{text}"));
    let decoded = fuzzing::decode_token(Some(&encoded), None);
    if text.is_empty() {
        // `base64("AWS:")`: a broken answer, refused (docs/security.md).
        assert!(decoded.is_err(), "an empty password was accepted");
    } else {
        let t = decoded.expect("a well-formed token decodes");
        assert_eq!(t.password.expose(), text);
        assert_eq!(t.expires_at, None);
    }
});
