//! The per-registry settings file: line 1 of the input is what the client sent, the rest the
//! bytes of `config.json`. Parsed directly (then `resolve`), and end to end through `get` with
//! the file planted as AWS_ECR_CONFIG. Checks: the same answer twice, a resolved registry that
//! re-parses to itself, an unmapped host resolving as the plain parser says, a custom name only
//! through a mapping, and `get` asking AWS for exactly the resolved registry.
#![no_main]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;

use docker_credential_ecr_login::config::Config;
use docker_credential_ecr_login::fuzzing::{self, FAKE_PASSWORD, FakeSource};
use docker_credential_ecr_login::protocol;
use docker_credential_ecr_login::registry::{self, Registry};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

struct World {
    _dir: tempfile::TempDir,
    cfg: Config,
    file: PathBuf,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("config.json");
    let home = dir.path().display().to_string();
    let cfg = fuzzing::config(&[
        ("HOME", home.as_str()),
        ("AWS_ECR_CONFIG", &file.display().to_string()),
        ("AWS_ECR_DISABLE_CACHE", "1"),
        ("AWS_ACCESS_KEY_ID", "AKIDFUZZ"),
        ("AWS_SECRET_ACCESS_KEY", "fuzz-secret"),
    ]);
    World {
        _dir: dir,
        cfg,
        file,
    }
});

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(host) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let file = data.get(split + 1..).unwrap_or_default();

    let first = fuzzing::parse_settings(file);
    let second = fuzzing::parse_settings(file);
    let resolved = match (&first, &second) {
        (Ok(a), Ok(b)) => {
            let r = a.resolve(host);
            assert_eq!(r, b.resolve(host), "deterministic");
            Some(r)
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            None
        }
        _ => panic!("parsed once, refused once"),
    };
    if let Some(Ok(r)) = &resolved {
        let direct = Registry::parse(host);
        match r {
            None => assert!(direct.is_none(), "{host:?}"),
            Some(r) => {
                assert_eq!(
                    Registry::parse(r.registry.host()).as_ref(),
                    Some(&r.registry)
                );
                match &r.key {
                    None => assert_eq!(Some(&r.registry), direct.as_ref()),
                    Some(k) => {
                        let by_host =
                            registry::host_of(host).is_some_and(|h| h.eq_ignore_ascii_case(k));
                        let by_account = matches!(&direct,
                            Some(Registry::Private { account, .. }) if account == k);
                        assert!(by_host || by_account, "key {k:?} for {host:?}");
                    }
                }
            }
        }
    }

    std::fs::write(&WORLD.file, file).expect("plant the settings file");
    let source = FakeSource::new(Some(Some(43_200)), NOW);
    let out = fuzzing::run(&["get"], &WORLD.cfg, host.as_bytes(), NOW, &source);
    let asked = source.asked.borrow();
    // What `get` resolves is the input as protocol::read_server_url reads it.
    let url = protocol::read_server_url(&mut host.as_bytes()).expect("one short UTF-8 line");
    let expected = fuzzing::parse_settings(file)
        .ok()
        .and_then(|m| m.resolve(&url).ok().flatten());
    if out.code == ExitCode::SUCCESS {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
        assert_eq!(v["Secret"], FAKE_PASSWORD);
        let r = expected.expect("credentials for an input the settings do not resolve");
        assert_eq!(asked.as_slice(), [r.registry]);
    } else {
        assert!(asked.len() <= 1);
        if let Some(got) = asked.first() {
            let r = expected.expect("AWS asked for an input the settings do not resolve");
            assert_eq!(got, &r.registry);
        }
    }
});
