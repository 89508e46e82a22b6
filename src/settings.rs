//! Per-registry settings (`$AWS_ECR_CONFIG`, else `config.json` in the cache directory): which AWS
//! profile or role serves a registry, and which ECR registry a custom host name stands for.
//!
//! ```json
//! { "registries": {
//!     "123456789012.dkr.ecr.us-west-2.amazonaws.com": { "profile": "prod" },
//!     "210987654321": { "profile": "dev" },
//!     "*.dkr.ecr.eu-west-1.amazonaws.com": { "role_arn": "arn:aws:iam::210987654321:role/pull" },
//!     "registry.example.com": { "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com" } } }
//! ```
//!
//! A key is an exact host (ECR or custom), a 12-digit account id (every region and partition), or
//! a host pattern whose `*` labels each match one whole label. Precedence: exact host, then
//! account id, then the most specific matching pattern ([`Pattern::rank`]), then the default
//! chain; a mapping's profile or role wins over `AWS_PROFILE` and environment keys. A missing file
//! costs one failed `open`. Errors name the file, the key and the problem, and become the stderr
//! line of a not-found answer (never a panic).

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

#[derive(Debug, Clone, Default)]
struct Entry {
    profile: Option<String>,
    registry: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    role_session_name: Option<String>,
    duration_seconds: Option<u64>,
    region: Option<String>,
    source_profile: Option<String>,
}

/// The keys of an entry.
const ENTRY_KEYS: &[&str] = &[
    "profile",
    "registry",
    "role_arn",
    "external_id",
    "role_session_name",
    "duration_seconds",
    "region",
    "source_profile",
];

impl Entry {
    /// An entry from its JSON object, or the one problem (naming the key) to report.
    fn from_json(value: &serde_json::Value) -> Result<Entry, String> {
        let Some(object) = value.as_object() else {
            return Err(ENTRY_SHAPE.into());
        };
        let mut entry = Entry::default();
        for (k, v) in object {
            let text = || {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("\"{k}\" must be a string, not {}", json_type(v)))
            };
            match k.as_str() {
                "profile" => entry.profile = Some(text()?),
                "registry" => entry.registry = Some(text()?),
                "role_arn" => entry.role_arn = Some(text()?),
                "external_id" => entry.external_id = Some(text()?),
                "role_session_name" => entry.role_session_name = Some(text()?),
                "region" => entry.region = Some(text()?),
                "source_profile" => entry.source_profile = Some(text()?),
                "duration_seconds" => {
                    entry.duration_seconds = Some(v.as_u64().ok_or_else(|| {
                        format!(
                            "\"duration_seconds\" must be a whole number of seconds, not {}",
                            match v {
                                serde_json::Value::Number(n) => n.to_string(),
                                other => json_type(other).to_owned(),
                            }
                        )
                    })?);
                }
                other => {
                    return Err(format!(
                        "unknown key {:?} (expected one of {})",
                        crate::text::shown(other),
                        ENTRY_KEYS.join(", ")
                    ));
                }
            }
        }
        Ok(entry)
    }
}

/// A JSON value's type, for messages.
fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// What an entry looks like, for messages about one that does not.
const ENTRY_SHAPE: &str =
    "expected {\"profile\": ..., \"registry\": ...} or {\"role_arn\": ..., \"registry\": ...}";

/// The range of `duration_seconds` STS accepts (the role's own maximum may be lower).
pub const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43200;

/// A role to assume for a registry: an entry's `role_arn` and its options, assumed with STS as
/// the AWS CLI assumes a profile's `role_arn` (`ecr.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    /// Seconds, within [`DURATION_RANGE`]; `None`: STS's default (one hour).
    pub duration_seconds: Option<u64>,
    /// The region of the STS endpoint; `None`: the registry's.
    pub region: Option<String>,
    /// The profile whose credentials assume the role; `None`: the default chain.
    pub source_profile: Option<String>,
}

/// How a key names hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// One host, compared without regard to case.
    Host,
    /// A 12-digit account id: its private registries in every region and partition.
    Account,
    /// A host pattern.
    Pattern,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Host => "exact host",
            KeyKind::Account => "account id",
            KeyKind::Pattern => "pattern",
        })
    }
}

/// A key with `*` in it: labels separated by dots, each `*` (any one whole label) or literal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    key: String,
    /// `None`: a `*` label.
    labels: Vec<Option<String>>,
}

impl Pattern {
    /// The pattern a key spells, or why it is not one.
    fn parse(key: &str) -> Result<Pattern, String> {
        let example = "as in \"*.dkr.ecr.eu-west-1.amazonaws.com\" or \"123456789012.dkr.ecr.*.amazonaws.com\"";
        let mut labels = Vec::new();
        for label in key.split('.') {
            if label == "*" {
                labels.push(None);
            } else if label.contains('*') {
                return Err(format!(
                    "a \"*\" in a pattern stands for one whole label, {example}"
                ));
            } else if label.is_empty() {
                return Err(format!("a pattern has an empty label, {example}"));
            } else if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "a pattern is a host name, without scheme, port or path, {example}"
                ));
            } else {
                labels.push(Some(label.to_owned()));
            }
        }
        if labels.iter().all(Option::is_none) {
            return Err(format!(
                "a pattern needs at least one label that is not \"*\", {example}"
            ));
        }
        Ok(Pattern {
            key: key.to_owned(),
            labels,
        })
    }

    fn matches(&self, host: &str) -> bool {
        let mut n = 0;
        for (label, want) in host.split('.').zip(&self.labels) {
            n += 1;
            match want {
                None if label.is_empty() => return false,
                None => {}
                Some(w) if !w.eq_ignore_ascii_case(label) => return false,
                Some(_) => {}
            }
        }
        n == self.labels.len() && host.split('.').count() == n
    }

    /// Orders the patterns that match one host, most specific first: fewer `*` labels; then,
    /// reading the labels from the left (where a host name is most specific: the account id of an
    /// ECR host), the first label that one pattern spells and the other leaves to `*` wins; then,
    /// for patterns that differ only in letter case, the key that sorts first (byte order).
    fn rank(&self) -> (usize, Vec<bool>, &str) {
        let stars: Vec<bool> = self.labels.iter().map(Option::is_none).collect();
        (
            stars.iter().filter(|s| **s).count(),
            stars,
            self.key.as_str(),
        )
    }
}

/// How a key names hosts (a key with `*` is a pattern; one that is not a valid pattern fails the
/// whole file, since no one can tell which hosts it was meant for).
pub fn key_kind(key: &str) -> KeyKind {
    if key.contains('*') {
        KeyKind::Pattern
    } else if key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()) {
        KeyKind::Account
    } else {
        KeyKind::Host
    }
}

/// The loaded file. Entries are checked when used, so one bad entry spoils only its registry.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    path: Option<PathBuf>,
    registries: serde_json::Map<String, serde_json::Value>,
    /// The keys that are patterns, parsed.
    patterns: Vec<Pattern>,
    fallback: Option<String>,
    background_refresh: Option<bool>,
}

/// What a mapping (or its absence) says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The ECR registry whose token answers the request.
    pub registry: Registry,
    /// The profile to use instead of the default chain (an entry's `profile`).
    pub profile: Option<String>,
    /// The role to assume (an entry's `role_arn` and its options).
    pub role: Option<Role>,
    /// The key of the mapping that applied, if any.
    pub key: Option<String>,
    /// How that key named the host.
    pub kind: Option<KeyKind>,
    /// Other keys that name the host too but lost to it, in precedence order (for `doctor`).
    pub outranked: Vec<String>,
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
        let mut patterns = Vec::new();
        for key in parsed.registries.keys() {
            if key_kind(key) == KeyKind::Pattern {
                patterns.push(Pattern::parse(key).map_err(|problem| SettingsError {
                    path: path.to_owned(),
                    key: Some(key.clone()),
                    problem,
                })?);
            }
        }
        Ok(Settings {
            path: Some(path.to_owned()),
            patterns,
            registries: parsed.registries,
            fallback: parsed.fallback,
            background_refresh: parsed.background_refresh,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The registry, profile or role, and mapping for what a client sent. `Ok(None)`: not ECR
    /// and not a mapped custom name.
    pub fn resolve(&self, input: &str) -> Result<Option<Resolved>, SettingsError> {
        let Some(host) = registry::host_of(input) else {
            return Ok(None);
        };
        let direct = Registry::parse(input);
        let account = match &direct {
            Some(Registry::Private { account, .. }) => Some(account.as_str()),
            _ => None,
        };
        // Every key that names the host, in precedence order.
        let mut candidates: Vec<(&String, &serde_json::Value, KeyKind)> = self
            .registries
            .iter()
            .filter(|(k, _)| key_kind(k) != KeyKind::Pattern && k.eq_ignore_ascii_case(host))
            .map(|(k, v)| (k, v, KeyKind::Host))
            .collect();
        // Keys that differ only in letter case: the one that sorts first (byte order).
        candidates.sort_by(|a, b| a.0.cmp(b.0));
        if let Some((k, v)) = account.and_then(|a| self.registries.get_key_value(a)) {
            candidates.push((k, v, KeyKind::Account));
        }
        let mut patterns: Vec<&Pattern> = self
            .patterns
            .iter()
            .filter(|p| p.matches(host))
            // Without "registry" a pattern sets only who asks: it applies to ECR hosts alone.
            .filter(|p| {
                direct.is_some()
                    || self
                        .registries
                        .get(&p.key)
                        .is_some_and(|v| v.get("registry").is_some())
            })
            .collect();
        patterns.sort_by(|a, b| a.rank().cmp(&b.rank()));
        for p in patterns {
            if let Some((k, v)) = self.registries.get_key_value(&p.key) {
                candidates.push((k, v, KeyKind::Pattern));
            }
        }
        let Some(&(key, value, kind)) = candidates.first() else {
            return Ok(direct.map(|registry| Resolved {
                registry,
                profile: None,
                role: None,
                key: None,
                kind: None,
                outranked: Vec::new(),
            }));
        };
        let outranked = candidates[1..].iter().map(|c| c.0.clone()).collect();
        let err = |problem: String| SettingsError {
            path: self.path.clone().unwrap_or_default(),
            key: Some(key.clone()),
            problem,
        };
        let entry = Entry::from_json(value).map_err(err)?;
        let role = check_entry(&entry).map_err(err)?;
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
            role,
            key: Some(key.clone()),
            kind: Some(kind),
            outranked,
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

    /// Every key of the file (for `doctor` with no host; patterns included: see [`key_kind`]).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.registries.keys().map(String::as_str)
    }
}

/// An entry's values checked (the role it names, if any), or the one problem to report.
fn check_entry(entry: &Entry) -> Result<Option<Role>, String> {
    let non_empty = |name: &str, v: &Option<String>| match v {
        Some(s) if s.trim().is_empty() => Err(format!("\"{name}\" is empty")),
        _ => Ok(()),
    };
    non_empty("profile", &entry.profile)?;
    non_empty("source_profile", &entry.source_profile)?;
    let Some(arn) = &entry.role_arn else {
        let role_only = [
            ("external_id", entry.external_id.is_some()),
            ("role_session_name", entry.role_session_name.is_some()),
            ("duration_seconds", entry.duration_seconds.is_some()),
            ("region", entry.region.is_some()),
            ("source_profile", entry.source_profile.is_some()),
        ];
        if let Some((name, _)) = role_only.iter().find(|(_, set)| *set) {
            return Err(format!(
                "\"{name}\" is an option of \"role_arn\", which this entry does not have"
            ));
        }
        return Ok(None);
    };
    if entry.profile.is_some() {
        return Err(
            "\"profile\" and \"role_arn\" together: name the profile whose credentials assume the role with \"source_profile\"".into(),
        );
    }
    check_role_arn(arn)?;
    if let Some(d) = entry.duration_seconds
        && !DURATION_RANGE.contains(&d)
    {
        return Err(format!(
            "\"duration_seconds\": {d} is outside {}..{} (seconds)",
            DURATION_RANGE.start(),
            DURATION_RANGE.end()
        ));
    }
    check_sts_limits(entry)?;
    Ok(Some(Role {
        arn: arn.clone(),
        external_id: entry.external_id.clone(),
        session_name: entry.role_session_name.clone(),
        duration_seconds: entry.duration_seconds,
        region: entry.region.clone(),
        source_profile: entry.source_profile.clone(),
    }))
}

/// STS's own limits on a role's options, so that a typo is this line rather than an STS error at
/// fetch time.
fn check_sts_limits(entry: &Entry) -> Result<(), String> {
    if let Some(id) = &entry.external_id
        && !(2..=1224).contains(&id.len())
    {
        return Err("\"external_id\" must be 2 to 1224 characters".into());
    }
    if let Some(id) = &entry.external_id
        && !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
    {
        return Err(
            "\"external_id\" may hold only letters, digits and _+=,.@:/- (as STS requires)".into(),
        );
    }
    if let Some(n) = &entry.role_session_name
        && (!(2..=64).contains(&n.len())
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)))
    {
        return Err(format!(
            "\"role_session_name\": {:?} is not 2 to 64 letters, digits and _+=,.@- (as STS requires)",
            crate::text::shown(n)
        ));
    }
    if let Some(r) = &entry.region
        && (r.is_empty()
            || r.len() > 64
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    {
        return Err(format!(
            "\"region\": {:?} is not a region name such as \"us-east-1\"",
            crate::text::shown(r)
        ));
    }
    Ok(())
}

/// An IAM role ARN: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn check_role_arn(arn: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "\"role_arn\": {:?} is not a role ARN such as \"arn:aws:iam::123456789012:role/NAME\"",
            crate::text::shown(arn)
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return bad();
    };
    let name = resource.strip_prefix("role/").unwrap_or_default();
    let ok = *prefix == "arn"
        && partition.starts_with("aws")
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && arn.len() <= 2048
        && !name.is_empty()
        && !name.ends_with('/')
        && name.split('/').all(|seg| !seg.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@/-".contains(&b));
    if ok { Ok(()) } else { bad() }
}

/// Sets the top-level `"fallback"` of the settings file `file` to `name` as one locked step
/// (read again, set, replace atomically), every other key kept as it was written; the file's
/// owner and mode kept, 0600 when new, its directory 0700. `wait`: how long to wait for another
/// editor's lock.
pub fn write_fallback(file: &Path, name: &str, wait: std::time::Duration) -> Result<(), String> {
    let shown = file.display();
    let target = match files::output(file) {
        files::Output::File(t) => t,
        files::Output::Device => return Err(format!("{shown}: not a regular file: not edited")),
        files::Output::Refused(why) => return Err(format!("{shown}: {why}: not edited")),
    };
    if let Some(dir) = target.parent() {
        files::create_dir_for_user(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let lock = files::lock_for_edit(&target, wait)
        .map_err(|e| format!("{shown}: cannot lock it for editing: {e}"))?;
    lock.remove_leftovers(&target);
    // Every other key as written (serde_json's RawValue).
    type Raw = Box<serde_json::value::RawValue>;
    let mut root = match files::read_regular(&target, 1 << 20, true) {
        Ok(text) if text.iter().all(u8::is_ascii_whitespace) => indexmap::IndexMap::new(),
        Ok(text) => match serde_json::from_slice::<indexmap::IndexMap<String, Raw>>(&text) {
            Ok(m) => m,
            Err(_) => return Err(format!("{shown}: not a JSON object: not edited")),
        },
        Err(ReadError::Missing) => indexmap::IndexMap::new(),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    let name = serde_json::value::to_raw_value(name).map_err(|e| e.to_string())?;
    root.insert("fallback".into(), name);
    let mut text = serde_json::to_vec_pretty(&root).map_err(|e| e.to_string())?;
    text.push(b'\n');
    files::replace_keeping(&target, &text, files::Keep::of(&target, 0o600))
        .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
    Ok(())
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
    fn patterns_match_whole_labels_and_rank_by_literal_labels_from_the_left() {
        let p = |k: &str| Pattern::parse(k).unwrap();
        let region = p("*.dkr.ecr.eu-west-1.amazonaws.com");
        let account = p("123456789012.dkr.ecr.*.amazonaws.com");
        let custom = p("*.registry.example.com");
        assert!(region.matches("123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(region.matches("123456789012.DKR.ECR.EU-WEST-1.amazonaws.com"));
        assert!(!region.matches("123456789012.dkr.ecr.eu-west-2.amazonaws.com"));
        assert!(!region.matches("dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(!region.matches(".dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(!region.matches("a.b.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(account.matches("123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"));
        assert!(!account.matches("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"));
        assert!(custom.matches("team.registry.example.com"));
        assert!(!custom.matches("registry.example.com"));
        assert!(!custom.matches("a.b.registry.example.com"));
        // The account (leftmost) spelled out beats the region spelled out, whatever the region's
        // length; fewer `*` labels beat more; then byte order.
        assert!(account.rank() < region.rank());
        assert!(account.rank() < p("*.dkr.ecr.ap-southeast-1.amazonaws.com").rank());
        assert!(region.rank() < p("*.*.ecr.eu-west-1.amazonaws.com").rank());
        assert!(
            p("*.b.c.x").rank() < p("a.*.*.x").rank(),
            "fewer stars first"
        );
        assert!(
            p("a.*.c.x").rank() < p("*.b.c.x").rank(),
            "then the leftmost literal"
        );
        assert!(p("*.Example.com").rank() < p("*.example.com").rank());
        for bad in [
            "1234*.dkr.ecr.eu-west-1.amazonaws.com",
            "*",
            "*.*",
            "*..com",
            "*.example.com:5000",
            "https://*.example.com",
            "*.exa mple.com",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_pattern_key_fails_the_file_naming_the_key() {
        let e = Settings::from_bytes(
            Path::new("s.json"),
            br#"{"registries": {"ecr-*.example.com": {"profile": "p"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.json: registries.\"ecr-*.example.com\": a \"*\" in a pattern"),
            "{e}"
        );
    }

    #[test]
    fn precedence_is_exact_host_then_account_then_pattern_then_nothing() {
        let m = load(
            r#"{"registries": {
            "*.dkr.ecr.us-east-1.amazonaws.com": {"profile": "region"},
            "111111111111.dkr.ecr.*.amazonaws.com": {"profile": "acctpat"},
            "111111111111": {"profile": "account"},
            "111111111111.dkr.ecr.us-east-1.amazonaws.com": {"profile": "exact"},
            "*.example.com": {"profile": "no-registry"},
            "*.registry.example.com": {"registry": "222222222222.dkr.ecr.eu-west-1.amazonaws.com"}
        }}"#,
        );
        let r = m
            .resolve("111111111111.dkr.ecr.us-east-1.amazonaws.com")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.profile.as_deref(), r.kind, r.outranked.len()),
            (Some("exact"), Some(KeyKind::Host), 3)
        );
        assert_eq!(
            r.outranked,
            [
                "111111111111",
                "111111111111.dkr.ecr.*.amazonaws.com",
                "*.dkr.ecr.us-east-1.amazonaws.com"
            ]
        );
        assert_eq!(
            profile(&m, "111111111111.dkr.ecr.us-west-2.amazonaws.com").as_deref(),
            Some("account")
        );
        let r = m
            .resolve("333333333333.dkr.ecr.us-east-1.amazonaws.com")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.profile.as_deref(), r.kind),
            (Some("region"), Some(KeyKind::Pattern))
        );
        assert_eq!(
            profile(&m, "333333333333.dkr.ecr.us-west-2.amazonaws.com"),
            None
        );
        // A custom name through a pattern with "registry"; a pattern without one does not make
        // a host that is not ECR ours.
        let r = m.resolve("team.registry.example.com").unwrap().unwrap();
        assert_eq!(
            r.registry.host(),
            "222222222222.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(m.resolve("ghcr.example.com").unwrap(), None);
        assert!(!m.is_ours("ghcr.example.com"));
        assert!(m.is_ours("team.registry.example.com"));
    }

    #[test]
    fn a_role_entry_and_its_options() {
        let m = load(
            r#"{"registries": {"123456789012": {"role_arn": "arn:aws-us-gov:iam::123456789012:role/path/to/pull", "external_id": "ext:1/2", "role_session_name": "me@ci", "duration_seconds": 43200, "region": "us-gov-west-1", "source_profile": "base"}}}"#,
        );
        let r = m
            .resolve("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com")
            .unwrap()
            .unwrap();
        assert_eq!(r.profile, None);
        assert_eq!(
            r.role,
            Some(Role {
                arn: "arn:aws-us-gov:iam::123456789012:role/path/to/pull".into(),
                external_id: Some("ext:1/2".into()),
                session_name: Some("me@ci".into()),
                duration_seconds: Some(43200),
                region: Some("us-gov-west-1".into()),
                source_profile: Some("base".into()),
            })
        );
        for arn in [
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role//x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:role/x y",
            "arn:aws:iam::1234567890123:role/x",
        ] {
            assert!(check_role_arn(arn).is_err(), "{arn}");
        }
        assert!(check_role_arn("arn:aws-cn:iam::123456789012:role/a+b=c,d.e@f-g_h").is_ok());
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
