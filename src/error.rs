//! Why a token could not be had. An error keeps its meaning (a variant, a source) until it is
//! rendered once, by [`render`]: for the stderr line (`lib.rs`), a failure record (`helper.rs`)
//! and `doctor`. Messages never contain secrets: they come from error codes, our own texts and
//! the SDK's (redacting) errors; a `credential_process`'s stderr is kept apart, as a [`Secret`].

use std::error::Error;
use std::path::PathBuf;

use crate::files::ReadError;
use crate::secret::Secret;
use crate::settings::SettingsError;

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The credential chain found nothing.
    #[error(
        "no AWS credentials found ({detail}); set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run `aws configure` / `aws sso login`"
    )]
    NoCredentials { detail: String },
    /// A credential source exists but failed (bad profile, STS error, expired session, ...).
    /// `sso_profile`: the failing profile logs in through IAM Identity Center; `login_profile`:
    /// the profile whose `aws login` session is missing, expired or could not be refreshed.
    #[error(
        "cannot load AWS credentials: {detail}{}{}",
        sso_advice(.sso_profile.as_deref()),
        login_advice(.login_profile.as_deref())
    )]
    Credentials {
        detail: String,
        sso_profile: Option<String>,
        login_profile: Option<String>,
        /// The SDK said the credentials have expired.
        expired: bool,
    },
    /// A `credential_process` exited unsuccessfully. Its stderr (which may carry a secret) is
    /// passed through to ours by `lib.rs`, never logged and never part of our own line.
    #[error(
        "cannot load AWS credentials: credential_process failed ({status}); its own messages, if any, are above"
    )]
    CredentialProcess {
        status: String,
        stderr: Secret<String>,
    },
    /// Loading credentials took longer than the bound (`AWS_ECR_CREDENTIALS_TIMEOUT`).
    #[error(
        "timed out: loading AWS credentials took more than {secs} s (set AWS_ECR_CREDENTIALS_TIMEOUT to allow longer)"
    )]
    CredentialsTimeout { secs: String },
    /// A web identity token file that is missing or not a regular file.
    #[error("cannot load AWS credentials: the web identity token file {path}")]
    WebIdentityFile {
        path: String,
        #[source]
        problem: ReadError,
    },
    /// The API answered with an error code (AccessDeniedException, ThrottlingException, ...).
    #[error("{}", service_text(.code, .message))]
    Service { code: String, message: String },
    /// Nothing answered in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Connection refused, DNS, proxy.
    #[error("network error: {0}")]
    Network(String),
    /// The TLS handshake failed: an untrusted certificate (a TLS-inspecting proxy without
    /// `AWS_CA_BUNDLE`?) or a TLS error of the peer.
    #[error("network error: {0}")]
    Tls(String),
    /// An answer we cannot use (no token, not base64, an empty password, too large, ...).
    #[error("unusable answer from ECR: {0}")]
    BadResponse(String),
    /// The per-registry settings file is wrong (its own message names the file and the key).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// `AWS_CA_BUNDLE` cannot be used.
    #[error("AWS_CA_BUNDLE {}", .path.display())]
    CaBundle {
        path: PathBuf,
        #[source]
        problem: BoxError,
    },
    /// An AWS config or credentials file too large to hand to the SDK.
    #[error("an AWS config or credentials file is larger than {0} bytes")]
    AwsFileTooLarge(u64),
    /// The TLS or async runtime could not be set up.
    #[error("{what}")]
    Setup {
        what: &'static str,
        #[source]
        source: BoxError,
    },
    /// Another process's fetch failed moments ago with this (rendered) cause.
    #[error("{0}")]
    Recorded(String),
}

fn sso_advice(profile: Option<&str>) -> String {
    profile.map_or_else(String::new, |p| {
        format!("; the SSO session may have expired: run `aws sso login --profile {p}`")
    })
}

fn login_advice(profile: Option<&str>) -> String {
    profile.map_or_else(String::new, |p| {
        format!("; sign in again: run `{}`", login_command(p))
    })
}

/// The AWS CLI command that signs `profile` in again.
pub fn login_command(profile: &str) -> String {
    if profile == "default" {
        "aws login".to_owned()
    } else {
        format!("aws login --profile {profile}")
    }
}

fn service_text(code: &str, message: &str) -> String {
    if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    }
}

/// A failed `credential_process` speaks for itself first, as with the AWS CLI: its own stderr,
/// as it wrote it, before our line (which only names its exit status).
pub fn pass_through_child_stderr(e: &FetchError, stderr: &mut dyn std::io::Write) {
    if let FetchError::CredentialProcess { stderr: text, .. } = e {
        let text = text.expose();
        let _ = stderr.write_all(text.as_bytes());
        if !text.is_empty() && !text.ends_with('\n') {
            let _ = writeln!(stderr);
        }
    }
}

/// An error and its sources on one line: `error: source: source's source`, control characters
/// escaped and at most [`crate::text::MAX_LINE`] bytes (an API's message, or a value of the request
/// it names, may be of any length: the line must stay a line, and a failure record readable).
pub fn render(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    crate::text::printable_cut(&out, crate::text::MAX_LINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_joins_the_sources_once() {
        let e = FetchError::WebIdentityFile {
            path: "/t".into(),
            problem: ReadError::NotRegular,
        };
        assert_eq!(
            render(&e),
            "cannot load AWS credentials: the web identity token file /t: not a regular file"
        );
        let e = FetchError::Service {
            code: "AccessDeniedException".into(),
            message: String::new(),
        };
        assert_eq!(render(&e), "AccessDeniedException");
    }

    #[test]
    fn a_huge_message_is_rendered_cut_to_one_bounded_line() {
        let e = FetchError::Service {
            code: "AccessDeniedException".into(),
            message: format!("{}\n{}", "x".repeat(100_000), "y".repeat(100_000)),
        };
        let line = render(&e);
        assert!(line.len() <= crate::text::MAX_LINE + 24, "{}", line.len());
        assert!(line.starts_with("AccessDeniedException: xxx"));
        assert!(
            line.ends_with("... (200024 bytes)"),
            "{}",
            &line[line.len() - 40..]
        );
        assert!(!line.contains('\n'));
    }
}
