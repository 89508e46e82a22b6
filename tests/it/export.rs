//! docs/contract.md §2.8: `login-password` and `export`, over the real binary: the token through
//! `get`'s policy (the cache), stdout only the secret, files 0600, no secret to a terminal.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;

use crate::support::*;

const PUBLIC: &str = "public.ecr.aws";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
}

/// Runs the binary with stdout on a fresh pseudo-terminal: the exit code, stderr, and what
/// reached the terminal.
fn run_on_terminal(env: &Env, args: &[&str]) -> (i32, String, String) {
    let (mut master, slave) = openpty();
    let child = {
        let mut cmd = env.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::piped());
        cmd.spawn().expect("spawn helper")
        // `cmd`, and with it our copy of the terminal's slave side, is dropped here.
    };
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child, the last holder of the slave side, has exited.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let out = wait_for(child, Duration::from_secs(60));
    let mut seen = reader.join().unwrap();
    if windows_exe().is_some() {
        // Wine shows the terminal to the .exe as a console, and its console renders what the
        // program writes with a hidden cursor around it and CR LF line ends: only the text is
        // the program's.
        seen = seen
            .replace("\u{1b}[?25l", "")
            .replace("\u{1b}[?25h", "")
            .replace('\r', "");
    }
    (out.code, out.stderr, seen)
}

#[test]
fn login_password_prints_the_password_from_the_cache() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let first = env.get(HOST).secret();
    let out = env.run(&["login-password", HOST], b"");
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, format!("{first}\n").as_str(), "")
    );
    let out = env.run(&["login-password", &format!("https://{HOST}/")], b"");
    assert_eq!(out.stdout, format!("{first}\n"), "a URL is a host too");
    assert_eq!(fake.calls(), 1, "login-password answered from get's cache");
    assert!(
        !env.log_text().contains(&first),
        "the password is not logged"
    );
    // ... and a token login-password fetched serves the next get.
    let env2 = Env::with_fake(&fake);
    let pw = env2.run(&["login-password", PUBLIC], b"");
    assert_eq!(pw.code, 0, "{pw:?}");
    assert_eq!(format!("{}\n", env2.get(PUBLIC).secret()), pw.stdout);
    assert_eq!(fake.calls(), 2);
}

#[test]
fn a_host_without_a_token_is_one_stderr_line_and_exit_1() {
    let fake = Fake::start();
    fake.set_mode(Mode::AccessDenied);
    let env = Env::with_fake(&fake);
    let out = env.run(&["login-password", HOST], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "docker-credential-ecr-login: {HOST}: no token: AccessDeniedException"
        )),
        "{}",
        out.stderr
    );
    let out = env.run(&["login-password", "index.docker.io"], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert_eq!(
        out.stderr,
        "docker-credential-ecr-login: index.docker.io: not an Amazon ECR registry (nor a name mapped to one in the settings file): no token\n"
    );
}

#[test]
fn bad_command_lines_are_one_line_and_exit_1() {
    let env = Env::new();
    for args in [
        &["login-password"][..],
        &["login-password", "a", "b"],
        &["login-password", "--bogus", HOST],
        &["export"],
        &["export", "--format", "yaml", HOST],
        &["export", "-o"],
        &[
            "export",
            "--format",
            "kube-secret",
            "--name",
            "No_Good",
            HOST,
        ],
        &["export", "--namespace", "ns", HOST],
    ] {
        let out = env.run(args, b"");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (1, ""),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("docker-credential-ecr-login: "));
    }
}

#[test]
fn export_auth_has_every_host_keyed_as_docker_keys_it() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let out = env.run(&["export", &format!("https://{HOST}"), PUBLIC, HOST], b"");
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let auths = v["auths"].as_object().unwrap();
    assert_eq!(
        auths.keys().collect::<Vec<_>>(),
        [HOST, PUBLIC],
        "hosts in order, once each"
    );
    for (host, entry) in auths {
        let auth = unb64(entry["auth"].as_str().unwrap());
        assert_eq!(auth, format!("AWS:{}", env.get(host).secret()));
    }
    assert_eq!(
        fake.calls(),
        2,
        "one fetch per registry; the gets were cache hits"
    );
}

#[test]
fn export_to_a_file_is_atomic_0600_and_all_or_nothing() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let file = env.path().join("auth.json");
    std::fs::write(&file, "old").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = file.display().to_string();
    let out = env.run(&["export", "-o", &f, HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "wrote {f} (auth{}): 1 registry\n",
            unix_or_windows(", mode 0600", "")
        )
    );
    let pw = env.get(HOST).secret();
    assert!(!out.stdout.contains(&pw) && !out.stderr.contains(&pw));
    let meta = std::fs::metadata(&file).unwrap();
    if !unix_only("the written file's mode 0600") {
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let body = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        body,
        format!(
            "{{\"auths\":{{\"{HOST}\":{{\"auth\":\"{}\"}}}}}}\n",
            b64(&format!("AWS:{pw}"))
        )
    );
    // One host without a token: one line for it, the file as it was, no temp file left.
    let out = env.run(&["export", "-o", &f, HOST, "index.docker.io"], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("index.docker.io: not an Amazon ECR registry")
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), body);
    // A directory that does not exist: one line.
    let missing = env.path().join("no/such/dir/auth.json");
    let out = env.run(&["export", "-o", &missing.display().to_string(), HOST], b"");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(out.stderr.contains("cannot write"), "{}", out.stderr);
    let names: Vec<_> = std::fs::read_dir(env.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(names.is_empty(), "temp files left: {names:?}");
}

#[test]
fn export_kube_secret_is_a_dockerconfigjson_secret() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let out = env.run(
        &[
            "export",
            "--format",
            "kube-secret",
            "--name",
            "ecr-pull",
            "--namespace",
            "ci",
            HOST,
        ],
        b"",
    );
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    let y = &out.stdout;
    for line in [
        "apiVersion: v1",
        "kind: Secret",
        "  name: ecr-pull",
        "  namespace: ci",
        "type: kubernetes.io/dockerconfigjson",
    ] {
        assert!(y.lines().any(|l| l == line), "{line:?} in\n{y}");
    }
    let data = y
        .lines()
        .find_map(|l| l.strip_prefix("  .dockerconfigjson: "))
        .expect("data");
    let v: serde_json::Value = serde_json::from_str(&unb64(data)).unwrap();
    let auth = unb64(v["auths"][HOST]["auth"].as_str().unwrap());
    assert_eq!(auth, format!("AWS:{}", env.get(HOST).secret()));
    // Without --name: the default name, no namespace line.
    let out = env.run(&["export", "--format=kube-secret", HOST], b"");
    assert!(out.stdout.contains("  name: ecr-registry\n"), "{out:?}");
    assert!(!out.stdout.contains("namespace"));
}

#[test]
fn no_secret_reaches_a_terminal_unless_forced() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    for args in [&["login-password", HOST][..], &["export", HOST]] {
        let (code, stderr, seen) = run_on_terminal(&env, args);
        assert_eq!((code, seen.as_str()), (1, ""), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            "docker-credential-ecr-login: refusing to print a secret to a terminal: pipe it into the program that wants it, or add --force\n"
        );
    }
    assert_eq!(fake.calls(), 0, "refused before any token was fetched");
    let (code, stderr, seen) = run_on_terminal(&env, &["login-password", "--force", HOST]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let pw = env.get(HOST).secret();
    assert_eq!(seen.trim_end(), pw);
    // A file is no terminal: -o works from one.
    let f = env.path().join("a.json").display().to_string();
    let (code, stderr, seen) = run_on_terminal(&env, &["export", "-o", &f, HOST]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(seen.starts_with("wrote ") && !seen.contains(&pw), "{seen}");
}
