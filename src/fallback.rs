//! The fallback credential store (docs/contract.md §2.7): with `credsStore: ecr-login`, every
//! registry that is not ECR goes to the store the user names, `docker-credential-<name>` on
//! `PATH` (`pass`, `secretservice`, `osxkeychain`, `desktop`, ...), found as Docker finds helpers.
//!
//! - The name comes from `AWS_ECR_FALLBACK`, else the settings file's top-level `"fallback"` (a
//!   file that may not be trusted names none, docs/security.md).
//! - `ecr-login` (or a name that leads to this very binary) is a loop and is refused.
//! - A program found relative to the current directory (an empty, `.` or relative `PATH` entry)
//!   is refused, as Docker refuses to run it (`files::look_path`).
//! - A run that a fallback store started ([`config::IN_FALLBACK`]: a store that calls this
//!   helper back) never hands a host to the fallback again: a loop, refused with one line.
//! - The fallback gets our stdin's bytes unchanged; its stdout is copied to ours unchanged (never
//!   logged: a `get` answer carries a password), its stderr is ours (inherited), and its exit
//!   status becomes ours.
//! - Resources: a thread or process that cannot be had (the process limit) is one line and the
//!   protocol's answer, never a panic.
//! - Time: starting it and handing it its input are bounded ([`START_BOUND`], [`INPUT_BOUND`]);
//!   once it runs, what it does (a GPG pinentry, a keychain prompt) is its own business, as when
//!   Docker runs it directly.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tracing::info;

use crate::config::{self, Config};
use crate::context::Context;
use crate::files::LookPath;
use crate::settings::Settings;

/// How long the fallback may take to start (exec).
pub const START_BOUND: Duration = Duration::from_secs(5);
/// How long it may take to accept its input (at most 64 KiB, so in practice a pipe's buffer).
pub const INPUT_BOUND: Duration = Duration::from_secs(5);
/// A `list` answer larger than this is not a list.
const MAX_LIST: u64 = 1 << 20;
/// Our own name as a helper: a fallback by this name would run us again.
const OURS: &str = "ecr-login";

/// Where the fallback's name came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Env,
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Env => f.write_str(config::FALLBACK),
            Origin::File(p) => write!(f, "\"fallback\" in {}", p.display()),
        }
    }
}

/// The fallback this run would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// None named: today's behaviour.
    Off,
    /// A store named by `origin`; not yet looked up on `PATH`.
    Named { name: String, origin: Origin },
}

/// `AWS_ECR_FALLBACK`, else the (trusted, readable) settings file's `"fallback"`.
pub fn choose(cfg: &Config, settings: Option<&Settings>) -> Choice {
    if let Some(name) = &cfg.fallback {
        return Choice::Named {
            name: name.clone(),
            origin: Origin::Env,
        };
    }
    match settings.and_then(|s| s.fallback().map(|f| (f, s.path()))) {
        Some((name, path)) => Choice::Named {
            name: name.to_owned(),
            origin: Origin::File(path.map(Path::to_path_buf).unwrap_or_default()),
        },
        None => Choice::Off,
    }
}

/// A helper name as Docker would accept it for `credsStore`, and not a loop.
pub fn check_name(name: &str) -> Result<(), String> {
    if name == OURS {
        return Err(format!(
            "fallback {OURS:?} refused: it is this helper (a loop); name another store, such as pass or secretservice"
        ));
    }
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "fallback {:?} refused: not a credential helper name (letters, digits, '-', '_', '.')",
            name.escape_debug().to_string()
        ))
    }
}

/// The executable `docker-credential-<name>` Docker would run: the first on `path` that is an
/// executable file, found through an absolute `PATH` entry (Docker refuses one found relative to
/// the current directory), and not this binary under another name.
pub fn find(path: Option<&str>, name: &str, origin: &Origin) -> Result<PathBuf, String> {
    check_name(name)?;
    let binary = format!("docker-credential-{name}");
    let found = match crate::files::look_path(path, &binary) {
        LookPath::Found(found) => found,
        LookPath::Relative(rel) => {
            return Err(format!(
                "fallback {binary} (named by {origin}) refused: PATH finds it as {}, relative to the current directory (an empty, '.' or relative PATH entry), and Docker refuses to run such a program; make that PATH entry absolute or remove it",
                rel.display()
            ));
        }
        LookPath::Missing => {
            return Err(format!(
                "fallback {binary} (named by {origin}) is not on PATH: install it or fix the name"
            ));
        }
    };
    let me = std::env::current_exe();
    if me.is_ok_and(|me| crate::files::same_file(&me, &found).unwrap_or(false)) {
        return Err(format!(
            "fallback {binary} refused: {} is this helper (a loop)",
            found.display()
        ));
    }
    Ok(found)
}

/// Why the fallback could not be used at all (it never ran, or did not take its input).
#[derive(Debug)]
pub struct NotRun(pub String);

/// Whether this run was started by a fallback store (`run` sets [`config::IN_FALLBACK`] for it):
/// then handing a host to the fallback again is a loop, refused with one line (a wrapper
/// script that calls this helper as its own fallback would otherwise recurse until the system
/// runs out of processes). The line, if so.
pub fn loop_refusal(cfg: &Config, program: &Path) -> Option<String> {
    let parent = cfg.in_fallback.as_deref()?;
    Some(format!(
        "fallback {} refused: this run was started by the fallback store {parent} (a loop: a fallback store must not call docker-credential-ecr-login for registries that are not ECR)",
        program.display()
    ))
}

/// A thread of ours, or the line that says why there is none (at the process limit: one line
/// and the protocol's answer, never a panic).
fn thread<T: Send + 'static>(
    shown: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>, NotRun> {
    std::thread::Builder::new().spawn(f).map_err(|e| {
        NotRun(format!(
            "cannot run fallback {shown}: cannot start a thread: {e}"
        ))
    })
}

/// Starts `program action`, hands it `input` and closes its stdin, within the bounds. The child
/// inherits [`config::IN_FALLBACK`], so a run of this helper it starts does not delegate again.
fn start(program: &Path, action: &str, input: &[u8]) -> Result<Child, NotRun> {
    let shown = program.display().to_string();
    let mut cmd = Command::new(program);
    cmd.arg(action)
        // Shown lossily: the marker must read back as text (main reads variables as UTF-8).
        .env(config::IN_FALLBACK, &shown)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let (tx, rx) = mpsc::channel();
    thread(&shown, move || {
        let _ = tx.send(cmd.spawn());
    })?;
    let mut child = match rx.recv_timeout(START_BOUND) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(NotRun(format!("cannot run fallback {shown}: {e}"))),
        Err(_) => {
            return Err(NotRun(format!(
                "fallback {shown} did not start within {} s",
                START_BOUND.as_secs()
            )));
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let (tx, rx) = mpsc::channel();
    let writer = thread(&shown, move || {
        // A fallback that exits without reading its input (EPIPE) speaks through its exit status.
        let _ = stdin.write_all(&input);
        drop(stdin);
        let _ = tx.send(());
    });
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    if rx.recv_timeout(INPUT_BOUND).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        let _ = writer.join();
        return Err(NotRun(format!(
            "fallback {shown} did not read its input within {} s",
            INPUT_BOUND.as_secs()
        )));
    }
    let _ = writer.join();
    Ok(child)
}

/// How a fallback run ended: its exit code, or `None` when a signal ended it.
pub type Status = Option<i32>;

/// `get`, `store` or `erase` through the fallback: its stdout copied to `stdout` as it comes
/// (never logged), its exit status returned.
pub fn pass_through(
    program: &Path,
    action: &str,
    input: &[u8],
    stdout: &mut dyn Write,
) -> Result<Status, NotRun> {
    let mut child = start(program, action, input)?;
    let mut out = child.stdout.take().expect("piped stdout");
    let copied = io::copy(&mut out, stdout).and_then(|_| stdout.flush());
    drop(out);
    let status = child
        .wait()
        .map_err(|e| NotRun(format!("fallback {}: {e}", program.display())))?;
    let code = status.code();
    info!(action, program = %program.display(), code = ?code, stdout_ok = copied.is_ok(), "fallback ran");
    Ok(code)
}

/// The fallback's `list`: its `{"SERVER":"USER",...}` object, or why there is none.
pub fn list(program: &Path) -> Result<BTreeMap<String, String>, String> {
    let shown = program.display().to_string();
    let mut child = start(program, "list", b"unused").map_err(|e| e.0)?;
    let mut buf = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped stdout")
        .take(MAX_LIST + 1)
        .read_to_end(&mut buf);
    if read.is_err() || buf.len() as u64 > MAX_LIST {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| format!("fallback {shown}: {e}"))?;
    if let Err(e) = read {
        return Err(format!(
            "fallback {shown} list: cannot read its answer: {e}"
        ));
    }
    if buf.len() as u64 > MAX_LIST {
        return Err(format!(
            "fallback {shown} list: answer larger than {MAX_LIST} bytes"
        ));
    }
    if !status.success() {
        let first = String::from_utf8_lossy(&buf);
        let first = first.lines().next().unwrap_or_default();
        return Err(format!("fallback {shown} list failed ({status}): {first}"));
    }
    serde_json::from_slice::<BTreeMap<String, String>>(&buf)
        .map_err(|e| format!("fallback {shown} list: not a JSON object of strings: {e}"))
}

/// The fallback store of this run (docs/contract.md §2.7) and the settings that decide which
/// hosts stay ours.
pub struct Fallback {
    pub settings: Settings,
    pub handoff: Handoff,
}

/// Where a host this helper does not serve goes.
pub enum Handoff {
    /// No fallback named: today's behaviour.
    Off,
    /// Named, but unusable: the line that says why.
    Broken(String),
    /// The executable to run.
    Ready(PathBuf),
}

impl Fallback {
    pub fn of(ctx: &Context<'_>) -> Fallback {
        let cfg = ctx.cfg;
        // A settings file that is untrusted or unreadable names no fallback (docs/security.md).
        let settings = ctx.settings.settings.as_ref().ok().cloned();
        let handoff = match choose(cfg, settings.as_ref()) {
            Choice::Off => Handoff::Off,
            Choice::Named { name, origin } => match find(cfg.path.as_deref(), &name, &origin) {
                Ok(program) => match loop_refusal(cfg, &program) {
                    Some(line) => Handoff::Broken(line),
                    None => Handoff::Ready(program),
                },
                Err(line) => Handoff::Broken(line),
            },
        };
        Fallback {
            settings: settings.unwrap_or_default(),
            handoff,
        }
    }
}

/// What `store`/`erase` of one server URL come to (docs/contract.md §2.3, §2.7).
pub enum Storage {
    /// A host this helper serves: nothing kept, and one line that says whose tokens Docker gets.
    NothingKept,
    /// Succeed silently (`AWS_ECR_IGNORE_CREDS_STORAGE=true`, or an ECR host beside a fallback).
    Silent,
    /// The not-implemented answer (`AWS_ECR_IGNORE_CREDS_STORAGE=false`, no fallback).
    NotImplemented,
    /// The fallback store is named but unusable: the line that says why.
    Broken(String),
    /// Run the fallback store.
    Delegate(PathBuf),
}

/// ECR tokens are fetched, never stored, so `store`/`erase` of a host this helper serves keep
/// nothing; other hosts go to the fallback store when one is named.
pub fn storage(ctx: &Context<'_>, action: &str, server_url: &str) -> Storage {
    let cfg = ctx.cfg;
    let fb = Fallback::of(ctx);
    // Ours by default: nothing to keep, and one line that says whose tokens Docker will get.
    // `AWS_ECR_IGNORE_CREDS_STORAGE=true` keeps it silent, `=false` the old answers below.
    let ours = fb.settings.is_ours(server_url);
    if ours && !cfg.ignore_creds_storage && !cfg.refuse_creds_storage {
        info!(action, "an ECR host: nothing kept");
        return Storage::NothingKept;
    }
    match fb.handoff {
        Handoff::Off if cfg.ignore_creds_storage => Storage::Silent,
        Handoff::Off => Storage::NotImplemented,
        _ if ours => {
            info!(action, "an ECR host with a fallback store: nothing stored");
            Storage::Silent
        }
        Handoff::Broken(line) => Storage::Broken(line),
        Handoff::Ready(program) => Storage::Delegate(program),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_the_loop_is_refused() {
        assert!(check_name("pass").is_ok());
        assert!(check_name("secretservice").is_ok());
        assert!(check_name("my_store-2.0").is_ok());
        assert!(check_name("ecr-login").unwrap_err().contains("a loop"));
        for bad in ["", "../x", "a/b", ".hidden", "a b", "x\u{1b}"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_variable_wins_over_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        let s = Settings::from_bytes(&p, br#"{"fallback":"pass"}"#).unwrap();
        let cfg = Config::from_pairs(&[]);
        assert_eq!(
            choose(&cfg, Some(&s)),
            Choice::Named {
                name: "pass".into(),
                origin: Origin::File(p.clone())
            }
        );
        let cfg = Config::from_pairs(&[(config::FALLBACK, "secretservice")]);
        assert_eq!(
            choose(&cfg, Some(&s)),
            Choice::Named {
                name: "secretservice".into(),
                origin: Origin::Env
            }
        );
        assert_eq!(choose(&Config::from_pairs(&[]), None), Choice::Off);
    }
}
