//! The stdin of every action, through `lib::run` as `main` calls it (Cursor in, Vec out, a fake
//! token source, no network). Byte 0 picks the action, the answer of the fake and
//! AWS_ECR_IGNORE_CREDS_STORAGE; the rest is stdin. Checks the protocol: one line on stdout, the
//! exact texts clients match, a `get` answer only for ECR hosts and with the input's ServerURL,
//! never an AWS call for a host that is not ECR, never the token on stderr.
#![no_main]

use std::process::ExitCode;
use std::sync::LazyLock;

use docker_credential_ecr_login::config::Config;
use docker_credential_ecr_login::fuzzing::{self, FAKE_PASSWORD, FakeSource};
use docker_credential_ecr_login::protocol::{self, NO_SERVER_URL, NOT_FOUND, NOT_IMPLEMENTED};
use docker_credential_ecr_login::registry::Registry;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

struct World {
    _dir: tempfile::TempDir,
    plain: Config,
    ignore: Config,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let home = dir.path().display().to_string();
    let cache = dir.path().join("cache").display().to_string();
    // Environment keys: the identity reads no file. The cache is disabled so that no input
    // leaves a file behind (the cache_entry target covers it).
    let base = [
        ("HOME", home.as_str()),
        ("AWS_ECR_CACHE_DIR", cache.as_str()),
        ("AWS_ECR_DISABLE_CACHE", "1"),
        ("AWS_ACCESS_KEY_ID", "AKIDFUZZ"),
        ("AWS_SECRET_ACCESS_KEY", "fuzz-secret"),
    ];
    let mut ignore = base.to_vec();
    ignore.push(("AWS_ECR_IGNORE_CREDS_STORAGE", "true"));
    World {
        plain: fuzzing::config(&base),
        ignore: fuzzing::config(&ignore),
        _dir: dir,
    }
});

fn line(text: &str) -> String {
    format!("{text}\n")
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stdin)) = data.split_first() else {
        return;
    };
    let action = [
        "get", "store", "erase", "list", "version", "get", "get", "store",
    ][usize::from(sel & 7)];
    let ignore = sel & 8 != 0;
    let answer = match (sel >> 4) & 3 {
        0 => Some(Some(43_200)),
        1 => Some(None),
        2 => None,
        _ => Some(Some(-5)),
    };
    let cfg = if ignore { &WORLD.ignore } else { &WORLD.plain };
    let source = FakeSource::new(answer, NOW);
    let out = fuzzing::run(&[action], cfg, stdin, NOW, &source);
    let ok = out.code == ExitCode::SUCCESS;
    let stdout = std::str::from_utf8(&out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(FAKE_PASSWORD), "token on stderr");
    let asked = source.asked.borrow();
    for r in asked.iter() {
        assert_eq!(
            Registry::parse(r.host()).as_ref(),
            Some(r),
            "fetch for {r:?}"
        );
    }
    if action != "get" {
        assert!(asked.is_empty(), "{action} called AWS");
    }
    match action {
        "get" => {
            let url = protocol::read_server_url(&mut &stdin[..]);
            let ecr = url.as_deref().and_then(Registry::parse);
            if ok {
                assert_eq!(stdout.matches('\n').count(), 1, "{stdout:?}");
                let v: serde_json::Value = serde_json::from_str(stdout).expect("JSON answer");
                let url = url.expect("an answer only for readable input");
                assert_eq!(v["ServerURL"], url.as_str());
                assert_eq!(v["Username"], "AWS");
                assert_eq!(v["Secret"], FAKE_PASSWORD);
                assert!(
                    ecr.is_some(),
                    "credentials for a host that is not ECR: {url:?}"
                );
                assert_eq!(asked.len(), 1);
                assert_eq!(asked[0], ecr.expect("checked"));
            } else {
                assert!(
                    stdout == line(NOT_FOUND) || stdout == line(NO_SERVER_URL),
                    "{stdout:?}"
                );
                assert!(!stdout.contains(FAKE_PASSWORD));
                if ecr.is_none() {
                    assert!(asked.is_empty(), "AWS called for {url:?}");
                    assert!(
                        stderr.is_empty(),
                        "stderr for a host that is not ECR: {stderr:?}"
                    );
                } else {
                    assert!(stderr.ends_with('\n') && stderr.matches('\n').count() == 1);
                }
            }
        }
        "store" => {
            let req = protocol::read_store_request(&mut &stdin[..]);
            assert_eq!(ok, ignore && req.is_ok());
            if ok {
                assert!(stdout.is_empty());
            } else {
                assert_eq!(stdout.matches('\n').count(), 1, "{stdout:?}");
                assert!(stdout.ends_with('\n'));
                if req.is_ok() {
                    assert_eq!(stdout, line(NOT_IMPLEMENTED));
                }
            }
        }
        "erase" => {
            let url = protocol::read_server_url(&mut &stdin[..]);
            let readable = url.as_deref().is_some_and(|u| !u.is_empty());
            assert_eq!(ok, ignore && readable);
            if ok {
                assert!(stdout.is_empty());
            } else if readable {
                assert_eq!(stdout, line(NOT_IMPLEMENTED));
            } else {
                assert_eq!(stdout, line(NO_SERVER_URL));
            }
        }
        "list" => {
            assert!(ok);
            let v: serde_json::Value = serde_json::from_str(stdout).expect("JSON list");
            assert!(v.is_object());
        }
        "version" => {
            assert!(ok);
            assert_eq!(stdout, line(&protocol::version()));
        }
        _ => unreachable!(),
    }
});
