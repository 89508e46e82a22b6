//! docs/contract.md §8, §9 and §11: the cache and the log, over the real binary and the fake ECR.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::Duration;

use crate::support::*;

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_cache_hit_makes_no_api_call() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let first = env.get(HOST).secret();
    for _ in 0..5 {
        assert_eq!(env.get(HOST).secret(), first);
    }
    assert_eq!(fake.calls(), 1);
    let log = env.log_text();
    assert!(log.contains("source=Cache"), "hits are logged: {log}");
}

#[test]
fn cache_files_are_private() {
    if unix_only(
        "modes (Windows: the access list; hardening::a_world_writable_cache_dir_is_not_trusted)",
    ) {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    let dir = env.cache_dir();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("tokens")), 0o700);
    assert_eq!(mode(&dir.join("log")), 0o700);
    for sub in ["tokens", "log"] {
        for e in fs::read_dir(dir.join(sub)).unwrap().flatten() {
            assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        }
    }
}

#[test]
fn disabling_the_cache_fetches_every_time() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ECR_DISABLE_CACHE", "false");
    env.get(HOST).secret();
    env.get(HOST).secret();
    assert_eq!(fake.calls(), 2);
    assert!(!env.cache_dir().join("tokens").exists());
}

#[test]
fn a_credential_process_is_not_run_on_a_cache_hit() {
    let fake = Fake::start();
    let mut env = Env::new();
    let marker = env.path().join("runs");
    let json = process_json("AKIDPROCESS");
    let command = process_script(
        env.path(),
        &format!("echo run >> {}\necho '{json}'\n", marker.display()),
        &format!("echo run>> {}\necho {json}", shown(&marker)),
    );
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(
        env.path().join(".aws/config"),
        format!("[profile proc]\ncredential_process = {command}\n"),
    )
    .unwrap();
    env.set("AWS_PROFILE", "proc")
        .set("AWS_ENDPOINT_URL_ECR", &fake.url());
    assert_eq!(env.get(HOST).secret(), "pw-AKIDPROCESS-1");
    for _ in 0..3 {
        assert_eq!(env.get(HOST).secret(), "pw-AKIDPROCESS-1");
    }
    let runs = fs::read_to_string(&marker).unwrap();
    assert_eq!(runs.lines().count(), 1, "the process ran only for the miss");
    assert_eq!(fake.calls(), 1);
}

#[test]
fn two_identities_never_share_a_token() {
    let fake = Fake::start();
    let a = Env::with_fake(&fake);
    let mut b = Env::with_fake(&fake);
    b.set("AWS_ECR_CACHE_DIR", &a.cache_dir().display().to_string())
        .set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE2");
    let ta = a.get(HOST).secret();
    let tb = b.get(HOST).secret();
    assert_eq!(ta, "pw-AKIDEXAMPLE1-1");
    assert_eq!(tb, "pw-AKIDEXAMPLE2-2");
    // Both now hit their own entries.
    assert_eq!(a.get(HOST).secret(), ta);
    assert_eq!(b.get(HOST).secret(), tb);
    assert_eq!(fake.calls(), 2);

    // Profiles from the credentials file are identities too.
    let mut p = Env::new();
    fs::create_dir_all(p.path().join(".aws")).unwrap();
    fs::write(
        p.path().join(".aws/credentials"),
        format!("[one]\naws_access_key_id = AKIDONE\naws_secret_access_key = {SECRET_KEY}\n[two]\naws_access_key_id = AKIDTWO\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    p.set("AWS_ENDPOINT_URL_ECR", &fake.url())
        .set("AWS_PROFILE", "one");
    assert!(p.get(HOST).secret().starts_with("pw-AKIDONE-"));
    p.set("AWS_PROFILE", "two");
    assert!(p.get(HOST).secret().starts_with("pw-AKIDTWO-"));
    p.set("AWS_PROFILE", "one");
    assert!(p.get(HOST).secret().starts_with("pw-AKIDONE-"));
    assert_eq!(fake.calls(), 4);
}

#[test]
fn twenty_concurrent_cold_gets_of_one_registry_make_one_api_call() {
    let fake = Fake::start();
    fake.set_mode(Mode::Slow(Duration::from_millis(300)));
    let env = Env::with_fake(&fake);
    let secrets: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..20).map(|_| s.spawn(|| env.get(HOST))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().secret())
            .collect()
    });
    assert_eq!(fake.calls(), 1);
    assert!(secrets.iter().all(|s| s == &secrets[0]));
}

#[test]
fn thirty_registries_fetched_concurrently_are_all_cached_afterwards() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let hosts: Vec<String> = (0..30)
        .map(|i| format!("1234567890{i:02}.dkr.ecr.us-west-2.amazonaws.com"))
        .collect();
    // Under qemu-user on 2 cores, 30 emulated helpers at once can starve one another past the
    // helper's 4 s API bound (seen in CI with a build beside them): there they write in waves of
    // 10 concurrent helpers, still many writers of one directory at a time.
    let wave = if under_qemu_user() { 10 } else { hosts.len() };
    for chunk in hosts.chunks(wave) {
        thread::scope(|s| {
            for h in chunk {
                let env = &env;
                s.spawn(move || env.get(h).secret());
            }
        });
    }
    // One token serves every account of the region (each helper writes its registry's copy).
    assert_eq!(fake.calls(), 1);
    for h in &hosts {
        env.get(h).secret();
    }
    assert_eq!(
        fake.calls(),
        1,
        "every entry survived the concurrent writers"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&env.run(&["list"], b"unused").stdout).unwrap();
    assert_eq!(listed.as_object().unwrap().len(), 30);
}

/// Moves every cached entry `secs` into the past (fetch time and expiry), as if that much time
/// had gone by: the binary reads the real clock, so this is how a test ages a token without
/// sleeping.
fn age_entries(env: &Env, secs: u64) {
    let dir = env.cache_dir().join("tokens");
    for e in fs::read_dir(&dir).unwrap().flatten() {
        if !e.file_name().to_string_lossy().ends_with(".json") {
            continue;
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
        for field in ["fetched_at", "expires_at"] {
            let t = v[field].as_u64().unwrap();
            v[field] = serde_json::json!(t - secs);
        }
        fs::write(e.path(), v.to_string()).unwrap();
    }
}

#[test]
fn a_token_past_half_life_is_refreshed() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    // The caller refreshes (background refresh: tests below).
    env.set("AWS_ECR_BACKGROUND_REFRESH", "0");
    let first = env.get(HOST).secret();
    age_entries(&env, 21_000);
    assert_eq!(env.get(HOST).secret(), first, "fresh before half-life");
    age_entries(&env, 700);
    let second = env.get(HOST).secret();
    assert_ne!(second, first);
    assert_eq!(fake.calls(), 2);
}

#[test]
fn the_settings_file_turns_background_refresh_off() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    fs::create_dir_all(env.cache_dir()).unwrap();
    fs::write(
        env.cache_dir().join("config.json"),
        r#"{"backgroundRefresh": false}"#,
    )
    .unwrap();
    let first = env.get(HOST).secret();
    age_entries(&env, 30_000);
    // The caller fetches the new token itself, and no refresher is started.
    assert_ne!(env.get(HOST).secret(), first);
    assert_eq!(fake.calls(), 2);
    assert!(!env.log_text().contains("background refresh started"));
}

#[test]
fn a_failed_refresh_serves_the_cached_token_only_until_it_expires() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ECR_BACKGROUND_REFRESH", "0");
    let first = env.get(HOST).secret();
    fake.set_mode(Mode::AccessDenied);
    age_entries(&env, 30_000);
    // Past half-life, refresh denied, token still valid: served.
    let out = env.get(HOST);
    assert_eq!(out.secret(), first);
    assert_eq!(fake.calls(), 2, "a refresh was attempted");
    age_entries(&env, 13_200);
    // Expired: not-found and the reason.
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(
        out.stderr.contains("AccessDeniedException"),
        "{}",
        out.stderr
    );
}

/// Moves `field` of every cache file ending in `ext` `secs` into the future (a clock set back,
/// or a planted file).
fn date_ahead(env: &Env, ext: &str, fields: &[&str], secs: u64) {
    let dir = env.cache_dir().join("tokens");
    let mut moved = 0;
    for e in fs::read_dir(&dir).unwrap().flatten() {
        if !e.file_name().to_string_lossy().ends_with(ext) {
            continue;
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
        for field in fields {
            let t = v[*field].as_u64().unwrap();
            v[*field] = serde_json::json!(t + secs);
        }
        fs::write(e.path(), v.to_string()).unwrap();
        moved += 1;
    }
    assert!(moved > 0, "no {ext} file in {}", dir.display());
}

#[test]
fn an_entry_fetched_in_the_future_is_never_served_nor_listed() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let first = env.get(HOST).secret();
    // Fetched an hour "later" than now, beyond the 60 s a waiter may see: a clock set back.
    date_ahead(&env, ".json", &["fetched_at", "expires_at"], 3600);
    let out = env.run(&["list"], b"unused");
    assert_eq!((out.code, out.stdout.as_str()), (0, "{}\n"), "{out:?}");
    // Not fresh, so refreshed; the refresh fails: the entry is not served.
    fake.set_mode(Mode::AccessDenied);
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    assert!(!out.stdout.contains(&first));
    assert!(
        out.stderr.contains("AccessDeniedException"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 2, "a refresh was attempted");
}

#[test]
fn a_failure_recorded_in_the_future_does_not_answer() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    fake.set_mode(Mode::AccessDenied);
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    // Recorded two minutes "later" than now: it would answer for two minutes, not 5 s.
    date_ahead(&env, ".fail", &["recorded_at"], 120);
    fake.set_mode(Mode::Ok { lifetime: 43_200 });
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-2");
    assert_eq!(fake.calls(), 2);
}

#[test]
fn garbage_in_every_cache_file_is_survived() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    env.get("public.ecr.aws").secret();
    let tokens = env.cache_dir().join("tokens");
    for e in fs::read_dir(&tokens).unwrap().flatten() {
        fs::write(e.path(), b"\x00\xffgarbage{{{").unwrap();
    }
    fs::write(tokens.join("0123.json"), b"[1,2,3]").unwrap();
    fs::write(tokens.join("deadbeef.tmp.1.2"), b"partial").unwrap();
    fs::write(env.cache_dir().join("cache.json"), b"not go's json").unwrap();
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-3");
    assert_eq!(
        env.get(HOST).secret(),
        "pw-AKIDEXAMPLE1-3",
        "rewritten entry hits"
    );
    assert!(
        !tokens.join("0123.json").exists(),
        "damaged entries are pruned"
    );
    assert_eq!(
        fs::read(env.cache_dir().join("cache.json")).unwrap(),
        b"not go's json",
        "the Go helper's file is never touched"
    );
}

#[test]
fn the_go_helpers_cache_json_is_left_alone() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    fs::create_dir_all(env.cache_dir()).unwrap();
    let go = r#"{"Registries":{"123456789012.dkr.ecr.us-west-2.amazonaws.com":{"AuthorizationToken":"QVdTOmdv","RequestedAt":"2026-01-01T00:00:00Z","ExpiresAt":"2026-01-01T12:00:00Z","ProxyEndpoint":"https://123456789012.dkr.ecr.us-west-2.amazonaws.com","Service":"ecr"}},"Version":"1.0"}"#;
    fs::write(env.cache_dir().join("cache.json"), go).unwrap();
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-1");
    assert_eq!(
        fs::read_to_string(env.cache_dir().join("cache.json")).unwrap(),
        go
    );
}

#[test]
fn an_unwritable_cache_directory_degrades_to_no_cache() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    // A regular file where the directory should be: unwritable even for root.
    let blocker = env.path().join("blocker");
    fs::write(&blocker, b"").unwrap();
    env.set(
        "AWS_ECR_CACHE_DIR",
        &blocker.join("ecr").display().to_string(),
    );
    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1");
    assert_eq!(out.stderr, "");
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-2");
    assert_eq!(env.run(&["list"], b"").stdout, "{}\n");
}

#[test]
fn no_secret_reaches_the_log_or_stderr() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_SESSION_TOKEN", "SESSIONTOKENSECRET123")
        .set("AWS_ECR_LOG_LEVEL", "trace");
    let password = env.get(HOST).secret();
    env.get(HOST).secret();
    fake.set_mode(Mode::AccessDenied);
    let out = env.get("public.ecr.aws");
    assert_eq!(out.code, 1);
    let log = env.log_text();
    assert!(
        log.contains("GetAuthorizationToken"),
        "the log has content: {log}"
    );
    for secret in [SECRET_KEY, "SESSIONTOKENSECRET123", password.as_str()] {
        assert!(!log.contains(secret), "log leaks {secret}");
        assert!(!out.stderr.contains(secret), "stderr leaks {secret}");
    }
}

#[test]
fn log_level_off_writes_no_log_and_an_unusable_log_dir_is_harmless() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ECR_LOG_LEVEL", "off");
    env.get(HOST).secret();
    assert!(!env.cache_dir().join("log").exists());

    let env = Env::with_fake(&fake);
    fs::create_dir_all(env.cache_dir()).unwrap();
    fs::write(env.cache_dir().join("log"), b"a file, not a directory").unwrap();
    let out = env.get(HOST);
    assert!(out.secret().starts_with("pw-"));
    assert_eq!(out.stderr, "");
}

#[test]
fn old_log_files_are_pruned_to_a_week() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let log = env.cache_dir().join("log");
    fs::create_dir_all(&log).unwrap();
    // tracing-appender prunes by creation time: create them in date order.
    for day in 1..=12 {
        fs::write(
            log.join(format!("ecr-login.2020-01-{day:02}.log")),
            b"old\n",
        )
        .unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    env.get(HOST).secret();
    let mut names: Vec<String> = fs::read_dir(&log)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(
        names[0], "ecr-login.2020-01-07.log",
        "the oldest went first: {names:?}"
    );
    // Later runs the same day neither prune nor add files.
    fs::write(log.join("ecr-login.2019-12-31.log"), b"older\n").unwrap();
    env.get(HOST).secret();
    assert_eq!(
        fs::read_dir(&log).unwrap().count(),
        8,
        "pruning runs once a day"
    );
    assert!(env.log_text().contains("GetAuthorizationToken ok"));
}

#[test]
fn kill_9_in_the_middle_of_fetches_leaves_a_usable_cache() {
    use std::process::Stdio;
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    // Twelve gets at once: six accounts of HOST's region (served by its token: they answer,
    // some may be cut off while they copy it), and six of another region, whose one fetch is
    // held at the fake: one process holds the region's lock with the call in flight, the
    // others wait on it. Kill them all once that call has arrived.
    fake.hold();
    let served: Vec<String> = (0..6)
        .map(|i| format!("99999999990{i}.dkr.ecr.us-west-2.amazonaws.com"))
        .collect();
    let fetched: Vec<String> = (0..6)
        .map(|i| format!("88888888880{i}.dkr.ecr.eu-west-1.amazonaws.com"))
        .collect();
    let mut children = Vec::new();
    for h in served.iter().chain(&fetched) {
        let mut c = env
            .command(&["get"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(h.as_bytes()).unwrap();
        children.push(c);
    }
    eventually("the held fetch's call", || fake.calls() == 2);
    for c in &mut children {
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }
    fake.release();
    let diagnose = || format!("requests {:#?}\nlog:\n{}", fake.requests(), env.log_text());
    // Locks died with their holders; the earlier entry is intact; new fetches work and stick.
    assert_eq!(
        env.get(HOST).secret(),
        "pw-AKIDEXAMPLE1-1",
        "{}",
        diagnose()
    );
    // HOST's token (intact) serves the other accounts of its region: no call at all; the other
    // region's lock is free: one call, and its token serves that region's every account.
    for h in served.iter().chain(&fetched).chain(&served).chain(&fetched) {
        env.get(h).secret();
    }
    assert_eq!(
        fake.calls(),
        3,
        "one new call, for the other region: {}",
        diagnose()
    );
    assert!(
        !env.log_text().contains("entry lock not taken"),
        "no get after the kills had to wait out a dead holder's lock: {}",
        diagnose()
    );
}

/// Polls `cond` every 20 ms for up to a minute (a bound for a broken build, not a timing).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("never happened: {what}");
}

/// The fetch time of the one private entry of HOST (the registry's own file).
fn fetched_at_of_entries(env: &Env) -> Vec<u64> {
    let dir = env.cache_dir().join("tokens");
    let mut v: Vec<u64> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
            v["fetched_at"].as_u64().unwrap()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn past_its_refresh_point_a_get_answers_from_the_cache_and_its_pipes_close_while_the_refresh_runs()
{
    if unix_only("a descriptor leaked through pre_exec and dup2") {
        return;
    }
    use std::io::{Read, Write};
    use std::process::Stdio;
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let first = env.get(HOST).secret();
    age_entries(&env, 30_000);
    // The refresher's call will reach the fake and wait there until released.
    fake.hold();
    // And a descriptor the client leaked to the helper (no close-on-exec), as some do: made
    // close-on-exec here, so only this helper gets it (as fd 200, without the flag).
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) into a two-int array; both ends are owned below.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    // SAFETY: fds[0] and fds[1] are open and owned by nothing else.
    let (mut leaked_r, leaked_w) =
        unsafe { (fs::File::from_raw_fd(fds[0]), fs::File::from_raw_fd(fds[1])) };
    let w = fds[1];
    let mut cmd = env.command(&["get"]);
    // SAFETY: dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(w, 200);
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(leaked_w);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(HOST.as_bytes())
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        // EOF on every pipe: no process holds them any more.
        let (mut o, mut e, mut l) = (String::new(), String::new(), String::new());
        out.read_to_string(&mut o).unwrap();
        err.read_to_string(&mut e).unwrap();
        leaked_r.read_to_string(&mut l).unwrap();
        tx.send((o, e)).unwrap();
    });
    let (stdout, stderr) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the client's pipes stay open while the refresh runs");
    assert!(child.wait().unwrap().success());
    let secret: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(secret["Secret"], first.as_str(), "answered from the cache");
    assert_eq!(stderr, "", "the refresher writes nothing to the client");
    // ... while the refresh is still under way (its claim is there until it ends).
    let claimed = fs::read_dir(env.cache_dir().join("tokens"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".refreshing"));
    assert!(claimed, "the pipes closed only when the refresh had ended");
    // The refresh is running: its call reached the fake, which has not answered it.
    eventually("the refresher's call", || fake.calls() == 2);
    let old = fetched_at_of_entries(&env);
    fake.release();
    // The refreshed entry lands on disk, and the next get answers with it, without a call.
    eventually("the refreshed entry", || fetched_at_of_entries(&env) != old);
    let second = env.get(HOST).secret();
    assert_ne!(second, first);
    assert_eq!(fake.calls(), 2);
    assert!(env.log_text().contains("source=CacheRefreshing"));
}

#[test]
fn a_burst_of_gets_past_the_refresh_point_starts_one_refresh() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let b = "210987654321.dkr.ecr.us-west-2.amazonaws.com";
    let first = env.get(HOST).secret();
    assert_eq!(env.get(b).secret(), first, "one token for the region");
    age_entries(&env, 30_000);
    // The refresher's call waits at the fake until it has arrived (then it is answered at
    // once, inside the refresher's budget however slowly the burst's processes end, as under
    // Wine): gets that run before see the refresh under way.
    fake.hold();
    let secrets: Vec<String> = thread::scope(|s| {
        let releaser = s.spawn(|| {
            eventually("the refresher's call", || fake.calls() >= 2);
            fake.release();
        });
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let env = &env;
                s.spawn(move || env.get(if i % 2 == 0 { HOST } else { b }).secret())
            })
            .collect();
        let secrets = handles.into_iter().map(|h| h.join().unwrap()).collect();
        releaser.join().unwrap();
        secrets
    });
    eventually("the refreshed entry", || env.get(b).secret() != first);
    let refreshed = env.get(HOST).secret();
    assert_eq!(env.get(b).secret(), refreshed, "one token for the region");
    assert!(
        secrets.iter().all(|s| s == &first || s == &refreshed),
        "every get answered from the cache: {secrets:?}"
    );
    let started = env.log_text().matches("background refresh started").count();
    assert_eq!(started, 1, "one refresher");
    // One call (and any retry of it by the SDK, the same request) for both accounts.
    let requests = fake.requests();
    assert!(requests.len() >= 2, "{requests:?}");
    for r in &requests[2..] {
        assert_eq!(r.body, requests[1].body, "one refresh for both accounts");
    }
    assert_eq!(fake.calls(), requests.len(), "no call since the refresh");
}

#[test]
fn a_failed_background_refresh_suppresses_refreshes_until_its_record_lapses() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let first = env.get(HOST).secret();
    age_entries(&env, 30_000);
    fake.set_mode(Mode::AccessDenied);
    assert_eq!(env.get(HOST).secret(), first);
    let tokens = env.cache_dir().join("tokens");
    let has_failure = || {
        fs::read_dir(&tokens)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".fail"))
    };
    eventually("the failure record", has_failure);
    eventually("the refresher's end", || {
        !fs::read_dir(&tokens)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".refreshing"))
    });
    // While the record is recent: the cached token, no refresher, no call.
    assert_eq!(env.get(HOST).secret(), first);
    assert_eq!(fake.calls(), 2);
    assert_eq!(
        env.log_text().matches("background refresh started").count(),
        1
    );
}

#[test]
fn a_refresher_killed_mid_refresh_leaves_the_cache_as_it_was() {
    if unix_only("kill(2) and /proc") {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let first = env.get(HOST).secret();
    age_entries(&env, 30_000);
    let tokens = env.cache_dir().join("tokens");
    let snapshot = || {
        let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&tokens)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .map(|n| (n.clone(), fs::read(tokens.join(&n)).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = snapshot();
    fake.hold();
    assert_eq!(env.get(HOST).secret(), first);
    eventually("the refresher's call", || fake.calls() == 2);
    let log = env.log_text();
    let pid: i32 = log
        .lines()
        .filter(|l| l.contains("background refresh started"))
        .find_map(|l| l.split("pid=").nth(2).or_else(|| l.split("pid=").nth(1)))
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .expect("the refresher's pid in the log");
    // SAFETY: kill(2) on the refresher's pid, which this test's helper started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    eventually("the refresher's death", || {
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
    fake.release();
    // What the killed refresher had not written is not there; nothing half-written is.
    assert_eq!(snapshot(), before, "the cache is as it was");
    assert_eq!(env.get(HOST).secret(), first);
}

/// The pids of the refreshers started so far, from the log, in order.
fn refresher_pids(env: &Env) -> Vec<i32> {
    env.log_text()
        .lines()
        .filter(|l| l.contains("background refresh started"))
        .filter_map(|l| l.split("started pid=").nth(1))
        .filter_map(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn refreshers_killed_while_they_write_leave_whole_entries() {
    if unix_only("kill(2)") {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    let tokens = env.cache_dir().join("tokens");
    for round in 0..10 {
        // Every entry fetched 30 000 s ago: past the refresh point, still valid (whether the
        // last refresher wrote or not).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for e in fs::read_dir(&tokens).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".json") {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
                v["fetched_at"] = serde_json::json!(now - 30_000);
                v["expires_at"] = serde_json::json!(now - 30_000 + 43_200);
                fs::write(e.path(), v.to_string()).unwrap();
            }
        }
        // (A claim left by the last killed refresher would hold off the next for 2 budgets.)
        let marker = |e: &fs::DirEntry| e.file_name().to_string_lossy().ends_with(".refreshing");
        for e in fs::read_dir(&tokens).unwrap().flatten().filter(marker) {
            fs::remove_file(e.path()).unwrap();
        }
        let calls = fake.calls();
        fake.hold();
        env.get(HOST).secret();
        eventually("the refresher's call", || fake.calls() > calls);
        let pid = *refresher_pids(&env).last().expect("a refresher");
        // Answered, then killed at once: somewhere between reading the answer and writing both
        // entries (the scope's and the registry's).
        fake.release();
        // SAFETY: kill(2) on the refresher's pid, which this test's helper started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        thread::sleep(Duration::from_millis(round * 3));
        for e in fs::read_dir(&tokens).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                let v: serde_json::Value = serde_json::from_slice(&fs::read(e.path()).unwrap())
                    .unwrap_or_else(|err| panic!("round {round}: {name} is not whole: {err}"));
                assert!(v["password"].as_str().is_some_and(|p| p.starts_with("pw-")));
            }
        }
        assert!(env.get(HOST).secret().starts_with("pw-"), "round {round}");
    }
}
/// docs/contract.md §8.1: with no `~/.ecr`, `$XDG_CACHE_HOME/ecr-login` holds the tokens, the
/// log and the default settings file; an existing `~/.ecr` keeps them; `AWS_ECR_CACHE_DIR` wins.
#[test]
fn xdg_cache_home_is_the_cache_when_there_is_no_dot_ecr() {
    // The harness names the .exe's cache directory (AWS_ECR_CACHE_DIR), as Wine replaces its home.
    if unix_only("the default cache directory under the home") {
        return;
    }
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let xdg = env.path().join("xdg-cache");
    env.set("XDG_CACHE_HOME", &xdg.display().to_string());
    let ours = xdg.join("ecr-login");
    let first = env.get(HOST).secret();
    assert_eq!(env.get(HOST).secret(), first, "a cache hit");
    assert_eq!(fake.calls(), 1);
    assert!(fs::read_dir(ours.join("tokens")).unwrap().count() > 0);
    assert_eq!(mode(&xdg), 0o700, "missing parents are created private");
    assert_eq!(mode(&ours), 0o700);
    assert!(ours.join("log").is_dir(), "the log is beside the tokens");
    assert!(!env.path().join(".ecr").exists(), "~/.ecr is not created");
    // The settings file's default is there too: a custom name mapped in it is served.
    fs::write(
        ours.join("config.json"),
        serde_json::json!({"registries": {"registry.example.com": {"registry": HOST}}}).to_string(),
    )
    .unwrap();
    fs::set_permissions(ours.join("config.json"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(env.get("registry.example.com").secret(), first);
    assert_eq!(
        env.run(&["list"], b"").stdout,
        format!("{{\"https://{HOST}\":\"AWS\"}}\n")
    );

    // AWS_ECR_CACHE_DIR wins over it.
    let explicit = env.path().join("explicit");
    env.set("AWS_ECR_CACHE_DIR", &explicit.display().to_string());
    env.get(HOST).secret();
    assert!(explicit.join("tokens").is_dir());
    env.unset("AWS_ECR_CACHE_DIR");

    // An existing ~/.ecr keeps being used (the Go helper's directory, and ours before).
    fs::create_dir(env.path().join(".ecr")).unwrap();
    fs::set_permissions(env.path().join(".ecr"), fs::Permissions::from_mode(0o700)).unwrap();
    let calls = fake.calls();
    env.get(HOST).secret();
    assert_eq!(
        fake.calls(),
        calls + 1,
        "a new cache: no hit from the XDG one"
    );
    assert!(env.path().join(".ecr/tokens").is_dir());
    // A relative XDG_CACHE_HOME is ignored, as the XDG specification says.
    let env2 = {
        let mut e = Env::with_fake(&fake);
        e.set("XDG_CACHE_HOME", "relative-cache");
        e
    };
    env2.get(HOST).secret();
    assert!(env2.path().join(".ecr/tokens").is_dir());
}

/// A cache directory that cannot be made (a read-only home, here a file on the way, which stops
/// root too) is no cache, as for `~/.ecr`: tokens still come, every get asks the API.
#[test]
fn an_xdg_cache_that_cannot_be_made_degrades_to_no_cache() {
    // The harness names the .exe's cache directory (AWS_ECR_CACHE_DIR), as Wine replaces its home.
    if unix_only("the default cache directory under the home") {
        return;
    }
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let blocker = env.path().join("blocker");
    fs::write(&blocker, b"").unwrap();
    env.set("XDG_CACHE_HOME", &blocker.display().to_string());
    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1");
    assert_eq!(out.stderr, "");
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-2");
    // One the user cannot trust: not used, and one line says why.
    let mut env = Env::with_fake(&fake);
    let xdg = env.path().join("shared");
    fs::create_dir_all(xdg.join("ecr-login")).unwrap();
    fs::set_permissions(xdg.join("ecr-login"), fs::Permissions::from_mode(0o777)).unwrap();
    env.set("XDG_CACHE_HOME", &xdg.display().to_string());
    let out = env.get(HOST);
    assert!(out.secret().starts_with("pw-"));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("not using the cache") && out.stderr.contains("ecr-login"),
        "{}",
        out.stderr
    );
}
