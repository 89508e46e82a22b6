//! The token cache (docs/contract.md §8): entries and their freshness (pure), and the on-disk
//! store.
//!
//! Layout: one small JSON file per (identity, registry) under `<cache dir>/tokens/`, named by a
//! hash of both. One file per entry is what makes the cache safe without a global lock:
//! - a hit reads exactly one small file;
//! - concurrent writers of different entries never touch the same file, so none is lost;
//! - a write is a temp file + `rename`, so a crash or `kill -9` leaves the old or the new entry;
//! - concurrent cold `get`s of one entry serialise on that entry's `flock`ed lock file, and the
//!   waiters re-read the entry instead of calling the API again;
//! - the lock holder writes its deadline into the lock file, so a waiter never waits longer than
//!   the holder's fetch can take (a stopped or hung holder costs at most one fetch budget);
//! - a failed fetch leaves a short-lived failure record (`<key>.fail`) that the waiters, and any
//!   process arriving within [`FAILURE_TTL`] seconds, answer with instead of calling AWS again.
//!
//! Every file is opened without following symbolic links and without blocking (`files.rs`); the
//! caller checks that the directories are the user's own before using the store.
//!
//! The Go helper's `cache.json` in the same directory is never read or written: each helper keeps
//! its own files, so neither can break the other. This module must not know about AWS or stdout.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::digest::hex;
use crate::files::{self, Trust};
use crate::secret::Secret;

/// The subdirectory of the cache directory holding this helper's entries.
pub const TOKENS_DIR: &str = "tokens";
/// Bumped when the entry format changes; other versions are ignored (and pruned).
const FORMAT: u32 = 1;
/// Bigger than any entry this program writes: a larger file is damaged or foreign.
const MAX_ENTRY: u64 = 64 * 1024;
/// Temp files older than this were left by a crashed writer.
const STALE_TEMP: Duration = Duration::from_secs(600);
/// Lock files untouched this long belong to registries no longer used.
const STALE_LOCK: Duration = Duration::from_secs(7 * 24 * 3600);
/// ECR tokens live 12 hours: no answer may make us keep one longer (an `expiresAt` of 1e300
/// would otherwise pin a token forever).
pub const MAX_LIFETIME: u64 = 12 * 3600;
/// How far in the future (seconds) an entry's fetch time may be and still be fresh: a waiter's
/// clock reading is its start, and the process it waited for may have started after it.
const FUTURE_TOLERANCE: u64 = 60;
/// A recorded failure answers for this long (seconds): long enough for a burst of pulls, short
/// enough that a retry after `aws sso login` asks AWS again.
pub const FAILURE_TTL: u64 = 5;
/// How far (seconds) a failure record may be dated after the time it is read at: the recording
/// process and the reader each truncate their clock readings to whole seconds.
const FAILURE_SLACK: u64 = 2;

/// One cached token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub format: u32,
    pub registry: String,
    /// [`crate::identity::Identity::id`] of whoever fetched it.
    pub identity: String,
    pub password: Secret<String>,
    /// Unix seconds.
    pub fetched_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
}

impl CacheEntry {
    pub fn new(
        registry: &str,
        identity: &str,
        password: Secret<String>,
        fetched_at: u64,
        expires_at: u64,
    ) -> CacheEntry {
        CacheEntry {
            format: FORMAT,
            registry: registry.to_owned(),
            identity: identity.to_owned(),
            password,
            fetched_at,
            expires_at: expires_at.min(fetched_at.saturating_add(MAX_LIFETIME)),
        }
    }

    /// Reused without asking the API until half its lifetime has passed (12 h tokens: ~6 h).
    ///
    /// `now` is when this process started (whole seconds), so an entry fetched by a process that
    /// started a moment later, and that this one waited for, is a little "in the future": that is
    /// fresh. An entry much further ahead comes from a clock set back, and is not (it would pin a
    /// token for as long as the clock is off).
    pub fn is_fresh(&self, now: u64) -> bool {
        is_fresh(self.fetched_at, self.expires_at, now)
    }

    /// Still accepted by the registry, with a margin so a pull that starts now can finish
    /// authenticating: a minute, or a tenth of a short lifetime. An entry fetched further in the
    /// future than `FUTURE_TOLERANCE` (60 s) comes from a clock set back (or was planted) and is
    /// never usable: it is served neither after a failed refresh nor listed.
    pub fn is_usable(&self, now: u64) -> bool {
        is_usable(self.fetched_at, self.expires_at, now)
    }

    /// Fetched further in the future than a waiter's start can explain (see [`Self::is_fresh`]).
    pub fn is_from_the_future(&self, now: u64) -> bool {
        is_from_the_future(self.fetched_at, now)
    }
}

/// [`CacheEntry::is_fresh`] of a token fetched at `fetched_at` that expires at `expires_at`.
fn is_fresh(fetched_at: u64, expires_at: u64, now: u64) -> bool {
    let half = expires_at.saturating_sub(fetched_at) / 2;
    now < fetched_at + half && is_usable(fetched_at, expires_at, now)
}

/// [`CacheEntry::is_usable`] of a token fetched at `fetched_at` that expires at `expires_at`.
fn is_usable(fetched_at: u64, expires_at: u64, now: u64) -> bool {
    let margin = (expires_at.saturating_sub(fetched_at) / 10).min(60);
    !is_from_the_future(fetched_at, now) && now.saturating_add(margin) < expires_at
}

/// [`CacheEntry::is_from_the_future`] of a token fetched at `fetched_at`.
fn is_from_the_future(fetched_at: u64, now: u64) -> bool {
    fetched_at > now.saturating_add(FUTURE_TOLERANCE)
}

/// Seconds from `now` until the refresh point of a token fetched at `fetched_at` that expires at
/// `expires_at` (half its life, clamped as an entry clamps it); 0 when past it.
pub fn refresh_in(fetched_at: u64, expires_at: u64, now: u64) -> u64 {
    let expires_at = expires_at.min(fetched_at.saturating_add(MAX_LIFETIME));
    if !is_fresh(fetched_at, expires_at, now) {
        return 0;
    }
    let half = expires_at.saturating_sub(fetched_at) / 2;
    (fetched_at + half).saturating_sub(now)
}

/// A failed fetch, shared with the processes that waited for it (see the module comment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub format: u32,
    pub registry: String,
    pub identity: String,
    /// The cause as the fetching process rendered it (its stderr line after the host).
    pub cause: String,
    /// Unix seconds.
    pub recorded_at: u64,
}

impl Failure {
    pub fn new(registry: &str, identity: &str, cause: String, recorded_at: u64) -> Failure {
        Failure {
            format: FORMAT,
            registry: registry.to_owned(),
            identity: identity.to_owned(),
            cause,
            recorded_at,
        }
    }

    /// Recorded less than [`FAILURE_TTL`] seconds before `now`, the time of the reading (not
    /// of the process's start: a waiter reads the failure it waited for after it was recorded).
    /// One recorded later than that (by more than `FAILURE_SLACK`, 2 s: both times are whole
    /// seconds) comes from a clock set back or was planted, and does not count: it would answer
    /// for as long as it is ahead instead of [`FAILURE_TTL`] seconds.
    pub fn is_recent(&self, now: u64) -> bool {
        self.recorded_at.saturating_add(FAILURE_TTL) > now
            && self.recorded_at <= now.saturating_add(FAILURE_SLACK)
    }
}

/// No wait for a holder is longer than this, whatever its lock file says.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// What waiting for an entry's lock came to.
#[derive(Debug)]
pub enum Locked {
    /// This process holds the lock: it fetches.
    Held(EntryLock),
    /// While waiting, the holder's outcome (an entry or a failure record) appeared.
    Ready,
    /// No lock: no directory or no permission, or the holder ran past its deadline (stopped or
    /// hung). Go on unlocked: a duplicate API call is better than a hung `docker`.
    Unlocked,
}

/// Which entry of the store: the identity and the registry (or token scope) it is for, and the
/// file-name stem they hash to, so that neither shows on disk. One value, so the three cannot be
/// swapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKey {
    identity: String,
    registry: String,
    stem: String,
}

impl EntryKey {
    pub fn new(identity: &str, registry: &str) -> EntryKey {
        let digest = Sha256::digest(format!("{identity}\n{registry}").as_bytes());
        EntryKey {
            identity: identity.to_owned(),
            registry: registry.to_owned(),
            stem: hex(&digest[..16]),
        }
    }

    /// The registry (or token scope) the entry is for.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The file-name stem (`STEM.json`, `STEM.fail`, `STEM.lock`, ...).
    pub fn stem(&self) -> &str {
        &self.stem
    }
}

/// The on-disk store. All failures degrade to "no cache": a `get` never fails because of it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Holds an entry's lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct EntryLock {
    _file: File,
}

impl Store {
    /// A store under `cache_dir`. Creates nothing: reads of a missing directory just miss.
    pub fn new(cache_dir: &Path) -> Store {
        Store {
            dir: cache_dir.join(TOKENS_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry, or `None` when missing, unreadable, damaged, foreign, or someone else's.
    pub fn read(&self, key: &EntryKey) -> Option<CacheEntry> {
        let entry = read_entry(&self.dir.join(format!("{}.json", key.stem)))?;
        (entry.identity == key.identity && entry.registry == key.registry).then_some(entry)
    }

    /// The failure record of an entry, if well-formed, of its registry and recorded by `owner`
    /// (who may share it: see `helper.rs`).
    pub fn read_failure(&self, key: &EntryKey, owner: &str) -> Option<Failure> {
        let path = self.dir.join(format!("{}.fail", key.stem));
        let buf = files::read_regular(&path, MAX_ENTRY, false).ok()?;
        let f: Failure = serde_json::from_slice(&buf).ok()?;
        (f.format == FORMAT && f.identity == owner && f.registry == key.registry).then_some(f)
    }

    /// Records a failed fetch (atomically, as an entry).
    pub fn write_failure(&self, key: &EntryKey, failure: &Failure) -> io::Result<()> {
        let body = serde_json::to_vec(failure).map_err(io::Error::other)?;
        self.replace(&format!("{}.fail", key.stem), &body)
    }

    /// Forgets a failure record (after a success).
    pub fn clear_failure(&self, key: &EntryKey) {
        let _ = files::unlink(&self.dir.join(format!("{}.fail", key.stem)));
    }

    /// Every well-formed entry (for `list`).
    pub fn entries(&self) -> Vec<CacheEntry> {
        let Ok(names) = files::dir_names(&self.dir) else {
            return Vec::new();
        };
        names
            .iter()
            .filter(|n| n.to_string_lossy().ends_with(".json"))
            .filter_map(|n| read_entry(&self.dir.join(n)))
            .collect()
    }

    /// Writes an entry atomically (temp file, then rename), 0600 in a 0700 directory.
    pub fn write(&self, key: &EntryKey, entry: &CacheEntry) -> io::Result<()> {
        let body = serde_json::to_vec(entry).map_err(io::Error::other)?;
        self.replace(&format!("{}.json", key.stem), &body)
    }

    /// Replaces the file `name` in the store atomically, 0600.
    fn replace(&self, name: &str, body: &[u8]) -> io::Result<()> {
        self.create_dir()?;
        files::replace_atomic(&self.dir.join(name), body, 0o600)
    }

    /// Claims the background refresh of an entry (`KEY.refreshing`, created exclusively), so a
    /// burst of `get`s finding it past its refresh point starts one refresher, not one each.
    /// `false` when another process claimed it less than `stale_after` ago (one claimed longer
    /// ago belongs to a refresher that died: it is replaced), or when the store is unwritable.
    pub fn claim_refresh(&self, key: &EntryKey, stale_after: Duration) -> bool {
        if self.create_dir().is_err() {
            return false;
        }
        let path = self.dir.join(format!("{}.refreshing", key.stem));
        if files::create_new_private(&path).is_ok() {
            return true;
        }
        let old = files::modified_no_follow(&path)
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= stale_after);
        old && matches!(files::unlink(&path), Ok(true)) && files::create_new_private(&path).is_ok()
    }

    /// Ends a claim of [`Self::claim_refresh`] (the refresher, when done; or the claimant, when
    /// no refresher could be started).
    pub fn end_refresh(&self, key: &EntryKey) {
        let _ = files::unlink(&self.dir.join(format!("{}.refreshing", key.stem)));
    }

    /// Takes the entry's lock for a fetch of at most `budget`. While another process holds it,
    /// polls `ready` (has its outcome appeared?) and waits no longer than the holder's deadline,
    /// which the holder wrote into the lock file (at most `budget` from now if it is unreadable).
    pub fn lock(
        &self,
        key: &EntryKey,
        budget: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Locked {
        if self.create_dir().is_err() {
            return Locked::Unlocked;
        }
        let Ok(file) = files::open_private_rw(&self.dir.join(format!("{}.lock", key.stem))) else {
            return Locked::Unlocked;
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        // A deadline already past when read: (that deadline, when this waiter first saw it).
        let mut past: Option<(u64, Instant)> = None;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // The deadline tells waiters how long this fetch may take; writing it also
                    // touches the file, so pruning can tell live lock files from forgotten ones.
                    // One write of a fixed-width number, then the length: never an empty file.
                    let deadline = format!("{:020}", unix_millis(SystemTime::now() + budget));
                    self.write_deadline(&key.stem, &file, &deadline);
                    return Locked::Held(EntryLock { _file: file });
                }
                Err(fs::TryLockError::WouldBlock) => {
                    if ready() {
                        return Locked::Ready;
                    }
                    let waited = started.elapsed();
                    let now_ms = unix_millis(SystemTime::now());
                    let give_up = match self.holder_deadline(&key.stem, &file) {
                        _ if waited >= MAX_WAIT => true,
                        Some(deadline) if now_ms <= deadline.saturating_add(250) => {
                            past = None;
                            false
                        }
                        // The holder's time is up: it is stopped or hung. The same past deadline
                        // for a while, not a glimpse of the previous holder's (the new one writes
                        // its own right after taking the lock) or of a write half done.
                        Some(deadline) => match past {
                            Some((d, since)) if d == deadline => {
                                since.elapsed() >= Duration::from_millis(200)
                            }
                            _ => {
                                past = Some((deadline, Instant::now()));
                                false
                            }
                        },
                        None => waited >= budget,
                    };
                    if give_up {
                        return Locked::Unlocked;
                    }
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(_) => return Locked::Unlocked,
            }
        }
    }

    /// Removes expired, damaged and foreign entries, temp files of crashed writers and lock
    /// files unused for a week. Runs after a fetch (never on the hit path).
    pub fn prune(&self, now: u64) -> usize {
        let Ok(names) = files::dir_names(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for name in &names {
            let path = self.dir.join(name);
            let name = name.to_string_lossy();
            let age = || {
                files::modified_no_follow(&path)
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .unwrap_or_default()
            };
            let dead = if name.ends_with(".json") {
                read_entry(&path).is_none_or(|entry| !entry.is_usable(now))
            } else if name.ends_with(".fail") {
                age() > Duration::from_secs(FAILURE_TTL * 2)
            } else if name.contains(".tmp.") || name.ends_with(".refreshing") {
                age() > STALE_TEMP
            } else if name.ends_with(".lock") || name.ends_with(".deadline") {
                age() > STALE_LOCK
            } else {
                false
            };
            if dead && matches!(files::unlink(&path), Ok(true)) {
                removed += 1;
            }
        }
        removed
    }

    fn create_dir(&self) -> io::Result<()> {
        if let Some(parent) = self.dir.parent() {
            files::create_private_dir(parent)?;
        }
        files::create_private_dir_one(&self.dir)
    }

    /// Writes the lock holder's deadline where waiters read it (`files::write_lock_note`: the
    /// lock file itself on Unix, `KEY.deadline` beside it on Windows).
    fn write_deadline(&self, key: &str, file: &File, deadline: &str) {
        let beside = self.dir.join(format!("{key}.deadline"));
        files::write_lock_note(file, &beside, deadline.as_bytes());
    }

    /// The deadline a lock holder wrote (Unix milliseconds).
    fn holder_deadline(&self, key: &str, file: &File) -> Option<u64> {
        let beside = self.dir.join(format!("{key}.deadline"));
        parse_deadline(&files::read_lock_note(file, &beside)?)
    }
}

fn parse_deadline(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

fn read_entry(path: &Path) -> Option<CacheEntry> {
    let buf = files::read_regular(path, MAX_ENTRY, false).ok()?;
    parse_entry(&buf)
}

/// An entry from the bytes of its file; `None` when damaged, foreign, or longer-lived than ECR
/// tokens can be.
pub fn parse_entry(bytes: &[u8]) -> Option<CacheEntry> {
    let entry: CacheEntry = serde_json::from_slice(bytes).ok()?;
    (entry.format == FORMAT && entry.expires_at.saturating_sub(entry.fetched_at) <= MAX_LIFETIME)
        .then_some(entry)
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether the on-disk cache is used this run: the one place that decides it.
#[derive(Debug)]
pub enum CacheState {
    /// Disabled (`AWS_ECR_DISABLE_CACHE`) or no directory to put it in.
    Off,
    /// The directory (or `tokens/` in it) is not the user's own, or not usable by the user: the
    /// run goes on as with the cache disabled, and says so.
    Untrusted {
        dir: PathBuf,
        reason: String,
    },
    On(Store),
}

impl CacheState {
    pub fn of(cfg: &Config) -> CacheState {
        let Some(dir) = cfg.cache_dir.as_deref().filter(|_| !cfg.cache_disabled) else {
            return CacheState::Off;
        };
        let store = Store::new(dir);
        for (path, check_access) in [(dir, true), (store.dir(), false)] {
            match files::check_private(path, true) {
                Trust::Missing => break,
                Trust::Untrusted(reason) => {
                    return CacheState::Untrusted {
                        dir: path.to_owned(),
                        reason,
                    };
                }
                Trust::Trusted if check_access && !files::usable_dir(path) => {
                    return CacheState::Untrusted {
                        dir: path.to_owned(),
                        reason: "you cannot read and write it".into(),
                    };
                }
                Trust::Trusted => {}
            }
        }
        CacheState::On(store)
    }

    pub fn store(&self) -> Option<&Store> {
        match self {
            CacheState::On(s) => Some(s),
            _ => None,
        }
    }

    /// The stderr line for a run that would have used the cache.
    pub fn warning(&self) -> Option<String> {
        match self {
            CacheState::Untrusted { dir, reason } => Some(format!(
                "warning: not using the cache {}: {reason}",
                dir.display()
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;

    fn entry(fetched: u64, expires: u64) -> CacheEntry {
        CacheEntry::new("r", "i", Secret::new("pw".into()), fetched, expires)
    }

    #[test]
    fn fresh_until_half_life_usable_until_expiry_minus_margin() {
        let e = entry(1000, 1000 + 43_200);
        assert!(e.is_fresh(1000));
        assert!(e.is_fresh(1000 + 21_599));
        assert!(!e.is_fresh(1000 + 21_600));
        assert!(e.is_usable(1000 + 43_200 - 61));
        assert!(!e.is_usable(1000 + 43_200 - 60));
        assert!(!e.is_usable(1000 + 50_000));
    }

    #[test]
    fn an_entry_from_the_future_is_not_fresh() {
        // A clock set back must not pin a token forever.
        assert!(!entry(5000, 5000 + 43_200).is_fresh(4000));
        // Nor serve it after a failed refresh, or list it.
        assert!(!entry(5000, 5000 + 43_200).is_usable(4000));
        assert!(entry(5000, 5000 + 43_200).is_usable(5000 - FUTURE_TOLERANCE));
    }

    #[test]
    fn an_entry_fetched_by_a_process_that_started_a_moment_later_is_fresh() {
        // 20 pulls start across a second boundary; the one that fetched started last.
        assert!(entry(5001, 5001 + 43_200).is_fresh(5000));
        assert!(entry(5000 + FUTURE_TOLERANCE, 5000 + FUTURE_TOLERANCE + 43_200).is_fresh(5000));
        assert!(!entry(5001 + FUTURE_TOLERANCE, 5001 + FUTURE_TOLERANCE + 43_200).is_fresh(5000));
    }

    #[test]
    fn write_then_read_round_trips_with_private_modes() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(&d.path().join("c"));
        let key = EntryKey::new("i", "r");
        store.write(&key, &entry(1, 2)).unwrap();
        let got = store.read(&key).unwrap();
        assert_eq!(got.password.expose(), "pw");
        #[cfg(unix)]
        {
            let mode = |p: &Path| files::mode_of(&fs::metadata(p).unwrap());
            assert_eq!(mode(store.dir()), 0o700);
            assert_eq!(mode(&d.path().join("c")), 0o700);
            assert_eq!(
                mode(&store.dir().join(format!("{}.json", key.stem()))),
                0o600
            );
        }
        // Another identity's key names another file; this entry read as another's is no hit.
        let theirs = EntryKey::new("other", "r");
        fs::copy(
            store.dir().join(format!("{}.json", key.stem())),
            store.dir().join(format!("{}.json", theirs.stem())),
        )
        .unwrap();
        assert!(store.read(&theirs).is_none(), "other identity");
    }

    #[test]
    fn damaged_entries_are_misses_and_get_pruned() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store.create_dir().unwrap();
        for (i, junk) in [&b""[..], b"{", b"\xff\xfe", b"[]", b"{\"format\":2}"]
            .iter()
            .enumerate()
        {
            let key = EntryKey::new("i", &format!("k{i}"));
            fs::write(store.dir().join(format!("{}.json", key.stem())), junk).unwrap();
            assert!(store.read(&key).is_none());
        }
        store
            .write(&EntryKey::new("i", "good"), &entry(100, 100_000))
            .unwrap();
        store
            .write(&EntryKey::new("i", "old"), &entry(1, 2))
            .unwrap();
        assert_eq!(store.prune(200), 6);
        assert_eq!(store.entries().len(), 1);
    }

    #[test]
    fn a_refresh_is_claimed_once_until_ended_or_stale() {
        let k = EntryKey::new("i", "k");
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let hour = Duration::from_secs(3600);
        assert!(store.claim_refresh(&k, hour));
        assert!(
            !store.claim_refresh(&k, hour),
            "a second claim while the first runs"
        );
        assert!(
            store.claim_refresh(&EntryKey::new("i", "other"), hour),
            "claims are per entry"
        );
        // A claim older than the bound is a dead refresher's: it is taken over.
        assert!(store.claim_refresh(&k, Duration::ZERO));
        store.end_refresh(&k);
        assert!(store.claim_refresh(&k, hour));
    }

    #[test]
    fn lock_excludes_a_second_holder_until_dropped() {
        let k = EntryKey::new("i", "k");
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let held = store.lock(&k, Duration::from_secs(60), || false);
        assert!(matches!(held, Locked::Held(_)));
        // Waiting ends as soon as the holder's outcome is there.
        let mut polls = 0;
        let waiter = store.lock(&k, Duration::from_secs(60), || {
            polls += 1;
            polls == 3
        });
        assert!(matches!(waiter, Locked::Ready));
        drop(held);
        assert!(matches!(
            store.lock(&k, Duration::ZERO, || false),
            Locked::Held(_)
        ));
    }

    #[test]
    fn a_waiter_gives_up_at_the_holders_deadline() {
        let k = EntryKey::new("i", "k");
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        // A holder whose budget is zero: its deadline has passed at once.
        let _held = store.lock(&k, Duration::ZERO, || false);
        let started = Instant::now();
        let waiter = store.lock(&k, Duration::from_secs(600), || false);
        assert!(matches!(waiter, Locked::Unlocked));
        assert!(started.elapsed() < Duration::from_secs(600));
    }

    #[test]
    fn lifetimes_are_clamped_to_twelve_hours() {
        let e = CacheEntry::new("r", "i", Secret::new("p".into()), 100, u64::MAX);
        assert_eq!(e.expires_at, 100 + MAX_LIFETIME);
        let mut long = e.clone();
        long.expires_at = u64::MAX;
        assert!(parse_entry(&serde_json::to_vec(&long).unwrap()).is_none());
        assert!(parse_entry(&serde_json::to_vec(&e).unwrap()).is_some());
    }

    #[test]
    fn failure_records_are_per_identity_and_short_lived() {
        let k = EntryKey::new("any", "r");
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let f = Failure::new("r", "i", "AccessDeniedException: no".into(), 1000);
        store.write_failure(&k, &f).unwrap();
        let got = store.read_failure(&k, "i").unwrap();
        assert_eq!(got.cause, "AccessDeniedException: no");
        assert!(got.is_recent(1000) && got.is_recent(998) && got.is_recent(1000 + FAILURE_TTL - 1));
        assert!(!got.is_recent(1000 + FAILURE_TTL));
        // Dated in the future: it would answer for minutes.
        assert!(!got.is_recent(1000 - FAILURE_SLACK - 1) && !got.is_recent(700));
        assert!(store.read_failure(&k, "other").is_none());
        store.clear_failure(&k);
        assert!(store.read_failure(&k, "i").is_none());
    }

    #[test]
    fn cache_duration_is_the_time_to_our_refresh_point() {
        assert_eq!(refresh_in(1000, 1000 + 43_200, 1000), 21_600);
        assert_eq!(refresh_in(1000, 1000 + 43_200, 1030), 21_570);
        assert_eq!(refresh_in(1000, 1000 + 43_200, 1000 + 21_600), 0);
        // Clamped to ECR's 12 hours, as the cache clamps it.
        assert_eq!(refresh_in(1000, 1000 + 10 * 43_200, 1000), 21_600);
        // Already expired.
        assert_eq!(refresh_in(1000, 900, 1000), 0);
    }
}
