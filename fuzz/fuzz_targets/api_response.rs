//! The GetAuthorizationToken answer: byte 0 picks ECR or ECR Public and the HTTP status, the rest
//! is the HTTP body. It goes through the SDK's own deserializer (a canned HTTP client, no network)
//! and then our mapping of its output or error. Checks: never a panic, a token only from a 2xx
//! answer, and an error that renders.
#![no_main]

use docker_credential_ecr_login::fuzzing;
use libfuzzer_sys::fuzz_target;

const STATUS: [u16; 8] = [200, 200, 200, 400, 403, 500, 503, 302];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let public = sel & 1 == 1;
    let status = STATUS[usize::from((sel >> 1) & 7)];
    match fuzzing::api_answer(public, status, body) {
        Ok(token) => {
            assert!((200..300).contains(&status), "a token from HTTP {status}");
            let _ = token.password.expose();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
