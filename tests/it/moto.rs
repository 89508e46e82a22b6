//! docs/contract.md §6 against moto, a real third-party implementation of ECR and STS: the
//! credential sources users have, each ending in a token moto issued. (moto's tokens are always
//! expired, so these exercise the fetch path, never the cache.)

use std::fs;

use crate::support::*;

/// moto's token for its default account: base64("AWS:123456789012-auth-token").
const MOTO_PASSWORD: &str = "123456789012-auth-token";

fn env_for(moto: &Moto) -> Env {
    let mut env = Env::new();
    env.set("AWS_ENDPOINT_URL", &moto.url());
    env
}

fn write_aws(env: &Env, name: &str, text: &str) {
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(env.path().join(".aws").join(name), text).unwrap();
}

#[test]
fn moto_static_environment_keys() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = env_for(&moto);
    env.set("AWS_ACCESS_KEY_ID", "AKIDMOTO")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    assert_eq!(env.get(HOST).secret(), MOTO_PASSWORD);
    assert!(moto.recorded().contains("GetAuthorizationToken"));
}

#[test]
fn moto_named_profile_from_the_credentials_file() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = env_for(&moto);
    write_aws(
        &env,
        "credentials",
        &format!("[ci]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = {SECRET_KEY}\n"),
    );
    env.set("AWS_PROFILE", "ci");
    assert_eq!(env.get(HOST).secret(), MOTO_PASSWORD);
    assert!(
        moto.recorded().contains("AKIDPROFILE"),
        "signed with the profile's key"
    );
}

#[test]
fn moto_role_arn_with_source_profile_assumes_the_role_through_sts() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = env_for(&moto);
    write_aws(
        &env,
        "config",
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = base\nrole_session_name = ecr-test\n",
    );
    write_aws(
        &env,
        "credentials",
        &format!("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = {SECRET_KEY}\n"),
    );
    env.set("AWS_PROFILE", "deploy");
    assert_eq!(env.get(HOST).secret(), MOTO_PASSWORD);
    let rec = moto.recorded();
    assert!(
        rec.contains("AssumeRole"),
        "STS AssumeRole was called: {rec}"
    );
    assert!(rec.contains("GetAuthorizationToken"));
}

#[test]
fn moto_web_identity_from_the_environment() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut env = env_for(&moto);
    let token = env.path().join("token");
    fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").unwrap();
    env.set("AWS_WEB_IDENTITY_TOKEN_FILE", &token.display().to_string())
        .set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa")
        .set("AWS_ROLE_SESSION_NAME", "pod");
    assert_eq!(env.get(HOST).secret(), MOTO_PASSWORD);
    assert!(moto.recorded().contains("AssumeRoleWithWebIdentity"));
}

#[test]
fn moto_credential_process_profile() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let env = env_for(&moto);
    let json = process_json("AKIDPROC");
    let command = process_script(
        env.path(),
        &format!("echo '{json}'\n"),
        &format!("echo {json}"),
    );
    write_aws(
        &env,
        "config",
        &format!("[default]\ncredential_process = {command}\n"),
    );
    assert_eq!(env.get(HOST).secret(), MOTO_PASSWORD);
    assert!(moto.recorded().contains("AKIDPROC"));
}
