//! The credential-helper protocol: actions, wire types, and the exact texts clients match on.
//!
//! This is the only module that writes to stdout, which is the protocol channel: Docker, skopeo
//! and podman parse it, so nothing else (logs, diagnostics) may ever go there.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// "Nothing here": Docker, skopeo and podman then go on anonymously. Any other text makes
/// skopeo/podman abort the pull (docker-credential-helpers `ErrCredentialsNotFound`).
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// docker-credential-helpers `ErrCredentialsMissingServerURL`.
pub const NO_SERVER_URL: &str = "no credentials server URL";
/// docker-credential-helpers `ErrCredentialsMissingUsername`.
pub const NO_USERNAME: &str = "no credentials username";
pub const USAGE: &str = "Usage: docker-credential-ecr-login <store|get|erase|list|version>";
/// Clients show this to the user on `docker login` / `docker logout`; it starts with the Go
/// helper's text ("not implemented") and says what to do.
pub const NOT_IMPLEMENTED: &str = "not implemented: ECR tokens are fetched from AWS on demand, never stored; set AWS_ECR_IGNORE_CREDS_STORAGE=true to let docker login/logout succeed";
/// The Go helper (docker-credential-helpers' bufio.Scanner) accepts lines up to 64 KiB.
pub const MAX_INPUT: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
    List,
    Version,
    Help,
    /// `configure [--store] [--dry-run] REGISTRY...` (the arguments after the action).
    Configure(Vec<String>),
    /// `doctor [HOST...]`.
    Doctor(Vec<String>),
}

/// Why the command line is not an action: the line printed on stdout (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    Usage,
    UnknownAction(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Usage => f.write_str(USAGE),
            UsageError::UnknownAction(a) => {
                write!(f, "unknown action: {}", a.escape_debug())?;
                write!(f, " ({USAGE})")
            }
        }
    }
}

pub fn parse_args(args: &[String]) -> Result<Action, UsageError> {
    match args.split_first() {
        Some((a, rest)) if a == "configure" => return Ok(Action::Configure(rest.to_vec())),
        Some((a, rest)) if a == "doctor" => return Ok(Action::Doctor(rest.to_vec())),
        _ => {}
    }
    let [action] = args else {
        return Err(UsageError::Usage);
    };
    Ok(match action.as_str() {
        "get" => Action::Get,
        "store" => Action::Store,
        "erase" => Action::Erase,
        "list" => Action::List,
        "version" | "-v" | "--version" => Action::Version,
        "-h" | "--help" | "help" => Action::Help,
        other => return Err(UsageError::UnknownAction(other.to_owned())),
    })
}

/// The server URL of a `get` or `erase`: every line of stdin joined, then trimmed (as
/// docker-credential-helpers does). `None` when the input is oversized or not UTF-8: the caller
/// answers not-found, never panics and never waits for more than [`MAX_INPUT`] bytes.
pub fn read_server_url(stdin: &mut dyn Read) -> Option<String> {
    let mut buf = Vec::new();
    stdin.take(MAX_INPUT + 1).read_to_end(&mut buf).ok()?;
    if buf.len() as u64 > MAX_INPUT {
        return None;
    }
    let mut joined = Vec::with_capacity(buf.len());
    for line in buf.split(|&b| b == b'\n') {
        joined.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
    }
    String::from_utf8(joined).ok().map(|s| s.trim().to_owned())
}

/// What `store` receives.
#[derive(Deserialize)]
pub struct StoreRequest {
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    #[serde(rename = "Username", default)]
    pub username: String,
    #[serde(rename = "Secret", default)]
    pub _secret: Option<serde::de::IgnoredAny>,
}

/// Parses and validates a `store` request (SPEC §4: before deciding whether to store).
pub fn read_store_request(stdin: &mut dyn Read) -> Result<StoreRequest, String> {
    let mut buf = Vec::new();
    stdin
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(format!("input larger than {MAX_INPUT} bytes"));
    }
    let req: StoreRequest =
        serde_json::from_slice(&buf).map_err(|e| format!("invalid credentials JSON: {e}"))?;
    if req.server_url.trim().is_empty() {
        return Err(NO_SERVER_URL.to_owned());
    }
    if req.username.is_empty() {
        return Err(NO_USERNAME.to_owned());
    }
    Ok(req)
}

/// The answer to a successful `get`.
#[derive(Serialize)]
pub struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    pub server_url: &'a str,
    #[serde(rename = "Username")]
    pub username: &'a str,
    #[serde(rename = "Secret", serialize_with = "expose")]
    pub secret: &'a Secret<String>,
}

fn expose<S: serde::Serializer>(s: &&Secret<String>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose())
}

pub fn write_credentials(out: &mut dyn Write, creds: &Credentials<'_>) -> io::Result<()> {
    let mut body = serde_json::to_vec(creds).map_err(io::Error::other)?;
    body.push(b'\n');
    out.write_all(&body)?;
    out.flush()
}

/// `list`: `{"https://HOST":"AWS",...}`.
pub fn write_list(out: &mut dyn Write, hosts: &[String]) -> io::Result<()> {
    let map: BTreeMap<String, &str> = hosts
        .iter()
        .map(|h| (format!("https://{h}"), "AWS"))
        .collect();
    let mut body = serde_json::to_vec(&map).map_err(io::Error::other)?;
    body.push(b'\n');
    out.write_all(&body)?;
    out.flush()
}

/// One line on stdout: a failure's text, the version, or the help.
pub fn write_line(out: &mut dyn Write, line: &str) -> io::Result<()> {
    writeln!(out, "{line}")?;
    out.flush()
}

pub fn help() -> String {
    format!(
        "docker-credential-ecr-login {version}: Docker credential helper for Amazon ECR and ECR Public

{USAGE}
  (the action is read from the command line, the request from stdin, the answer goes to stdout)

Actions:
  get        read a registry host or URL on stdin, print {{\"ServerURL\",\"Username\",\"Secret\"}}
  list       print the registries with a cached token usable by the current AWS identity
             (with AWS_REGION set, also the caller's own registry there; at most 2 s)
  store      what `docker login` calls: not supported (see AWS_ECR_IGNORE_CREDS_STORAGE)
  erase      what `docker logout` calls: not supported (see AWS_ECR_IGNORE_CREDS_STORAGE)
  version    print the version (also -v, --version)
  help       print this help (also -h, --help)
  kubelet [ARGS...]
             the kubelet's image credential provider: a credentialprovider.kubelet.k8s.io/v1
             CredentialProviderRequest on stdin, the response on stdout (what the binary does
             when run as ecr-credential-provider; see `kubelet --help` and docs/kubelet.md)

Setup and troubleshooting (for people, not for Docker):
  configure [--store] [--dry-run] REGISTRY...
             add credHelpers entries for REGISTRY... (and with --store set credsStore) in
             Docker's config.json, keeping everything else; the old file is kept as config.json.bak
  doctor [HOST...]
             explain, step by step, what happens for HOST (default: every ECR registry named in
             Docker's config.json): Docker routing, identity, region, cache, a real token fetch
  doctor --kubelet-config FILE [--bin-dir DIR] [IMAGE...]
             check a kubelet CredentialProviderConfig: the ecr-credential-provider entry, the
             binary directory, and which provider matchImages route each image to

Per-registry settings ($AWS_ECR_CONFIG, else config.json in the cache directory):
  {{\"registries\": {{\"<host>\": {{\"profile\": \"prod\"}},  \"<12-digit account id>\": {{\"profile\": \"dev\"}},
                  \"<custom host>\": {{\"registry\": \"<ECR registry host>\", \"profile\": \"...\"}}}}}}
  exact host first, then account id, then the default credential chain; a mapping's profile wins
  over AWS_PROFILE and environment keys

Environment:
  AWS_ECR_CACHE_DIR             cache and log directory (default ~/.ecr)
  AWS_ECR_DISABLE_CACHE         any non-empty value: never cache tokens
  AWS_ECR_IGNORE_CREDS_STORAGE  true/1: store and erase succeed without storing anything
  AWS_ECR_LOG_LEVEL             off, error, warn, info (default), debug, trace; logs in <cache dir>/log/
  AWS_ECR_CONFIG                per-registry settings file (default <cache dir>/config.json)
  AWS_ECR_ROLE_ARN              kubelet: the role to assume with a service account token when the
                                service account has no eks.amazonaws.com/ecr-role-arn annotation
  AWS_ECR_CREDENTIALS_TIMEOUT   seconds allowed for loading AWS credentials (credential_process,
                                SSO, STS); default 6, or 120 when run from a terminal
  DOCKER_CONFIG                 Docker's configuration directory, for configure and doctor
  AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CONFIG_FILE,
  AWS_SHARED_CREDENTIALS_FILE, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_REGION,
  AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_USE_FIPS_ENDPOINT,
  AWS_USE_DUALSTACK_ENDPOINT, AWS_MAX_ATTEMPTS, AWS_EC2_METADATA_DISABLED
                                the standard AWS settings, as the AWS CLI reads them
  AWS_CA_BUNDLE                 PEM file of CAs to trust for the AWS APIs (replaces system roots)
  HTTPS_PROXY, NO_PROXY         proxy for the AWS APIs

The cache directory, its tokens/ and log/, and the settings file are used only when you own
them and nobody else can write them (chmod go-w); otherwise every get asks AWS and says why.

Docker config (~/.docker/config.json):
  {{\"credsStore\": \"ecr-login\"}}  or  {{\"credHelpers\": {{\"<registry host>\": \"ecr-login\"}}}}",
        version = env!("CARGO_PKG_VERSION")
    )
}

/// The one line `version`, `-v` and `--version` print: `docker-credential-ecr-login <version> (rust)`,
/// or `... (rust, commit <hash>)` when the build set `ECR_LOGIN_COMMIT` (the Makefile passes the
/// git commit, so a release binary says which source it was built from).
pub fn version() -> String {
    match option_env!("ECR_LOGIN_COMMIT").filter(|c| !c.is_empty()) {
        Some(commit) => format!(
            "docker-credential-ecr-login {} (rust, commit {commit})",
            env!("CARGO_PKG_VERSION")
        ),
        None => format!(
            "docker-credential-ecr-login {} (rust)",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn actions_and_flags_parse() {
        assert_eq!(parse_args(&args(&["get"])), Ok(Action::Get));
        assert_eq!(parse_args(&args(&["--version"])), Ok(Action::Version));
        assert_eq!(parse_args(&args(&["-v"])), Ok(Action::Version));
        assert_eq!(parse_args(&args(&["-h"])), Ok(Action::Help));
        assert_eq!(parse_args(&args(&[])), Err(UsageError::Usage));
        assert_eq!(parse_args(&args(&["get", "x"])), Err(UsageError::Usage));
        assert_eq!(
            parse_args(&args(&["configure", "--store"])),
            Ok(Action::Configure(args(&["--store"])))
        );
        assert_eq!(parse_args(&args(&["doctor"])), Ok(Action::Doctor(vec![])));
        let e = parse_args(&args(&["fetch"])).unwrap_err();
        assert!(e.to_string().contains("unknown action"));
    }

    #[test]
    fn server_url_joins_lines_and_trims_like_docker_credential_helpers() {
        let mut input: &[u8] = b"  https://host\r\n";
        assert_eq!(read_server_url(&mut input).as_deref(), Some("https://host"));
        let mut input: &[u8] = b"ho\nst\n";
        assert_eq!(read_server_url(&mut input).as_deref(), Some("host"));
        let mut input: &[u8] = b"\xff\xfe";
        assert_eq!(read_server_url(&mut input), None);
        let big = vec![b'a'; MAX_INPUT as usize + 1];
        assert_eq!(read_server_url(&mut &big[..]), None);
    }

    #[test]
    fn store_requests_are_validated_with_the_known_texts() {
        let check = |s: &str| read_store_request(&mut s.as_bytes()).err();
        assert_eq!(
            check(r#"{"ServerURL":"","Username":"AWS","Secret":"x"}"#).as_deref(),
            Some(NO_SERVER_URL)
        );
        assert_eq!(
            check(r#"{"ServerURL":"h","Secret":"x"}"#).as_deref(),
            Some(NO_USERNAME)
        );
        assert!(
            check("nope")
                .unwrap()
                .starts_with("invalid credentials JSON")
        );
        assert_eq!(
            check(r#"{"ServerURL":"h","Username":"AWS","Secret":"x"}"#),
            None
        );
    }

    #[test]
    fn credentials_serialise_in_docker_field_order() {
        let secret = Secret::new("p\"w".to_owned());
        let mut out = Vec::new();
        write_credentials(
            &mut out,
            &Credentials {
                server_url: "h",
                username: "AWS",
                secret: &secret,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ServerURL\":\"h\",\"Username\":\"AWS\",\"Secret\":\"p\\\"w\"}\n"
        );
    }
}
