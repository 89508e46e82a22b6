//! The log file (docs/contract.md §11): `<cache dir>/log/ecr-login.YYYY-MM-DD.log`, one file per
//! UTC day, at most [`MAX_FILES`] kept, mode 0600 in a 0700 directory, level from
//! `AWS_ECR_LOG_LEVEL`.
//!
//! A run lives milliseconds and logs a handful of lines, so the writer is today's file opened
//! once, for appending, written in place (no background worker to lose lines or print on exit).
//! The file is opened without following a symbolic link and without blocking, and only if it is
//! a regular file, in a directory the user owns that nobody else can write (docs/security.md):
//! otherwise the run logs nowhere. Any failure here means "no log", never a failed run.

use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::{Config, LogLevel};
use crate::files::{self, Trust};
use crate::time::utc_date;

pub const PREFIX: &str = "ecr-login";
pub const SUFFIX: &str = "log";
/// Days of logs kept.
pub const MAX_FILES: usize = 7;

/// Installs the file logger. Returns false (and logs nowhere) if the directory is unusable.
pub fn init(cfg: &Config, now: SystemTime) -> bool {
    let level = match cfg.log_level {
        LogLevel::Off => return false,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let Some(dir) = cfg.log_dir() else {
        return false;
    };
    // The cache directory and log/ must be the user's own (created private if missing).
    for d in [dir.parent(), Some(dir.as_path())].into_iter().flatten() {
        let trust = match files::check_private(d, true) {
            Trust::Missing if files::create_private_dir(d).is_err() => return false,
            // What was made is checked like what was found.
            Trust::Missing => files::check_private(d, true),
            found => found,
        };
        if trust != Trust::Trusted {
            return false;
        }
    }
    let today = dir.join(format!("{PREFIX}.{}.{SUFFIX}", utc_date(now)));
    let Ok((file, first_today)) = files::open_private_append(&today) else {
        return false;
    };
    // Pruning reads the directory: do it once a day, on the run that starts the day's file.
    if first_today {
        prune(&dir);
    }
    // Our own events only. The SDK's events are never logged: they dump raw responses (`Debug`
    // of bodies; an STS or SSO body carries secret keys) and, as warnings, a failed
    // credential_process's stderr (which may carry a secret).
    let filter = Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_default(LevelFilter::OFF);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(false);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer).with(filter))
        .is_ok()
}

/// Keeps the newest [`MAX_FILES`] daily files (names sort by date), removes the older ones.
fn prune(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut days: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.len() == PREFIX.len() + SUFFIX.len() + 12
                && n.starts_with(&format!("{PREFIX}."))
                && n.ends_with(&format!(".{SUFFIX}"))
        })
        .collect();
    days.sort();
    let excess = days.len().saturating_sub(MAX_FILES);
    for name in &days[..excess] {
        let _ = fs::remove_file(dir.join(name));
    }
}
