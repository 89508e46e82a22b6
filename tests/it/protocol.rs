//! docs/contract.md §2, §3 and §5: every protocol case, over the real binary.

use std::fs;

use crate::support::*;

#[test]
fn get_answers_with_the_input_echoed_and_the_decoded_password() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    for input in [
        HOST.to_owned(),
        format!("https://{HOST}"),
        format!("  https://{HOST}:443/v2/  \n"),
    ] {
        let out = env.get(&input);
        assert_eq!(out.code, 0, "{out:?}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            v["ServerURL"],
            input.trim(),
            "ServerURL echoes the trimmed input"
        );
        assert_eq!(v["Username"], "AWS");
        assert_eq!(v["Secret"], "pw-AKIDEXAMPLE1-1");
        assert!(out.stdout.ends_with("}\n"));
        assert_eq!(out.stderr, "");
    }
    assert_eq!(fake.calls(), 1, "the later gets were cache hits");
    let req = &fake.requests()[0];
    assert_eq!(
        req.target,
        "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
    );
    assert_eq!(req.region, "us-west-2", "signed for the registry's region");
    assert!(
        req.user_agent.contains(concat!(
            "docker-credential-ecr-login/",
            env!("CARGO_PKG_VERSION")
        )),
        "User-Agent: {}",
        req.user_agent
    );
}

#[test]
fn ecr_public_uses_its_own_api_in_us_east_1() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    for host in ["public.ecr.aws", "https://ecr-public.aws.com"] {
        assert!(env.get(host).secret().starts_with("pw-AKIDEXAMPLE1-"));
    }
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2, "one token per public host name");
    for r in reqs {
        assert_eq!(r.target, "SpencerFrontendService.GetAuthorizationToken");
        assert_eq!(r.region, "us-east-1");
    }
}

#[test]
fn hosts_that_are_not_ecr_get_not_found_silently_and_no_api_call() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    for host in [
        "index.docker.io",
        "https://index.docker.io/v1/",
        "123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.com",
        "http://123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "localhost:5000",
    ] {
        let out = env.get(host);
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (1, NOT_FOUND, ""),
            "{host}"
        );
    }
    assert_eq!(fake.calls(), 0);
}

#[test]
fn blank_oversized_and_binary_input_get_clear_answers_without_panic() {
    let env = Env::new();
    let out = env.get("  \n");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "no credentials server URL\n")
    );
    let big = vec![b'a'; 200 * 1024];
    let out = env.run(&["get"], &big);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    let out = env.run(&["get"], b"\xff\xfe\x00\x01");
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn access_denied_is_not_found_on_stdout_and_the_cause_on_stderr() {
    let fake = Fake::start();
    fake.set_mode(Mode::AccessDenied);
    let env = Env::with_fake(&fake);
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(
        out.stderr.starts_with(&format!(
            "docker-credential-ecr-login: {HOST}: AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line");
}

#[test]
fn a_server_error_is_reported_on_stderr_after_retries() {
    let fake = Fake::start();
    fake.set_mode(Mode::ServerError);
    let env = Env::with_fake(&fake);
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(out.stderr.contains("ServerException"), "{}", out.stderr);
    assert!(fake.calls() >= 2, "the SDK retries a 500");
}

/// `docker login` to an ECR host: nothing kept, exit 0, one line naming the identity
/// (docs/contract.md §2.3).
#[test]
fn store_and_erase_of_ecr_hosts_keep_nothing_and_name_the_identity() {
    let password = "pw-from-another-account";
    let creds = |host: &str| {
        format!(r#"{{"ServerURL":"https://{host}","Username":"AWS","Secret":"{password}"}}"#)
    };
    let mut env = Env::new();
    env.set("AWS_PROFILE", "dev");
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(
        env.path().join(".aws/credentials"),
        format!("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = {SECRET_KEY}\n[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    let out = env.run(&["store"], creds(HOST).as_bytes());
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let settings = env.cache_dir().join("config.json");
    assert_eq!(
        out.stderr,
        format!(
            "docker-credential-ecr-login: {HOST}: the password was not kept: this helper gets tokens for this host from the AWS credentials (profile dev from AWS_PROFILE); for another account's, map the host in {}\n",
            shown(&settings)
        )
    );
    let out = env.run(&["erase"], b"public.ecr.aws\n");
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    assert!(
        out.stderr.starts_with(
            "docker-credential-ecr-login: public.ecr.aws: nothing to erase: this helper gets tokens for this host from the AWS credentials (profile dev from AWS_PROFILE)"
        ),
        "{}",
        out.stderr
    );

    // A mapped host names its mapping; a custom name is ours too.
    fs::create_dir_all(env.cache_dir()).unwrap();
    fs::write(
        &settings,
        serde_json::json!({"registries": {
            HOST: {"profile": "prod"},
            "registry.example.com": {"registry": HOST}
        }})
        .to_string(),
    )
    .unwrap();
    let out = env.run(&["store"], creds(HOST).as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("(profile prod, mapped by \"{HOST}\")")),
        "{}",
        out.stderr
    );
    let out = env.run(&["store"], creds("registry.example.com").as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "docker-credential-ecr-login: registry.example.com: the password was not kept:"
        ),
        "{}",
        out.stderr
    );

    // Environment keys: named as such, no key id, no secret.
    env.unset("AWS_PROFILE")
        .set("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .set("AWS_SESSION_TOKEN", "session-token-value");
    let out = env.run(
        &["store"],
        creds("111111111111.dkr.ecr.eu-west-1.amazonaws.com").as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("(environment keys)"), "{}", out.stderr);
    for secret in [
        password,
        "AKIDENVIRONMENT",
        SECRET_KEY,
        "session-token-value",
    ] {
        assert!(!out.stderr.contains(secret), "{secret}: {}", out.stderr);
        assert!(!env.log_text().contains(secret), "{secret} in the log");
    }
    assert!(!env.cache_dir().join("tokens").exists(), "nothing stored");
}

#[test]
fn store_and_erase_of_other_hosts_say_not_implemented_and_false_keeps_the_old_answer() {
    let ecr = br#"{"ServerURL":"123456789012.dkr.ecr.us-west-2.amazonaws.com","Username":"AWS","Secret":"x"}"#;
    let other = br#"{"ServerURL":"ghcr.io","Username":"me","Secret":"x"}"#;
    let mut env = Env::new();
    let out = env.run(&["store"], other);
    assert_eq!((out.code, out.stderr.as_str()), (1, ""));
    assert!(out.stdout.starts_with("not implemented"), "{}", out.stdout);
    assert!(out.stdout.contains("AWS_ECR_IGNORE_CREDS_STORAGE=true"));
    assert_eq!(out.stdout.lines().count(), 1);
    let out = env.run(&["erase"], b"ghcr.io");
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("not implemented"));

    for value in ["false", "FALSE", "0"] {
        env.set("AWS_ECR_IGNORE_CREDS_STORAGE", value);
        let out = env.run(&["store"], ecr);
        assert_eq!((out.code, out.stderr.as_str()), (1, ""), "{value}");
        assert!(out.stdout.starts_with("not implemented"), "{value}");
        let out = env.run(&["erase"], HOST.as_bytes());
        assert_eq!(out.code, 1, "{value}");
        assert!(out.stdout.starts_with("not implemented"), "{value}");
    }

    for value in ["true", "TRUE", "1"] {
        env.set("AWS_ECR_IGNORE_CREDS_STORAGE", value);
        for input in [&ecr[..], &other[..]] {
            let out = env.run(&["store"], input);
            assert_eq!(
                (out.code, out.stdout.as_str(), out.stderr.as_str()),
                (0, "", ""),
                "{value}"
            );
        }
        let out = env.run(&["erase"], b"public.ecr.aws");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", ""),
            "{value}"
        );
        assert!(!env.cache_dir().join("tokens").exists(), "nothing stored");
    }
}

#[test]
fn store_validates_its_input_first() {
    let mut env = Env::new();
    env.set("AWS_ECR_IGNORE_CREDS_STORAGE", "true");
    let out = env.run(&["store"], b"{not json");
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.starts_with("invalid credentials JSON"),
        "{}",
        out.stdout
    );
    let out = env.run(
        &["store"],
        br#"{"ServerURL":"","Username":"AWS","Secret":"x"}"#,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "no credentials server URL\n")
    );
    let out = env.run(
        &["store"],
        br#"{"ServerURL":"h","Username":"","Secret":"x"}"#,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "no credentials username\n")
    );
    let out = env.run(&["erase"], b"");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "no credentials server URL\n")
    );
}

#[test]
fn list_names_the_cached_registries_of_this_identity_only() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let out = env.run(&["list"], b"unused");
    assert_eq!((out.code, out.stdout.as_str()), (0, "{}\n"));
    env.get(HOST).secret();
    env.get("public.ecr.aws").secret();
    let out = env.run(&["list"], b"unused");
    assert_eq!(
        out.stdout,
        format!("{{\"https://{HOST}\":\"AWS\",\"https://public.ecr.aws\":\"AWS\"}}\n")
    );
    let mut other = Env::with_fake(&fake);
    other.set("AWS_ECR_CACHE_DIR", &env.cache_dir().display().to_string());
    other.set("AWS_ACCESS_KEY_ID", "AKIDOTHER");
    assert_eq!(other.run(&["list"], b"unused").stdout, "{}\n");
    assert_eq!(fake.calls(), 2, "list calls no API");
}

#[test]
fn version_help_usage_and_unknown_actions() {
    let env = Env::new();
    let want = format!("docker-credential-ecr-login {}", env!("CARGO_PKG_VERSION"));
    for flag in ["version", "-v", "--version"] {
        let out = env.run(&[flag], b"");
        assert_eq!(out.code, 0);
        assert!(out.stdout.starts_with(&want), "{}", out.stdout);
        assert_eq!(out.stdout.lines().count(), 1);
    }
    for flag in ["-h", "--help"] {
        let out = env.run(&[flag], b"");
        assert_eq!(out.code, 0);
        for needle in [
            "get",
            "store",
            "erase",
            "list",
            "AWS_ECR_CACHE_DIR",
            "AWS_ECR_DISABLE_CACHE",
            "AWS_ECR_IGNORE_CREDS_STORAGE",
            "AWS_ECR_LOG_LEVEL",
            "AWS_CA_BUNDLE",
            "HTTPS_PROXY",
        ] {
            assert!(out.stdout.contains(needle), "help lacks {needle}");
        }
    }
    let usage = "Usage: docker-credential-ecr-login <store|get|erase|list|version>\n";
    for args in [&[][..], &["get", "extra"][..]] {
        let out = env.run(args, b"");
        assert_eq!((out.code, out.stdout.as_str()), (1, usage));
    }
    let out = env.run(&["fetch"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("unknown action"));
    assert_eq!(out.stdout.lines().count(), 1);
}

#[test]
fn list_with_a_region_fetches_the_callers_registry_once_like_go() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_REGION", "eu-central-1");
    let want = "{\"https://123456789012.dkr.ecr.eu-central-1.amazonaws.com\":\"AWS\"}\n";
    let out = env.run(&["list"], b"unused");
    assert_eq!((out.code, out.stdout.as_str()), (0, want));
    assert_eq!(fake.calls(), 1);
    assert_eq!(fake.requests()[0].region, "eu-central-1");
    // Cached: listed again without a call, and a get of it is a hit.
    assert_eq!(env.run(&["list"], b"unused").stdout, want);
    env.get("123456789012.dkr.ecr.eu-central-1.amazonaws.com")
        .secret();
    assert_eq!(fake.calls(), 1);

    // AWS_DEFAULT_REGION too.
    let mut env = Env::with_fake(&fake);
    env.set("AWS_DEFAULT_REGION", "us-east-2");
    assert!(
        env.run(&["list"], b"")
            .stdout
            .contains("dkr.ecr.us-east-2.amazonaws.com")
    );
}

#[test]
fn list_leaves_out_what_it_cannot_get_and_still_succeeds() {
    let (_hole, port) = black_hole();
    let fake = Fake::start();
    for endpoint in [
        format!("http://127.0.0.1:{}", closed_port()),
        format!("http://127.0.0.1:{port}"),
    ] {
        let mut env = Env::with_fake(&fake);
        env.set("AWS_REGION", "eu-central-1")
            .set("AWS_ENDPOINT_URL_ECR", &endpoint);
        let out = env.run(&["list"], b"unused");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "{}\n", "")
        );
    }
    let mut env = Env::with_fake(&fake);
    fake.set_mode(Mode::AccessDenied);
    env.set("AWS_REGION", "eu-central-1");
    assert_eq!(env.run(&["list"], b"").stdout, "{}\n");
}
