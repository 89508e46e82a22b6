//! The token cache (SPEC §5): entries and their freshness (pure), and the on-disk store.
//!
//! Layout: one small JSON file per (identity, registry) under `<cache dir>/tokens/`, named by a
//! hash of both. One file per entry is what makes the cache safe without a global lock:
//! - a hit reads exactly one small file;
//! - concurrent writers of different entries never touch the same file, so none is lost;
//! - a write is a temp file + `rename`, so a crash or `kill -9` leaves the old or the new entry;
//! - concurrent cold `get`s of one entry serialise on that entry's `flock`ed lock file, and the
//!   waiters re-read the entry instead of calling the API again.
//!
//! The Go helper's `cache.json` in the same directory is never read or written: each helper keeps
//! its own files, so neither can break the other. This module must not know about AWS or stdout.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::hex;
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

/// One cached token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub format: u32,
    pub registry: String,
    /// [`crate::identity::Identity::id`] of whoever fetched it.
    pub identity: String,
    #[serde(with = "secret_string")]
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
            expires_at,
        }
    }

    /// Reused without asking the API until half its lifetime has passed (12 h tokens: ~6 h).
    pub fn is_fresh(&self, now: u64) -> bool {
        let half = self.expires_at.saturating_sub(self.fetched_at) / 2;
        now >= self.fetched_at && now < self.fetched_at + half && self.is_usable(now)
    }

    /// Still accepted by the registry, with a margin so a pull that starts now can finish
    /// authenticating: a minute, or a tenth of a short lifetime.
    pub fn is_usable(&self, now: u64) -> bool {
        let margin = (self.expires_at.saturating_sub(self.fetched_at) / 10).min(60);
        now.saturating_add(margin) < self.expires_at
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

    /// The file-name stem of an entry: a hash, so neither identity nor host shows on disk.
    pub fn key(identity: &str, registry: &str) -> String {
        let digest = Sha256::digest(format!("{identity}\n{registry}").as_bytes());
        hex(&digest[..16])
    }

    /// The entry, or `None` when missing, unreadable, damaged, foreign, or someone else's.
    pub fn read(&self, key: &str, identity: &str, registry: &str) -> Option<CacheEntry> {
        let entry = read_entry(&self.dir.join(format!("{key}.json")))?;
        (entry.identity == identity && entry.registry == registry).then_some(entry)
    }

    /// Every well-formed entry (for `list`).
    pub fn entries(&self) -> Vec<CacheEntry> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| read_entry(&e.path()))
            .collect()
    }

    /// Writes an entry atomically (temp file, then rename), 0600 in a 0700 directory.
    pub fn write(&self, key: &str, entry: &CacheEntry) -> io::Result<()> {
        self.create_dir()?;
        let body = serde_json::to_vec(entry).map_err(io::Error::other)?;
        let tmp = self.dir.join(format!(
            "{key}.tmp.{}.{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            // Without this, a power loss after the rename can leave an empty entry.
            f.sync_data()?;
            fs::rename(&tmp, self.dir.join(format!("{key}.json")))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Takes the entry's lock, waiting at most `wait` for another process fetching the same
    /// token. `None` (no directory, no permission, waited too long) means "go on unlocked":
    /// a duplicate API call is better than a hung `docker`.
    pub fn lock(&self, key: &str, wait: Duration) -> Option<EntryLock> {
        self.create_dir().ok()?;
        let path = self.dir.join(format!("{key}.lock"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .ok()?;
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // Touch it so pruning can tell live lock files from forgotten ones.
                    let _ = file.set_modified(SystemTime::now());
                    return Some(EntryLock { _file: file });
                }
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(_) => return None,
            }
        }
    }

    /// Removes expired, damaged and foreign entries, temp files of crashed writers and lock
    /// files unused for a week. Runs after a fetch (never on the hit path).
    pub fn prune(&self, now: u64) -> usize {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let path = e.path();
            let age = || {
                e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .unwrap_or_default()
            };
            let dead = if name.ends_with(".json") {
                read_entry(&path).is_none_or(|entry| !entry.is_usable(now))
            } else if name.contains(".tmp.") {
                age() > STALE_TEMP
            } else if name.ends_with(".lock") {
                age() > STALE_LOCK
            } else {
                false
            };
            if dead && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    fn create_dir(&self) -> io::Result<()> {
        if let Some(parent) = self.dir.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        match DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }
}

fn read_entry(path: &Path) -> Option<CacheEntry> {
    let mut buf = Vec::new();
    File::open(path)
        .ok()?
        .take(MAX_ENTRY)
        .read_to_end(&mut buf)
        .ok()?;
    parse_entry(&buf)
}

mod secret_string {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Secret<String>, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Secret<String>, D::Error> {
        String::deserialize(de).map(Secret::new)
    }
}

/// The bytes of `tokens/<key>.json` as an entry: `None` when damaged or of another format.
pub(crate) fn parse_entry(buf: &[u8]) -> Option<CacheEntry> {
    let entry: CacheEntry = serde_json::from_slice(buf).ok()?;
    (entry.format == FORMAT).then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
    }

    #[test]
    fn write_then_read_round_trips_with_private_modes() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(&d.path().join("c"));
        let key = Store::key("i", "r");
        store.write(&key, &entry(1, 2)).unwrap();
        let got = store.read(&key, "i", "r").unwrap();
        assert_eq!(got.password.expose(), "pw");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&d.path().join("c")), 0o700);
        assert_eq!(mode(&store.dir().join(format!("{key}.json"))), 0o600);
        assert!(store.read(&key, "other", "r").is_none(), "other identity");
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
            fs::write(store.dir().join(format!("k{i}.json")), junk).unwrap();
            assert!(store.read(&format!("k{i}"), "i", "r").is_none());
        }
        store.write("good", &entry(100, 100_000)).unwrap();
        store.write("old", &entry(1, 2)).unwrap();
        assert_eq!(store.prune(200), 6);
        assert_eq!(store.entries().len(), 1);
    }

    #[test]
    fn lock_excludes_a_second_holder_until_dropped() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let held = store.lock("k", Duration::ZERO).unwrap();
        assert!(store.lock("k", Duration::from_millis(30)).is_none());
        drop(held);
        assert!(store.lock("k", Duration::ZERO).is_some());
    }
}
