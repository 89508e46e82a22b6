//! The log file (SPEC §7): `<cache dir>/log/ecr-login.YYYY-MM-DD.log`, one file per UTC day,
//! at most [`MAX_FILES`] kept, mode 0600 in a 0700 directory, level from `AWS_ECR_LOG_LEVEL`.
//!
//! The writer is tracing-appender's `RollingFileAppender` used directly (blocking), not its
//! `non_blocking` wrapper: a run logs a handful of lines, writing them in place costs microseconds,
//! and the non-blocking worker loses lines unless its guard is dropped before exit and may print on
//! drop — to stdout, the protocol channel. `RollingFileAppender::builder().build()` returns an
//! error where `rolling::never` would panic; any failure here means "no log", never a failed run.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::SystemTime;

use tracing::level_filters::LevelFilter;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::{Config, LogLevel};

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
    if DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .is_err()
    {
        return false;
    }
    // The appender creates files with the default mode; create today's first, private.
    let today = dir.join(format!("{PREFIX}.{}.{SUFFIX}", utc_date(now)));
    let Some(first_today) = create_private(&today) else {
        return false;
    };
    let mut builder = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(PREFIX)
        .filename_suffix(SUFFIX);
    // Pruning reads the directory and every file's metadata: do it once a day, on the run that
    // starts the day's file, not on every cache hit. tracing-appender keeps `n - 1` files and
    // counts on creating today's; ours exists already, so `n + 1` keeps `MAX_FILES` with today's.
    if first_today {
        builder = builder.max_log_files(MAX_FILES + 1);
    }
    let Ok(appender) = builder.build(&dir) else {
        return false;
    };
    // Our own events at the chosen level. The SDK's events are off below `trace`: they dump raw
    // responses (`Debug` of bodies), and an STS or SSO body carries secret keys.
    let sdk_level = if level == LevelFilter::TRACE {
        LevelFilter::WARN
    } else {
        LevelFilter::OFF
    };
    let filter = Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_default(sdk_level);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(appender)
        .with_ansi(false)
        .with_target(false);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer).with(filter))
        .is_ok()
}

/// Creates `path` with mode 0600 if missing. `Some(true)` if this call created it.
fn create_private(path: &Path) -> Option<bool> {
    match OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Some(false),
        Err(_) => None,
    }
}

/// `YYYY-MM-DD` of `now` in UTC, as tracing-appender names daily files.
fn utc_date(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_timestamp(secs)[..10].to_owned()
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates_match_the_calendar() {
        let at = |s: u64| utc_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_795_651_199), "2026-11-25");
        assert_eq!(at(1_795_651_200), "2026-11-26");
        assert_eq!(utc_timestamp(1_795_696_245), "2026-11-26T12:30:45Z");
    }
}
