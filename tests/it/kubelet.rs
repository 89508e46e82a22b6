//! docs/kubelet.md: the kubelet's image credential provider (`credentialprovider.kubelet.k8s.io/v1`),
//! over the real binary: golden request/response pairs written from the Kubernetes API types
//! (the reference's own cases included), the fake ECR for expiry and call counting, moto for
//! AssumeRoleWithWebIdentity.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use base64::Engine as _;

use crate::support::*;

const PUBLIC_HOST: &str = "public.ecr.aws";
const ROLE: &str = "arn:aws:iam::123456789012:role/pull";

fn request(image: &str) -> String {
    format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{image}"}}"#
    )
}

fn sa_request(image: &str, token: &str, role: Option<&str>) -> String {
    let annotations = match role {
        Some(r) => {
            format!(r#","serviceAccountAnnotations":{{"eks.amazonaws.com/ecr-role-arn":"{r}"}}"#)
        }
        None => String::new(),
    };
    format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{image}","serviceAccountToken":"{token}"{annotations}}}"#
    )
}

/// A service account token as the API server issues them (the signature is not checked by us,
/// nor by moto).
fn sa_token(name: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b(r#"{"alg":"RS256","kid":"k"}"#),
        b(&format!(
            r#"{{"aud":["sts.amazonaws.com"],"iss":"https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE","sub":"system:serviceaccount:default:{name}"}}"#
        ))
    )
}

fn kubelet(env: &Env, input: &str) -> Output {
    env.run(&["kubelet"], input.as_bytes())
}

/// Seconds of a Go duration string of whole seconds (`5h59m30s`).
fn go_secs(d: &str) -> u64 {
    let mut total = 0;
    let mut n = 0;
    for c in d.chars() {
        match c {
            '0'..='9' => n = n * 10 + c.to_digit(10).unwrap() as u64,
            'h' => (total, n) = (total + n * 3600, 0),
            'm' => (total, n) = (total + n * 60, 0),
            's' => (total, n) = (total + n, 0),
            _ => panic!("not a Go duration: {d}"),
        }
    }
    total
}

/// Checks the response byte for byte, but for `cacheDuration` (the clock moves), which it
/// returns in seconds; the rest must be exactly what the Kubernetes encoder writes.
fn golden(out: &Output, host: &str, password: &str) -> u64 {
    assert_eq!(out.code, 0, "{out:?}");
    let (head, rest) = out
        .stdout
        .split_once(r#""cacheDuration":""#)
        .expect("cacheDuration");
    let (duration, tail) = rest.split_once('"').expect("duration string");
    assert_eq!(
        head,
        r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","#
    );
    assert_eq!(
        tail,
        format!(r#","auth":{{"{host}":{{"username":"AWS","password":"{password}"}}}}}}"#) + "\n"
    );
    // And any JSON decoder reads it as the API type says.
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["auth"][host]["password"], password);
    go_secs(duration)
}

/// A refused request: exit 1, nothing on stdout, one line on stderr naming the program.
fn refused(out: &Output) -> String {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "", "nothing on stdout: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.ends_with('\n'));
    assert!(
        out.stderr.starts_with("ecr-credential-provider: "),
        "{out:?}"
    );
    out.stderr.trim_end().to_owned()
}

#[test]
fn a_private_image_gets_its_registrys_token_byte_for_byte() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    // The reference's "success" case, and an image with a path and a tag.
    for (image, n) in [(HOST.to_owned(), 1), (format!("{HOST}/team/app:1.2.3"), 1)] {
        let out = kubelet(&env, &request(&image));
        let secs = golden(&out, HOST, &format!("pw-AKIDEXAMPLE1-{n}"));
        // A 12 h token: our refresh point is 6 h away (less the moments this run took).
        assert!((6 * 3600 - 5..=6 * 3600).contains(&secs), "{secs}");
        assert_eq!(out.stderr, "");
    }
    assert_eq!(fake.calls(), 1);
    let req = &fake.requests()[0];
    assert_eq!(req.region, "us-west-2");
    assert!(req.target.ends_with("GetAuthorizationToken"));
}

#[test]
fn an_image_whose_path_names_the_public_host_is_still_the_private_registry() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let out = kubelet(&env, &request(&format!("{HOST}/public.ecr.aws/foo:latest")));
    golden(&out, HOST, "pw-AKIDEXAMPLE1-1");
    assert!(
        fake.requests()[0]
            .target
            .starts_with("AmazonEC2ContainerRegistry")
    );
}

#[test]
fn public_images_get_the_ecr_public_token_in_us_east_1() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    for (n, host) in [(1, PUBLIC_HOST), (2, "ecr-public.aws.com")] {
        let out = kubelet(&env, &request(&format!("{host}/nginx/nginx:latest")));
        golden(&out, host, &format!("pw-AKIDEXAMPLE1-{n}"));
        let req = &fake.requests()[n - 1];
        assert!(req.target.starts_with("SpencerFrontendService"), "{req:?}");
        assert_eq!(req.region, "us-east-1");
    }
}

#[test]
fn a_non_ecr_image_gets_the_callers_registry_in_the_configured_region() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_REGION", "eu-west-1");
    // The reference's "non ECR host" case: the auth is keyed by the image's own host.
    let out = kubelet(&env, &request("registry.k8s.io/pause:3.9"));
    let first = "pw-AKIDEXAMPLE1-1";
    golden(&out, "registry.k8s.io", first);
    assert_eq!(fake.requests()[0].region, "eu-west-1");
    // Cached like any token: the next request (another mirror too) asks nobody.
    let again = kubelet(&env, &request("registry.k8s.io/coredns/coredns:v1.11.1"));
    golden(&again, "registry.k8s.io", first);
    golden(
        &kubelet(&env, &request("mirror.example.com:5000/library/busybox")),
        "mirror.example.com",
        first,
    );
    assert_eq!(fake.calls(), 1);
}

#[test]
fn a_non_ecr_image_without_a_region_is_refused_with_what_to_set() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let line = refused(&kubelet(&env, &request("registry.k8s.io/pause:3.9")));
    assert!(line.contains("AWS_REGION"), "{line}");
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_host_the_settings_map_gets_the_registry_they_name() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let settings = env.path().join("ecr.json");
    fs::write(
        &settings,
        r#"{"registries":{"mirror.example.com":{"registry":"210987654321.dkr.ecr.eu-central-1.amazonaws.com"}}}"#,
    )
    .unwrap();
    fs::set_permissions(
        &settings,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    env.set("AWS_ECR_CONFIG", &settings.display().to_string())
        .set("AWS_REGION", "us-east-2");
    let out = kubelet(&env, &request("mirror.example.com/team/app:1"));
    golden(&out, "mirror.example.com", "pw-AKIDEXAMPLE1-1");
    assert_eq!(fake.requests()[0].region, "eu-central-1");
}

#[test]
fn bad_requests_get_one_stderr_line_and_nothing_on_stdout() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let ok = request(HOST);
    let mut cases: Vec<(String, &str)> = vec![
        // The reference's cases (plugin_test.go, main_test.go).
        (
            ok.replace("CredentialProviderRequest", "CredentialProviderFoo"),
            r#"ecr-credential-provider: kind was "CredentialProviderFoo", expected CredentialProviderRequest"#,
        ),
        (
            ok.replace("credentialprovider.kubelet.k8s.io/v1", "foo.k8s.io/v1"),
            r#"ecr-credential-provider: apiVersion "foo.k8s.io/v1" is not supported"#,
        ),
        (
            request(""),
            "ecr-credential-provider: image in plugin request was empty",
        ),
        (
            request("foobar  "),
            r#"ecr-credential-provider: cannot tell the registry host of image "foobar  ""#,
        ),
        // Malformed, missing, binary, or not an object.
        (
            "".into(),
            "ecr-credential-provider: the request on stdin is not a JSON CredentialProviderRequest: ",
        ),
        (
            "{\"kind\":".into(),
            "ecr-credential-provider: the request on stdin is not a JSON CredentialProviderRequest: ",
        ),
        (
            "\u{0}\u{1}\u{fffd}".into(),
            "ecr-credential-provider: the request on stdin is not a JSON CredentialProviderRequest: ",
        ),
        (
            "[1,2]".into(),
            "ecr-credential-provider: the request on stdin is not a JSON CredentialProviderRequest: ",
        ),
        (
            ok.replace(r#""kind":"CredentialProviderRequest","#, ""),
            r#"ecr-credential-provider: kind was "", expected CredentialProviderRequest"#,
        ),
    ];
    // A value in the wrong place is not quoted back (it may be the token).
    cases.push((
        ok.replace(r#""image""#, r#""serviceAccountAnnotations":"s3cr3t-token","image""#),
        "ecr-credential-provider: the request on stdin is not a JSON CredentialProviderRequest: not an object",
    ));
    for (input, start) in cases {
        let line = refused(&kubelet(&env, &input));
        assert!(line.starts_with(start), "{input:?}: {line}");
    }
    // Oversized input is cut off, not read forever or held.
    let huge = format!("{{\"image\":\"{}\"}}", "a".repeat(2 << 20));
    let line = refused(&kubelet(&env, &huge));
    assert!(line.contains("larger than"), "{line}");
    assert_eq!(fake.calls(), 0, "no request reached AWS");
}

#[test]
fn unusable_answers_from_ecr_are_one_line_each() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    for (body, image, text) in [
        // The reference's "empty authorization data" (private and public).
        (r#"{"authorizationData":[]}"#, HOST, "no authorizationData"),
        (r#"{}"#, PUBLIC_HOST, "no authorizationData"),
        // "error parsing username and password": a token without a colon (base64 "foo").
        (
            r#"{"authorizationData":[{"authorizationToken":"Zm9v","expiresAt":4102444800}]}"#,
            HOST,
            "has no ':'",
        ),
        // "authorization token in response was nil".
        (
            r#"{"authorizationData":[{}]}"#,
            HOST,
            "no authorizationToken",
        ),
    ] {
        fake.set_mode(Mode::Answer(body));
        let line = refused(&kubelet(&env, &request(image)));
        assert!(line.contains(text), "{body}: {line}");
        assert!(line.contains(image), "names the registry: {line}");
        // A failure record is shared for a few seconds: start clean for the next case.
        let _ = fs::remove_dir_all(env.cache_dir().join("tokens"));
    }
    fake.set_mode(Mode::AccessDenied);
    let line = refused(&kubelet(&env, &request(HOST)));
    assert!(line.contains("AccessDeniedException"), "{line}");
}

#[test]
fn a_second_request_after_a_kubelet_restart_makes_no_api_call() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    // Every kubelet request is a new process: a restarted kubelet (empty memory cache) is just
    // the next request. The cloud-provider-aws provider asks ECR again each time.
    let first = kubelet(&env, &request(&format!("{HOST}/app:1")));
    golden(&first, HOST, "pw-AKIDEXAMPLE1-1");
    for image in [format!("{HOST}/app:1"), format!("{HOST}/other:2")] {
        let again = kubelet(&env, &request(&image));
        let secs = golden(&again, HOST, "pw-AKIDEXAMPLE1-1");
        assert!(secs <= 6 * 3600 && secs > 5 * 3600, "{secs}");
    }
    assert_eq!(fake.calls(), 1);
    // One cache with Docker's door, both ways.
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-1");
    assert_eq!(env.get(PUBLIC_HOST).secret(), "pw-AKIDEXAMPLE1-2");
    golden(
        &kubelet(&env, &request("public.ecr.aws/x/y")),
        PUBLIC_HOST,
        "pw-AKIDEXAMPLE1-2",
    );
    assert_eq!(fake.calls(), 2);
}

#[test]
fn cache_duration_follows_the_tokens_lifetime() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    fake.set_mode(Mode::Ok { lifetime: 600 });
    let secs = golden(&kubelet(&env, &request(HOST)), HOST, "pw-AKIDEXAMPLE1-1");
    assert!((295..=300).contains(&secs), "half of 10 minutes: {secs}");
}

#[test]
fn a_stale_token_after_a_failed_refresh_is_handed_out_but_not_kept_by_the_kubelet() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    // The refresh on the caller's path (background: the next test).
    env.set("AWS_ECR_BACKGROUND_REFRESH", "0");
    golden(&kubelet(&env, &request(HOST)), HOST, "pw-AKIDEXAMPLE1-1");
    // Seven hours later (the entry made older): past our refresh point, still valid for 5 h.
    let tokens = env.cache_dir().join("tokens");
    for e in fs::read_dir(&tokens).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            let mut v: serde_json::Value =
                serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
            for k in ["fetched_at", "expires_at"] {
                v[k] = (v[k].as_u64().unwrap() - 7 * 3600).into();
            }
            fs::write(e.path(), serde_json::to_vec(&v).unwrap()).unwrap();
        }
    }
    fake.set_mode(Mode::AccessDenied);
    let out = kubelet(&env, &request(HOST));
    // The token still works, but the kubelet must not keep it: ask again at the next pull.
    assert_eq!(golden(&out, HOST, "pw-AKIDEXAMPLE1-1"), 0);
    assert!(out.stdout.contains(r#""cacheDuration":"0s""#));
    assert_eq!(fake.calls(), 2);
}

#[test]
fn past_our_refresh_point_the_kubelet_gets_the_cached_token_at_once_and_does_not_keep_it() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let dir = tempfile::tempdir().unwrap();
    // As the kubelet runs it: the refresher it starts is the helper, whatever its name.
    let link = install_helper(dir.path(), "ecr-credential-provider");
    let ask = || {
        let cmd = env.command_of(&link, &["--v=2"]);
        run_command(cmd, request(HOST).as_bytes(), Duration::from_secs(60))
    };
    golden(&ask(), HOST, "pw-AKIDEXAMPLE1-1");
    let tokens = env.cache_dir().join("tokens");
    for e in fs::read_dir(&tokens).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            let mut v: serde_json::Value =
                serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
            for k in ["fetched_at", "expires_at"] {
                v[k] = (v[k].as_u64().unwrap() - 7 * 3600).into();
            }
            fs::write(e.path(), serde_json::to_vec(&v).unwrap()).unwrap();
        }
    }
    // The refresh is held at the fake: the answer cannot have waited for it. (Under Wine a
    // child process keeps its parent's Unix stderr, where Wine writes its own messages, so the
    // .exe's answer ends only with its refresher: there the call is let go as soon as it
    // arrives. On Windows itself the refresher gets no handle of the client's: children.rs.)
    fake.hold();
    let out = if windows_exe().is_some() {
        thread::scope(|s| {
            s.spawn(|| {
                let mut n = 0;
                while fake.calls() < 2 && n < 3000 {
                    n += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                fake.release();
            });
            ask()
        })
    } else {
        ask()
    };
    assert_eq!(
        golden(&out, HOST, "pw-AKIDEXAMPLE1-1"),
        0,
        "not kept past our refresh point"
    );
    let mut n = 0;
    while fake.calls() < 2 {
        n += 1;
        assert!(n < 3000, "the refresher's call never came");
        thread::sleep(Duration::from_millis(20));
    }
    fake.release();
    let mut n = 0;
    loop {
        let out = ask();
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        if v["auth"][HOST]["password"] == "pw-AKIDEXAMPLE1-2" {
            assert!(golden(&out, HOST, "pw-AKIDEXAMPLE1-2") > 0);
            break;
        }
        n += 1;
        assert!(n < 3000, "the refreshed token never came");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fake.calls(), 2);
}

#[test]
fn the_binary_named_ecr_credential_provider_is_the_kubelet_mode_and_ignores_arguments() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let dir = tempfile::tempdir().unwrap();
    let link = install_helper(dir.path(), "ecr-credential-provider");
    // As the kubelet runs it: its configured args, the request on stdin.
    let mut child = env
        .command_of(&link, &["--v=2", "get", "extra"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request(HOST).as_bytes())
        .unwrap();
    let pid = child.id();
    let watchdog = thread::spawn(move || {
        thread::sleep(Duration::from_secs(60));
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    let out = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    golden(&out, HOST, "pw-AKIDEXAMPLE1-1");
    // Help names both doors.
    let help = env.run(&["kubelet", "--help"], b"");
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("CredentialProviderRequest"));
    let main_help = env.run(&["--help"], b"");
    assert!(
        main_help.stdout.contains("  kubelet [ARGS...]"),
        "{}",
        main_help.stdout
    );
}

#[test]
fn no_token_password_or_key_reaches_stderr_or_the_log() {
    let fake = Fake::start();
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ENDPOINT_URL_STS", &moto.url())
        .set("AWS_ECR_LOG_LEVEL", "trace");
    let token = sa_token("app");
    let out = kubelet(&env, &sa_request(HOST, &token, Some(ROLE)));
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let password = v["auth"][HOST]["password"].as_str().unwrap().to_owned();
    // A failure too (STS unreachable).
    env.set(
        "AWS_ENDPOINT_URL_STS",
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    let failed = kubelet(&env, &sa_request(HOST, &sa_token("other"), Some(ROLE)));
    refused(&failed);
    let log = env.log_text();
    assert!(log.contains("kubelet: request"), "logged: {log}");
    for secret in [token.as_str(), &sa_token("other"), &password, SECRET_KEY] {
        assert!(!log.contains(secret), "log leaks a secret");
        assert!(!out.stderr.contains(secret) && !failed.stderr.contains(secret));
    }
}

#[test]
fn service_account_tokens_assume_the_annotated_role_and_are_cached_per_service_account() {
    let fake = Fake::start();
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ENDPOINT_URL_STS", &moto.url());
    let app = sa_token("app");
    let out = kubelet(&env, &sa_request(HOST, &app, Some(ROLE)));
    assert_eq!(out.code, 0, "{out:?}");
    let rec = moto.recorded();
    assert!(rec.contains("AssumeRoleWithWebIdentity"), "{rec}");
    assert!(
        rec.contains("RoleSessionName=ecr-credential-provider"),
        "{rec}"
    );
    assert!(
        rec.contains("role%2Fpull") || rec.contains("role/pull"),
        "{rec}"
    );
    // ECR was asked with the role's credentials (moto's temporary key), not the node's.
    let ecr = fake.requests();
    assert_eq!(ecr.len(), 1);
    assert_ne!(ecr[0].access_key, "AKIDEXAMPLE1");
    let app_password = format!("pw-{}-1", ecr[0].access_key);
    golden(&out, HOST, &app_password);

    // The same service account again (a new token of it, after a kubelet restart): no call.
    let sts_calls = |m: &Moto| m.recorded().matches("AssumeRoleWithWebIdentity").count();
    let before = sts_calls(&moto);
    let again = kubelet(&env, &sa_request(&format!("{HOST}/x:1"), &app, Some(ROLE)));
    golden(&again, HOST, &app_password);
    assert_eq!(fake.calls(), 1);
    assert_eq!(sts_calls(&moto), before);

    // Another service account annotated with the same role: never the first one's token; STS
    // decides again (its trust policy may refuse this account).
    let other = kubelet(&env, &sa_request(HOST, &sa_token("intruder"), Some(ROLE)));
    assert_eq!(other.code, 0, "{other:?}");
    assert_eq!(fake.calls(), 2);
    assert!(sts_calls(&moto) > before);
    assert!(!other.stdout.contains(&app_password));

    // The node's token is another entry again: a plain request uses the node's keys.
    golden(&kubelet(&env, &request(HOST)), HOST, "pw-AKIDEXAMPLE1-3");
}

#[test]
fn without_an_annotation_the_role_comes_from_aws_ecr_role_arn() {
    let fake = Fake::start();
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ENDPOINT_URL_STS", &moto.url())
        .set("AWS_ECR_ROLE_ARN", ROLE);
    // The reference's "no arn provided" case with a token that is not a JWT, and the variable set.
    let out = kubelet(&env, &sa_request(HOST, "DEADBEEF=", None));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(moto.recorded().contains("AssumeRoleWithWebIdentity"));
    assert_ne!(fake.requests()[0].access_key, "AKIDEXAMPLE1");
}

#[test]
fn a_service_account_token_without_a_role_is_refused_never_answered_with_the_nodes_keys() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set(
        "AWS_ENDPOINT_URL_STS",
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    // No annotation, or an empty one, and no AWS_ECR_ROLE_ARN: cloud-provider-aws's
    // "no arn provided, cannot assume role using ServiceAccountToken".
    for annotation in [None, Some("")] {
        let line = refused(&kubelet(
            &env,
            &sa_request(HOST, &sa_token("app"), annotation),
        ));
        assert!(line.contains("names no role to assume"), "{line}");
        assert!(line.contains("AWS_ECR_ROLE_ARN"), "{line}");
    }
    // An empty annotation does not escape the configured role: the variable's role is assumed
    // (here STS is unreachable, so the line names it).
    env.set("AWS_ECR_ROLE_ARN", ROLE);
    let line = refused(&kubelet(
        &env,
        &sa_request(HOST, &sa_token("app"), Some("")),
    ));
    assert!(line.contains(ROLE), "{line}");
    assert_eq!(fake.calls(), 0, "ECR was never asked with the node's keys");
}

/// A stand-in for STS that takes connections and closes them at once, counting them.
fn counting_sts() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

#[test]
fn a_forged_tokens_failure_is_not_shared_with_the_service_account_it_names() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let (sts, connections) = counting_sts();
    env.set("AWS_ENDPOINT_URL_STS", &sts);
    // The same claims (the key's service account), another signature: STS refuses it.
    let real = sa_token("app");
    let forged = format!("{}.Zm9yZ2Vk", real.rsplit_once('.').unwrap().0);
    refused(&kubelet(&env, &sa_request(HOST, &forged, Some(ROLE))));
    let before = connections.load(Ordering::SeqCst);
    assert!(before > 0);
    // The real account's pull asks STS itself, however soon it comes.
    refused(&kubelet(&env, &sa_request(HOST, &real, Some(ROLE))));
    assert!(
        connections.load(Ordering::SeqCst) > before,
        "the forged token's failure answered for the real one"
    );
}

#[test]
fn a_failed_assume_role_is_one_line_naming_the_role() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set(
        "AWS_ENDPOINT_URL_STS",
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    let line = refused(&kubelet(
        &env,
        &sa_request(HOST, &sa_token("app"), Some(ROLE)),
    ));
    assert!(line.contains(ROLE), "{line}");
    assert!(line.contains(HOST), "{line}");
    assert_eq!(fake.calls(), 0);
}

#[test]
fn moto_end_to_end_service_account_token_to_ecr_token() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = Env::new();
    env.set("AWS_ENDPOINT_URL", &moto.url())
        .set("AWS_ACCESS_KEY_ID", "AKIDNODE")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let out = kubelet(&env, &sa_request(HOST, &sa_token("app"), Some(ROLE)));
    // moto's tokens are always expired: handed out, with nothing for the kubelet to keep.
    assert_eq!(golden(&out, HOST, "123456789012-auth-token"), 0);
    let rec = moto.recorded();
    assert!(rec.contains("AssumeRoleWithWebIdentity"), "{rec}");
    let ecr_calls: Vec<&str> = rec
        .lines()
        .filter(|l| l.contains("GetAuthorizationToken"))
        .collect();
    assert_eq!(ecr_calls.len(), 1, "{rec}");
    assert!(
        !ecr_calls[0].contains("AKIDNODE"),
        "signed as the role: {}",
        ecr_calls[0]
    );
}

#[test]
fn doctor_checks_the_kubelet_config_of_docs_kubelet_md() {
    let env = Env::new();
    // The configuration docs/kubelet.md gives, as written there.
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/kubelet.md")).unwrap();
    let yaml = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|r| r.split("```").next())
        .expect("a yaml block in docs/kubelet.md");
    let config = env.path().join("credential-provider.yaml");
    fs::write(&config, yaml).unwrap();
    let bin_dir = env.path().join("bin");
    fs::create_dir(&bin_dir).unwrap();
    install_helper(&bin_dir, "ecr-credential-provider");
    // As the helper's user would write them (Windows: `Z:\...`).
    let (cfg, dir) = (shown(&config), shown(&bin_dir));
    let out = env.run(
        &["doctor", "--kubelet-config", &cfg, "--bin-dir", &dir],
        b"",
    );
    assert_eq!(
        out.code, 0,
        "every ECR name form is routed to us: {}",
        out.stdout
    );
    assert!(out.stdout.contains("is this program"), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("routed to us").count(),
        7,
        "{}",
        out.stdout
    );
    // An image no entry matches, and a missing binary directory, fail and say so.
    let out = env.run(
        &[
            "doctor",
            "--kubelet-config",
            &cfg,
            "--bin-dir",
            &shown(Path::new("/nonexistent")),
            "quay.io/x/y",
        ],
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("no matchImages entry matches"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&shown(Path::new("/nonexistent/ecr-credential-provider"))),
        "{}",
        out.stdout
    );
    // A config naming another provider.
    fs::write(
        &config,
        yaml.replace("name: ecr-credential-provider", "name: ecr-login"),
    )
    .unwrap();
    let out = env.run(
        &["doctor", "--kubelet-config", &cfg, "--bin-dir", &dir],
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("no provider named \"ecr-credential-provider\""),
        "{}",
        out.stdout
    );
}

/// The kubelet's request as a JSON value, to put hostile values in.
fn request_value(image: &str) -> serde_json::Value {
    serde_json::from_str(&request(image)).unwrap()
}

#[test]
fn a_request_past_64_kib_is_refused_before_any_of_it_is_used() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    // Well-formed, but of a size no real request has (a token of a few KB, a role ARN).
    let mut v = request_value(HOST);
    v["serviceAccountAnnotations"] = serde_json::json!({ "x": "a".repeat(100_000) });
    let line = refused(&kubelet(&env, &v.to_string()));
    assert!(line.contains("larger than 65536 bytes"), "{line}");
    assert_eq!(fake.calls(), 0);
    // Just under the bound, it is an ordinary request.
    v["serviceAccountAnnotations"] = serde_json::json!({ "x": "a".repeat(60_000) });
    golden(&kubelet(&env, &v.to_string()), HOST, "pw-AKIDEXAMPLE1-1");
}

#[test]
fn values_a_tenant_chose_are_cut_in_stderr_and_the_log() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set(
        "AWS_ENDPOINT_URL_STS",
        &format!("http://127.0.0.1:{}", closed_port()),
    )
    .set("AWS_ECR_LOG_LEVEL", "debug");
    let big = "a".repeat(50_000);
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let long_sub = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"RS256"}"#),
        b64(&format!(r#"{{"iss":"i","sub":"{}"}}"#, "s".repeat(30_000)))
    );
    let mut cases = Vec::new();
    // An image that names no host; a host longer than a DNS name; an apiVersion and a kind.
    cases.push(request_value(&format!("{big} ")));
    cases.push(request_value(&format!("{big}/app")));
    let mut v = request_value(HOST);
    v["apiVersion"] = big.clone().into();
    cases.push(v);
    let mut v = request_value(HOST);
    v["kind"] = big.clone().into();
    cases.push(v);
    // A role annotation of 50 KB; a token whose subject claim is 30 KB (STS is unreachable).
    let with_token = |token: &str, role: &str| {
        let mut v = request_value(HOST);
        v["serviceAccountToken"] = token.into();
        v["serviceAccountAnnotations"] =
            serde_json::json!({ "eks.amazonaws.com/ecr-role-arn": role });
        v
    };
    cases.push(with_token(
        &sa_token("app"),
        &format!("arn:aws:iam::1:role/{big}"),
    ));
    cases.push(with_token(&long_sub, ROLE));
    for v in cases {
        let input = v.to_string();
        assert!(input.len() < 64 * 1024);
        let logged = env.log_text().len();
        let line = refused(&kubelet(&env, &input));
        assert!(line.len() < 2048, "a {} byte stderr line", line.len());
        let grown = env.log_text().len() - logged;
        assert!(
            grown < 8192,
            "the log grew by {grown} bytes for one request"
        );
    }
    assert_eq!(fake.calls(), 0);
}

#[test]
fn the_days_log_stops_growing_at_its_cap() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    golden(&kubelet(&env, &request(HOST)), HOST, "pw-AKIDEXAMPLE1-1");
    let logs: Vec<_> = fs::read_dir(env.cache_dir().join("log"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(logs.len(), 1, "today's log: {logs:?}");
    // A day of heavy use, nearly at the 8 MiB cap.
    const CAP: u64 = 8 << 20;
    fs::OpenOptions::new()
        .write(true)
        .open(&logs[0])
        .unwrap()
        .set_len(CAP - 100)
        .unwrap();
    for _ in 0..3 {
        golden(&kubelet(&env, &request(HOST)), HOST, "pw-AKIDEXAMPLE1-1");
    }
    let size = fs::metadata(&logs[0]).unwrap().len();
    assert!(size < CAP + 1024, "{size}");
    let text = String::from_utf8_lossy(&fs::read(&logs[0]).unwrap()).into_owned();
    assert_eq!(text.matches("nothing more is logged in it").count(), 1);
    assert!(text.trim_end().ends_with("nothing more is logged in it)"));
}
