//! docs/contract.md §7 (issue 23, items 1 and 2): a role per registry in the per-registry
//! settings, assumed with STS as the AWS CLI assumes a profile's `role_arn`, and host patterns as
//! keys. Against [`FakeAws`] (tests/it/aws.rs): every STS and ECR call is recorded with the key
//! that signed it, and STS issues keys derived from the role and the signer.

use std::fs;

use serde_json::{Value, json};

use crate::aws::*;
use crate::support::*;

const ROLE_A: &str = "arn:aws:iam::123456789012:role/pull-a";
const ROLE_B: &str = "arn:aws:iam::210987654321:role/team/pull-b";
/// Another account in HOST's region (us-west-2): one token scope with HOST.
const NEIGHBOUR: &str = "210987654321.dkr.ecr.us-west-2.amazonaws.com";

/// A scrubbed home whose SDK calls all go to `fake`, environment keys as the default chain, and
/// a profile `base` with keys of its own.
fn env_for(fake: &FakeAws) -> Env {
    let mut env = Env::new();
    for (k, v) in fake.endpoint_vars() {
        env.set(k, &v);
    }
    env.set("AWS_ACCESS_KEY_ID", "AKIDENV")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(
        env.path().join(".aws/credentials"),
        format!("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = {SECRET_KEY}\n[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    env
}

fn write_settings(env: &Env, registries: Value) {
    fs::create_dir_all(env.cache_dir()).unwrap();
    fs::write(
        env.cache_dir().join("config.json"),
        json!({ "registries": registries }).to_string(),
    )
    .unwrap();
}

/// The one stderr line of a failed `get`, which must also answer not-found and exit 1.
fn one_line(out: &Output) -> String {
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", out.stderr);
    lines[0].to_owned()
}

#[test]
fn a_registrys_role_is_assumed_with_its_options_and_signs_the_token_request() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    write_settings(
        &env,
        json!({ HOST: {
            "role_arn": ROLE_A,
            "external_id": "ext-1234",
            "role_session_name": "ci-pull",
            "duration_seconds": 1800
        }}),
    );
    let password = env.get(HOST).secret();
    let sts = fake.calls_to("sts");
    assert_eq!(sts.len(), 1, "{:?}", fake.calls());
    let s = &sts[0];
    assert_eq!(s.action, "AssumeRole");
    assert_eq!(s.params["RoleArn"], ROLE_A);
    assert_eq!(s.params["ExternalId"], "ext-1234");
    assert_eq!(s.params["RoleSessionName"], "ci-pull");
    assert_eq!(s.params["DurationSeconds"], "1800");
    assert_eq!(s.signer, "AKIDENV", "the default chain assumes it");
    assert_eq!(s.region, "us-west-2", "STS in the registry's region");
    let ecr = fake.calls_to("ecr");
    assert_eq!(ecr.len(), 1);
    let issued = s.issued.clone().unwrap();
    assert_eq!(ecr[0].signer, issued, "the token request is the role's");
    assert_eq!(ecr[0].token, "sts-token");
    assert_eq!(password, format!("pw-{issued}"));
    // Cached under the role's identity: no second STS or ECR call.
    assert_eq!(env.get(HOST).secret(), password);
    assert_eq!(fake.calls().len(), 2, "{:?}", fake.calls());
}

#[test]
fn source_profile_assumes_the_role_and_region_moves_sts() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    write_settings(
        &env,
        json!({ HOST: {"role_arn": ROLE_A, "source_profile": "base", "region": "eu-central-1"}}),
    );
    env.get(HOST).secret();
    let sts = fake.calls_to("sts");
    assert_eq!(sts.len(), 1, "{:?}", fake.calls());
    assert_eq!(
        sts[0].signer, "AKIDBASE",
        "source_profile wins over environment keys"
    );
    assert_eq!(sts[0].region, "eu-central-1");
    assert!(
        !sts[0].params.contains_key("ExternalId") && !sts[0].params.contains_key("DurationSeconds"),
        "{:?}",
        sts[0].params
    );
    assert_eq!(
        fake.calls_to("ecr")[0].region,
        "us-west-2",
        "ECR stays in the registry's region"
    );
    assert_eq!(
        fake.calls_to("ecr")[0].signer,
        sts[0].issued.clone().unwrap()
    );
}

#[test]
fn registries_with_different_roles_never_share_a_token() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    // HOST and NEIGHBOUR share a token scope (one region): only the identity keeps them apart.
    write_settings(
        &env,
        json!({
            HOST: {"role_arn": ROLE_A},
            NEIGHBOUR: {"role_arn": ROLE_B},
        }),
    );
    let unmapped = "111111111111.dkr.ecr.us-west-2.amazonaws.com";
    let a = env.get(HOST).secret();
    let b = env.get(NEIGHBOUR).secret();
    let plain = env.get(unmapped).secret();
    assert_ne!(a, b);
    assert_eq!(plain, "pw-AKIDENV", "unmapped: the default chain itself");
    let sts = fake.calls_to("sts");
    assert_eq!(sts.len(), 2, "{:?}", fake.calls());
    assert_eq!(sts[0].params["RoleArn"], ROLE_A);
    assert_eq!(sts[1].params["RoleArn"], ROLE_B);
    assert_eq!(fake.calls_to("ecr").len(), 3);
    // Each from its own cache entry.
    assert_eq!(env.get(HOST).secret(), a);
    assert_eq!(env.get(NEIGHBOUR).secret(), b);
    assert_eq!(env.get(unmapped).secret(), plain);
    assert_eq!(fake.calls().len(), 5, "{:?}", fake.calls());
    // The same role with another session name is another identity too.
    write_settings(
        &env,
        json!({ HOST: {"role_arn": ROLE_A, "role_session_name": "other"}}),
    );
    env.get(HOST).secret();
    assert_eq!(fake.calls_to("sts").len(), 3, "{:?}", fake.calls());
}

#[test]
fn patterns_apply_after_exact_hosts_and_account_ids_most_specific_first() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    // Profiles rather than roles: the ECR call's signer says which entry applied.
    fs::write(
        env.path().join(".aws/credentials"),
        ["exact", "account", "region", "acctpat", "custom", "x"]
            .iter()
            .map(|p| {
                format!(
                    "[{p}]\naws_access_key_id = AKID{}\naws_secret_access_key = {SECRET_KEY}\n",
                    p.to_uppercase()
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    write_settings(
        &env,
        json!({
            "*.dkr.ecr.us-west-2.amazonaws.com": {"profile": "region"},
            "123456789012.dkr.ecr.*.amazonaws.com": {"profile": "acctpat"},
            "333333333333": {"profile": "account"},
            "333333333333.dkr.ecr.eu-west-1.amazonaws.com": {"profile": "exact"},
            "*.registry.example.com": {"registry": "444444444444.dkr.ecr.ap-south-1.amazonaws.com", "profile": "custom"},
            "*.*.ecr.us-west-2.amazonaws.com": {"profile": "x"},
        }),
    );
    let signer = |env: &Env, host: &str| {
        fake.take();
        env.get(host).secret();
        fake.calls_to("ecr")[0].signer.clone()
    };
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    // Both one-wildcard patterns match: the account (leftmost label) is spelled out in one.
    assert_eq!(signer(&env, HOST), "AKIDACCTPAT");
    assert_eq!(
        signer(&env, "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"),
        "AKIDACCTPAT"
    );
    // One wildcard beats two.
    assert_eq!(signer(&env, NEIGHBOUR), "AKIDREGION");
    // An account id beats every pattern; an exact host beats the account id.
    assert_eq!(
        signer(&env, "333333333333.dkr.ecr.us-west-2.amazonaws.com"),
        "AKIDACCOUNT"
    );
    assert_eq!(
        signer(&env, "333333333333.dkr.ecr.eu-west-1.amazonaws.com"),
        "AKIDEXACT"
    );
    // A custom name: any one label, not two; the token is the mapped registry's.
    assert_eq!(signer(&env, "team-a.registry.example.com"), "AKIDCUSTOM");
    assert_eq!(fake.calls_to("ecr")[0].region, "ap-south-1");
    let out = env.get("a.b.registry.example.com");
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert_eq!(out.stderr, "", "not ours: no line");
    // No match: the default chain.
    assert_eq!(
        signer(&env, "555555555555.dkr.ecr.eu-west-1.amazonaws.com"),
        "AKIDENV"
    );

    // doctor names the entry that matched, how, and what it won over.
    let doctor = env.run(&["doctor", NEIGHBOUR], b"");
    assert!(
        doctor
            .stdout
            .contains("settings  entry \"*.dkr.ecr.us-west-2.amazonaws.com\" (pattern) in ")
            && doctor
                .stdout
                .contains("it wins over \"*.*.ecr.us-west-2.amazonaws.com\""),
        "{}",
        doctor.stdout
    );
    let doctor = env.run(
        &["doctor", "333333333333.dkr.ecr.eu-west-1.amazonaws.com"],
        b"",
    );
    assert!(
        doctor
            .stdout
            .contains("entry \"333333333333.dkr.ecr.eu-west-1.amazonaws.com\" (exact host) in ")
            && doctor.stdout.contains("it wins over \"333333333333\""),
        "{}",
        doctor.stdout
    );
    let doctor = env.run(
        &["doctor", "555555555555.dkr.ecr.eu-west-1.amazonaws.com"],
        b"",
    );
    assert!(
        doctor.stdout.contains("settings  no entry in "),
        "{}",
        doctor.stdout
    );
}

#[test]
fn a_tie_between_patterns_that_differ_in_case_goes_to_the_key_that_sorts_first() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    // Written in both orders: the file's order must not matter.
    for (first, second) in [("base", "other"), ("other", "base")] {
        let keys = [
            ("*.dkr.ecr.US-WEST-2.amazonaws.com", first),
            ("*.dkr.ecr.us-west-2.amazonaws.com", second),
        ];
        let text = if first == "base" {
            format!(
                r#"{{"registries": {{"{}": {{"profile": "{}"}}, "{}": {{"profile": "{}"}}}}}}"#,
                keys[0].0, keys[0].1, keys[1].0, keys[1].1
            )
        } else {
            format!(
                r#"{{"registries": {{"{}": {{"profile": "{}"}}, "{}": {{"profile": "{}"}}}}}}"#,
                keys[1].0, keys[1].1, keys[0].0, keys[0].1
            )
        };
        fs::create_dir_all(env.cache_dir()).unwrap();
        fs::write(env.cache_dir().join("config.json"), text).unwrap();
        fake.take();
        env.get(HOST).secret();
        // "*.dkr.ecr.US-WEST-2..." sorts before "*.dkr.ecr.us-west-2..." (byte order).
        let want = if first == "base" {
            "AKIDBASE"
        } else {
            "AKIDOTHER"
        };
        assert_eq!(fake.calls_to("ecr")[0].signer, want);
    }
}

#[test]
fn doctor_shows_the_role_and_the_credentials_that_assume_it() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    write_settings(
        &env,
        json!({
            "123456789012.dkr.ecr.*.amazonaws.com": {
                "role_arn": ROLE_A, "source_profile": "base", "external_id": "ext-1234", "duration_seconds": 3600
            },
            NEIGHBOUR: {"role_arn": ROLE_B},
        }),
    );
    let out = env.run(&["doctor", HOST], b"");
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "settings  entry \"123456789012.dkr.ecr.*.amazonaws.com\" (pattern) in ",
        &format!("identity  role {ROLE_A} (external id set, duration 3600 s, STS in us-west-2)"),
        "assumed with the credentials of profile base (its source_profile)",
        "OK: GetAuthorizationToken",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("ext-1234"), "{}", out.stdout);
    assert!(!out.stdout.contains(SECRET_KEY) && !out.stdout.contains("pw-"));
    let out = env.run(&["doctor", NEIGHBOUR], b"");
    assert!(
        out.stdout.contains(&format!(
            "role {ROLE_B} (STS in us-west-2): mapping \"{NEIGHBOUR}\""
        )) && out
            .stdout
            .contains("assumed with the credentials of the default chain: environment keys"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_role_settings_are_one_line_and_no_call() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    let file = env.cache_dir().join("config.json");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({HOST: {"role_arn": "arn:aws:iam::12345:role/x"}}),
            "\"role_arn\": \"arn:aws:iam::12345:role/x\" is not a role ARN",
        ),
        (
            json!({HOST: {"role_arn": "arn:aws:iam::123456789012:user/x"}}),
            "is not a role ARN",
        ),
        (json!({HOST: {"role_arn": "pull-a"}}), "is not a role ARN"),
        (
            json!({HOST: {"role_arn": ROLE_A, "duration_seconds": 899}}),
            "\"duration_seconds\": 899 is outside 900..43200",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "duration_seconds": 43201}}),
            "\"duration_seconds\": 43201 is outside 900..43200",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "duration_seconds": "3600"}}),
            "\"duration_seconds\" must be a whole number of seconds, not a string",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "duration_seconds": -5}}),
            "\"duration_seconds\" must be a whole number of seconds, not -5",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "rolearn": "x"}}),
            "unknown key \"rolearn\" (expected one of profile, registry, role_arn,",
        ),
        (
            json!({HOST: {"role_arn": 5}}),
            "\"role_arn\" must be a string, not a number",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "profile": "base"}}),
            "\"profile\" and \"role_arn\" together",
        ),
        (
            json!({HOST: {"external_id": "abc"}}),
            "\"external_id\" is an option of \"role_arn\"",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "external_id": "x"}}),
            "\"external_id\" must be 2 to 1224 characters",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "role_session_name": "has space"}}),
            "\"role_session_name\"",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "region": "EU WEST"}}),
            "\"region\": \"EU WEST\" is not a region name",
        ),
        (
            json!({HOST: {"role_arn": ROLE_A, "source_profile": "nope"}}),
            "\"source_profile\": unknown profile \"nope\"",
        ),
        (
            json!({"*.dkr.ecr.us-west-2.amazonaws.com": {"role_arn": ROLE_A, "duration_seconds": 50000}}),
            "registries.\"*.dkr.ecr.us-west-2.amazonaws.com\": \"duration_seconds\": 50000",
        ),
        (
            json!({"1234*.dkr.ecr.us-west-2.amazonaws.com": {"profile": "base"}}),
            "registries.\"1234*.dkr.ecr.us-west-2.amazonaws.com\": a \"*\" in a pattern stands for one whole label",
        ),
        (
            json!({"*.*": {"profile": "base"}}),
            "a pattern needs at least one label that is not \"*\"",
        ),
        (
            json!({"*.example.com:5000": {"profile": "base"}}),
            "a pattern is a host name, without scheme, port or path",
        ),
    ];
    for (registries, want) in cases {
        write_settings(&env, registries.clone());
        let line = one_line(&env.get(HOST));
        assert!(
            line.starts_with("docker-credential-ecr-login: ") && line.contains(&shown(&file)),
            "{registries}: {line}"
        );
        assert!(line.contains(want), "{registries}: want {want:?} in {line}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_role_sts_refuses_is_one_line_naming_the_role_and_its_source() {
    let fake = FakeAws::start();
    let mut env = env_for(&fake);
    // STS at a closed port: the role cannot be assumed.
    env.set(
        "AWS_ENDPOINT_URL_STS",
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    write_settings(
        &env,
        json!({HOST: {"role_arn": ROLE_A, "source_profile": "base"}}),
    );
    let line = one_line(&env.get(HOST));
    assert!(
        line.contains(&format!(
            "failed to assume role {ROLE_A} with the credentials of profile base"
        )),
        "{line}"
    );
    assert!(
        !line.contains(SECRET_KEY) && !line.contains("AKIDBASE"),
        "{line}"
    );
    assert!(fake.calls_to("ecr").is_empty());
}

#[test]
fn a_role_sts_denies_is_one_line_and_doctor_points_at_the_trust_policy() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    let denied = format!("arn:aws:iam::123456789012:role/{DENIED_ROLE}-pull");
    write_settings(&env, json!({HOST: {"role_arn": denied}}));
    let line = one_line(&env.get(HOST));
    assert!(
        line.contains(&format!(
            "failed to assume role {denied} with the credentials of environment keys"
        )) && line.ends_with(&format!(
            ": AccessDenied: User: AKIDENV is not authorized to perform: sts:AssumeRole on resource: {denied}"
        )),
        "{line}"
    );
    assert_eq!(fake.calls_to("sts").len(), 1);
    assert!(fake.calls_to("ecr").is_empty());
    let out = env.run(&["doctor", HOST], b"");
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(&format!(
            "hint      STS did not let these credentials assume {denied}: check that the role exists, that its trust policy allows sts:AssumeRole"
        )),
        "{}",
        out.stdout
    );
}

/// botocore (the library under the AWS CLI) resolving profile `r` with the environment given as
/// JSON: the access key id it ends with.
const BOTOCORE_PROFILE: &str = r#"
import json, os, sys
import botocore.session
env = json.loads(sys.argv[1])
os.environ.clear()
os.environ.update(env)
creds = botocore.session.Session(profile="r").get_credentials().get_frozen_credentials()
print(creds.access_key)
"#;

/// An STS call as compared with botocore's: the parameters (a default session name as
/// "(default)": botocore's and the SDK's differ, docs/contract.md §6), the signer and the region.
fn sts_seen(c: &Call) -> String {
    let mut params = c.params.clone();
    if let Some(n) = params.get_mut("RoleSessionName")
        && (n.starts_with("botocore-session-") || n.starts_with("assume-role-provider-"))
    {
        *n = "(default)".into();
    }
    format!("{params:?} signer={} region={}", c.signer, c.region)
}

#[test]
fn a_registrys_role_is_assumed_as_botocore_assumes_the_same_profile_role() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import botocore.session"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        #[allow(clippy::disallowed_methods)]
        let required = std::env::var_os("ECR_TESTS_REQUIRE_MOTO").is_some();
        assert!(!required, "botocore is not installed");
        eprintln!("skipped: botocore is not installed (python3 -m pip install 'botocore[crt]')");
        return;
    }
    // (the settings entry's role keys, the same keys in botocore's profile `r`)
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"role_arn": ROLE_A, "source_profile": "base"}),
            "role_arn = arn:aws:iam::123456789012:role/pull-a\nsource_profile = base\n",
        ),
        (
            json!({"role_arn": ROLE_B, "source_profile": "base", "external_id": "ext-1234",
                   "role_session_name": "ci-pull", "duration_seconds": 7200}),
            "role_arn = arn:aws:iam::210987654321:role/team/pull-b\nsource_profile = base\nexternal_id = ext-1234\nrole_session_name = ci-pull\nduration_seconds = 7200\n",
        ),
        // Without source_profile the default chain (here: environment keys) assumes the role;
        // botocore's profile says so with credential_source.
        (
            json!({"role_arn": ROLE_A, "duration_seconds": 900}),
            "role_arn = arn:aws:iam::123456789012:role/pull-a\ncredential_source = Environment\nduration_seconds = 900\n",
        ),
    ];
    for (entry, profile) in cases {
        let ours = FakeAws::start();
        let env = env_for(&ours);
        write_settings(&env, json!({ HOST: entry }));
        env.get(HOST).secret();

        let theirs = FakeAws::start();
        let boto_env = env_for(&theirs);
        let config = boto_env.path().join(".aws/config");
        fs::write(
            &config,
            format!("[profile r]\nregion = us-west-2\n{profile}"),
        )
        .unwrap();
        let mut vars: serde_json::Map<String, Value> = boto_env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        vars.insert(
            "AWS_CONFIG_FILE".into(),
            config.display().to_string().into(),
        );
        vars.insert(
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            boto_env
                .path()
                .join(".aws/credentials")
                .display()
                .to_string()
                .into(),
        );
        let out = std::process::Command::new("python3")
            .args(["-c", BOTOCORE_PROFILE, &Value::Object(vars).to_string()])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "botocore: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let boto_key = String::from_utf8_lossy(&out.stdout).trim().to_owned();

        let seen = |f: &FakeAws| f.calls_to("sts").iter().map(sts_seen).collect::<Vec<_>>();
        assert_eq!(seen(&ours).len(), 1, "{:?}", ours.calls());
        assert_eq!(seen(&ours), seen(&theirs), "{entry}");
        assert_eq!(ours.calls_to("ecr")[0].signer, boto_key, "{entry}");
    }
}
