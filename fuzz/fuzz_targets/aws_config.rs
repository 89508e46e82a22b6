//! The AWS config and credentials files as the identity reads them. Line 1 of the input is the
//! profile (AWS_PROFILE; empty: none), the rest is the config file, then after a NUL byte the
//! credentials file. Parsed directly (`parse_ini`) and through `Identity::of` with both files
//! planted. Checks: the same answer twice, sections and keys as the parser promises (trimmed,
//! single-spaced, ignored keys dropped), a stable 64-hex identity, a mapping override of the
//! same profile giving the same identity, and no credential value in the summary.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use docker_credential_ecr_login::fuzzing;
use docker_credential_ecr_login::identity::{AwsFilesOnce, Identity};
use libfuzzer_sys::fuzz_target;

struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    credentials: PathBuf,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temp dir");
    World {
        config: dir.path().join("config"),
        credentials: dir.path().join("credentials"),
        dir,
    }
});

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(profile) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let rest = data.get(split + 1..).unwrap_or_default();
    let (config, credentials) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };

    let mut secrets = Vec::new();
    for file in [config, credentials] {
        let parsed = fuzzing::parse_aws_ini(file);
        assert_eq!(parsed, fuzzing::parse_aws_ini(file), "deterministic");
        for (section, kv) in parsed.iter().flatten() {
            assert_eq!(section.trim(), section, "{section:?}");
            assert!(!section.contains("  "), "{section:?}");
            for (k, v) in kv {
                assert_eq!(k.trim(), k, "{k:?}");
                assert!(!["region", "output", "cli_pager", "cli_history"].contains(&k.as_str()));
                if k.contains("secret") || k.contains("token") {
                    secrets.push(v.clone());
                }
            }
        }
    }

    let w = &*WORLD;
    std::fs::write(&w.config, config).expect("plant config");
    std::fs::write(&w.credentials, credentials).expect("plant credentials");
    let home = w.dir.path().display().to_string();
    let config_file = w.config.display().to_string();
    let credentials_file = w.credentials.display().to_string();
    let mut vars = vec![
        ("HOME", home.as_str()),
        ("AWS_CONFIG_FILE", config_file.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials_file.as_str()),
    ];
    if !profile.is_empty() {
        vars.push(("AWS_PROFILE", profile));
    }
    let cfg = fuzzing::config(&vars);
    let a = Identity::of(&cfg, &AwsFilesOnce::default(), None);
    assert_eq!(
        a,
        Identity::of(&cfg, &AwsFilesOnce::default(), None),
        "deterministic"
    );
    assert!(a.id.len() == 64 && a.id.bytes().all(|b| b.is_ascii_hexdigit()));
    let selected = if profile.is_empty() {
        "default"
    } else {
        profile
    };
    assert_eq!(
        Identity::of(&cfg, &AwsFilesOnce::default(), Some(selected)),
        a,
        "override of the same profile"
    );
    if a.profile_found() {
        assert_eq!(a.source.to_string(), format!("profile {selected}"));
    }
    for s in secrets {
        if s.len() >= 8 && !selected.contains(&s) {
            assert!(
                !a.source.to_string().contains(&s),
                "a secret in the summary"
            );
        }
    }
});
