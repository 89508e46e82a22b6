//! Per-registry settings (`$AWS_ECR_CONFIG`, else `config.json` in the cache directory): which AWS
//! profile serves a registry, and which ECR registry a custom host name stands for.
//!
//! ```json
//! { "registries": {
//!     "123456789012.dkr.ecr.us-west-2.amazonaws.com": { "profile": "prod" },
//!     "210987654321": { "profile": "dev" },
//!     "registry.example.com": { "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com" } } }
//! ```
//!
//! A key is an exact host (ECR or custom), or a 12-digit account id (every region and partition).
//! Precedence: exact host, then account id, then the default chain; a mapping's profile wins over
//! `AWS_PROFILE` and environment keys. A missing file costs one failed `open`. Errors name the file,
//! the key and the problem, and become the stderr line of a not-found answer (never a panic).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cache::CacheState;
use crate::config::Config;
use crate::files::{self, PrivateReadError, ReadError};
use crate::registry::{self, Registry};

/// Bigger than any hand-written mapping file.
const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default)]
    registries: serde_json::Map<String, serde_json::Value>,
    /// The credential store for registries that are not ECR (`fallback.rs`).
    #[serde(default)]
    fallback: Option<String>,
    /// `false`: refresh tokens in the foreground (`helper.rs`; as `AWS_ECR_BACKGROUND_REFRESH=0`).
    #[serde(default, rename = "backgroundRefresh")]
    background_refresh: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    profile: Option<String>,
    registry: Option<String>,
}

/// The loaded file. Entries are checked when used, so one bad entry spoils only its registry.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    path: Option<PathBuf>,
    registries: serde_json::Map<String, serde_json::Value>,
    fallback: Option<String>,
    background_refresh: Option<bool>,
}

/// What a mapping (or its absence) says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The ECR registry whose token answers the request.
    pub registry: Registry,
    /// The profile to use instead of the default chain.
    pub profile: Option<String>,
    /// The key of the mapping that applied, if any.
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub path: PathBuf,
    pub key: Option<String>,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        if let Some(k) = &self.key {
            write!(f, "registries.{k:?}: ")?;
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Reads the file at `path`; a missing file is an empty mapping.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let err = |problem: String| SettingsError {
            path: path.to_owned(),
            key: None,
            problem,
        };
        let text = match crate::files::read_regular(path, MAX_FILE, true) {
            Ok(t) => t,
            // No file (or no directory for it: an unusable cache dir must not break `get`).
            Err(crate::files::ReadError::Missing) => return Ok(Settings::default()),
            Err(e) => return Err(err(e.to_string())),
        };
        Settings::from_bytes(path, &text)
    }

    /// The settings from the bytes of the file at `path` (named in errors).
    pub fn from_bytes(path: &Path, text: &[u8]) -> Result<Settings, SettingsError> {
        let err = |problem: String| SettingsError {
            path: path.to_owned(),
            key: None,
            problem,
        };
        if text.len() as u64 > MAX_FILE {
            return Err(err(format!("larger than {MAX_FILE} bytes")));
        }
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| err(format!("invalid JSON: {e}")))?;
        if !value.is_object() {
            return Err(err(
                "expected a JSON object {\"registries\": {...}, \"fallback\": \"NAME\"}".into(),
            ));
        }
        let parsed: FileFormat = serde_json::from_value(value).map_err(|e| {
            err(format!(
                "expected {{\"registries\": {{...}}, \"fallback\": \"NAME\"}}: {e}"
            ))
        })?;
        Ok(Settings {
            path: Some(path.to_owned()),
            registries: parsed.registries,
            fallback: parsed.fallback,
            background_refresh: parsed.background_refresh,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The registry, profile and mapping for what a client sent. `Ok(None)`: not ECR and not a
    /// mapped custom name.
    pub fn resolve(&self, input: &str) -> Result<Option<Resolved>, SettingsError> {
        let Some(host) = registry::host_of(input) else {
            return Ok(None);
        };
        let direct = Registry::parse(input);
        let account = match &direct {
            Some(Registry::Private { account, .. }) => Some(account.as_str()),
            _ => None,
        };
        let exact = self
            .registries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(host));
        let by_account = account.and_then(|a| self.registries.get_key_value(a));
        let Some((key, value)) = exact.or(by_account) else {
            return Ok(direct.map(|registry| Resolved {
                registry,
                profile: None,
                key: None,
            }));
        };
        let err = |problem: String| SettingsError {
            path: self.path.clone().unwrap_or_default(),
            key: Some(key.clone()),
            problem,
        };
        if !value.is_object() {
            return Err(err("expected {\"profile\": ..., \"registry\": ...}".into()));
        }
        let entry: Entry = serde_json::from_value(value.clone()).map_err(|e| {
            err(format!(
                "expected {{\"profile\": ..., \"registry\": ...}}: {e}"
            ))
        })?;
        if let Some(p) = &entry.profile
            && p.trim().is_empty()
        {
            return Err(err("\"profile\" is empty".into()));
        }
        let registry = match (&entry.registry, direct) {
            (Some(target), _) => Registry::parse(target).ok_or_else(|| {
                err(format!(
                    "\"registry\": {target:?} is not an ECR registry host"
                ))
            })?,
            (None, Some(direct)) => direct,
            (None, None) => {
                return Err(err(
                    "a custom host name needs \"registry\": the ECR registry it stands for".into(),
                ));
            }
        };
        Ok(Some(Resolved {
            registry,
            profile: entry.profile,
            key: Some(key.clone()),
        }))
    }

    /// The top-level `"fallback"`: the credential store named for registries that are not ECR.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The top-level `"backgroundRefresh"`, if present.
    pub fn background_refresh(&self) -> Option<bool> {
        self.background_refresh
    }

    /// Whether `input` is this helper's to answer: an ECR host by name, or a host the file maps
    /// (a bad mapping included: it is still not another store's business).
    pub fn is_ours(&self, input: &str) -> bool {
        Registry::parse(input).is_some() || !matches!(self.resolve(input), Ok(None))
    }

    /// Every key of the file (for `doctor` with no host).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.registries.keys().map(String::as_str)
    }
}

/// The per-registry settings of this run, and why they were not read if they were not.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Result<Settings, SettingsError>,
    pub warning: Option<String>,
}

impl Loaded {
    /// The settings file of this run, if it may be trusted (docs/security.md).
    pub fn load(cfg: &Config, cache: &CacheState) -> Loaded {
        let empty = |warning| Loaded {
            settings: Ok(Settings::default()),
            warning,
        };
        let Some(path) = cfg.settings_file.as_deref() else {
            return empty(None);
        };
        // The default file lives in the cache directory: an untrusted one is not read either
        // (the cache's warning says why).
        if let CacheState::Untrusted { dir, .. } = cache
            && path.starts_with(dir)
        {
            return empty(None);
        }
        // The check is made on the file opened, not on a second lookup of its path: in a
        // directory someone else can write, a file swapped in between would pass for the other.
        match files::read_private(path, MAX_FILE) {
            // No file (or no directory for it: an unusable cache dir must not break `get`).
            Err(PrivateReadError::Read(ReadError::Missing)) => empty(None),
            Err(PrivateReadError::Untrusted(reason)) => empty(Some(format!(
                "warning: not using the settings file {}: {reason}",
                path.display()
            ))),
            Err(PrivateReadError::Read(e)) => Loaded {
                settings: Err(SettingsError {
                    path: path.to_owned(),
                    key: None,
                    problem: e.to_string(),
                }),
                warning: None,
            },
            Ok(text) => Loaded {
                settings: Settings::from_bytes(path, &text),
                warning: None,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;

    fn load(json: &str) -> Settings {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(&p, json).unwrap();
        Settings::load(Some(&p)).unwrap()
    }

    const FILE: &str = r#"{"registries": {
        "123456789012.dkr.ecr.us-west-2.amazonaws.com": {"profile": "prod"},
        "123456789012": {"profile": "acct"},
        "210987654321": {"profile": "dev"},
        "registry.example.com": {"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "profile": "prod"},
        "bad.example.com": {"profile": "x"},
        "typo.example.com": {"profle": "x", "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"}
    }}"#;

    fn profile(m: &Settings, input: &str) -> Option<String> {
        m.resolve(input).unwrap().unwrap().profile
    }

    #[test]
    fn exact_host_beats_account_id_beats_default() {
        let m = load(FILE);
        assert_eq!(
            profile(
                &m,
                "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/"
            )
            .as_deref(),
            Some("prod")
        );
        assert_eq!(
            profile(&m, "123456789012.dkr.ecr.us-east-1.amazonaws.com").as_deref(),
            Some("acct")
        );
        assert_eq!(
            profile(&m, "210987654321.dkr.ecr-fips.us-gov-west-1.amazonaws.com").as_deref(),
            Some("dev")
        );
        assert_eq!(
            profile(&m, "111111111111.dkr.ecr.us-east-1.amazonaws.com"),
            None
        );
        assert_eq!(m.resolve("index.docker.io").unwrap(), None);
    }

    #[test]
    fn a_custom_name_stands_for_its_registry() {
        let m = load(FILE);
        let r = m.resolve("registry.example.com:443").unwrap().unwrap();
        assert_eq!(
            r.registry.host(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(r.registry.region(), "eu-west-1");
        assert_eq!(r.profile.as_deref(), Some("prod"));
    }

    #[test]
    fn bad_entries_name_the_file_the_key_and_the_problem() {
        let m = load(FILE);
        let e = m.resolve("bad.example.com").unwrap_err().to_string();
        assert!(
            e.contains("config.json: registries.\"bad.example.com\": a custom host name needs"),
            "{e}"
        );
        let e = m.resolve("typo.example.com").unwrap_err().to_string();
        assert!(e.contains("profle"), "{e}");
    }

    #[test]
    fn background_refresh_is_a_top_level_boolean() {
        assert_eq!(
            load(r#"{"backgroundRefresh": false}"#).background_refresh(),
            Some(false)
        );
        assert_eq!(load(FILE).background_refresh(), None);
        let p = Path::new("s.json");
        assert!(Settings::from_bytes(p, br#"{"backgroundRefresh": "no"}"#).is_err());
    }

    #[test]
    fn the_fallback_is_a_top_level_key() {
        let m = load(r#"{"fallback": "pass"}"#);
        assert_eq!(m.fallback(), Some("pass"));
        assert!(m.resolve("index.docker.io").unwrap().is_none());
        assert_eq!(load(FILE).fallback(), None);
        let m = load(FILE);
        assert!(m.is_ours("registry.example.com"));
        assert!(m.is_ours("bad.example.com"));
        assert!(m.is_ours("111111111111.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(!m.is_ours("index.docker.io"));
    }

    /// In a directory someone else can write, the settings file is swapped between a private
    /// file and one anyone may write while it is loaded, as an attacker would between a check by
    /// path and the open: what is read must always be the private file's.
    #[cfg(unix)]
    #[test]
    fn the_file_checked_is_the_file_read() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let d = tempfile::tempdir().unwrap();
        let (mine, theirs) = (d.path().join("mine"), d.path().join("theirs"));
        for (p, name, mode) in [(&mine, "mine", 0o600), (&theirs, "theirs", 0o666)] {
            std::fs::write(p, format!(r#"{{"fallback":"{name}"}}"#)).unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let path = d.path().join("config.json");
        symlink(&mine, &path).unwrap();
        let path_text = path.display().to_string();
        let cfg = Config::from_pairs(&[(crate::config::SETTINGS_FILE, path_text.as_str())]);
        let (stop, served_theirs, read_mine) = (
            AtomicBool::new(false),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let tmp = d.path().join(format!("link{i}"));
                    symlink(if i.is_multiple_of(2) { &theirs } else { &mine }, &tmp).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                    i += 1;
                }
            });
            for _ in 0..5000 {
                let loaded = Loaded::load(&cfg, &CacheState::Off);
                match loaded.settings.as_ref().ok().and_then(Settings::fallback) {
                    Some("theirs") => served_theirs.fetch_add(1, Ordering::Relaxed),
                    Some(_) => read_mine.fetch_add(1, Ordering::Relaxed),
                    None => 0,
                };
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(
            served_theirs.into_inner(),
            0,
            "a file others may write was read"
        );
        assert!(
            read_mine.into_inner() > 0,
            "the private file was never read"
        );
    }

    #[test]
    fn missing_file_is_empty_and_garbage_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let m = Settings::load(Some(&d.path().join("nope.json"))).unwrap();
        assert!(
            m.resolve("123456789012.dkr.ecr.us-east-1.amazonaws.com")
                .unwrap()
                .is_some()
        );
        let p = d.path().join("bad.json");
        for junk in [
            "{",
            "[]",
            "{\"registries\": 5}",
            "{\"registres\": {}}",
            "{\"fallback\": 5}",
            "{\"fallback\": \"pass\", \"fallbak\": 1}",
            "\u{0}",
        ] {
            std::fs::write(&p, junk).unwrap();
            let e = Settings::load(Some(&p)).unwrap_err();
            assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
        }
    }
}
