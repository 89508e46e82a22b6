//! Issue 19, part 1: the files written for people (`export -o`, `configure`, `doctor`) get the
//! cache's depth (docs/security.md, "Files written for you"): a device is written as the device it
//! is or refused, never replaced; links are never followed to create or overwrite what the user
//! did not name; reads are bounded and never block; owners are kept; concurrent edits all land;
//! what is not edited round-trips unchanged; a replaced `credsStore` stays reachable.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A PATH with the helper under its docker-credential name, and a DOCKER_CONFIG dir.
fn docker_env(fake: &Fake) -> (Env, PathBuf) {
    let mut env = Env::with_fake(fake);
    let file = with_docker_config(&mut env);
    (env, file)
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn host(i: usize) -> String {
    format!(
        "{:012}.dkr.ecr.us-west-2.amazonaws.com",
        100_000_000_000 + i
    )
}

#[test]
fn export_to_a_device_writes_the_device_and_never_replaces_it() {
    if unix_only("character devices, FIFOs and /proc links") {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let s = |p: &Path| p.display().to_string();

    // `-o -` is stdout; no file named `-` appears.
    let out = env.run(&["export", "-o", "-", HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("{\"auths\":{"), "{out:?}");
    assert!(!env.path().join("-").exists());

    // A link to this process's stdout (what /dev/stdout is): the document reaches the pipe,
    // and the link is still a link.
    let stdout_link = env.path().join("stdout");
    symlink("/proc/self/fd/1", &stdout_link).unwrap();
    let out = env.run(&["export", "-o", &s(&stdout_link), HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("{\"auths\":{"), "{out:?}");
    assert!(!out.stdout.contains("wrote"), "{out:?}");
    let link = fs::symlink_metadata(&stdout_link).unwrap();
    assert!(link.file_type().is_symlink());

    // A character device of our own (the null device's numbers): written, still a device.
    if is_root() {
        let null = env.path().join("null");
        assert!(
            Command::new("mknod")
                .arg(&null)
                .args(["c", "1", "3"])
                .status()
                .unwrap()
                .success()
        );
        fs::set_permissions(&null, fs::Permissions::from_mode(0o666)).unwrap();
        let out = env.run(&["export", "-o", &s(&null), HOST], b"");
        assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
        let m = fs::symlink_metadata(&null).unwrap();
        assert!(m.file_type().is_char_device(), "replaced: {m:?}");
        assert_eq!(m.mode() & 0o777, 0o666);
    } else {
        eprintln!("not root: the mknod part skipped");
    }

    // A FIFO with a reader gets the document; a FIFO nobody reads is one line, never a wait.
    let fifo = env.path().join("fifo");
    mkfifo(&fifo);
    // The reader is open before the helper runs (non-blocking: there is no writer yet); the
    // document fits the pipe's buffer, and once the helper has exited the read ends at EOF.
    let mut reader = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap()
    };
    let out = env.run(&["export", "-o", &s(&fifo), HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let mut got = String::new();
    std::io::Read::read_to_string(&mut reader, &mut got).unwrap();
    drop(reader);
    assert!(got.starts_with("{\"auths\":{"), "{got:?}");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let out = env.run_for(
        &["export", "-o", &s(&fifo), HOST],
        b"",
        Duration::from_secs(20),
    );
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no process is reading"),
        "{}",
        out.stderr
    );
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

    // A directory and a link to nothing: one line each, nothing created.
    let out = env.run(&["export", "-o", &s(env.path()), HOST], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(out.stderr.contains("a directory"), "{}", out.stderr);
    let dangling = env.path().join("dangling");
    let nowhere = env.path().join("nowhere");
    symlink(&nowhere, &dangling).unwrap();
    let out = env.run(&["export", "-o", &s(&dangling), HOST], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(out.stderr.contains("link to nothing"), "{}", out.stderr);
    assert!(!nowhere.exists());

    // A link to a regular file is written at its target, and stays a link.
    let real = env.path().join("real.json");
    fs::write(&real, "old").unwrap();
    let via = env.path().join("via.json");
    symlink(&real, &via).unwrap();
    let out = env.run(&["export", "-o", &s(&via), HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(fs::symlink_metadata(&via).unwrap().file_type().is_symlink());
    assert!(
        fs::read_to_string(&real)
            .unwrap()
            .starts_with("{\"auths\":")
    );
    let pw = env.get(HOST).secret();
    assert!(!out.stderr.contains(&pw));
}

#[test]
fn export_to_a_terminal_device_needs_force() {
    if unix_only("pseudo-terminals") {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    let (mut master, slave) = openpty();
    // SAFETY: `slave` is an open terminal descriptor; ttyname returns a static buffer.
    let name = unsafe { std::ffi::CStr::from_ptr(libc::ttyname(slave.as_raw_fd())) }
        .to_string_lossy()
        .into_owned();
    let out = env.run(&["export", "-o", &name, HOST], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(
        out.stderr
            .contains("refusing to print a secret to a terminal")
    );
    assert_eq!(fake.calls(), 0, "refused before any fetch");
    let out = env.run(&["export", "--force", "-o", &name, HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let mut buf = [0u8; 4096];
    let n = master.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("\"auths\""));
    assert!(fs::metadata(&name).unwrap().file_type().is_char_device());
    drop(slave);
}

#[test]
fn configure_never_writes_through_a_planted_backup() {
    if unix_only("Unix symbolic links and FIFOs") {
        return;
    }
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    let bak = file.with_extension("json.bak");
    let original = r#"{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"}}}"#;

    // A link to a victim file: the victim keeps its bytes and mode; the backup is a file.
    let victim = env.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&file, original).unwrap();
    symlink(&victim, &bak).unwrap();
    let out = env.run(&["configure", HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o777, 0o644);
    assert!(fs::symlink_metadata(&bak).unwrap().is_file());
    assert_eq!(fs::read_to_string(&bak).unwrap(), original);

    // A link to nothing: its target is never created.
    fs::remove_file(&bak).unwrap();
    let nowhere = env.path().join("nowhere");
    symlink(&nowhere, &bak).unwrap();
    let out = env.run(&["configure", &host(1)], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!nowhere.exists());
    assert!(fs::symlink_metadata(&bak).unwrap().is_file());

    // A FIFO: replaced, never opened (no hang).
    fs::remove_file(&bak).unwrap();
    mkfifo(&bak);
    let out = env.run_for(&["configure", &host(2)], b"", Duration::from_secs(20));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(fs::symlink_metadata(&bak).unwrap().is_file());
    let v: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    for h in [HOST.to_owned(), host(1), host(2)] {
        assert_eq!(v["credHelpers"][&h], "ecr-login", "{v}");
    }
}

#[test]
fn configure_and_doctor_refuse_special_and_huge_config_files() {
    if unix_only("FIFOs and /dev/zero") {
        return;
    }
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    type Plant<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Plant); 3] = [
        ("not a regular file", &|p| mkfifo(p)),
        ("not a regular file", &|p| symlink("/dev/zero", p).unwrap()),
        ("larger than", &|p| {
            fs::write(p, vec![b' '; 2 << 20]).unwrap()
        }),
    ];
    for (why, plant) in cases {
        let _ = fs::remove_file(&file);
        plant(&file);
        let before = fs::symlink_metadata(&file).unwrap();
        for args in [
            &["configure", HOST][..],
            &["configure", "--dry-run", "--store"],
            &["configure", "--dry-run", HOST],
        ] {
            let out = env.run_for(args, b"", Duration::from_secs(20));
            assert_eq!(out.code, 1, "{args:?} {why}: {out:?}");
            // configure answers on stdout, as the other commands for people do.
            assert_eq!(out.stdout.lines().count(), 1, "{args:?}: {out:?}");
            assert!(out.stdout.contains(why), "{args:?}: {out:?}");
        }
        let out = env.run_for(&["doctor", HOST], b"", Duration::from_secs(20));
        assert_ne!(out.code, -1, "doctor hung on {why}");
        assert!(
            out.stdout.contains(why) || out.stderr.contains(why),
            "{out:?}"
        );
        let after = fs::symlink_metadata(&file).unwrap();
        assert_eq!(
            (after.ino(), after.len()),
            (before.ino(), before.len()),
            "left as it was"
        );
    }
}

#[test]
fn configure_keeps_the_owner_and_mode_of_the_users_files() {
    if unix_only("Unix owners") {
        return;
    }
    if !is_root() {
        eprintln!("skipped: needs root to hand files to another user");
        return;
    }
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    let (uid, gid) = (65534, 65534);
    let docker = file.parent().unwrap();
    let chown = |p: &Path| std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();

    // A new config.json in the user's directory (sudo -E, first configure): the user's.
    chown(docker);
    let out = env.run(&["configure", HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let m = fs::metadata(&file).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (uid, gid, 0o600));
    let lock = docker.join(".config.json.lock");
    assert_eq!(fs::metadata(&lock).unwrap().uid(), uid, "the lock file too");

    // An existing one keeps its owner and mode; so does the backup.
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["configure", &host(1)], b"");
    assert_eq!(out.code, 0, "{out:?}");
    for p in [file.clone(), file.with_extension("json.bak")] {
        let m = fs::metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o777),
            (uid, gid, 0o644),
            "{}",
            p.display()
        );
    }

    // A missing ~/.docker is made the user's as well.
    let fresh = env.path().join("home2");
    fs::create_dir(&fresh).unwrap();
    chown(&fresh);
    let mut env2 = docker_env(&fake).0;
    env2.set(
        "DOCKER_CONFIG",
        &fresh.join(".docker").display().to_string(),
    );
    let out = env2.run(&["configure", HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    for p in [fresh.join(".docker"), fresh.join(".docker/config.json")] {
        assert_eq!(fs::metadata(&p).unwrap().uid(), uid, "{}", p.display());
    }
}

#[test]
fn twenty_concurrent_configures_lose_no_entry() {
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    fs::write(&file, r#"{"auths":{}}"#).unwrap();
    let runs: Vec<_> = (0..20)
        .map(|i| {
            let mut cmd = env.command(&["configure", &host(i)]);
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in runs {
        let out = wait_for(child, Duration::from_secs(120));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("wrote"), "{out:?}");
    }
    let v: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    let helpers = v["credHelpers"].as_object().unwrap();
    let missing: Vec<_> = (0..20)
        .map(host)
        .filter(|h| helpers.get(h).and_then(Value::as_str) != Some("ecr-login"))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?} of {v}");
    assert!(v.get("auths").is_some());
}

#[test]
fn configure_leaves_what_it_does_not_edit_as_written() {
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    let literals = [
        "123456789012345678901234567890",
        "-0",
        "1e3",
        "1.50",
        "-1.0E-7",
        "18446744073709551616",
    ];
    let text = format!(
        "{{\"numbers\": [{}], \"nested\": {{\"big\": {}}}}}",
        literals.join(", "),
        literals[0]
    );
    fs::write(&file, &text).unwrap();
    let out = env.run(&["configure", HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let after = fs::read_to_string(&file).unwrap();
    for l in literals {
        assert!(after.contains(l), "{l} changed: {after}");
    }
    assert!(
        !after.contains("1000.0") && !after.contains("-0.0"),
        "{after}"
    );
}

/// A fake `docker-credential-NAME` store on PATH: answers `get` with a fixed username.
fn fake_store(env: &Env, name: &str) {
    let bin = env.path().join("bin");
    let p = bin.join(format!("docker-credential-{name}"));
    fs::write(
        &p,
        format!(
            "#!/bin/sh\ncat >/dev/null\n[ \"$1\" = get ] && echo '{{\"ServerURL\":\"x\",\"Username\":\"from-{name}\",\"Secret\":\"s\"}}'\nexit 0\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn configure_store_keeps_the_previous_store_reachable() {
    if unix_only("a shell-script store") {
        return;
    }
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    fake_store(&env, "desktop");
    let settings = env.cache_dir().join("config.json");

    // The previous store becomes the fallback, and the run says so.
    fs::write(&file, r#"{"credsStore":"desktop"}"#).unwrap();
    let out = env.run(&["configure", "--store"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("set fallback = \"desktop\"") && out.stdout.contains("stay reachable"),
        "{}",
        out.stdout
    );
    let v: Value = serde_json::from_slice(&fs::read(&settings).unwrap()).unwrap();
    assert_eq!(v["fallback"], "desktop");
    let d: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(d["credsStore"], "ecr-login");
    // Docker's get for a non-ECR registry now reaches the old store through us.
    let got = env.run(&["get"], b"https://index.docker.io/v1/");
    assert_eq!(got.code, 0, "{got:?}");
    assert!(got.stdout.contains("from-desktop"), "{got:?}");

    // --fallback names another: that one wins.
    fake_store(&env, "pass");
    fs::remove_file(&settings).unwrap();
    fs::write(&file, r#"{"credsStore":"desktop"}"#).unwrap();
    let out = env.run(&["configure", "--store", "--fallback", "pass"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_json::from_slice(&fs::read(&settings).unwrap()).unwrap();
    assert_eq!(v["fallback"], "pass");

    // A previous store that is not installed: said, not set.
    fs::remove_file(&settings).unwrap();
    fs::write(&file, r#"{"credsStore":"osxkeychain"}"#).unwrap();
    let out = env.run(&["configure", "--store"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("previous credsStore \"osxkeychain\" is not kept"),
        "{}",
        out.stdout
    );
    assert!(!settings.exists());

    // A dry run says what it would do and writes nothing.
    fs::write(&file, r#"{"credsStore":"desktop"}"#).unwrap();
    let out = env.run(&["configure", "--store", "--dry-run"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("would set fallback = \"desktop\""),
        "{}",
        out.stdout
    );
    assert!(!settings.exists());
}

#[test]
fn configure_killed_at_any_moment_leaves_a_whole_file_and_no_stuck_lock() {
    if unix_only("SIGKILL at a chosen moment") {
        return;
    }
    let fake = Fake::start();
    let (env, file) = docker_env(&fake);
    let original =
        r#"{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"}},"credHelpers":{"gcr.io":"gcloud"}}"#;
    fs::write(&file, original).unwrap();
    for i in 0..40u64 {
        let mut child = env
            .command(&["configure", &host(i as usize)])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // From before exec to after the write: a spread of moments.
        std::thread::sleep(Duration::from_micros((i * 997) % 15_000));
        let _ = child.kill();
        let _ = child.wait();
        let text = fs::read(&file).unwrap();
        let v: Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("run {i} left a torn file: {e}"));
        assert_eq!(v["credHelpers"]["gcr.io"], "gcloud", "{v}");
        assert!(v["auths"]["ghcr.io"].is_object(), "{v}");
    }
    // The lock of a killed holder is free again: the next run lands at once, and removes the
    // temp files killed writers left.
    let out = env.run(&["configure", &host(99)], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let left: Vec<_> = fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let v: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(v["credHelpers"][host(99)], "ecr-login");
}
