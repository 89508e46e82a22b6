//! The log file (docs/contract.md §11): `<cache dir>/log/ecr-login.YYYY-MM-DD.log`, one file per
//! UTC day, at most [`MAX_FILES`] kept, each of at most about [`MAX_FILE_BYTES`], mode 0600 in a
//! 0700 directory, level from `AWS_ECR_LOG_LEVEL`.
//!
//! The cap is checked on the open file before each line: a line is written while the file is
//! smaller than the cap, and the line that reaches it is followed by one saying so; after that the
//! day's file takes nothing more (concurrent runs may each add a line past the cap, no more). So
//! a flood of requests (the kubelet's, with values a tenant chose) costs at most
//! `MAX_FILES * MAX_FILE_BYTES` of disk, and no line is longer than [`MAX_EVENT`].
//!
//! A run lives milliseconds and logs a handful of lines, so the writer is today's file opened
//! once, for appending, written in place (no background worker to lose lines or print on exit).
//! The file is opened without following a symbolic link and without blocking, and only if it is
//! a regular file, in a directory the user owns that nobody else can write (docs/security.md):
//! otherwise the run logs nowhere. Any failure here means "no log", never a failed run.

use std::fs::File;
use std::io::{self, Write};
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
/// The size (bytes) past which a day's file takes no more lines: thousands of runs a day at
/// `info` (a run logs a few hundred bytes), 56 MiB for the seven files at most.
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// The longest line written (bytes); a longer event is cut (its values are already bounded:
/// this is the last guard).
pub const MAX_EVENT: usize = 16 * 1024;

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
    let log = CappedLog::new(file, MAX_FILE_BYTES);
    if log.full {
        return false;
    }
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
        .with_writer(Mutex::new(log))
        .with_ansi(false)
        .with_target(false);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer).with(filter))
        .is_ok()
}

/// Keeps the newest [`MAX_FILES`] daily files (names sort by date), removes the older ones.
fn prune(dir: &Path) {
    let Ok(names) = files::dir_names(dir) else {
        return;
    };
    let mut days: Vec<String> = names
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| {
            n.len() == PREFIX.len() + SUFFIX.len() + 12
                && n.starts_with(&format!("{PREFIX}."))
                && n.ends_with(&format!(".{SUFFIX}"))
        })
        .collect();
    days.sort();
    let excess = days.len().saturating_sub(MAX_FILES);
    for name in &days[..excess] {
        let _ = files::unlink(&dir.join(name));
    }
}

/// The day's file, written while it is smaller than `cap` (see the module comment). Errors are
/// swallowed: a log that cannot be written is no reason for a run to fail.
struct CappedLog {
    file: File,
    cap: u64,
    /// The cap is reached: nothing more is written by this run.
    full: bool,
}

impl CappedLog {
    fn new(file: File, cap: u64) -> CappedLog {
        let mut log = CappedLog {
            file,
            cap,
            full: false,
        };
        log.full = log.size() >= cap;
        log
    }

    /// The file's size now (other runs append to it too); unknown counts as full.
    fn size(&self) -> u64 {
        self.file.metadata().map_or(u64::MAX, |m| m.len())
    }
}

impl Write for CappedLog {
    /// One event (the formatter writes each whole, in one call).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.full {
            return Ok(buf.len());
        }
        let size = self.size();
        if size >= self.cap {
            self.full = true;
            return Ok(buf.len());
        }
        let mut end = buf.len().min(MAX_EVENT);
        // Cut on a character boundary (events are UTF-8).
        while end < buf.len() && end > 0 && buf[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        let written = if end < buf.len() {
            self.file
                .write_all(&[&buf[..end], b" ... (line cut)\n"].concat())
        } else {
            self.file.write_all(buf)
        };
        if written.is_ok() && size.saturating_add(end as u64) >= self.cap {
            self.full = true;
            let _ = writeln!(
                self.file,
                "(this log file reached {} bytes: nothing more is logged in it)",
                self.cap
            );
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_log_stops_at_its_cap_and_says_so_once() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("day.log");
        let (file, _) = files::open_private_append(&path).unwrap();
        let mut log = CappedLog::new(file, 100);
        let line = [b'x'; 39];
        for _ in 0..10 {
            log.write_all(&[&line[..], b"\n"].concat()).unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        // Three lines (the third reached the cap), then the note, then nothing.
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.ends_with("reached 100 bytes: nothing more is logged in it)\n"));
        // A new run finds the file full.
        let (file, _) = files::open_private_append(&path).unwrap();
        assert!(CappedLog::new(file, 100).full);
    }

    #[test]
    fn a_huge_event_is_cut_on_a_character_boundary() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("day.log");
        let (file, _) = files::open_private_append(&path).unwrap();
        let mut log = CappedLog::new(file, MAX_FILE_BYTES);
        let event = format!("{}\n", "é".repeat(MAX_EVENT));
        log.write_all(event.as_bytes()).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.len() <= MAX_EVENT + 20, "{}", text.len());
        assert!(text.ends_with(" ... (line cut)\n"));
    }
}
