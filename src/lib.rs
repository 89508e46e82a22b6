//! `docker-credential-ecr-login`: a Docker credential helper for Amazon ECR and ECR Public.
//!
//! The protocol on one screen (docs/contract.md is the full contract):
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
//! Floors, top-down; a module uses modules on its own floor or lower, never higher:
//!
//! 1. `run` (this file), called by `main.rs` with the real environment, clock and stdio;
//! 2. the front doors: `cli` (which action), `protocol` (Docker's wire: stdin, stdout, the exact
//!    texts), `kubelet` (the kubelet's credential provider protocol) and `setup/` (the commands
//!    for people: `configure`, `doctor`, Docker's config.json, the help text);
//! 3. `helper`: the policy of `get` and `list` (registry, identity, cache, fetch, answer);
//! 4. `ecr` (the one door to AWS) and `error` (why a token could not be had);
//! 5. `settings` (per-registry settings), `identity`, `logging`, `children`;
//! 6. `cache` (entries, locks, failure records, whether the cache is used);
//! 7. `config`, `files`, `registry`, `digest`, `time`;
//! 8. `secret`.
//!
//! The behaviour all of them implement is in docs/contract.md.

pub mod cache;
pub mod children;
pub mod cli;
pub mod config;
pub mod digest;
pub mod ecr;
pub mod error;
pub mod files;
pub mod helper;
pub mod identity;
pub mod kubelet;
pub mod logging;
pub mod protocol;
pub mod registry;
pub mod secret;
pub mod settings;
pub mod setup;
pub mod time;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use cli::Action;
use config::Config;
use ecr::TokenSource;
use helper::GetOutcome;
use protocol::Credentials;
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
    // The kubelet's door: `kubelet [ARGS...]`, which `main` also makes of a run as
    // `ecr-credential-provider [ARGS...]` (docs/kubelet.md).
    if let Some((first, rest)) = args.split_first()
        && first == kubelet::ACTION
    {
        return kubelet::run(rest, cfg, stdin, stdout, stderr, now, source);
    }
    let action = match cli::parse_args(args) {
        Ok(a) => a,
        Err(e) => return fail(stdout, &e.to_string()),
    };
    let now_secs = time::unix_now(now);
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
            let result =
                setup::configure::parse(&rest).and_then(|a| setup::configure::run(cfg, &a));
            match result {
                Ok(lines) => ok(lines
                    .iter()
                    .try_for_each(|l| protocol::write_line(stdout, l))),
                Err(e) => fail(stdout, &e),
            }
        }
        // The kubelet's configuration: `doctor --kubelet-config FILE [IMAGE...]`.
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
            let report = setup::doctor::run(cfg, &hosts, now_secs, source);
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
        Action::Help => ok(protocol::write_line(stdout, &setup::help::help())),
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
                GetOutcome::Unavailable { host, error } => {
                    error::pass_through_child_stderr(&error, stderr);
                    // Docker shows a helper's stderr: say why there is no token
                    // (docs/contract.md §3.3).
                    let _ = writeln!(
                        stderr,
                        "docker-credential-ecr-login: {}",
                        printable(&format!("{host}: {}", error::render(&error)))
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

/// `store`/`erase`: ECR tokens are fetched, never stored (docs/contract.md §2.3).
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

/// Entry points for the cargo-fuzz targets in `fuzz/`: not part of the library's interface.
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests {
    //! `run` in-process: stdin a `Cursor`, stdout and stderr `Vec`s, the clock and the token
    //! source injected (the integration tests run the real binary; these show the seam).
    use super::*;
    use crate::fuzzing::{FAKE_PASSWORD, FakeSource};
    use std::io::Cursor;
    use std::time::Duration;

    const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

    fn run_with(
        args: &[&str],
        input: &str,
        cfg: &Config,
        source: &FakeSource,
    ) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(
            &args,
            cfg,
            &mut Cursor::new(input.as_bytes()),
            &mut out,
            &mut err,
            SystemTime::UNIX_EPOCH + Duration::from_secs(source.now),
            source,
        );
        let code = if code == ExitCode::SUCCESS { 0 } else { 1 };
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn get_answers_then_hits_the_cache_and_list_shows_the_host() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().display().to_string();
        let cfg = Config::from_pairs(&[
            ("HOME", &h),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        let source = FakeSource::new(Some(Some(43_200)), 1_800_000_000);
        let (code, out, err) = run_with(&["get"], &format!("https://{HOST}\n"), &cfg, &source);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            format!(
                "{{\"ServerURL\":\"https://{HOST}\",\"Username\":\"AWS\",\"Secret\":\"{FAKE_PASSWORD}\"}}\n"
            )
        );
        assert!(err.is_empty());
        let (code, again, _) = run_with(&["get"], HOST, &cfg, &source);
        assert_eq!((code, source.asked.borrow().len()), (0, 1), "{again}");
        let (code, list, _) = run_with(&["list"], "unused", &cfg, &source);
        assert_eq!(
            (code, list),
            (0, format!("{{\"https://{HOST}\":\"AWS\"}}\n"))
        );
    }

    #[test]
    fn a_failure_is_the_not_found_line_and_one_stderr_line() {
        let cfg = Config::from_pairs(&[("AWS_ECR_DISABLE_CACHE", "1")]);
        let source = FakeSource::new(None, 1_800_000_000);
        let (code, out, err) = run_with(&["get"], HOST, &cfg, &source);
        assert_eq!(code, 1);
        assert_eq!(out, format!("{}\n", protocol::NOT_FOUND));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!(
            "docker-credential-ecr-login: {HOST}: network error"
        )));
        let (code, out, err) = run_with(&["get"], "index.docker.io", &cfg, &source);
        assert_eq!(
            (code, out.trim(), err.as_str()),
            (1, protocol::NOT_FOUND, "")
        );
        let (code, out, _) = run_with(&["bogus"], "", &cfg, &source);
        assert_eq!(code, 1);
        assert!(out.starts_with("unknown action"));
    }
}
