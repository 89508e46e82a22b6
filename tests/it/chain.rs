//! docs/contract.md §6: the credential chain picks what the AWS CLI (botocore) picks. First the
//! differences once seen against botocore, each pinned; then the differential test itself.

use std::fs;

use crate::aws::*;
use crate::support::*;

/// A scrubbed home whose SDK calls all go to `fake`.
fn env_for(fake: &FakeAws) -> Env {
    let mut env = Env::new();
    for (k, v) in fake.endpoint_vars() {
        env.set(k, &v);
    }
    env
}

fn write_aws(env: &Env, name: &str, text: &str) {
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(env.path().join(".aws").join(name), text).unwrap();
}

/// The one ECR call of a successful `get`.
fn ecr_call(fake: &FakeAws) -> Call {
    let ecr = fake.calls_to("ecr");
    assert_eq!(ecr.len(), 1, "{:?}", fake.calls());
    ecr[0].clone()
}

/// The one stderr line of a failed `get` (after what a credential_process printed).
fn failed(out: &Output) -> String {
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    let ours: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("docker-credential-ecr-login: "))
        .collect();
    assert_eq!(ours.len(), 1, "one line: {:?}", out.stderr);
    ours[0].to_owned()
}

#[test]
fn a_profile_in_both_files_signs_with_the_credentials_files_keys_and_token_together() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    write_aws(
        &env,
        "config",
        "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = config-secret\naws_session_token = config-token\n",
    );
    write_aws(
        &env,
        "credentials",
        "[default]\naws_access_key_id = AKIDCREDENTIALS\naws_secret_access_key = credentials-secret\n",
    );
    env.get(HOST).secret();
    let call = ecr_call(&fake);
    assert_eq!(call.signer, "AKIDCREDENTIALS");
    assert_eq!(
        call.token, "",
        "never the config file's token with these keys"
    );
}

#[test]
fn an_indented_comment_under_a_key_is_a_comment_and_a_continued_key_is_one_clear_line() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    write_aws(
        &env,
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDINDENTED\n  # rotated quarterly\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    env.get(HOST).secret();
    assert_eq!(ecr_call(&fake).signer, "AKIDINDENTED");

    // A line that really continues the key's value: a key with a line break cannot sign.
    write_aws(
        &env,
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDINDENTED\n  more\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    let out = env.get(HOST);
    let line = failed(&out);
    assert!(line.contains("line break"), "{line}");
    assert!(!line.contains("AKIDINDENTED"), "no key in the line: {line}");
    assert_eq!(fake.calls_to("ecr").len(), 1, "no second call");
}

#[test]
fn keys_in_the_credentials_file_win_over_the_config_files_credential_process() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    let ran = env.path().join("process-ran");
    let json = process_json("AKIDPROCESS");
    let command = process_script(
        env.path(),
        &format!("touch {}\necho '{json}'\n", ran.display()),
        &format!("echo {json}"),
    );
    write_aws(
        &env,
        "config",
        &format!("[profile p]\ncredential_process = {command}\n"),
    );
    write_aws(
        &env,
        "credentials",
        &format!("[p]\naws_access_key_id = AKIDKEYS\naws_secret_access_key = {SECRET_KEY}\n"),
    );
    let mut env = env;
    env.set("AWS_PROFILE", "p");
    env.get(HOST).secret();
    assert_eq!(ecr_call(&fake).signer, "AKIDKEYS");
    assert!(!ran.exists(), "the process is not run");
}

#[test]
fn web_identity_from_the_environment_wins_over_default_keys() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    write_aws(
        &env,
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    let token = env.path().join("token");
    fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").unwrap();
    env.set("AWS_WEB_IDENTITY_TOKEN_FILE", &token.display().to_string())
        .set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa")
        .set("AWS_ROLE_SESSION_NAME", "pod");
    env.get(HOST).secret();
    let sts = fake.calls_to("sts");
    assert_eq!(sts.len(), 1, "{:?}", fake.calls());
    assert_eq!(sts[0].action, "AssumeRoleWithWebIdentity");
    assert_eq!(
        sts[0].params["RoleArn"],
        "arn:aws:iam::123456789012:role/irsa"
    );
    assert_eq!(sts[0].params["RoleSessionName"], "pod");
    assert_eq!(ecr_call(&fake).signer, sts[0].issued.clone().unwrap());
}

#[test]
fn expired_credential_process_output_is_refused_with_its_cause() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    let json = format!(
        r#"{{"Version":1,"AccessKeyId":"AKIDOLD","SecretAccessKey":"{SECRET_KEY}","SessionToken":"t","Expiration":"{LONG_AGO}"}}"#
    );
    let command = process_script(
        env.path(),
        &format!("echo '{json}'\n"),
        &format!("echo {json}"),
    );
    write_aws(
        &env,
        "config",
        &format!("[profile p]\ncredential_process = {command}\n"),
    );
    env.set("AWS_PROFILE", "p");
    let line = failed(&env.get(HOST));
    assert!(
        line.contains("the credential_process of profile p gave credentials that expired at 2020-01-01T00:00:00Z"),
        "{line}"
    );
    assert!(fake.calls_to("ecr").is_empty());
}

#[test]
fn aws_default_profile_comes_before_aws_profile() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    write_aws(
        &env,
        "credentials",
        &format!(
            "[a]\naws_access_key_id = AKIDA\naws_secret_access_key = {SECRET_KEY}\n[b]\naws_access_key_id = AKIDB\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    env.set("AWS_PROFILE", "a").set("AWS_DEFAULT_PROFILE", "b");
    env.get(HOST).secret();
    assert_eq!(ecr_call(&fake).signer, "AKIDB");
}

#[test]
fn a_profile_named_that_exists_nowhere_fails_even_with_environment_keys() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    env.set("AWS_ACCESS_KEY_ID", "AKIDENV")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .set("AWS_PROFILE", "ghost");
    let line = failed(&env.get(HOST));
    assert!(
        line.contains("AWS_PROFILE names profile ghost, which is in neither"),
        "{line}"
    );
    assert!(fake.calls().is_empty());
}

#[test]
fn a_web_identity_token_file_without_a_role_fails_rather_than_using_default() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    write_aws(
        &env,
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    let token = env.path().join("token");
    fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").unwrap();
    env.set("AWS_WEB_IDENTITY_TOKEN_FILE", &token.display().to_string());
    let line = failed(&env.get(HOST));
    assert!(line.contains("set AWS_ROLE_ARN"), "{line}");
    assert!(fake.calls().is_empty());
}

#[test]
fn duration_seconds_and_the_rest_of_each_hop_reach_sts() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    write_aws(
        &env,
        "config",
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = hop\nduration_seconds = 7200\nrole_session_name = deployer\nexternal_id = ext-1\n[profile hop]\nrole_arn = arn:aws:iam::123456789012:role/hop\nsource_profile = base\nduration_seconds = 900\n",
    );
    write_aws(
        &env,
        "credentials",
        &format!("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = {SECRET_KEY}\n"),
    );
    env.set("AWS_PROFILE", "deploy");
    env.get(HOST).secret();
    let sts = fake.calls_to("sts");
    assert_eq!(sts.len(), 2, "{:?}", fake.calls());
    assert_eq!(
        sts[0].params["RoleArn"],
        "arn:aws:iam::123456789012:role/hop"
    );
    assert_eq!(sts[0].params["DurationSeconds"], "900");
    assert_eq!(sts[0].signer, "AKIDBASE");
    assert_eq!(
        sts[1].params["RoleArn"],
        "arn:aws:iam::123456789012:role/deploy"
    );
    assert_eq!(sts[1].params["DurationSeconds"], "7200");
    assert_eq!(sts[1].params["RoleSessionName"], "deployer");
    assert_eq!(sts[1].params["ExternalId"], "ext-1");
    assert_eq!(sts[1].signer, sts[0].issued.clone().unwrap());
    assert_eq!(ecr_call(&fake).signer, sts[1].issued.clone().unwrap());
}

#[test]
fn list_finds_the_callers_registry_in_the_profiles_region() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    write_aws(
        &env,
        "config",
        &format!(
            "[profile p]\nregion = eu-west-1\naws_access_key_id = AKIDP\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    );
    env.set("AWS_PROFILE", "p");
    let out = env.run(&["list"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        "{}",
        out.stdout
    );
    assert_eq!(ecr_call(&fake).region, "eu-west-1");
    // The variables come first, AWS_REGION before AWS_DEFAULT_REGION.
    env.set("AWS_DEFAULT_REGION", "ap-south-1")
        .set("AWS_ECR_DISABLE_CACHE", "1");
    env.run(&["list"], b"");
    env.set("AWS_REGION", "eu-central-1");
    env.run(&["list"], b"");
    let regions: Vec<String> = fake.calls_to("ecr").into_iter().map(|c| c.region).collect();
    assert_eq!(regions, ["eu-west-1", "ap-south-1", "eu-central-1"]);
}
