//! Docker's credential-helper protocol on stdin and stdout: the wire types, the readers and
//! writers, and the exact texts clients match on. Nothing else: the command line is `cli.rs`,
//! the commands for people are `setup/`.
//!
//! This is the only module that writes to stdout, which is the protocol channel: Docker, skopeo
//! and podman parse it, so nothing else (logs, diagnostics) may ever go there.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;

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

/// The server URL of a `get` or `erase`: every line of stdin joined, then trimmed (as
/// docker-credential-helpers does). `None` when the input is oversized or not UTF-8: the caller
/// answers not-found, never panics and never waits for more than [`MAX_INPUT`] bytes.
pub fn read_server_url(stdin: &mut dyn Read) -> Option<String> {
    server_url_of(&read_input(stdin)?)
}

/// All of stdin, at most [`MAX_INPUT`] bytes; `None` when it is larger or cannot be read.
pub fn read_input(stdin: &mut dyn Read) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    stdin.take(MAX_INPUT + 1).read_to_end(&mut buf).ok()?;
    if buf.len() as u64 > MAX_INPUT {
        return None;
    }
    Some(buf)
}

/// [`read_server_url`] of input already read.
pub fn server_url_of(buf: &[u8]) -> Option<String> {
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

/// Parses and validates a `store` request (docs/contract.md §2.3: before deciding whether to
/// store).
pub fn read_store_request(stdin: &mut dyn Read) -> Result<StoreRequest, String> {
    let mut buf = Vec::new();
    stdin
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    store_request_of(&buf)
}

/// [`read_store_request`] of input already read.
pub fn store_request_of(buf: &[u8]) -> Result<StoreRequest, String> {
    if buf.len() as u64 > MAX_INPUT {
        return Err(format!("input larger than {MAX_INPUT} bytes"));
    }
    let req: StoreRequest =
        serde_json::from_slice(buf).map_err(|e| format!("invalid credentials JSON: {e}"))?;
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
    #[serde(rename = "Secret")]
    pub secret: &'a Secret<String>,
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

/// `list` with a fallback store: our hosts as in [`write_list`], then the fallback's entries
/// (`{"SERVER":"USER",...}` as it listed them) where they do not name one of our hosts.
pub fn write_merged_list(
    out: &mut dyn Write,
    hosts: &[String],
    theirs: &BTreeMap<String, String>,
) -> io::Result<()> {
    let mut map: BTreeMap<String, String> = theirs
        .iter()
        .filter(|(k, _)| {
            let host = crate::registry::hostport_of(k);
            !hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for h in hosts {
        map.insert(format!("https://{h}"), "AWS".to_owned());
    }
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

/// Success, unless stdout is closed (the client went away: not worth a panic or another message).
pub fn ok(written: io::Result<()>) -> ExitCode {
    if written.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One failure line on stdout and exit 1, as Docker's helpers answer.
pub fn fail(stdout: &mut dyn Write, line: &str) -> ExitCode {
    let _ = write_line(stdout, line);
    ExitCode::FAILURE
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
    fn a_merged_list_keeps_ours_on_conflicts() {
        let theirs: BTreeMap<String, String> = [
            ("https://index.docker.io/v1/", "me"),
            ("https://h.example:5000", "AWS"),
            ("localhost:5000", "bob"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let mut out = Vec::new();
        write_merged_list(&mut out, &["h.example:5000".to_owned()], &theirs).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"https://h.example:5000\":\"AWS\",\"https://index.docker.io/v1/\":\"me\",\"localhost:5000\":\"bob\"}\n"
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
