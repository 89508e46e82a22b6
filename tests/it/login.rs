//! docs/contract.md §6: profiles that `aws login` (console sign-in) wrote, `login_session = ARN`
//! with the session cached in `~/.aws/login/cache/`, end to end against a fake of the sign-in
//! service's token refresh ([`FakeAws`], `AWS_ENDPOINT_URL_SIGNIN`).

use std::fs;

use sha2::{Digest, Sha256};

use crate::aws::*;
use crate::support::*;

const SESSION: &str = "arn:aws:iam::123456789012:user/console-person";

/// A home with profile `console` signed in with `aws login`: its cached session expires at
/// `expires` and refreshes with `refresh`.
fn signed_in(fake: &FakeAws, expires: &str, refresh: &str) -> Env {
    let mut env = Env::new();
    for (k, v) in fake.endpoint_vars() {
        env.set(k, &v);
    }
    env.set("AWS_PROFILE", "console");
    let aws = env.path().join(".aws");
    fs::create_dir_all(aws.join("login/cache")).unwrap();
    fs::write(
        aws.join("config"),
        format!("[profile console]\nlogin_session = {SESSION}\nregion = us-west-2\n"),
    )
    .unwrap();
    fs::write(
        cache_file(&env),
        login_cache("ASIACACHEDSESSION", expires, refresh, &dpop_key()),
    )
    .unwrap();
    env
}

/// Where the AWS CLI caches the session: the SHA-256 of its ARN.
fn cache_file(env: &Env) -> std::path::PathBuf {
    let name: String = Sha256::digest(SESSION.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    env.path()
        .join(".aws/login/cache")
        .join(format!("{name}.json"))
}

#[test]
fn an_unexpired_session_signs_without_a_refresh() {
    if unix_only("the fake sign-in service's files") {
        return;
    }
    let fake = FakeAws::start();
    let env = signed_in(&fake, FAR_FUTURE, "refresh-1");
    assert_eq!(env.get(HOST).secret(), "pw-ASIACACHEDSESSION");
    assert!(fake.calls_to("signin").is_empty(), "{:?}", fake.calls());
    let ecr = fake.calls_to("ecr");
    assert_eq!(ecr.len(), 1);
    assert_eq!(ecr[0].signer, "ASIACACHEDSESSION");
}

#[test]
fn an_expired_session_is_refreshed_once_and_the_refreshed_keys_sign() {
    if unix_only("the fake sign-in service's files") {
        return;
    }
    let fake = FakeAws::start();
    let mut env = signed_in(&fake, LONG_AGO, "refresh-1");
    env.set("AWS_ECR_LOG_LEVEL", "trace");
    let cached_before = fs::read_to_string(cache_file(&env)).unwrap();
    let out = env.get(HOST);
    let signin = fake.calls_to("signin");
    assert_eq!(signin.len(), 1, "{:?}", fake.calls());
    assert_eq!(signin[0].params["grantType"], "refresh_token");
    assert_eq!(signin[0].params["refreshToken"], "refresh-1");
    // Proof of possession of the session's key (RFC 9449), as the sign-in service requires.
    assert!(
        signin[0].params["dpop"].split('.').count() == 3,
        "a DPoP proof: {:?}",
        signin[0].params
    );
    let refreshed = signin[0].issued.clone().unwrap();
    assert_eq!(out.secret(), format!("pw-{refreshed}"));
    let ecr = fake.calls_to("ecr");
    assert_eq!(ecr.len(), 1);
    assert_eq!(ecr[0].signer, refreshed);
    // The refreshed session is cached for the next run (and the AWS CLI), as the SDK writes it.
    let cached: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(cache_file(&env)).unwrap()).unwrap();
    assert_eq!(cached["accessToken"]["accessKeyId"], refreshed.as_str());
    assert_eq!(cached["refreshToken"], "refresh-1-next");
    // No secret of the session in the log (at trace) or on stderr: the refresh tokens, the DPoP
    // key, the secret keys.
    let before: serde_json::Value = serde_json::from_str(&cached_before).unwrap();
    let key_body: String = before["dpopKey"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let log = env.log_text();
    assert!(log.contains("GetAuthorizationToken"), "logged: {log}");
    for secret in [
        "refresh-1",
        &key_body[..40],
        "login-secret",
        "login-cached-secret",
        "login-token",
    ] {
        assert!(!log.contains(secret), "the log holds {secret}");
        assert!(!out.stderr.contains(secret), "stderr holds {secret}");
    }
}

#[test]
fn an_expired_sign_in_says_to_run_aws_login() {
    if unix_only("the fake sign-in service's files") {
        return;
    }
    let fake = FakeAws::start();
    let env = signed_in(&fake, LONG_AGO, &format!("{EXPIRED_REFRESH}-1"));
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    let line = out.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("run `aws login --profile console`"),
        "says to sign in again: {line}"
    );
    assert!(line.contains("expired"), "{line}");
    assert_eq!(fake.calls_to("signin").len(), 1);
    assert!(fake.calls_to("ecr").is_empty());

    // doctor names the source and says the same.
    let doctor = env.run(&["doctor", HOST], b"");
    assert!(
        doctor.stdout.contains("aws login session"),
        "{}",
        doctor.stdout
    );
    assert!(
        doctor.stdout.contains("run `aws login --profile console`"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn no_cached_session_says_to_run_aws_login() {
    if unix_only("the fake sign-in service's files") {
        return;
    }
    let fake = FakeAws::start();
    let mut env = signed_in(&fake, FAR_FUTURE, "refresh-1");
    fs::remove_file(cache_file(&env)).unwrap();
    env.set("AWS_PROFILE", "default");
    fs::write(
        env.path().join(".aws/config"),
        format!("[default]\nlogin_session = {SESSION}\n"),
    )
    .unwrap();
    let out = env.get(HOST);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.trim_end().ends_with("run `aws login`"),
        "{}",
        out.stderr
    );
    assert!(fake.calls().is_empty());
}

#[test]
fn another_sign_in_is_another_cache_entry() {
    if unix_only("the fake sign-in service's files") {
        return;
    }
    let fake = FakeAws::start();
    let env = signed_in(&fake, FAR_FUTURE, "refresh-1");
    assert_eq!(env.get(HOST).secret(), "pw-ASIACACHEDSESSION");
    // The same session again: the cache answers.
    env.get(HOST).secret();
    assert_eq!(fake.calls_to("ecr").len(), 1);
    // `aws login` as someone else rewrites the profile's session: never the first one's token.
    let other = "arn:aws:iam::123456789012:user/someone-else";
    fs::write(
        env.path().join(".aws/config"),
        format!("[profile console]\nlogin_session = {other}\nregion = us-west-2\n"),
    )
    .unwrap();
    let name: String = Sha256::digest(other.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    fs::write(
        env.path().join(format!(".aws/login/cache/{name}.json")),
        login_cache("ASIAOTHERSESSION", FAR_FUTURE, "refresh-2", &dpop_key()),
    )
    .unwrap();
    assert_eq!(env.get(HOST).secret(), "pw-ASIAOTHERSESSION");
    assert_eq!(fake.calls_to("ecr").len(), 2);
}
