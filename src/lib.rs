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
//! 1. `run` (this file), called by `main.rs` with the real environment, clock and stdio;
//! 2. the front doors: `cli` (which action), `protocol` (Docker's wire: stdin, stdout, the exact
//!    texts), `kubelet` (the kubelet's credential provider protocol) and `setup/` (the commands
//!    for people: `configure`, `doctor`, `login-password` and `export`, Docker's config.json,
//!    the containers' auth file and drop-in, the help text);
//! 3. `helper`: the policy of `get` and `list` (registry, identity, cache, fetch, answer), and
//!    `fallback`: the store named for registries that are not ECR (docs/contract.md §2.7);
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
    // A background refresh this program started (helper.rs): no client, nothing to say.
    if let Some((first, rest)) = args.split_first()
        && first == helper::REFRESH_ACTION
    {
        let done = helper::refresh(cfg, rest, time::unix_now(now), source);
        return if done {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
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
        // The password or a credentials file for tools that cannot run a helper: stdout is the
        // secret only, failures are stderr lines (docs/contract.md §2.8).
        Action::LoginPassword(args) => {
            setup::export::login_password(cfg, &args, now_secs, source, stdout, stderr)
        }
        Action::Export(args) => setup::export::export(cfg, &args, now_secs, source, stdout, stderr),
        Action::Version => ok(protocol::write_line(stdout, &protocol::version())),
        Action::Help => ok(protocol::write_line(stdout, &setup::help::help())),
        Action::List => {
            // stdin is not read: Docker sends `unused`, and a pipe left open must not hang us.
            let hosts = helper::list(cfg, now_secs, source);
            info!(count = hosts.len(), "list");
            ok(list_answer(cfg, &hosts, stdout, stderr))
        }
        Action::Get => {
            let input = protocol::read_input(stdin);
            let Some(server_url) = input.as_deref().and_then(protocol::server_url_of) else {
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
                // Not ours: the fallback store's, if one is named (docs/contract.md §2.7).
                GetOutcome::NotEcr => match Fallback::of(cfg).route {
                    Route::Off => fail(stdout, protocol::NOT_FOUND),
                    Route::Broken(line) => {
                        say(stderr, &line);
                        fail(stdout, protocol::NOT_FOUND)
                    }
                    Route::Ready(program) => {
                        let input = input.unwrap_or_default();
                        delegate(&program, "get", &input, stdout, stderr)
                    }
                },
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
        Action::Store => {
            let mut input = Vec::new();
            if let Err(e) = stdin.take(protocol::MAX_INPUT + 1).read_to_end(&mut input) {
                return fail(stdout, &format!("cannot read stdin: {e}"));
            }
            match protocol::store_request_of(&input) {
                Err(e) => fail(stdout, &e),
                Ok(req) => {
                    info!(server = %req.server_url, ignored = cfg.ignore_creds_storage, "store");
                    storage(cfg, "store", &req.server_url, &input, stdout, stderr)
                }
            }
        }
        Action::Erase => {
            let input = protocol::read_input(stdin);
            match input.as_deref().and_then(protocol::server_url_of) {
                None => fail(stdout, protocol::NO_SERVER_URL),
                Some(url) if url.is_empty() => fail(stdout, protocol::NO_SERVER_URL),
                Some(url) => {
                    info!(server = %url, ignored = cfg.ignore_creds_storage, "erase");
                    let input = input.unwrap_or_default();
                    storage(cfg, "erase", &url, &input, stdout, stderr)
                }
            }
        }
    }
}

/// The fallback store of this run (docs/contract.md §2.7) and the settings that decide which
/// hosts stay ours.
struct Fallback {
    settings: settings::Settings,
    route: Route,
}

enum Route {
    /// No fallback named: today's behaviour.
    Off,
    /// Named, but unusable: the line that says why.
    Broken(String),
    /// The executable to run.
    Ready(std::path::PathBuf),
}

impl Fallback {
    fn of(cfg: &Config) -> Fallback {
        let loaded = settings::Loaded::load(cfg, &cache::CacheState::of(cfg));
        // A settings file that is untrusted or unreadable names no fallback (docs/security.md).
        let settings = loaded.settings.ok();
        let route = match fallback::choose(cfg, settings.as_ref()) {
            fallback::Choice::Off => Route::Off,
            fallback::Choice::Named { name, origin } => {
                match fallback::find(cfg.path.as_deref(), &name, &origin) {
                    Ok(program) => match fallback::loop_refusal(cfg, &program) {
                        Some(line) => Route::Broken(line),
                        None => Route::Ready(program),
                    },
                    Err(line) => Route::Broken(line),
                }
            }
        };
        Fallback {
            settings: settings.unwrap_or_default(),
            route,
        }
    }
}

/// `store`/`erase`: ECR tokens are fetched, never stored (docs/contract.md §2.3), so for a host
/// this helper serves both succeed with one line on stderr; other hosts go to the fallback store
/// when one is named (§2.7).
fn storage(
    cfg: &Config,
    action: &str,
    server_url: &str,
    input: &[u8],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    let fb = Fallback::of(cfg);
    // Ours by default: nothing to keep, and one line that says whose tokens Docker will get.
    // `AWS_ECR_IGNORE_CREDS_STORAGE=true` keeps it silent, `=false` the old answers below.
    let ours = fb.settings.is_ours(server_url);
    if ours && !cfg.ignore_creds_storage && !cfg.refuse_creds_storage {
        info!(action, "an ECR host: nothing kept");
        say(stderr, &helper::not_kept(cfg, action, server_url));
        return ExitCode::SUCCESS;
    }
    match fb.route {
        Route::Off => storage_answer(cfg, stdout),
        _ if fb.settings.is_ours(server_url) => {
            info!(action, "an ECR host with a fallback store: nothing stored");
            ExitCode::SUCCESS
        }
        Route::Broken(line) => {
            say(stderr, &line);
            fail(stdout, &line)
        }
        Route::Ready(program) => delegate(&program, action, input, stdout, stderr),
    }
}

/// Runs the fallback store for `action`: its stdout and exit status are the answer.
fn delegate(
    program: &std::path::Path,
    action: &str,
    input: &[u8],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    match fallback::pass_through(program, action, input, stdout) {
        Ok(Some(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Ok(None) => {
            say(
                stderr,
                &format!("fallback {} was ended by a signal", program.display()),
            );
            ExitCode::FAILURE
        }
        Err(fallback::NotRun(line)) => {
            say(stderr, &line);
            if action == "get" {
                fail(stdout, protocol::NOT_FOUND)
            } else {
                fail(stdout, &line)
            }
        }
    }
}

/// `list` with the fallback store's entries merged in (ours win); a failing fallback costs only
/// its entries and one stderr line.
fn list_answer(
    cfg: &Config,
    hosts: &[String],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> std::io::Result<()> {
    match Fallback::of(cfg).route {
        Route::Off => protocol::write_list(stdout, hosts),
        Route::Broken(line) => {
            say(stderr, &line);
            protocol::write_list(stdout, hosts)
        }
        Route::Ready(program) => match fallback::list(&program) {
            Ok(theirs) => {
                info!(count = theirs.len(), "list: fallback entries");
                protocol::write_merged_list(stdout, hosts, &theirs)
            }
            Err(line) => {
                say(stderr, &line);
                protocol::write_list(stdout, hosts)
            }
        },
    }
}

/// One line on stderr, ours.
fn say(stderr: &mut dyn Write, line: &str) {
    let _ = writeln!(stderr, "docker-credential-ecr-login: {}", printable(line));
}

/// `store`/`erase` without a fallback store.
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

/// The most of one untrusted value (an image name, a host, an annotation, a token's claim, an
/// API's message) a message or a log line shows, in bytes: a real one is far shorter.
pub const MAX_SHOWN: usize = 512;
/// The most of a whole message (a stderr line, a failure's cause, a logged error) in bytes.
pub const MAX_LINE: usize = 4096;

/// [`printable`], and at most `max` bytes of it (cut on a character boundary, an escape kept
/// whole), followed by `... (N bytes)` naming the length of `s` when it was cut: so that no input
/// can make a stderr line, a log line or a failure record of more than about `max` bytes.
pub fn printable_cut(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 24);
    for c in s.chars() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
        if out.len() > max {
            out.truncate(before);
            out.push_str(&format!("... ({} bytes)", s.len()));
            break;
        }
    }
    out
}

/// One untrusted value for a message or a log line: [`printable_cut`] to [`MAX_SHOWN`].
pub fn shown(s: &str) -> String {
    printable_cut(s, MAX_SHOWN)
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

    #[test]
    fn untrusted_text_is_cut_to_a_bound_and_says_how_long_it_was() {
        assert_eq!(printable_cut("short", 10), "short");
        assert_eq!(printable_cut("0123456789", 10), "0123456789");
        assert_eq!(printable_cut("0123456789x", 10), "0123456789... (11 bytes)");
        // Never inside a character, nor inside an escape.
        assert_eq!(printable_cut("ééé", 5), "éé... (6 bytes)");
        assert_eq!(printable_cut("ab\u{1b}cd", 7), "ab... (5 bytes)");
        assert_eq!(printable_cut("ab\u{1b}cd", 8), "ab\\u{1b}... (5 bytes)");
        assert_eq!(printable_cut("ab\u{1b}", 8), "ab\\u{1b}");
        let huge = "a".repeat(1 << 20);
        assert!(shown(&huge).len() <= MAX_SHOWN + 24);
        assert!(printable_cut(&"\n".repeat(1 << 20), MAX_LINE).len() <= MAX_LINE + 24);
    }
}
