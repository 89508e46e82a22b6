//! `docker-credential-ecr-login`: a Docker credential helper for Amazon ECR and ECR Public.
//!
//! The protocol on one screen (SPEC.md is the full contract):
//!
//! | action    | stdin                 | stdout                                              | exit |
//! |-----------|-----------------------|-----------------------------------------------------|------|
//! | `get`     | registry host or URL  | `{"ServerURL":..,"Username":"AWS","Secret":..}`     | 0    |
//! | `list`    | ignored               | `{"https://HOST":"AWS",...}` (cached, this identity)| 0    |
//! | `store`   | credentials JSON      | `not implemented...` (or nothing, see below)        | 1/0  |
//! | `erase`   | server URL            | `not implemented...` (or nothing, see below)        | 1/0  |
//! | `version` | ignored               | `docker-credential-ecr-login VERSION ...`           | 0    |
//!
//! Every failure is one line on stdout and exit 1. `credentials not found in native keychain` is
//! the answer for every host this helper does not serve and every ECR host whose token can't be
//! had; for the latter, one line on stderr says why. `AWS_ECR_IGNORE_CREDS_STORAGE=true` makes
//! `store`/`erase` succeed silently. Environment variables: see `config.rs`.
//!
//! Floors, top-down, each using only those below: `run` -> `helper` -> {`cache`, `identity`,
//! `ecr`, `protocol`, `logging`} -> {`config`, `registry`, `secret`}.

pub mod cache;
pub mod children;
pub mod config;
pub mod configure;
pub mod docker_config;
pub mod doctor;
pub mod ecr;
pub mod files;
pub mod helper;
pub mod identity;
pub mod kubelet;
pub mod logging;
pub mod mappings;
pub mod protocol;
pub mod registry;
pub mod secret;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use config::Config;
use ecr::TokenSource;
use helper::GetOutcome;
use protocol::{Action, Credentials};
use tracing::info;

/// Runs one action. Everything from the outside world comes in as arguments; `main` supplies the
/// real ones, tests their own.
pub fn run(
    args: &[String],
    cfg: &Config,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    now: SystemTime,
    source: &dyn TokenSource,
) -> ExitCode {
    // The kubelet's door (issue 10): `kubelet [ARGS...]`, which `main` also makes of a run as
    // `ecr-credential-provider [ARGS...]`.
    if let Some((first, rest)) = args.split_first()
        && first == kubelet::ACTION
    {
        return kubelet::run(rest, cfg, stdin, stdout, stderr, now, source);
    }
    let action = match protocol::parse_args(args) {
        Ok(a) => a,
        Err(e) => return fail(stdout, &e.to_string()),
    };
    let now_secs = ecr::unix_now(now);
    // A closed stdout (the client went away) is not worth a panic or another message.
    let ok = |r: std::io::Result<()>| {
        if r.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    };
    match action {
        Action::Configure(rest) => {
            let result = configure::parse(&rest).and_then(|a| configure::run(cfg, &a));
            match result {
                Ok(lines) => ok(lines
                    .iter()
                    .try_for_each(|l| protocol::write_line(stdout, l))),
                Err(e) => fail(stdout, &e),
            }
        }
        // The kubelet's configuration (issue 10): `doctor --kubelet-config FILE [IMAGE...]`.
        Action::Doctor(args) if kubelet::doctor::wanted(&args) => {
            let (lines, good) = kubelet::doctor::run(&args);
            let written = lines
                .iter()
                .try_for_each(|l| protocol::write_line(stdout, l));
            if good && written.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Action::Doctor(hosts) => {
            let report = doctor::run(cfg, &hosts, now_secs, source);
            let written = report
                .lines
                .iter()
                .try_for_each(|l| protocol::write_line(stdout, l));
            if report.ok && written.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Action::Version => ok(protocol::write_line(stdout, &protocol::version())),
        Action::Help => ok(protocol::write_line(stdout, &protocol::help())),
        Action::List => {
            // stdin is not read: Docker sends `unused`, and a pipe left open must not hang us.
            let hosts = helper::list(cfg, now_secs, source);
            info!(count = hosts.len(), "list");
            ok(protocol::write_list(stdout, &hosts))
        }
        Action::Get => {
            let Some(server_url) = protocol::read_server_url(stdin) else {
                info!("get: unreadable input (oversized or not UTF-8)");
                return fail(stdout, protocol::NOT_FOUND);
            };
            if server_url.is_empty() {
                return fail(stdout, protocol::NO_SERVER_URL);
            }
            let answer = helper::get(cfg, &server_url, now_secs, source);
            for w in &answer.warnings {
                let _ = writeln!(stderr, "docker-credential-ecr-login: {}", printable(w));
            }
            match answer.outcome {
                GetOutcome::Found { password } => ok(protocol::write_credentials(
                    stdout,
                    &Credentials {
                        server_url: &server_url,
                        username: "AWS",
                        secret: &password,
                    },
                )),
                GetOutcome::NotEcr => fail(stdout, protocol::NOT_FOUND),
                GetOutcome::Unavailable(why) => {
                    // A failed credential_process speaks for itself first (as with the AWS CLI).
                    if let ecr::FetchError::CredentialProcess { stderr: text, .. } = &why {
                        let _ = stderr.write_all(text.expose().as_bytes());
                        if !text.expose().is_empty() && !text.expose().ends_with('\n') {
                            let _ = writeln!(stderr);
                        }
                    }
                    // Docker shows a helper's stderr: say why there is no token (SPEC §1).
                    let host = registry::Registry::parse(&server_url)
                        .map_or_else(|| server_url.clone(), |r| r.host().to_owned());
                    let _ = writeln!(
                        stderr,
                        "docker-credential-ecr-login: {}",
                        printable(&format!("{host}: {why}"))
                    );
                    fail(stdout, protocol::NOT_FOUND)
                }
            }
        }
        Action::Store => match protocol::read_store_request(stdin) {
            Err(e) => fail(stdout, &e),
            Ok(req) => {
                info!(server = %req.server_url, ignored = cfg.ignore_creds_storage, "store");
                storage_answer(cfg, stdout)
            }
        },
        Action::Erase => match protocol::read_server_url(stdin) {
            None => fail(stdout, protocol::NO_SERVER_URL),
            Some(url) if url.is_empty() => fail(stdout, protocol::NO_SERVER_URL),
            Some(url) => {
                info!(server = %url, ignored = cfg.ignore_creds_storage, "erase");
                storage_answer(cfg, stdout)
            }
        },
    }
}

/// `store`/`erase`: ECR tokens are fetched, never stored (SPEC §4).
fn storage_answer(cfg: &Config, stdout: &mut dyn Write) -> ExitCode {
    if cfg.ignore_creds_storage {
        ExitCode::SUCCESS
    } else {
        fail(stdout, protocol::NOT_IMPLEMENTED)
    }
}

/// Untrusted text (API messages, host names, paths) made safe for a terminal: one line, every
/// control character shown escaped (`\u{1b}`) instead of acting on the user's terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn fail(stdout: &mut dyn Write, line: &str) -> ExitCode {
    let _ = protocol::write_line(stdout, line);
    ExitCode::FAILURE
}
