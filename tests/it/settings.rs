//! docs/contract.md §7, §2.5 and §2.6: per-registry profiles and custom names, `configure` on
//! real files, and `doctor`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::support::*;

const DEV_HOST: &str = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";

/// Two profiles in the credentials file, environment keys of a third identity, and a mapping.
fn mapped_env(fake: &Fake) -> Env {
    let mut env = Env::with_fake(fake);
    env.set("AWS_ACCESS_KEY_ID", "AKIDENV");
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(
        env.path().join(".aws/credentials"),
        format!("[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = {SECRET_KEY}\n[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    write_settings(
        &env,
        &json!({"registries": {
            HOST: {"profile": "prod"},
            "210987654321": {"profile": "dev"},
            "registry.example.com": {"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "profile": "prod"}
        }}),
    );
    env
}

fn write_settings(env: &Env, v: &Value) {
    fs::create_dir_all(env.cache_dir()).unwrap();
    fs::write(env.cache_dir().join("config.json"), v.to_string()).unwrap();
}

#[test]
fn mapped_profiles_win_and_their_tokens_never_mix() {
    let fake = Fake::start();
    let env = mapped_env(&fake);
    let unmapped = "111111111111.dkr.ecr.us-east-1.amazonaws.com";
    let prod = env.get(HOST).secret();
    let dev = env.get(DEV_HOST).secret();
    let default = env.get(unmapped).secret();
    assert!(prod.starts_with("pw-AKIDPROD-"), "{prod}");
    assert!(dev.starts_with("pw-AKIDDEV-"), "{dev}");
    assert!(default.starts_with("pw-AKIDENV-"), "{default}");
    // Same account in another region: the account-id mapping.
    assert!(
        env.get("210987654321.dkr.ecr.us-east-1.amazonaws.com")
            .secret()
            .starts_with("pw-AKIDDEV-")
    );
    assert_eq!(fake.calls(), 4);
    // Cached apart: each hits its own entry.
    assert_eq!(env.get(HOST).secret(), prod);
    assert_eq!(env.get(DEV_HOST).secret(), dev);
    assert_eq!(env.get(unmapped).secret(), default);
    assert_eq!(fake.calls(), 4);
    let listed: Value = serde_json::from_str(&env.run(&["list"], b"").stdout).unwrap();
    assert_eq!(listed.as_object().unwrap().len(), 4, "{listed}");
}

#[test]
fn a_custom_name_answers_with_its_registrys_token_and_echoes_the_name() {
    let fake = Fake::start();
    let env = mapped_env(&fake);
    let out = env.get("https://registry.example.com");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ServerURL"], "https://registry.example.com");
    assert!(out.secret().starts_with("pw-AKIDPROD-"));
    let req = &fake.requests()[0];
    assert_eq!(req.region, "eu-west-1", "the mapped registry's region");
    assert_eq!(req.access_key, "AKIDPROD");
}

#[test]
fn a_malformed_settings_file_or_unknown_profile_is_not_found_with_one_stderr_line() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    fs::create_dir_all(env.cache_dir()).unwrap();
    let file = env.cache_dir().join("config.json");
    fs::write(&file, "{\"registries\": {").unwrap();
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(out.stderr.contains(&shown(&file)), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);

    write_settings(&env, &json!({"registries": {HOST: {"profile": "nope"}}}));
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(
        out.stderr.contains(&format!("registries.\"{HOST}\"")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown profile \"nope\""),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);
    assert_eq!(fake.calls(), 0);

    // AWS_ECR_CONFIG names another file.
    let mut env = env;
    let other = env.path().join("elsewhere.json");
    fs::write(
        &other,
        json!({"registries": {"123456789012": {"profile": "x", "extra": 1}}}).to_string(),
    )
    .unwrap();
    env.set("AWS_ECR_CONFIG", &other.display().to_string());
    let out = env.get(HOST);
    assert!(
        out.stderr
            .contains("elsewhere.json: registries.\"123456789012\""),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("extra"), "{}", out.stderr);
}

/// A PATH with the helper under its docker-credential name, and a DOCKER_CONFIG dir.
fn docker_env() -> (Env, std::path::PathBuf) {
    let mut env = Env::new();
    let file = with_docker_config(&mut env);
    (env, file)
}

#[test]
fn configure_adds_entries_keeps_everything_else_and_is_idempotent() {
    let (env, file) = docker_env();
    let original = json!({
        "auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"}, "ghcr.io": {}},
        "credHelpers": {"gcr.io": "gcloud", "public.ecr.aws": "old-helper"},
        "psFormat": "table {{.ID}}",
        "proxies": {"default": {"httpsProxy": "http://proxy:3128"}},
        "experimental": "enabled"
    });
    fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();

    let dry = env.run(&["configure", "--dry-run", "--store", HOST], b"");
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("would set credHelpers"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("dry run"));
    let untouched: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(untouched, original);

    let out = env.run(&["configure", HOST, "https://public.ecr.aws"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("set credHelpers[\"{HOST}\"] = \"ecr-login\"")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("(was \"old-helper\")"),
        "{}",
        out.stdout
    );
    let after: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    let mut want = original.clone();
    want["credHelpers"][HOST] = "ecr-login".into();
    want["credHelpers"]["public.ecr.aws"] = "ecr-login".into();
    assert_eq!(after, want, "every other key and entry survives");
    let backup: Value =
        serde_json::from_slice(&fs::read(file.with_extension("json.bak")).unwrap()).unwrap();
    assert_eq!(backup, original);

    let out = env.run(&["configure", "--store"], b"");
    assert_eq!(out.code, 0);
    let after: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(after["credsStore"], "ecr-login");

    let before = fs::read(&file).unwrap();
    let again = env.run(&["configure", "--store", HOST], b"");
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert_eq!(fs::read(&file).unwrap(), before, "idempotent");
}

#[test]
fn configure_refuses_without_the_binary_on_path_bad_registries_and_broken_files() {
    let (mut env, file) = docker_env();
    let out = env.run(&["configure", "docker.io"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not an ECR registry"), "{}", out.stdout);
    let out = env.run(&["configure"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("Usage"));

    fs::write(&file, "{broken").unwrap();
    let out = env.run(&["configure", HOST], b"");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("invalid JSON"), "{}", out.stdout);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "{broken",
        "not overwritten"
    );

    fs::remove_file(&file).unwrap();
    // A PATH without the helper (not /usr/bin: a distribution's Go helper may live there).
    let empty = env.path().join("empty-bin");
    fs::create_dir_all(&empty).unwrap();
    env.set("PATH", &empty.display().to_string());
    let out = env.run(&["configure", HOST], b"");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not on PATH"), "{}", out.stdout);
    assert!(!file.exists());
}

fn doctor(env: &Env, host: &str) -> Output {
    let out = env.run(&["doctor", host], b"");
    assert!(!out.stdout.contains(SECRET_KEY), "doctor printed a secret");
    assert!(!out.stdout.contains("pw-"), "doctor printed a token");
    out
}

/// Another program of our name first on PATH (Docker Desktop's link, an older install): Docker
/// would run that one, and doctor says so.
#[test]
fn doctor_names_another_program_that_shadows_this_one_on_path() {
    if unix_only("a shell script as the other program") {
        return;
    }
    let (mut env, file) = docker_env();
    fs::write(&file, json!({"credsStore": "ecr-login"}).to_string()).unwrap();
    let other = env.path().join("other");
    fs::create_dir_all(&other).unwrap();
    let shadow = other.join("docker-credential-ecr-login");
    fs::write(&shadow, "#!/bin/sh\nexit 1\n").unwrap();
    fs::set_permissions(&shadow, fs::Permissions::from_mode(0o755)).unwrap();
    let ours = env.path().join("bin");
    env.set(
        "PATH",
        &format!("{}:{}:/usr/bin:/bin", other.display(), ours.display()),
    );
    let out = doctor(&env, HOST);
    assert!(
        out.stdout.contains(&format!(
            "PROBLEM: Docker will run {}, which is not this program (",
            shadow.display()
        )),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("(this program)"), "{}", out.stdout);
}

#[test]
fn doctor_explains_a_working_host() {
    let fake = Fake::start();
    let (mut env, file) = docker_env();
    for (k, v) in &Env::with_fake(&fake).vars {
        if k.starts_with("AWS_") {
            env.set(k, v);
        }
    }
    fs::write(
        &file,
        json!({"credHelpers": {HOST: "ecr-login"}}).to_string(),
    )
    .unwrap();
    let out = doctor(&env, HOST);
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "Docker asks this helper",
        "Docker will run",
        "private ECR",
        "account 123456789012, region us-west-2",
        "environment keys",
        "us-west-2 (from the registry host name)",
        "no token for this identity",
        "refresh   in the background",
        "OK: GetAuthorizationToken answered in",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
    // PATH finds this program (a link to it).
    assert!(out.stdout.contains(" (this program)"), "{}", out.stdout);
    // Doctor does not fill the cache; a get does, and doctor then reports it fresh.
    env.get(HOST).secret();
    let out = doctor(&env, HOST);
    assert!(out.stdout.contains("fresh until"), "{}", out.stdout);
    // Another account of the region: the region's token answers it.
    let other = "210987654321.dkr.ecr.us-west-2.amazonaws.com";
    let out = doctor(&env, other);
    assert!(
        out.stdout.contains("no token of its own yet"),
        "{}",
        out.stdout
    );
    // Background refresh off: doctor says so, and why.
    env.set("AWS_ECR_BACKGROUND_REFRESH", "0");
    let out = doctor(&env, HOST);
    assert!(
        out.stdout
            .contains("refresh   in the foreground (AWS_ECR_BACKGROUND_REFRESH)"),
        "{}",
        out.stdout
    );
    env.unset("AWS_ECR_BACKGROUND_REFRESH");
    // With no HOST: the hosts Docker's config names.
    let all = env.run(&["doctor"], b"");
    assert_eq!(all.code, 0);
    assert!(
        all.stdout.contains(&format!("doctor    {HOST}")),
        "{}",
        all.stdout
    );
}

#[test]
fn doctor_points_at_an_unrouted_host() {
    let fake = Fake::start();
    let (mut env, file) = docker_env();
    env.set("AWS_ACCESS_KEY_ID", "AKIDX")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .set("AWS_ENDPOINT_URL_ECR", &fake.url());
    fs::write(
        &file,
        json!({"credHelpers": {"gcr.io": "gcloud"}}).to_string(),
    )
    .unwrap();
    let out = doctor(&env, HOST);
    assert!(
        out.stdout.contains("no credHelpers entry"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "fix: docker-credential-ecr-login configure {HOST}"
        )),
        "{}",
        out.stdout
    );
    let out = doctor(&env, "index.docker.io");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not an ECR registry"), "{}", out.stdout);
}

#[test]
fn doctor_gives_hints_for_expired_credentials_and_denied_access() {
    let fake = Fake::start();
    let (mut env, _) = docker_env();
    for (k, v) in &Env::with_fake(&fake).vars {
        if k.starts_with("AWS_") {
            env.set(k, v);
        }
    }
    fake.set_mode(Mode::Error(
        "ExpiredTokenException",
        "The security token included in the request is expired",
    ));
    let out = doctor(&env, HOST);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("FAILED after"), "{}", out.stdout);
    assert!(
        out.stdout.contains("ExpiredTokenException"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("credentials have expired"),
        "{}",
        out.stdout
    );

    fake.set_mode(Mode::AccessDenied);
    let out = doctor(&env, HOST);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("AccessDeniedException"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("allow ecr:GetAuthorizationToken"),
        "{}",
        out.stdout
    );

    fake.set_mode(Mode::Error(
        "InvalidSignatureException",
        "Signature expired: 20200101T000000Z is now earlier than 20261126T000000Z",
    ));
    let out = doctor(&env, HOST);
    assert!(out.stdout.contains("clock"), "{}", out.stdout);

    // An expired SSO session.
    let mut sso = env;
    sso.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    fs::create_dir_all(sso.path().join(".aws")).unwrap();
    fs::write(
        sso.path().join(".aws/config"),
        "[profile corp]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    sso.set("AWS_PROFILE", "corp");
    let out = doctor(&sso, HOST);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("aws sso login --profile corp"),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_names_the_mapping_that_chose_the_profile() {
    let fake = Fake::start();
    let env = mapped_env(&fake);
    let out = doctor(&env, "registry.example.com");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("custom name for private ECR 123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("profile prod: mapping \"registry.example.com\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("eu-west-1 (from the registry host name)"),
        "{}",
        out.stdout
    );
    let out = doctor(&env, DEV_HOST);
    assert!(
        out.stdout.contains("profile dev: mapping \"210987654321\""),
        "{}",
        out.stdout
    );
}

/// docs/contract.md §2.5: `configure --containers` writes credHelpers where podman, skopeo and
/// buildah read them, keeping the rest of the file (`auths` from `podman login`), and leaves
/// Docker's config.json alone.
#[test]
fn configure_containers_writes_the_containers_auth_file() {
    if unix_only("the containers tools' files under the home, which Wine replaces for the .exe") {
        return;
    }
    let (mut env, docker) = docker_env();
    let auth = env.path().join(".config/containers/auth.json");
    fs::create_dir_all(auth.parent().unwrap()).unwrap();
    let original = json!({"auths": {"quay.io": {"auth": "dXNlcjpwYXNz"}}, "credHelpers": {"gcr.io": "gcloud"}});
    fs::write(&auth, serde_json::to_string(&original).unwrap()).unwrap();
    let out = env.run(&["configure", "--containers", HOST, "public.ecr.aws"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("podman, skopeo and buildah will run "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("wrote {}", auth.display())),
        "{}",
        out.stdout
    );
    let v: Value = serde_json::from_slice(&fs::read(&auth).unwrap()).unwrap();
    assert_eq!(v["auths"], original["auths"]);
    assert_eq!(
        v["credHelpers"],
        json!({"gcr.io": "gcloud", HOST: "ecr-login", "public.ecr.aws": "ecr-login"})
    );
    assert!(!docker.exists(), "Docker's config.json is not touched");
    let again = env.run(&["configure", "--containers", HOST], b"");
    assert!(again.stdout.contains("is already"), "{}", again.stdout);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    // $XDG_CONFIG_HOME, then $REGISTRY_AUTH_FILE, as containers-auth.json(5) reads them.
    let xdg = env.path().join("xdg-config");
    env.set("XDG_CONFIG_HOME", &xdg.display().to_string());
    assert_eq!(env.run(&["configure", "--containers", HOST], b"").code, 0);
    let v: Value =
        serde_json::from_slice(&fs::read(xdg.join("containers/auth.json")).unwrap()).unwrap();
    assert_eq!(v["credHelpers"][HOST], "ecr-login");
    let file = env.path().join("my-auth.json");
    env.set("REGISTRY_AUTH_FILE", &file.display().to_string());
    let out = env.run(&["configure", "--containers", "--dry-run", HOST], b"");
    assert!(
        out.stdout.contains("would set credHelpers"),
        "{}",
        out.stdout
    );
    assert!(!file.exists(), "a dry run writes nothing");
    assert_eq!(env.run(&["configure", "--containers", HOST], b"").code, 0);
    let v: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(v["credHelpers"][HOST], "ecr-login");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Refusals: a host that is not ours, a broken file (never overwritten), --fallback.
    let out = env.run(&["configure", "--containers", "docker.io"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not an ECR registry"), "{}", out.stdout);
    fs::write(&file, "{broken").unwrap();
    let out = env.run(&["configure", "--containers", HOST], b"");
    assert_eq!(out.code, 1);
    assert_eq!(fs::read_to_string(&file).unwrap(), "{broken");
    let out = env.run(
        &["configure", "--containers", "--store", "--fallback", "pass"],
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("--fallback is for Docker"),
        "{}",
        out.stdout
    );
}

/// Concurrent `configure --containers` runs for different registries all land (the edit lock).
#[test]
fn concurrent_configure_containers_runs_lose_nothing() {
    if unix_only("the containers tools' files under the home, which Wine replaces for the .exe") {
        return;
    }
    let (env, _) = docker_env();
    let hosts: Vec<String> = (0..8)
        .map(|i| format!("1234567890{i:02}.dkr.ecr.us-east-1.amazonaws.com"))
        .collect();
    let children: Vec<_> = hosts
        .iter()
        .map(|h| {
            env.command(&["configure", "--containers", h])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let auth = env.path().join(".config/containers/auth.json");
    let v: Value = serde_json::from_slice(&fs::read(auth).unwrap()).unwrap();
    for h in &hosts {
        assert_eq!(v["credHelpers"][h], "ecr-login", "{h} lost");
    }
}

/// `--containers --store` names the drop-in (a dry run: as root the real one is system-wide, and
/// the e2e suite writes it).
#[test]
fn configure_containers_store_names_the_drop_in() {
    if unix_only("the containers tools' files under the home, which Wine replaces for the .exe") {
        return;
    }
    let (env, _) = docker_env();
    let out = env.run(&["configure", "--containers", "--store", "--dry-run"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(
            "would set credential-helpers = [\"containers-auth.json\", \"ecr-login\"] in "
        ) && out.stdout.contains("registries.conf.d/50-ecr-login.conf"),
        "{}",
        out.stdout
    );
}

/// Runs the helper under strace with `args` and `input`; how many times each of `paths` was
/// opened (any flags, successful or not), the helper's children included.
fn opens_under_strace(
    env: &Env,
    args: &[&str],
    input: &str,
    paths: &[&std::path::Path],
) -> Vec<usize> {
    let trace = env.path().join("strace.out");
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&trace)
        .arg(helper_bin())
        .args(args)
        .env_clear()
        .envs(&env.vars);
    let out = run_command(cmd, input.as_bytes(), std::time::Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    let text = fs::read_to_string(&trace).unwrap();
    paths
        .iter()
        .map(|p| {
            let quoted = format!("\"{}\"", p.display());
            text.lines().filter(|l| l.contains(&quoted)).count()
        })
        .collect()
}

#[test]
fn one_run_reads_the_settings_file_and_each_aws_file_at_most_once() {
    if unix_only("strace") || under_qemu_user() {
        return;
    }
    assert!(
        std::process::Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "strace is needed (make test-deps installs it)"
    );
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let aws = env.path().join(".aws");
    fs::create_dir_all(&aws).unwrap();
    fs::write(
        aws.join("credentials"),
        format!("[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = {SECRET_KEY}\n[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    fs::write(
        aws.join("config"),
        "[default]\nregion = eu-west-1\n[profile prod]\nregion = us-west-2\n",
    )
    .unwrap();
    env.set("AWS_CONFIG_FILE", &aws.join("config").display().to_string())
        .set(
            "AWS_SHARED_CREDENTIALS_FILE",
            &aws.join("credentials").display().to_string(),
        );
    write_settings(
        &env,
        &json!({"registries": {
            HOST: {"profile": "prod"},
            "mirror.example.com": {"registry": DEV_HOST},
        }}),
    );
    let settings = env.cache_dir().join("config.json");
    let files = [
        settings.as_path(),
        &aws.join("config"),
        &aws.join("credentials"),
    ];
    let kubelet = |image: &str| {
        format!(
            r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{image}"}}"#
        )
    };
    // A mapped registry fetched (its profile's identity, then the SDK given the files' text), then
    // served from the cache; a custom name; list (every entry's identity, the default region's
    // registry fetched); the kubelet for a mapped host and for a host that is not ECR (the
    // default region and identity).
    let runs: [(&[&str], String); 6] = [
        (&["get"], HOST.to_owned()),
        (&["get"], HOST.to_owned()),
        (&["get"], "mirror.example.com".to_owned()),
        (&["list"], String::new()),
        (&["kubelet"], kubelet(&format!("{HOST}/app:1"))),
        (&["kubelet"], kubelet("docker.io/library/busybox:1")),
    ];
    for (args, input) in runs {
        let opens = opens_under_strace(&env, args, &input, &files);
        assert_eq!(opens, [1, 1, 1], "{args:?} {input}: opens of {files:?}");
    }
    // And the fetches were made with the files' keys (the SDK read no file of its own).
    let keys: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.access_key.clone())
        .collect();
    assert!(
        keys.contains(&"AKIDPROD".to_owned()) && keys.contains(&"AKIDDEFAULT".to_owned()),
        "{keys:?}"
    );
}
