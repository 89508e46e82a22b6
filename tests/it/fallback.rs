//! docs/contract.md §2.7: the fallback store. A fake `docker-credential-fake` (a shell script on a
//! PATH directory of the test) records what it was given and answers from files the test writes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

/// The fake store: for ACTION it saves its stdin as `in.ACTION`, appends ACTION to `calls`,
/// writes `fake-stderr:ACTION` on stderr, prints `out.ACTION` and exits with `code.ACTION`
/// (default 0).
const SCRIPT: &str = r#"#!/bin/sh
d="$FAKE_DIR"
a="$1"
cat >"$d/in.$a"
echo "$a" >>"$d/calls"
echo "fake-stderr:$a" >&2
[ -f "$d/out.$a" ] && cat "$d/out.$a"
exit "$(cat "$d/code.$a" 2>/dev/null || echo 0)"
"#;

/// True (the test skips) when the fake store cannot run: against the Windows .exe without its
/// Windows build (`ECR_TESTS_WINDOWS_STORE`, packaging/windows/fake-store.c).
fn no_store() -> bool {
    windows_exe().is_some()
        && windows_fake_store().is_none()
        && unix_only("a shell-script fake store (no ECR_TESTS_WINDOWS_STORE)")
}

const HUB: &str = "https://index.docker.io/v1/";

struct Store {
    env: Env,
    dir: PathBuf,
    bin: PathBuf,
    /// The store's program, as the helper finds it on PATH.
    program: PathBuf,
}

impl Store {
    /// An environment with the fake store on PATH (not yet named as the fallback).
    fn new(fake: &Fake) -> Store {
        let mut env = Env::with_fake(fake);
        let bin = env.path().join("bin");
        let dir = env.path().join("fake");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&dir).unwrap();
        let script = bin.join("docker-credential-fake");
        fs::write(&script, SCRIPT).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        // For the Windows .exe (which cannot run the script): the same store built for Windows
        // (packaging/windows/fake-store.c), else a batch file of that name that fails, so the
        // store is still found on PATH (the tests that run it skip then: `no_store`).
        let program = match (windows_exe(), windows_fake_store()) {
            (None, _) => script,
            (Some(_), Some(exe)) => {
                let program = bin.join("docker-credential-fake.exe");
                std::os::unix::fs::symlink(exe, &program).unwrap();
                program
            }
            (Some(_), None) => {
                let program = bin.join("docker-credential-fake.cmd");
                fs::write(&program, "@exit /b 1\r\n").unwrap();
                program
            }
        };
        env.set("PATH", &format!("{}:/usr/bin:/bin", bin.display()))
            .set("FAKE_DIR", &dir.display().to_string());
        Store {
            env,
            dir,
            bin,
            program,
        }
    }

    fn named(fake: &Fake) -> Store {
        let mut s = Store::new(fake);
        s.env.set("AWS_ECR_FALLBACK", "fake");
        s
    }

    fn answer(&self, action: &str, out: &str, code: i32) {
        fs::write(self.dir.join(format!("out.{action}")), out).unwrap();
        fs::write(self.dir.join(format!("code.{action}")), code.to_string()).unwrap();
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.dir.join("calls")).unwrap_or_default()
    }

    fn input(&self, action: &str) -> Vec<u8> {
        fs::read(self.dir.join(format!("in.{action}"))).unwrap()
    }
}

fn write_settings(env: &Env, v: &Value, mode: u32) -> PathBuf {
    fs::create_dir_all(env.cache_dir()).unwrap();
    let p = env.cache_dir().join("config.json");
    fs::write(&p, v.to_string()).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn get_passes_stdin_stdout_exit_status_and_stderr_through() {
    if no_store() {
        return;
    }
    let fake = Fake::start();
    let s = Store::named(&fake);
    let answer = format!(r#"{{"ServerURL":"{HUB}","Username":"me","Secret":"hub-password-1"}}"#);
    s.answer("get", &format!("{answer}\n"), 0);
    let input = format!("{HUB}\r\n");
    let out = s.env.run(&["get"], input.as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, format!("{answer}\n"));
    assert_eq!(out.stderr, "fake-stderr:get\n");
    assert_eq!(s.input("get"), input.as_bytes(), "stdin unchanged");
    assert!(
        !s.env.log_text().contains("hub-password-1"),
        "secret logged"
    );
    // Its failure is ours, byte for byte and status for status.
    s.answer("get", "something odd\nsecond line", 7);
    let out = s.env.get("ghcr.io");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (7, "something odd\nsecond line")
    );
    assert_eq!(fake.calls(), 0, "no AWS call for a host that is not ECR");
}

#[test]
fn store_and_erase_pass_through() {
    if no_store() {
        return;
    }
    let fake = Fake::start();
    let s = Store::named(&fake);
    let creds = format!(r#"{{"ServerURL":"{HUB}","Username":"me","Secret":"hub-password-2"}}"#);
    let out = s.env.run(&["store"], creds.as_bytes());
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    assert_eq!(out.stderr, "fake-stderr:store\n");
    assert_eq!(s.input("store"), creds.as_bytes());
    s.answer("erase", "no such thing\n", 1);
    let out = s.env.run(&["erase"], b"registry.example.org\n");
    assert_eq!((out.code, out.stdout.as_str()), (1, "no such thing\n"));
    assert_eq!(s.input("erase"), b"registry.example.org\n");
    assert_eq!(s.calls(), "store\nerase\n");
    assert!(
        !s.env.log_text().contains("hub-password-2"),
        "secret logged"
    );
    // Bad input is still refused by us, before any store sees it.
    let out = s.env.run(&["store"], b"{\"ServerURL\":\"h\"}");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "no credentials username\n")
    );
    assert_eq!(s.calls(), "store\nerase\n");
}

#[test]
fn ecr_hosts_and_mapped_names_never_consult_the_fallback() {
    let fake = Fake::start();
    let s = Store::named(&fake);
    write_settings(
        &s.env,
        &json!({"registries": {"registry.example.com": {"registry": HOST}}}),
        0o600,
    );
    assert!(s.env.get(HOST).secret().starts_with("pw-AKIDEXAMPLE1-"));
    let v: Value = serde_json::from_str(&s.env.get("registry.example.com").stdout).unwrap();
    assert_eq!(v["ServerURL"], "registry.example.com");
    for host in [HOST, "registry.example.com", "public.ecr.aws"] {
        let creds = format!(r#"{{"ServerURL":"https://{host}","Username":"AWS","Secret":"x"}}"#);
        // Nothing kept, and the one line of docs/contract.md §2.3.
        let out = s.env.run(&["store"], creds.as_bytes());
        assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{host}");
        assert_eq!(out.stderr.lines().count(), 1, "{host}: {}", out.stderr);
        assert!(out.stderr.contains("not kept"), "{host}: {}", out.stderr);
        let out = s.env.run(&["erase"], host.as_bytes());
        assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{host}");
        assert_eq!(out.stderr.lines().count(), 1, "{host}: {}", out.stderr);
        assert!(out.stderr.contains("nothing to erase"), "{out:?}");
        // Silent with AWS_ECR_IGNORE_CREDS_STORAGE=true, as before.
        let mut quiet = s.env.command(&["store"]);
        quiet.env("AWS_ECR_IGNORE_CREDS_STORAGE", "true");
        let out = run_command(quiet, creds.as_bytes(), std::time::Duration::from_secs(30));
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", ""),
            "{host}"
        );
    }
    assert_eq!(s.calls(), "", "the fallback was consulted for an ECR host");
    assert_eq!(fs::read_dir(&s.dir).unwrap().count(), 0);
}

#[test]
fn list_merges_the_fallbacks_entries_and_ours_win() {
    if no_store() {
        return;
    }
    let fake = Fake::start();
    let s = Store::named(&fake);
    s.env.get(HOST).secret();
    s.answer(
        "list",
        &json!({HUB: "me", format!("https://{HOST}"): "someone", "localhost:5000": "bob"})
            .to_string(),
        0,
    );
    let out = s.env.run(&["list"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v,
        json!({HUB: "me", format!("https://{HOST}"): "AWS", "localhost:5000": "bob"})
    );
    assert_eq!(s.input("list"), b"unused");
    // A failing fallback list: ours alone, and one line saying why.
    s.answer("list", "gpg: decryption failed\n", 1);
    let out = s.env.run(&["list"], b"");
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, format!("{{\"https://{HOST}\":\"AWS\"}}\n"));
    let ours: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("docker-credential-ecr-login: "))
        .collect();
    assert_eq!(ours.len(), 1, "{}", out.stderr);
    assert!(ours[0].contains("list failed"), "{}", out.stderr);
    // An answer that is not a list is no list either.
    s.answer("list", "[1,2]", 0);
    let out = s.env.run(&["list"], b"");
    assert_eq!(out.stdout, format!("{{\"https://{HOST}\":\"AWS\"}}\n"));
    assert!(out.stderr.contains("not a JSON object"), "{}", out.stderr);
}

#[test]
fn a_missing_fallback_is_one_line_and_the_protocols_error() {
    let fake = Fake::start();
    let mut s = Store::new(&fake);
    s.env.set("AWS_ECR_FALLBACK", "nosuch");
    let out = s.env.get("ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(
            "docker-credential-ecr-login: fallback docker-credential-nosuch (named by AWS_ECR_FALLBACK) is not on PATH"
        ),
        "{}",
        out.stderr
    );
    let creds = r#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#;
    for (action, input) in [("store", creds), ("erase", "ghcr.io")] {
        let out = s.env.run(&[action], input.as_bytes());
        assert_eq!(out.code, 1, "{action}");
        assert_eq!(out.stdout.lines().count(), 1, "{action}: {}", out.stdout);
        assert!(out.stdout.contains("is not on PATH"), "{}", out.stdout);
        assert_eq!(out.stderr.lines().count(), 1, "{action}: {}", out.stderr);
    }
    // A list still lists ours.
    let out = s.env.run(&["list"], b"");
    assert_eq!((out.code, out.stdout.as_str()), (0, "{}\n"));
    // A file that is there but cannot be run is the same kind of failure (not under qemu-user,
    // which does not report a failed exec after posix_spawn: support::under_qemu_user).
    if under_qemu_user() {
        eprintln!("skipped under qemu-user: an unrunnable fallback (posix_spawn's exec error)");
        return;
    }
    let broken = s.bin.join(if windows_exe().is_some() {
        "docker-credential-broken.exe"
    } else {
        "docker-credential-broken"
    });
    fs::write(&broken, "").unwrap();
    fs::set_permissions(&broken, fs::Permissions::from_mode(0o755)).unwrap();
    s.env.set("AWS_ECR_FALLBACK", "broken");
    let out = s.env.get("ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(out.stderr.contains("cannot run fallback"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn a_fallback_that_is_this_helper_is_refused() {
    let fake = Fake::start();
    let mut s = Store::new(&fake);
    install_helper(&s.bin, "docker-credential-ecr-login");
    install_helper(&s.bin, "docker-credential-again");
    for name in ["ecr-login", "again"] {
        s.env.set("AWS_ECR_FALLBACK", name);
        let out = s.env.get("ghcr.io");
        assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{name}");
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(out.stderr.contains("a loop"), "{name}: {}", out.stderr);
        let out = s.env.run(
            &["store"],
            br#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#,
        );
        assert_eq!(out.code, 1);
        assert!(out.stdout.contains("a loop"), "{}", out.stdout);
    }
    s.env.set("AWS_ECR_FALLBACK", "../fake");
    let out = s.env.get("ghcr.io");
    assert!(
        out.stderr.contains("not a credential helper name"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_settings_file_names_the_fallback_only_when_trusted() {
    if no_store() {
        return;
    }
    let fake = Fake::start();
    let s = Store::new(&fake);
    let file = write_settings(&s.env, &json!({"fallback": "fake"}), 0o600);
    s.answer("get", "from-the-file\n", 0);
    let out = s.env.get("ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (0, "from-the-file\n"));
    // Writable by others: it names no fallback (docs/security.md).
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    let out = s.env.get("ghcr.io");
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (1, NOT_FOUND, "")
    );
    let out = s.env.run(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#,
    );
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("not implemented"), "{}", out.stdout);
    assert_eq!(s.calls(), "get\n");
}

#[test]
fn the_variable_wins_over_the_file() {
    let fake = Fake::start();
    let mut s = Store::new(&fake);
    write_settings(&s.env, &json!({"fallback": "nosuch"}), 0o600);
    let out = s.env.get("ghcr.io");
    assert!(out.stderr.contains("\"fallback\" in "), "{}", out.stderr);
    if no_store() {
        return;
    }
    s.env.set("AWS_ECR_FALLBACK", "fake");
    s.answer("get", "from-the-variable\n", 0);
    let out = s.env.get("ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (0, "from-the-variable\n"));
}

/// A PATH with the helper under its docker-credential name and the fake store, a DOCKER_CONFIG.
fn docker_env(fake: &Fake) -> (Store, PathBuf) {
    let mut s = Store::new(fake);
    install_helper(&s.bin, "docker-credential-ecr-login");
    let docker = s.env.path().join("docker");
    fs::create_dir_all(&docker).unwrap();
    s.env.set("DOCKER_CONFIG", &docker.display().to_string());
    (s, docker.join("config.json"))
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn configure_writes_both_settings_and_doctor_says_where_credentials_come_from() {
    let fake = Fake::start();
    let (s, docker) = docker_env(&fake);
    let out = s
        .env
        .run(&["configure", "--store", "--fallback", "fake"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let d: Value = serde_json::from_slice(&fs::read(&docker).unwrap()).unwrap();
    assert_eq!(d["credsStore"], "ecr-login");
    let settings = s.env.cache_dir().join("config.json");
    let v: Value = serde_json::from_slice(&fs::read(&settings).unwrap()).unwrap();
    assert_eq!(v, json!({"fallback": "fake"}));
    if !unix_only("the settings file's mode 0600") {
        assert_eq!(mode(&settings), 0o600);
    }
    // Other keys stay; a second run changes nothing.
    fs::write(
        &settings,
        json!({"registries": {"123456789012": {"profile": "x"}}, "fallback": "old"}).to_string(),
    )
    .unwrap();
    let out = s
        .env
        .run(&["configure", "--store", "--fallback", "fake"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_json::from_slice(&fs::read(&settings).unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"registries": {"123456789012": {"profile": "x"}}, "fallback": "fake"})
    );
    let again = s
        .env
        .run(&["configure", "--store", "--fallback", "fake"], b"");
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("not used"), "{}", again.stdout);
    // A settings file others can write would name no fallback: configure says so.
    fs::set_permissions(&settings, fs::Permissions::from_mode(0o666)).unwrap();
    let warned = s
        .env
        .run(&["configure", "--store", "--fallback", "fake"], b"");
    assert!(
        warned.stdout.contains("not using the settings file")
            && warned.stdout.contains("the fallback is not used"),
        "{}",
        warned.stdout
    );
    fs::set_permissions(&settings, fs::Permissions::from_mode(0o600)).unwrap();
    // Refused: a loop, a store that is not on PATH, --fallback without --store.
    for args in [
        &["configure", "--store", "--fallback", "ecr-login"][..],
        &["configure", "--store", "--fallback", "nosuch"],
        &["configure", "--fallback", "fake"],
        &["configure", "--store", "--fallback"],
    ] {
        let out = s.env.run(args, b"");
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stdout.lines().count(), 1, "{args:?}: {}", out.stdout);
    }
    // doctor for a host that is not ECR: where its credentials come from.
    let out = s.env.run(&["doctor", "ghcr.io"], b"");
    assert!(
        out.stdout.contains(&format!(
            "fallback  docker-credential-fake (from \"fallback\" in {})",
            shown(&settings)
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&shown(&s.program)), "{}", out.stdout);
    assert_eq!(s.calls(), "", "doctor ran the store");
    let mut env = s.env;
    env.set("AWS_ECR_FALLBACK", "nosuch");
    let out = env.run(&["doctor", "ghcr.io"], b"");
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("PROBLEM: fallback docker-credential-nosuch"),
        "{}",
        out.stdout
    );
}

/// `env`'s helper run with `args` in the directory `dir`.
fn run_in(env: &Env, dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = env.command(args);
    cmd.current_dir(dir);
    run_command(cmd, input, std::time::Duration::from_secs(60))
}

#[test]
fn a_program_found_relative_to_the_current_directory_is_never_run() {
    if unix_only("PATH entries relative to the working directory (Wine builds its own PATH)") {
        return;
    }
    let fake = Fake::start();
    let mut s = Store::named(&fake);
    s.answer("get", "from-the-store\n", 0);
    let home = s.env.path().to_owned();
    // Run in the store's directory, or above it: an empty, `.` or relative PATH entry finds it
    // there, relative to the current directory. Docker (Go 1.19+) refuses that; so do we.
    for (cwd, path) in [
        (&s.bin, ":/usr/bin:/bin"),
        (&s.bin, ".:/usr/bin:/bin"),
        (&home, "bin:/usr/bin:/bin"),
        (&home, "./bin/:/usr/bin:/bin"),
    ] {
        s.env.set("PATH", path);
        let out = run_in(&s.env, cwd, &["get"], b"ghcr.io");
        assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{path}");
        assert_eq!(out.stderr.lines().count(), 1, "{path}: {}", out.stderr);
        assert!(
            out.stderr.contains("refused")
                && out.stderr.contains("relative to the current directory"),
            "{path}: {}",
            out.stderr
        );
        let out = run_in(
            &s.env,
            cwd,
            &["store"],
            br#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#,
        );
        assert_eq!(out.code, 1, "{path}");
        assert!(
            out.stdout.contains("relative to the current directory"),
            "{path}: {}",
            out.stdout
        );
    }
    assert_eq!(
        s.calls(),
        "",
        "a store found relative to the working directory ran"
    );
    // A relative entry that does not hold it is passed over, as Docker does.
    s.env.set(
        "PATH",
        &format!("::nowhere:{}:/usr/bin:/bin", s.bin.display()),
    );
    let out = run_in(&s.env, &home, &["get"], b"ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (0, "from-the-store\n"));

    // configure and doctor say the same of this helper: Docker would refuse to run it.
    let (mut d, docker) = docker_env(&fake);
    d.env.set("PATH", ".:/usr/bin:/bin");
    let out = run_in(&d.env, &d.bin, &["configure", "--store"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("relative to the current directory, and Docker refuses to run"),
        "{}",
        out.stdout
    );
    assert!(
        !docker.exists(),
        "configure wrote a config Docker cannot use"
    );
    let out = run_in(&d.env, &d.bin, &["doctor", "ghcr.io"], b"");
    assert!(
        out.stdout
            .contains("PROBLEM: PATH finds docker-credential-ecr-login as ./docker-credential-ecr-login, relative to the current directory"),
        "{}",
        out.stdout
    );
}

/// `docker-credential-loop`: a wrapper that runs this helper with the same action, as a user
/// might write to add logging, and names itself as the fallback. It counts its own depth in
/// `LOOP_DEPTH` and gives up past 5 (`too deep`), so a helper that does not see the loop fails
/// this test instead of recursing until the machine runs out of processes.
fn loop_store(s: &mut Store) {
    let wrapper = s.bin.join("docker-credential-loop");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nLOOP_DEPTH=$((${{LOOP_DEPTH:-0}} + 1)); export LOOP_DEPTH\n\
             [ \"$LOOP_DEPTH\" -gt 5 ] && {{ echo too deep >&2; exit 3; }}\n\
             echo \"$1\" >>\"$FAKE_DIR/calls\"\nexec {} \"$@\"\n",
            helper_bin()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    s.env.set("AWS_ECR_FALLBACK", "loop");
}

#[test]
fn a_store_that_calls_this_helper_back_is_a_loop_refused_with_one_line() {
    if unix_only("a shell-script wrapper") {
        return;
    }
    let fake = Fake::start();
    let mut s = Store::new(&fake);
    loop_store(&mut s);
    let out = s.env.get("ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("a loop")
            && out.stderr.contains(&format!(
                "started by the fallback store {}",
                s.bin.join("docker-credential-loop").display()
            )),
        "{}",
        out.stderr
    );
    assert_eq!(s.calls(), "get\n", "the wrapper ran once");
    // store: the protocol's one line on stdout, passed through by the first run.
    let out = s.env.run(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#,
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("a loop"), "{}", out.stdout);
    assert!(!out.stderr.contains("too deep"), "{}", out.stderr);
    // list: ours, and the inner run's one line.
    let out = s.env.run(&["list"], b"");
    assert_eq!((out.code, out.stdout.as_str()), (0, "{}\n"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(s.calls(), "get\nstore\nlist\n");
    // ECR hosts are still answered by a run the store started (a store may route them to us).
    let mut inner = s.env.command(&["get"]);
    inner.env("AWS_ECR_IN_FALLBACK", "/some/store");
    let out = run_command(inner, HOST.as_bytes(), std::time::Duration::from_secs(60));
    assert!(out.secret().starts_with("pw-AKIDEXAMPLE1-"), "{out:?}");
}

/// Runs `args` under `prlimit --nproc=1` (as uid 65534 when root, for whom the limit does not
/// hold): no thread or process can be started.
fn at_the_process_limit(env: &Env, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nproc=1")
        .arg(helper_bin())
        .args(args)
        .env_clear()
        .envs(&env.vars);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if root {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    }
    run_command(cmd, input, std::time::Duration::from_secs(60))
}

#[test]
fn at_the_process_limit_a_fallback_or_a_fetch_is_one_line_and_the_protocols_answer() {
    if unix_only("prlimit") {
        return;
    }
    if under_qemu_user() {
        // qemu-user starts a thread of its own before the program's first instruction: at one
        // process it cannot start at all, so the helper's own answer cannot be seen there.
        eprintln!("skipped under qemu-user: RLIMIT_NPROC=1 stops qemu itself");
        return;
    }
    let fake = Fake::start();
    let mut s = Store::named(&fake);
    // Usable by uid 65534: its directories, and the store's files.
    for d in [s.env.path(), &s.bin] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(&s.dir, fs::Permissions::from_mode(0o777)).unwrap();
    s.answer("get", "from-the-store\n", 0);
    let out = at_the_process_limit(&s.env, &["get"], b"ghcr.io");
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("docker-credential-ecr-login: cannot run fallback")
            && out.stderr.contains("cannot start a thread"),
        "{}",
        out.stderr
    );
    let out = at_the_process_limit(
        &s.env,
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#,
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("cannot start a thread"),
        "{}",
        out.stdout
    );
    assert_eq!(s.calls(), "");
    // An ECR fetch needs a thread to resolve the API's name: the same, never a panic.
    s.env.set(
        "AWS_ENDPOINT_URL_ECR",
        &fake.url().replace("127.0.0.1", "localhost"),
    );
    let out = at_the_process_limit(&s.env, &["get"], HOST.as_bytes());
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot start a thread"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 0);
}
