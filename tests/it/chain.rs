//! docs/contract.md §6 against botocore, the library under the AWS CLI. First the differences
//! once seen, each pinned; then the differential test: a seeded generator of
//! configurations (environment keys, `AWS_PROFILE` / `AWS_DEFAULT_PROFILE`, profiles in either
//! file or both, `source_profile` chains with cycles and missing profiles, `credential_source`,
//! `credential_process` in every state, web identity from the environment and from a profile, SSO
//! in both forms, `aws login` sessions, container credentials, IMDS, moved and `/dev/null` AWS
//! files, and malformed files), each resolved by our helper (`get` against [`FakeAws`]) and by
//! botocore (`get_credentials()` in one Python process for all cases, with the same environment
//! and files, every endpoint on loopback). Compared: the access key id that signs our
//! `GetAuthorizationToken` and botocore's key; the STS calls each side makes (role, session name,
//! duration, external id, the key that signed them); failure against failure; and the region of
//! the caller's default registry (`list`) against the AWS CLI's region.
//!
//! Where we differ from botocore by design (docs/contract.md §6, "Where this differs from the AWS
//! CLI"), the botocore side is given what that difference means, never the other way round: a
//! per-registry profile is botocore's `Session(profile=...)`; files that botocore refuses but the
//! SDKs read (duplicate sections and keys, trailing comments, `[ default ]`) are given to botocore
//! as the SDKs read them; default role session names are compared as "default".
//!
//! `ECR_TESTS_CHAIN_SEED` and `ECR_TESTS_CHAIN_CASES` choose the seed and the number of cases;
//! the seed is printed with every difference.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

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
fn a_file_that_cannot_be_parsed_is_named_with_its_line() {
    let fake = FakeAws::start();
    let env = env_for(&fake);
    write_aws(
        &env,
        "credentials",
        "# keys\n[default]\n  # rotated\nthis line has no equals sign\n",
    );
    let line = failed(&env.get(HOST));
    let file = shown(&env.path().join(".aws/credentials"));
    assert!(
        line.ends_with(&format!(
            "cannot parse {file}: line 4: Expected an '=' sign defining a property"
        )),
        "{line}"
    );
    assert!(fake.calls().is_empty());
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

// ---- The differential test ----

/// The registry every case asks for (its region is the API's region, not the default one).
const REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const DEFAULT_SEED: u64 = 0x5eed_2026;
const DEFAULT_CASES: usize = 320;
const PROFILES: [&str; 4] = ["default", "dev", "base", "ops"];
/// sha1 of the SSO cache keys below (botocore and the SDK name the cached token file so).
const LEGACY_START_URL: &str = "https://legacy.example/start";
const LEGACY_CACHE: &str = "44f131d851233caf8935977bab57d47642050afc";
const SSO_SESSION: &str = "corp";
const SSO_SESSION_CACHE: &str = "ee0bfd2552fbd840c02cc48b6e823320543c450f";

/// splitmix64: small, seedable, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    /// One of `choices`, by weight.
    fn weighted<T: Copy>(&mut self, choices: &[(u32, T)]) -> T {
        let total: u32 = choices.iter().map(|c| c.0).sum();
        let mut r = (self.next() % u64::from(total)) as u32;
        for (w, v) in choices {
            if r < *w {
                return *v;
            }
            r -= w;
        }
        choices[0].1
    }
}

/// Which AWS file a section goes to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Config,
    Credentials,
}

/// One section as written: its header's name (`default`, `profile dev`, `dev`, `sso-session
/// corp`) and its key-value lines.
#[derive(Clone, Debug)]
struct Section {
    kind: Kind,
    header: String,
    lines: Vec<(String, String)>,
}

/// A file of the case, under the side's home; `{HOME}` in the text is that home.
#[derive(Clone, Debug)]
struct File {
    path: String,
    /// What our helper reads.
    ours: String,
    /// What botocore reads (differs only where a documented difference says how).
    boto: String,
    executable: bool,
}

#[derive(Clone, Debug, Default)]
struct Case {
    n: usize,
    /// What the generator chose, for the report.
    what: Vec<String>,
    /// `{HOME}` and `{FAKE}` are replaced per side.
    env: BTreeMap<String, String>,
    files: Vec<File>,
    /// A per-registry profile for REGISTRY (ours: the settings file; botocore: `Session(profile=)`).
    mapping: Option<String>,
}

/// What a profile of the case is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProfileKind {
    KeysInCredentials,
    KeysInConfig,
    KeysInBoth,
    KeysAndProcess,
    Role,
    Process,
    WebIdentity,
    SsoLegacy,
    SsoSession,
    Login,
    Empty,
    PartialKeys,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcessKind {
    Ok,
    Expiring,
    Expired,
    Fails,
    BadJson,
    Version2,
    Missing,
}

fn upper(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// Everything one generated case is made of, built up by [`generate`].
struct Builder<'r> {
    rng: &'r mut Rng,
    case: Case,
    sections: Vec<Section>,
    names: Vec<&'static str>,
    dpop: String,
}

impl Builder<'_> {
    fn note(&mut self, s: impl Into<String>) {
        self.case.what.push(s.into());
    }
    fn env(&mut self, k: &str, v: impl Into<String>) {
        self.case.env.insert(k.into(), v.into());
    }
    fn file(&mut self, path: impl Into<String>, text: impl Into<String>, executable: bool) {
        let text = text.into();
        self.case.files.push(File {
            path: path.into(),
            ours: text.clone(),
            boto: text,
            executable,
        });
    }
    fn section(&mut self, kind: Kind, profile: &str) -> &mut Vec<(String, String)> {
        let header = match (kind, profile) {
            (Kind::Config, "default") => "default".to_owned(),
            (Kind::Config, p) => format!("profile {p}"),
            (Kind::Credentials, p) => p.to_owned(),
        };
        self.section_named(kind, header)
    }
    fn section_named(&mut self, kind: Kind, header: String) -> &mut Vec<(String, String)> {
        let i = match self
            .sections
            .iter()
            .position(|s| s.kind == kind && s.header == header)
        {
            Some(i) => i,
            None => {
                self.sections.push(Section {
                    kind,
                    header,
                    lines: Vec::new(),
                });
                self.sections.len() - 1
            }
        };
        &mut self.sections[i].lines
    }
    fn put(&mut self, kind: Kind, profile: &str, k: &str, v: impl Into<String>) {
        let v = v.into();
        self.section(kind, profile).push((k.to_owned(), v));
    }

    fn keys(&mut self, kind: Kind, p: &str, token: bool) {
        let tag = match kind {
            Kind::Config => "CONF",
            Kind::Credentials => "CRED",
        };
        self.put(
            kind,
            p,
            "aws_access_key_id",
            format!("AKID{tag}{}", upper(p)),
        );
        self.put(
            kind,
            p,
            "aws_secret_access_key",
            format!("secret-{tag}-{p}"),
        );
        if token {
            let long = self.rng.chance(15);
            let t = if long {
                format!("token-{tag}-{p}-{}", "Q".repeat(4000))
            } else {
                format!("token-{tag}-{p}")
            };
            self.put(kind, p, "aws_session_token", t);
        }
    }

    fn process(&mut self, p: &str, kind: ProcessKind) {
        let path = format!("bin/creds-{p}.sh");
        let key = format!("AKIDPROC{}", upper(p));
        let body = match kind {
            ProcessKind::Ok => format!(
                r#"echo '{{"Version":1,"AccessKeyId":"{key}","SecretAccessKey":"s","SessionToken":"t"}}'"#
            ),
            ProcessKind::Expiring => format!(
                r#"echo '{{"Version":1,"AccessKeyId":"{key}","SecretAccessKey":"s","SessionToken":"t","Expiration":"{FAR_FUTURE}"}}'"#
            ),
            ProcessKind::Expired => format!(
                r#"echo '{{"Version":1,"AccessKeyId":"{key}","SecretAccessKey":"s","SessionToken":"t","Expiration":"{LONG_AGO}"}}'"#
            ),
            ProcessKind::Fails => "echo 'the vault is sealed' >&2; exit 3".to_owned(),
            ProcessKind::BadJson => "echo 'this is not JSON'".to_owned(),
            ProcessKind::Version2 => {
                format!(r#"echo '{{"Version":2,"AccessKeyId":"{key}","SecretAccessKey":"s"}}'"#)
            }
            ProcessKind::Missing => String::new(),
        };
        if kind != ProcessKind::Missing {
            self.file(path.clone(), format!("#!/bin/sh\n{body}\n"), true);
        }
        self.note(format!("{p}: credential_process {kind:?}"));
        self.put(
            Kind::Config,
            p,
            "credential_process",
            format!("{{HOME}}/{path}"),
        );
    }

    fn role(&mut self, p: &str) {
        self.put(
            Kind::Config,
            p,
            "role_arn",
            format!("arn:aws:iam::123456789012:role/{p}-role"),
        );
        let source = self.rng.weighted(&[
            (60, "profile"),
            (14, "Environment"),
            (11, "EcsContainer"),
            (10, "Ec2InstanceMetadata"),
            (3, "both"),
            (2, "neither"),
        ]);
        match source {
            "profile" | "both" => {
                let mut choices: Vec<&str> = self.names.clone();
                choices.push("nowhere");
                let s = if self.rng.chance(45) {
                    // A source profile of its own with keys (in either file, or both).
                    let s = format!("{p}-keys");
                    let kind = self.rng.pick(&[Kind::Credentials, Kind::Config]);
                    let token = self.rng.chance(30);
                    self.keys(kind, &s, token);
                    if self.rng.chance(20) {
                        let other = match kind {
                            Kind::Config => Kind::Credentials,
                            Kind::Credentials => Kind::Config,
                        };
                        self.keys(other, &s, !token);
                    }
                    s
                } else {
                    self.rng.pick(&choices).to_owned()
                };
                self.put(Kind::Config, p, "source_profile", s.clone());
                if source == "both" {
                    self.put(Kind::Config, p, "credential_source", "Environment");
                }
                self.note(format!("{p}: role, source_profile {s}"));
            }
            "neither" => self.note(format!("{p}: role without a source")),
            named => {
                self.put(Kind::Config, p, "credential_source", named);
                self.note(format!("{p}: role, credential_source {named}"));
            }
        }
        if self.rng.chance(40) {
            self.put(Kind::Config, p, "role_session_name", format!("{p}-session"));
        }
        if self.rng.chance(30) {
            let d = self.rng.pick(&[900, 3600, 7200, 43200]);
            self.put(Kind::Config, p, "duration_seconds", d.to_string());
            self.note(format!("{p}: duration_seconds {d}"));
        }
        if self.rng.chance(15) {
            self.put(Kind::Config, p, "external_id", format!("ext-{p}"));
        }
    }

    fn profile(&mut self, p: &'static str) {
        let kind = self.rng.weighted(&[
            (16, ProfileKind::KeysInCredentials),
            (7, ProfileKind::KeysInConfig),
            (8, ProfileKind::KeysInBoth),
            (5, ProfileKind::KeysAndProcess),
            (18, ProfileKind::Role),
            (13, ProfileKind::Process),
            (6, ProfileKind::WebIdentity),
            (4, ProfileKind::SsoLegacy),
            (5, ProfileKind::SsoSession),
            (9, ProfileKind::Login),
            (5, ProfileKind::Empty),
            (2, ProfileKind::PartialKeys),
        ]);
        self.note(format!("{p}: {kind:?}"));
        match kind {
            ProfileKind::KeysInCredentials => {
                let t = self.rng.chance(40);
                self.keys(Kind::Credentials, p, t);
            }
            ProfileKind::KeysInConfig => {
                let t = self.rng.chance(40);
                self.keys(Kind::Config, p, t);
            }
            ProfileKind::KeysInBoth => {
                let (a, b) = (self.rng.chance(50), self.rng.chance(50));
                self.note(format!("{p}: token in credentials {a}, in config {b}"));
                self.keys(Kind::Credentials, p, a);
                self.keys(Kind::Config, p, b);
            }
            ProfileKind::KeysAndProcess => {
                self.keys(Kind::Credentials, p, false);
                self.process(p, ProcessKind::Ok);
            }
            ProfileKind::Role => self.role(p),
            ProfileKind::Process => {
                let k = self.rng.weighted(&[
                    (40, ProcessKind::Ok),
                    (15, ProcessKind::Expiring),
                    (15, ProcessKind::Expired),
                    (10, ProcessKind::Fails),
                    (8, ProcessKind::BadJson),
                    (6, ProcessKind::Version2),
                    (6, ProcessKind::Missing),
                ]);
                self.process(p, k);
            }
            ProfileKind::WebIdentity => {
                self.put(
                    Kind::Config,
                    p,
                    "role_arn",
                    format!("arn:aws:iam::123456789012:role/{p}-web"),
                );
                let file = format!("token-{p}");
                if self.rng.chance(85) {
                    self.file(
                        file.clone(),
                        format!("eyJhbGciOiJSUzI1NiJ9.{p}.c2ln"),
                        false,
                    );
                } else {
                    self.note(format!("{p}: token file missing"));
                }
                self.put(
                    Kind::Config,
                    p,
                    "web_identity_token_file",
                    format!("{{HOME}}/{file}"),
                );
                if self.rng.chance(30) {
                    self.put(Kind::Config, p, "role_session_name", format!("{p}-web"));
                }
            }
            ProfileKind::SsoLegacy => {
                self.put(Kind::Config, p, "sso_start_url", LEGACY_START_URL);
                self.put(Kind::Config, p, "sso_region", "us-east-1");
                self.put(Kind::Config, p, "sso_account_id", "111111111111");
                self.put(Kind::Config, p, "sso_role_name", format!("Legacy{p}"));
                let fresh = self.rng.chance(75);
                self.note(format!("{p}: SSO token fresh {fresh}"));
                // The portal refuses an expired token (the fake knows it by its name).
                let (expires, token) = if fresh {
                    (FAR_FUTURE, "legacy-bearer")
                } else {
                    (LONG_AGO, "legacy-bearer-expired")
                };
                self.file(
                    format!(".aws/sso/cache/{LEGACY_CACHE}.json"),
                    format!(
                        r#"{{"startUrl":"{LEGACY_START_URL}","region":"us-east-1","accessToken":"{token}","expiresAt":"{expires}"}}"#
                    ),
                    false,
                );
            }
            ProfileKind::SsoSession => {
                self.put(Kind::Config, p, "sso_session", SSO_SESSION);
                self.put(Kind::Config, p, "sso_account_id", "222222222222");
                self.put(Kind::Config, p, "sso_role_name", format!("Session{p}"));
                if self.rng.chance(92) {
                    let s = self.section_named(Kind::Config, format!("sso-session {SSO_SESSION}"));
                    if s.is_empty() {
                        s.push(("sso_start_url".into(), "https://corp.example/start".into()));
                        s.push(("sso_region".into(), "us-east-1".into()));
                    }
                } else {
                    self.note(format!("{p}: no sso-session section"));
                }
                let fresh = self.rng.chance(75);
                self.note(format!("{p}: SSO token fresh {fresh}"));
                let expires = if fresh { FAR_FUTURE } else { LONG_AGO };
                self.file(
                    format!(".aws/sso/cache/{SSO_SESSION_CACHE}.json"),
                    format!(
                        r#"{{"startUrl":"https://corp.example/start","region":"us-east-1","accessToken":"session-bearer","expiresAt":"{expires}"}}"#
                    ),
                    false,
                );
            }
            ProfileKind::Login => {
                let arn = format!("arn:aws:iam::123456789012:user/{p}-person");
                self.put(Kind::Config, p, "login_session", arn.clone());
                let state = self.rng.weighted(&[
                    (40, "fresh"),
                    (30, "expired"),
                    (20, "refresh-expired"),
                    (10, "no-cache"),
                ]);
                self.note(format!("{p}: login session {state}"));
                let dir = if self.rng.chance(15) {
                    self.env("AWS_LOGIN_CACHE_DIRECTORY", "{HOME}/login-cache");
                    "login-cache".to_owned()
                } else {
                    ".aws/login/cache".to_owned()
                };
                if state != "no-cache" {
                    let (expires, refresh) = match state {
                        "fresh" => (FAR_FUTURE, format!("refresh-{p}")),
                        "expired" => (LONG_AGO, format!("refresh-{p}")),
                        _ => (LONG_AGO, format!("{EXPIRED_REFRESH}-{p}")),
                    };
                    let name = hex(&Sha256::digest(arn.as_bytes()));
                    let text = login_cache(
                        &format!("ASIALOGINCACHED{}", upper(p)),
                        expires,
                        &refresh,
                        &self.dpop,
                    );
                    self.file(format!("{dir}/{name}.json"), text, false);
                }
            }
            ProfileKind::Empty => {}
            ProfileKind::PartialKeys => {
                let kind = self.rng.pick(&[Kind::Config, Kind::Credentials]);
                if self.rng.chance(50) {
                    self.put(
                        kind,
                        p,
                        "aws_access_key_id",
                        format!("AKIDPART{}", upper(p)),
                    );
                } else {
                    self.put(kind, p, "aws_secret_access_key", "partial-secret");
                }
            }
        }
        // A region, and settings that select nothing, in the config file.
        if kind == ProfileKind::Login || self.rng.chance(50) {
            let r = match p {
                "default" => "us-east-2",
                "dev" => "eu-west-1",
                "base" => "ap-northeast-1",
                _ => "ca-central-1",
            };
            self.put(Kind::Config, p, "region", r);
        }
        if self.rng.chance(20) {
            self.put(Kind::Config, p, "output", "json");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a file's text is spoiled or decorated.
#[derive(Default, Debug)]
struct Style {
    bom: bool,
    crlf: bool,
    comments: bool,
    indented_comment: bool,
    trailing_comment: bool,
    tight: bool,
    tabs: bool,
    indented_keys: bool,
    spaced_header: bool,
    duplicate_section: bool,
    duplicate_key: bool,
    long_value: bool,
}

impl Style {
    fn random(rng: &mut Rng) -> Style {
        Style {
            bom: rng.chance(3),
            crlf: rng.chance(10),
            comments: rng.chance(20),
            indented_comment: rng.chance(8),
            trailing_comment: rng.chance(8),
            tight: rng.chance(10),
            tabs: rng.chance(6),
            indented_keys: rng.chance(6),
            spaced_header: rng.chance(5),
            duplicate_section: rng.chance(7),
            duplicate_key: rng.chance(5),
            long_value: rng.chance(6),
        }
    }
    fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.bom, "BOM"),
            (self.crlf, "CRLF"),
            (self.comments, "comments"),
            (self.indented_comment, "indented comment"),
            (self.trailing_comment, "trailing comment"),
            (self.tight, "k=v"),
            (self.tabs, "tabs"),
            (self.indented_keys, "indented keys"),
            (self.spaced_header, "[ spaced header ]"),
            (self.duplicate_section, "duplicate section"),
            (self.duplicate_key, "duplicate key"),
            (self.long_value, "long value"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }
}

/// The file's text for our helper and for botocore. Botocore refuses duplicate sections and keys
/// and a byte-order mark, keeps a trailing `# comment` in the value, and ignores `[ default ]`;
/// the SDKs and we merge, strip and trim (and we drop the mark): botocore is given the file as we
/// read it (docs/contract.md §6).
fn render(sections: &[Section], style: &Style, rng: &mut Rng) -> (String, String) {
    let mut ours = String::new();
    let mut boto = String::new();
    let mut later_ours = String::new();
    let nl = if style.crlf { "\r\n" } else { "\n" };
    if style.bom {
        // Dropped by us (Windows editors write one); botocore refuses the file.
        ours.push('\u{feff}');
    }
    let split_at = if style.duplicate_section && !sections.is_empty() {
        Some(rng.below(sections.len()))
    } else {
        None
    };
    let dup_key_at = if style.duplicate_key && !sections.is_empty() {
        Some(rng.below(sections.len()))
    } else {
        None
    };
    let comment_at = rng.below(sections.len().max(1));
    for (i, s) in sections.iter().enumerate() {
        if style.comments {
            let c = format!("# {} section{nl}; written by hand{nl}", s.header);
            ours.push_str(&c);
            boto.push_str(&c);
        }
        let (header_ours, header_boto) = if style.spaced_header && i == 0 {
            (format!("[ {} ]", s.header), format!("[{}]", s.header))
        } else if style.spaced_header && s.header.starts_with("profile ") {
            let h = s.header.replacen("profile ", "profile   ", 1);
            (format!("[{h}]"), format!("[{h}]"))
        } else {
            (format!("[{}]", s.header), format!("[{}]", s.header))
        };
        ours.push_str(&header_ours);
        ours.push_str(nl);
        boto.push_str(&header_boto);
        boto.push_str(nl);
        let indent = if style.indented_keys && i == comment_at {
            "    "
        } else {
            ""
        };
        let mut lines: Vec<(String, String)> = s.lines.clone();
        if style.long_value && i == comment_at {
            lines.push(("note".into(), "x".repeat(100_000)));
        }
        let half = lines.len().div_ceil(2);
        for (j, (k, v)) in lines.iter().enumerate() {
            let eq = if style.tight {
                "="
            } else if style.tabs {
                "\t=\t"
            } else {
                " = "
            };
            let trail = if style.tabs { "  \t" } else { "" };
            let line = format!("{indent}{k}{eq}{v}{trail}");
            let into_later = split_at == Some(i) && j >= half && lines.len() > 1;
            if dup_key_at == Some(i) && j == 0 {
                let stale = format!("{indent}{k}{eq}stale-value{nl}");
                if into_later {
                    later_ours.push_str(&stale);
                } else {
                    ours.push_str(&stale);
                }
            }
            let trailing = style.trailing_comment && i == comment_at && j == 0;
            let with_comment = if trailing {
                format!("{line} # kept for the audit{nl}")
            } else {
                format!("{line}{nl}")
            };
            if into_later {
                if later_ours.is_empty() {
                    later_ours = format!("[{}]{nl}", s.header);
                }
                later_ours.push_str(&with_comment);
            } else {
                ours.push_str(&with_comment);
            }
            boto.push_str(&format!("{line}{nl}"));
            if style.indented_comment && i == comment_at && j == 0 {
                let c = format!("{indent}  # rotated quarterly{nl}");
                if into_later {
                    later_ours.push_str(&c);
                } else {
                    ours.push_str(&c);
                }
                boto.push_str(&c);
            }
        }
        ours.push_str(nl);
        boto.push_str(nl);
    }
    ours.push_str(&later_ours);
    (ours, boto)
}

/// Generates case `n` of the run.
fn generate(rng: &mut Rng, n: usize, dpop: &str) -> Case {
    let mut b = Builder {
        rng,
        case: Case {
            n,
            ..Case::default()
        },
        sections: Vec::new(),
        names: Vec::new(),
        dpop: dpop.to_owned(),
    };
    for p in PROFILES {
        let pct = if p == "default" { 60 } else { 45 };
        if b.rng.chance(pct) {
            b.names.push(p);
        }
    }
    for p in b.names.clone() {
        b.profile(p);
    }

    // The environment.
    match b.rng.weighted(&[(55, 0), (25, 1), (12, 2), (4, 3), (4, 4)]) {
        0 => {}
        which => {
            b.note(format!(
                "environment keys {}",
                [
                    "",
                    "key+secret",
                    "key+secret+token",
                    "key only",
                    "secret only"
                ][which]
            ));
            if which != 4 {
                b.env("AWS_ACCESS_KEY_ID", "AKIDENVKEYS");
            }
            if which != 3 {
                b.env("AWS_SECRET_ACCESS_KEY", "env-secret");
            }
            if which == 2 {
                b.env("AWS_SESSION_TOKEN", "env-token");
            }
        }
    }
    let mut profile_choices: Vec<&str> = b.names.clone();
    profile_choices.push("ghost");
    if b.rng.chance(60) {
        let p = if b.rng.chance(85) && !b.names.is_empty() {
            b.rng.pick(&b.names.clone())
        } else {
            b.rng.pick(&profile_choices)
        };
        b.env("AWS_PROFILE", p);
        b.note(format!("AWS_PROFILE={p}"));
    }
    if b.rng.chance(15) {
        let p = b.rng.pick(&profile_choices);
        b.env("AWS_DEFAULT_PROFILE", p);
        b.note(format!("AWS_DEFAULT_PROFILE={p}"));
    }
    match b.rng.weighted(&[(75, 0), (14, 1), (5, 2), (3, 3), (3, 4)]) {
        0 => {}
        which => {
            let what = [
                "",
                "file+role",
                "file only",
                "role only",
                "missing file+role",
            ][which];
            b.note(format!("environment web identity: {what}"));
            if which == 1 || which == 2 {
                b.file("env-token", "eyJhbGciOiJSUzI1NiJ9.env.c2ln", false);
            }
            if which != 3 {
                b.env("AWS_WEB_IDENTITY_TOKEN_FILE", "{HOME}/env-token");
            }
            if which != 2 {
                b.env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa");
            }
            if b.rng.chance(50) {
                b.env("AWS_ROLE_SESSION_NAME", "irsa-pod");
            }
        }
    }
    if b.rng.chance(15) {
        b.note("container credentials");
        b.env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "{FAKE}/container-credentials/task",
        );
    }
    if b.rng.chance(30) {
        b.note("IMDS");
        b.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "{FAKE}/");
    } else {
        b.env("AWS_EC2_METADATA_DISABLED", "true");
    }
    if b.rng.chance(20) {
        b.env("AWS_REGION", "eu-central-1");
    }
    if b.rng.chance(25) {
        b.env("AWS_DEFAULT_REGION", "ap-south-1");
    }
    if b.rng.chance(10) {
        let p = b.rng.pick(&profile_choices);
        b.note(format!("per-registry profile {p}"));
        b.case.mapping = Some(p.to_owned());
    }

    // Now and then two profiles that are each other's source.
    if b.rng.chance(5) {
        for (a, other) in [("loopa", "loopb"), ("loopb", "loopa")] {
            b.put(
                Kind::Config,
                a,
                "role_arn",
                format!("arn:aws:iam::123456789012:role/{a}"),
            );
            b.put(Kind::Config, a, "source_profile", other);
        }
        if b.rng.chance(60) {
            b.env("AWS_PROFILE", "loopa");
            b.note("AWS_PROFILE=loopa");
        }
    }

    // Chains that loop (a -> b -> a).
    let sources: BTreeMap<String, String> = b
        .sections
        .iter()
        .filter(|s| s.kind == Kind::Config)
        .flat_map(|s| {
            let name = s.header.trim_start_matches("profile ").to_owned();
            s.lines
                .iter()
                .filter(|(k, _)| k == "source_profile")
                .map(move |(_, v)| (name.clone(), v.clone()))
        })
        .collect();
    if sources.keys().any(|start| {
        let mut seen = vec![start.clone()];
        let mut at = start.clone();
        while let Some(next) = sources.get(&at) {
            if seen.contains(next) {
                return next != &at;
            }
            seen.push(next.clone());
            at = next.clone();
        }
        false
    }) {
        b.note("source_profile cycle");
    }

    // The files.
    let sections = std::mem::take(&mut b.sections);
    for kind in [Kind::Config, Kind::Credentials] {
        let mine: Vec<Section> = sections
            .iter()
            .filter(|s| s.kind == kind)
            .cloned()
            .collect();
        let (var, default_path, label) = match kind {
            Kind::Config => ("AWS_CONFIG_FILE", ".aws/config", "config"),
            Kind::Credentials => (
                "AWS_SHARED_CREDENTIALS_FILE",
                ".aws/credentials",
                "credentials",
            ),
        };
        let place = b.rng.weighted(&[
            (72, "default"),
            (12, "elsewhere"),
            (7, "/dev/null"),
            (4, "missing"),
            (5, "absent"),
        ]);
        if place != "default" {
            b.note(format!("{label} file: {place}"));
        }
        let path = match place {
            "default" => Some(default_path.to_owned()),
            "elsewhere" => {
                let p = format!("elsewhere/{label}.ini");
                b.env(var, format!("{{HOME}}/{p}"));
                Some(p)
            }
            "/dev/null" => {
                b.env(var, "/dev/null");
                None
            }
            "missing" => {
                b.env(var, "{HOME}/nowhere/file");
                None
            }
            _ => None,
        };
        if let Some(path) = path {
            let style = Style::random(b.rng);
            let names = style.names();
            if !names.is_empty() {
                b.note(format!("{label} file: {}", names.join(", ")));
            }
            let (ours, boto) = render(&mine, &style, b.rng);
            b.case.files.push(File {
                path,
                ours,
                boto,
                executable: false,
            });
        }
    }
    b.case
}

/// What one side concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Credentials: the access key id (ours: the one that signed GetAuthorizationToken).
    Key(String),
    /// No credentials, or an error: the reason.
    Failed(String),
}

#[derive(Debug)]
struct Seen {
    outcome: Outcome,
    /// The STS calls, normalized: `Action role=... session=... duration=... signer=...`.
    sts: Vec<String>,
    /// The default region (ours: the region `list` asked in; `None` when it asked nowhere).
    region: Option<String>,
    /// Ours crashed, hung, or answered what it cannot have (a success without an ECR call).
    broken: Option<String>,
}

/// An STS call as compared: the default session names of botocore (`botocore-session-<secs>`)
/// and of the Rust SDK (`<provider>-<millis>`) are both "default".
fn sts_line(c: &Call) -> String {
    let mut out = c.action.clone();
    for (k, v) in &c.params {
        let v = if k == "RoleSessionName"
            && (v.starts_with("botocore-session-")
                || v.starts_with("assume-role-")
                || v.starts_with("web-identity-token-"))
        {
            "(default)".to_owned()
        } else {
            v.clone()
        };
        let _ = write!(out, " {k}={v}");
    }
    let _ = write!(out, " signer={}", c.signer);
    out
}

/// Writes the case's files under `home` (its `{HOME}`).
fn materialize(case: &Case, home: &Path, boto: bool) {
    for f in &case.files {
        let path = home.join(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = if boto { &f.boto } else { &f.ours };
        std::fs::write(&path, text.replace("{HOME}", &home.display().to_string())).unwrap();
        if f.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn case_env(case: &Case, home: &Path, fake: &FakeAws) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_owned(), home.display().to_string());
    env.insert("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned());
    for (k, v) in fake.endpoint_vars() {
        env.insert(k.to_owned(), v);
    }
    for (k, v) in &case.env {
        env.insert(
            k.clone(),
            v.replace("{HOME}", &home.display().to_string())
                .replace("{FAKE}", &fake.url()),
        );
    }
    env
}

/// Our helper on one case: `get REGISTRY`, then `list` for the default region.
fn run_ours(case: &Case, root: &Path) -> Seen {
    let home = root.join(format!("ours-{}", case.n));
    std::fs::create_dir_all(&home).unwrap();
    materialize(case, &home, false);
    let fake = FakeAws::start();
    let mut env = Env::new();
    env.vars.clear();
    env.vars.extend(case_env(case, &home, &fake));
    env.set("AWS_ECR_DISABLE_CACHE", "1")
        .set("AWS_ECR_LOG_LEVEL", "off")
        .set(
            "AWS_ECR_CONFIG",
            &home.join("ecr-settings.json").display().to_string(),
        );
    if let Some(p) = &case.mapping {
        std::fs::write(
            home.join("ecr-settings.json"),
            serde_json::json!({"registries": {REGISTRY: {"profile": p}}}).to_string(),
        )
        .unwrap();
    }
    let out = env.get_for(REGISTRY, Duration::from_secs(30));
    let calls = fake.take();
    let ecr: Vec<&Call> = calls.iter().filter(|c| c.service == "ecr").collect();
    let mut broken = None;
    let outcome = if out.code == 0 && ecr.len() == 1 {
        Outcome::Key(ecr[0].signer.clone())
    } else if out.code == 1 && ecr.is_empty() {
        Outcome::Failed(out.stderr.trim().to_owned())
    } else {
        broken = Some(format!("get: {out:?}, ECR calls {ecr:?}"));
        Outcome::Failed(String::new())
    };
    let sts = calls
        .iter()
        .filter(|c| c.service == "sts")
        .map(sts_line)
        .collect();
    // `list` fetches the caller's registry in the default region (with no cache to list).
    let listed = env.run_for(&["list"], b"", Duration::from_secs(30));
    let region = fake
        .take()
        .into_iter()
        .find(|c| c.service == "ecr")
        .map(|c| c.region);
    if listed.code != 0 {
        broken = Some(format!("list: {listed:?}"));
    }
    Seen {
        outcome,
        sts,
        region,
        broken,
    }
}

/// botocore on every case, in one Python process: per case, the environment replaced, the SSO
/// token cache directory (which botocore fixes at import) pointed into the case's home, then
/// `get_credentials()` and `get_frozen_credentials()` (which makes the deferred STS calls), and
/// the region as the AWS CLI v2 takes it (`AWS_REGION`, else botocore's: `AWS_DEFAULT_REGION`,
/// else the profile's).
const BOTOCORE: &str = r#"
import json, os, sys
import botocore.session, botocore.credentials, botocore.tokens
cases = json.load(open(sys.argv[1]))
results = []
for case in cases:
    os.environ.clear()
    os.environ.update(case["env"])
    sso_cache = os.path.join(case["env"]["HOME"], ".aws", "sso", "cache")
    botocore.credentials.SSOProvider._SSO_TOKEN_CACHE_DIR = sso_cache
    botocore.tokens.SSOTokenProvider._SSO_TOKEN_CACHE_DIR = sso_cache
    r = {}
    try:
        r["region"] = os.environ.get("AWS_REGION") or botocore.session.Session().get_config_variable("region")
    except Exception:
        r["region"] = None
    try:
        # Without a region botocore calls STS's global endpoint, signed for us-east-1; with
        # AWS_ENDPOINT_URL_STS (loopback) it wants a region: give it that one.
        if not botocore.session.Session(profile=case.get("profile")).get_config_variable("region"):
            os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    except Exception:
        pass
    try:
        session = botocore.session.Session(profile=case.get("profile"))
        creds = session.get_credentials()
        if creds is None:
            r["failed"] = "no credentials"
        else:
            r["key"] = creds.get_frozen_credentials().access_key
    except Exception as e:
        r["failed"] = "%s: %s" % (type(e).__name__, e)
    results.append(r)
json.dump(results, open(sys.argv[2], "w"))
"#;

/// Whether botocore (with its `crt` extra, which `aws login` sessions need) is installed; a
/// note and `false` when not, a failure when the tests must not skip (`make test`).
fn botocore_installed() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import botocore.session, botocore.credentials, awscrt",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let what = "botocore with its crt extra is not installed (python3 -m pip install 'botocore[crt]', or run `make test`, which installs it)";
        #[allow(clippy::disallowed_methods)]
        let required = std::env::var_os("ECR_TESTS_REQUIRE_MOTO").is_some();
        assert!(!required, "{what}");
        eprintln!("skipped: {what}");
    }
    ok
}

fn run_botocore(cases: &[Case], root: &Path) -> Vec<Seen> {
    let fakes: Vec<FakeAws> = cases.iter().map(|_| FakeAws::start()).collect();
    let mut input = Vec::new();
    for (case, fake) in cases.iter().zip(&fakes) {
        let home = root.join(format!("boto-{}", case.n));
        std::fs::create_dir_all(&home).unwrap();
        materialize(case, &home, true);
        input.push(serde_json::json!({
            "env": case_env(case, &home, fake),
            "profile": case.mapping,
        }));
    }
    let cases_file = root.join("cases.json");
    let results_file = root.join("results.json");
    std::fs::write(&cases_file, serde_json::Value::Array(input).to_string()).unwrap();
    let out = Command::new("python3")
        .args(["-c", BOTOCORE])
        .arg(&cases_file)
        .arg(&results_file)
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "botocore run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&results_file).unwrap()).unwrap();
    results
        .iter()
        .zip(&fakes)
        .map(|(r, fake)| Seen {
            outcome: match r["key"].as_str() {
                Some(k) => Outcome::Key(k.to_owned()),
                None => Outcome::Failed(r["failed"].as_str().unwrap_or("?").to_owned()),
            },
            sts: fake
                .calls()
                .iter()
                .filter(|c| c.service == "sts")
                .map(sts_line)
                .collect(),
            region: r["region"].as_str().map(str::to_owned),
            broken: None,
        })
        .collect()
}

/// Why two results differ, or `None`.
fn difference(case: &Case, ours: &Seen, boto: &Seen) -> Option<String> {
    if let Some(b) = &ours.broken {
        return Some(format!("ours is broken: {b}"));
    }
    match (&ours.outcome, &boto.outcome) {
        (Outcome::Key(a), Outcome::Key(b)) if a != b => {
            return Some(format!("ours signed with {a}, botocore resolved {b}"));
        }
        (Outcome::Key(_), Outcome::Key(_)) => {
            if ours.sts != boto.sts {
                return Some(format!(
                    "STS calls differ:\n    ours:     {:?}\n    botocore: {:?}",
                    ours.sts, boto.sts
                ));
            }
            // The region of the caller's registry (`list` uses the default chain: with a
            // per-registry profile, ours may have no credentials to ask with).
            if ours.region != boto.region && (case.mapping.is_none() || ours.region.is_some()) {
                return Some(format!(
                    "default region: ours {:?}, the AWS CLI {:?}",
                    ours.region, boto.region
                ));
            }
        }
        (Outcome::Key(_), Outcome::Failed(why))
            if why.contains("sso_session configuration does not exist") =>
        {
            // botocore refuses to make any client for a profile whose sso_session names a
            // missing section, even one whose credentials come from elsewhere (docs/contract.md
            // §6); the chain never reached the SSO step.
            if ours.sts.iter().all(|c| c.contains("WebIdentity")) {
                return None;
            }
            return Some(format!("ours signed; botocore failed: {why}"));
        }
        (Outcome::Key(a), Outcome::Failed(why)) => {
            return Some(format!("ours signed with {a}; botocore failed: {why}"));
        }
        (Outcome::Failed(why), Outcome::Key(b)) => {
            // A per-registry profile replaces the whole chain (docs/contract.md §6); botocore's
            // `Session(profile=...)` goes on to the container and instance credentials.
            let beyond_profile = b.starts_with("ASIACONTAINER") || b.starts_with("ASIAIMDS");
            if case.mapping.is_some() && beyond_profile && boto.sts.is_empty() {
                return None;
            }
            return Some(format!("ours failed ({why}); botocore resolved {b}"));
        }
        (Outcome::Failed(why), Outcome::Failed(_)) => {
            // Failure against failure: ours must say why, in one line (after what a failed
            // credential_process printed, and warnings about the files).
            let lines: Vec<&str> = why
                .lines()
                .filter(|l| {
                    l.starts_with("docker-credential-ecr-login: ") && !l.contains(": warning: ")
                })
                .collect();
            if lines.len() != 1 {
                return Some(format!("ours failed without one clear line: {why:?}"));
            }
        }
    }
    None
}

#[allow(clippy::disallowed_methods)]
fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_chain_picks_what_botocore_picks() {
    if unix_only("credential_process shell scripts and botocore") || !botocore_installed() {
        return;
    }
    let seed = setting("ECR_TESTS_CHAIN_SEED").unwrap_or(DEFAULT_SEED);
    let count = setting("ECR_TESTS_CHAIN_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let dpop = dpop_key();
    let mut rng = Rng(seed);
    let cases: Vec<Case> = (0..count).map(|n| generate(&mut rng, n, &dpop)).collect();
    let root = tempfile::tempdir().unwrap();

    let boto = run_botocore(&cases, root.path());
    // Ours, three at a time.
    let next = Mutex::new(0usize);
    let ours: Mutex<BTreeMap<usize, Seen>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(case) = cases.get(i) else {
                        return;
                    };
                    let r = run_ours(case, root.path());
                    ours.lock().unwrap().insert(i, r);
                }
            });
        }
    });
    let ours = ours.into_inner().unwrap();

    let mut report = String::new();
    let mut differences = 0;
    for (case, boto) in cases.iter().zip(&boto) {
        if let Some(why) = difference(case, &ours[&case.n], boto) {
            differences += 1;
            let _ = writeln!(
                report,
                "case {} ({}):\n  {why}\n  files:",
                case.n,
                case.what.join("; ")
            );
            for f in &case.files {
                if f.path.contains("aws/config")
                    || f.path.contains("credentials")
                    || f.path.ends_with(".ini")
                {
                    let shown: String = f.ours.chars().take(600).collect();
                    let _ = writeln!(report, "    {}:\n{}", f.path, indent(&shown));
                }
            }
            let _ = writeln!(report, "  env: {:?}", case.env);
        }
    }
    let signed = boto
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Key(_)))
        .count();
    let through_sts = boto
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Key(_)) && !r.sts.is_empty())
        .count();
    eprintln!(
        "chain: {count} cases (seed {seed:#x}): botocore signed in {signed} ({through_sts} through STS) and failed in {}; {differences} differences",
        count - signed
    );
    // Every dimension of the issue is in a full run.
    if count >= DEFAULT_CASES {
        let all: String = cases.iter().map(|c| c.what.join("; ") + "\n").collect();
        for dimension in [
            "environment keys key+secret",
            "environment keys key+secret+token",
            "AWS_PROFILE=",
            "AWS_DEFAULT_PROFILE=",
            "default: ",
            "KeysInBoth",
            "KeysAndProcess",
            "role, source_profile",
            "source_profile nowhere",
            "source_profile cycle",
            "credential_source Environment",
            "credential_process Ok",
            "credential_process Fails",
            "credential_process BadJson",
            "credential_process Expired",
            "environment web identity: file+role",
            "environment web identity: file only",
            ": WebIdentity",
            "SsoLegacy",
            "SsoSession",
            "login session fresh",
            "login session expired",
            "login session refresh-expired",
            "container credentials",
            "IMDS",
            "file: elsewhere",
            "file: /dev/null",
            "BOM",
            "CRLF",
            "duplicate section",
            "duplicate key",
            "comments",
            "indented comment",
            "indented keys",
            "tabs",
            "long value",
            "per-registry profile",
            "duration_seconds",
        ] {
            assert!(
                all.contains(dimension),
                "no case of {dimension:?} (seed {seed:#x})"
            );
        }
    }
    assert!(
        differences == 0,
        "{differences} of {count} cases differ from botocore (seed {seed:#x}; ECR_TESTS_CHAIN_SEED={seed} reproduces):\n{report}"
    );
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("      {l}\n")).collect()
}
