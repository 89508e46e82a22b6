//! `docker-credential-ecr-login`: a Docker credential helper for Amazon ECR and ECR Public.
//!
//! The protocol on one screen (docs/contract.md is the full contract):
//!
//! | action    | stdin                 | stdout                                              | exit |
//! |-----------|-----------------------|-----------------------------------------------------|------|
//! | `get`     | registry host or URL  | `{"ServerURL":..,"Username":"AWS","Secret":..}`     | 0    |
//! | `list`    | ignored               | `{"https://HOST":"AWS",...}` (cached, this identity)| 0    |
//! | `store`   | credentials JSON      | nothing for ECR hosts, else `not implemented...`    | 0/1  |
//! | `erase`   | server URL            | nothing for ECR hosts, else `not implemented...`    | 0/1  |
//! | `version` | ignored               | `docker-credential-ecr-login VERSION ...`           | 0    |
//!
//! Every failure is one line on stdout and exit 1. `credentials not found in native keychain` is
//! the answer for every host this helper does not serve and every ECR host whose token can't be
//! had; for the latter, one line on stderr says why. `store`/`erase` of an ECR host keep nothing
//! and succeed with one stderr line naming the identity tokens come from;
//! `AWS_ECR_IGNORE_CREDS_STORAGE=true` makes them succeed silently for every host, `=false`
//! answers not-implemented as before. With a fallback store (`AWS_ECR_FALLBACK`, or `"fallback"` in
//! the settings file), `get`/`store`/`erase` of other hosts run it, and `list` merges its entries.
//! Environment variables: see `config.rs`.
//!
//! Floors, top-down; a module uses modules on its own floor or lower, never higher:
//!
//! 1. `run` (this file), called by `main.rs` with the real environment, clock and stdio: which
//!    door a run is for, and nothing else;
//! 2. the front doors: `docker` (Docker's actions: `get`, `list`, `store`, `erase`, `version`),
//!    `kubelet` (the kubelet's credential provider protocol) and `setup/` (the commands for
//!    people: `configure`, `doctor`, `login-password` and `export`, Docker's config.json, the
//!    containers' auth file and drop-in, the help text); with them `cli` (which action) and
//!    `protocol` (Docker's wire: stdin, stdout, the exact texts);
//! 3. `helper`: the policy of `get` and `list` (registry, identity, cache, fetch, answer), and
//!    `fallback`: the store named for registries that are not ECR and what `store`/`erase` come
//!    to (docs/contract.md §2.7);
//! 4. `ecr` (the one door to AWS) and `error` (why a token could not be had);
//! 5. `settings` (per-registry settings), `identity`, `logging`, `children`, `context` (what one
//!    run reads once: configuration, clock, cache state, settings);
//! 6. `cache` (entries, locks, failure records, whether the cache is used);
//! 7. `config`, `files`, `registry`, `digest`, `time`, `profiles` (the AWS files' profile syntax);
//! 8. `secret`, `text` (untrusted text made safe for a terminal and bounded).
//!
//! The behaviour all of them implement is in docs/contract.md.

pub mod cache;
pub mod children;
pub mod cli;
pub mod config;
pub mod context;
pub mod digest;
pub mod docker;
pub mod ecr;
pub mod error;
pub mod fallback;
pub mod files;
pub mod helper;
pub mod identity;
pub mod kubelet;
pub mod logging;
pub mod profiles;
pub mod protocol;
pub mod registry;
pub mod secret;
pub mod settings;
pub mod setup;
pub mod text;
pub mod time;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use cli::Action;
use config::Config;
use ecr::TokenSource;

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
    let mut io = context::Run {
        cfg,
        now: time::unix_now(now),
        source,
        stdin,
        stdout,
        stderr,
    };
    match args.split_first() {
        // The kubelet's door: `kubelet [ARGS...]`, which `main` also makes of a run as
        // `ecr-credential-provider [ARGS...]` (docs/kubelet.md).
        Some((first, rest)) if first == kubelet::ACTION => return kubelet::run(rest, &mut io),
        // A background refresh this program started (helper.rs): no client, nothing to say.
        Some((first, rest)) if first == helper::REFRESH_ACTION => {
            return if helper::refresh(cfg, rest, io.now, source) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        _ => {}
    }
    let action = match cli::parse_args(args) {
        Ok(a) => a,
        Err(e) => return protocol::fail(io.stdout, &e.to_string()),
    };
    match action {
        Action::Get | Action::List | Action::Store | Action::Erase | Action::Version => {
            docker::run(&action, &mut io)
        }
        Action::Configure(_)
        | Action::Doctor(_)
        | Action::LoginPassword(_)
        | Action::Export(_)
        | Action::Help => setup::run(&action, &mut io),
    }
}

/// Entry points for the cargo-fuzz targets in `fuzz/`: compiled only for them (cargo-fuzz sets
/// `cfg(fuzzing)`), not part of the library's interface.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests {
    //! `run` in-process: stdin a `Cursor`, stdout and stderr `Vec`s, the clock and the token
    //! source injected (the integration tests run the real binary; these show the seam).
    use super::*;
    use crate::ecr::fake::{FAKE_PASSWORD, FakeSource};
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
