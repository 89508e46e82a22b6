//! Docker's side of the setup: `config.json` (`$DOCKER_CONFIG` or `~/.docker`), which routes
//! registries to credential helpers, and `PATH`, where Docker looks for `docker-credential-*`.
//!
//! Read by `doctor` (does Docker ask this helper for HOST?) and edited by `configure`. Edits keep
//! every other key and entry as they were (key order included), replace the file atomically and
//! keep the previous one as `config.json.bak`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::files;

/// The name Docker gives credential helpers: `docker-credential-<name>`.
pub const HELPER_NAME: &str = "ecr-login";
pub const BINARY: &str = "docker-credential-ecr-login";

/// How Docker would find credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `credHelpers[key] = name`.
    CredHelper { key: String, name: String },
    /// `credsStore = name` (no `credHelpers` entry).
    CredsStore(String),
    /// Neither: Docker uses `auths` (from `docker login`) or nothing.
    Nothing,
}

#[derive(Debug, Clone)]
pub struct DockerConfig {
    pub path: PathBuf,
    pub exists: bool,
    root: Map<String, Value>,
}

impl DockerConfig {
    /// Reads `path`; a missing file is an empty configuration. Invalid JSON is an error (we
    /// never overwrite a file we could not read).
    pub fn load(path: &Path) -> Result<DockerConfig, String> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path: path.to_owned(),
                    exists: false,
                    root: Map::new(),
                });
            }
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        let root = if text.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(format!("{}: not a JSON object", path.display())),
                Err(e) => return Err(format!("{}: invalid JSON: {e}", path.display())),
            }
        };
        Ok(DockerConfig {
            path: path.to_owned(),
            exists: true,
            root,
        })
    }

    pub fn creds_store(&self) -> Option<&str> {
        self.root.get("credsStore").and_then(Value::as_str)
    }

    pub fn cred_helpers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.root
            .get("credHelpers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
    }

    /// Keys of `auths` (registries `docker login` stored credentials for).
    pub fn auths(&self) -> impl Iterator<Item = &str> {
        self.root
            .get("auths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
    }

    /// Where Docker gets credentials for `hostport` (a host with its port, if the image
    /// reference has one), as the docker CLI decides it.
    pub fn route(&self, hostport: &str) -> Route {
        if let Some((k, v)) = self.cred_helpers().find(|(k, _)| {
            *k == hostport || k.strip_prefix("https://").is_some_and(|k| k == hostport)
        }) {
            return Route::CredHelper {
                key: k.to_owned(),
                name: v.to_owned(),
            };
        }
        match self.creds_store() {
            Some(s) if !s.is_empty() => Route::CredsStore(s.to_owned()),
            _ => Route::Nothing,
        }
    }

    /// Sets `credHelpers[key] = ecr-login`. Returns the previous value when it changed.
    pub fn set_cred_helper(&mut self, key: &str) -> Option<Option<String>> {
        let helpers = self
            .root
            .entry("credHelpers")
            .or_insert_with(|| Value::Object(Map::new()));
        if !helpers.is_object() {
            *helpers = Value::Object(Map::new());
        }
        let map = helpers.as_object_mut().expect("just made an object");
        let previous = map.get(key).and_then(Value::as_str).map(str::to_owned);
        if previous.as_deref() == Some(HELPER_NAME) {
            return None;
        }
        map.insert(key.to_owned(), Value::String(HELPER_NAME.to_owned()));
        Some(previous)
    }

    /// Sets `credsStore = ecr-login`. Returns the previous value when it changed.
    pub fn set_creds_store(&mut self) -> Option<Option<String>> {
        let previous = self.creds_store().map(str::to_owned);
        if previous.as_deref() == Some(HELPER_NAME) {
            return None;
        }
        self.root
            .insert("credsStore".into(), Value::String(HELPER_NAME.into()));
        Some(previous)
    }

    /// The file's new text, indented with tabs as the docker CLI writes it.
    pub fn render(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.root.serialize(&mut ser).map_err(|e| e.to_string())?;
        out.push(b'\n');
        Ok(out)
    }

    /// Replaces the file atomically, keeping the previous one as `<file>.bak` and its mode.
    /// Returns the backup's path, if there was a previous file.
    pub fn save(&self) -> Result<Option<PathBuf>, String> {
        let text = self.render()?;
        // Write through a symlinked config.json (dotfile repositories) to its target.
        let target = files::canonical(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = target
            .parent()
            .ok_or_else(|| format!("{}: no parent directory", target.display()))?;
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let old = fs::metadata(&target).ok();
        let mode = old.as_ref().map_or(0o600, files::mode_of);
        let backup = if old.is_some() {
            let b = PathBuf::from(format!("{}.bak", target.display()));
            fs::copy(&target, &b).map_err(|e| format!("{}: backup failed: {e}", b.display()))?;
            files::set_mode(&b, mode).map_err(|e| format!("{}: {e}", b.display()))?;
            Some(b)
        } else {
            None
        };
        files::replace_atomic(&target, &text, mode)
            .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
        Ok(backup)
    }
}

/// The first `docker-credential-ecr-login` on `path` that is an executable file, as Docker
/// (os/exec LookPath) would find it.
pub fn find_on_path(path: Option<&str>) -> Option<PathBuf> {
    files::find_executable(path, BINARY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_docker_precedence() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        fs::write(
            &p,
            r#"{"credsStore":"desktop","credHelpers":{"a.example":"ecr-login","b.example:5000":"gcloud"}}"#,
        )
        .unwrap();
        let c = DockerConfig::load(&p).unwrap();
        assert_eq!(
            c.route("a.example"),
            Route::CredHelper {
                key: "a.example".into(),
                name: "ecr-login".into()
            }
        );
        assert!(
            matches!(c.route("b.example:5000"), Route::CredHelper { name, .. } if name == "gcloud")
        );
        assert_eq!(c.route("c.example"), Route::CredsStore("desktop".into()));
    }

    #[test]
    fn edits_keep_everything_else_and_are_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        let original = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"eDp5"}},"credHelpers":{"gcr.io":"gcloud"},"zzz":[1,{"x":null}],"aaa":true}"#;
        fs::write(&p, original).unwrap();
        files::set_mode(&p, 0o640).unwrap();
        let mut c = DockerConfig::load(&p).unwrap();
        assert_eq!(c.set_cred_helper("h.example"), Some(None));
        assert_eq!(c.set_cred_helper("h.example"), None);
        assert_eq!(c.set_creds_store(), Some(None));
        assert_eq!(c.set_creds_store(), None);
        let backup = c.save().unwrap().unwrap();
        assert_eq!(fs::read_to_string(&backup).unwrap(), original);
        let after: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        let mut want: Value = serde_json::from_str(original).unwrap();
        want["credHelpers"]["h.example"] = "ecr-login".into();
        want["credsStore"] = "ecr-login".into();
        assert_eq!(after, want);
        let keys: Vec<_> = after.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["auths", "credHelpers", "zzz", "aaa", "credsStore"],
            "order kept"
        );
        #[cfg(unix)]
        assert_eq!(files::mode_of(&fs::metadata(&p).unwrap()), 0o640);
    }

    #[test]
    fn invalid_json_is_refused_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        fs::write(&p, "{oops").unwrap();
        assert!(DockerConfig::load(&p).unwrap_err().contains("invalid JSON"));
    }
}
