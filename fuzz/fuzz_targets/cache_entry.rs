//! A token cache entry: the bytes of `tokens/<key>.json`, parsed directly and then planted in a
//! real cache directory for `get` and `list` (through `lib::run`, a fake token source). Checks
//! that a parsed entry round-trips, that "fresh" implies "usable" at any clock, and that `get`
//! hands out a cached token only if it is this identity's, this registry's and still usable
//! (asking AWS exactly when it is not fresh).
#![no_main]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;

use docker_credential_ecr_login::cache::{EntryKey, Store};
use docker_credential_ecr_login::config::Config;
use docker_credential_ecr_login::fuzzing::{self, FAKE_PASSWORD, FakeSource};
use docker_credential_ecr_login::identity::{AwsFilesOnce, Identity};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;
const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

struct World {
    _dir: tempfile::TempDir,
    cfg: Config,
    identity: String,
    entry: PathBuf,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let home = dir.path().display().to_string();
    let cache = dir.path().join("cache");
    let cfg = fuzzing::config(&[
        ("HOME", home.as_str()),
        ("AWS_ECR_CACHE_DIR", &cache.display().to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIDFUZZ"),
        ("AWS_SECRET_ACCESS_KEY", "fuzz-secret"),
    ]);
    let identity = Identity::of(&cfg, &AwsFilesOnce::default(), None).id;
    let store = Store::new(&cache);
    std::fs::create_dir_all(store.dir()).expect("tokens dir");
    let entry = store
        .dir()
        .join(format!("{}.json", EntryKey::new(&identity, HOST).stem()));
    World {
        _dir: dir,
        cfg,
        identity,
        entry,
    }
});

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    let parsed = fuzzing::parse_cache_entry(data);
    if let Some(e) = &parsed {
        for now in [
            0,
            e.fetched_at,
            e.fetched_at.saturating_add(1),
            e.expires_at.saturating_sub(1),
            e.expires_at,
            NOW,
            u64::MAX,
        ] {
            assert!(
                !e.is_fresh(now) || e.is_usable(now),
                "fresh but unusable at {now}"
            );
        }
        let again = serde_json::to_vec(e).expect("serialises");
        let back = fuzzing::parse_cache_entry(&again).expect("what we write, we read");
        assert_eq!(serde_json::to_vec(&back).expect("serialises"), again);
    }

    // A failure an earlier input recorded is shared for a few seconds (and the clock here stands
    // still): forget it, so that this input's `get` is judged on its entry alone.
    let _ = std::fs::remove_file(w.entry.with_extension("fail"));
    std::fs::write(&w.entry, data).expect("plant the entry");
    // Half the inputs with a working API, half with a failing one.
    let answer = (data.len() % 2 == 1).then_some(Some(43_200));
    let source = FakeSource::new(answer, NOW);
    let out = fuzzing::run(&["get"], &w.cfg, HOST.as_bytes(), NOW, &source);
    let ours = parsed
        .as_ref()
        .filter(|e| e.identity == w.identity && e.registry == HOST);
    let asked = source.asked.borrow().len();
    if ours.is_some_and(|e| e.is_fresh(NOW)) {
        assert_eq!(asked, 0, "a fresh entry still asked AWS");
    } else {
        assert_eq!(asked, 1, "no fresh entry, but AWS was not asked");
    }
    if out.code == ExitCode::SUCCESS {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
        let secret = v["Secret"].as_str().expect("a Secret string");
        if secret != FAKE_PASSWORD || answer.is_none() {
            let e = ours.expect("a cached token that is not this identity's or registry's");
            assert_eq!(e.password.expose(), secret);
            assert!(e.is_usable(NOW), "an unusable cached token was handed out");
        }
    } else {
        assert!(answer.is_none());
        assert!(
            !ours.is_some_and(|e| e.is_usable(NOW)),
            "a usable entry was not used"
        );
    }

    std::fs::write(&w.entry, data).expect("plant the entry");
    let out = fuzzing::run(&["list"], &w.cfg, b"", NOW, &source);
    assert_eq!(out.code, ExitCode::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON list");
    let listed = v.get(format!("https://{HOST}")).is_some();
    assert_eq!(listed, ours.is_some_and(|e| e.is_usable(NOW)), "{v}");
});
