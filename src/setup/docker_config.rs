//! Docker's side of the setup: `config.json` (`$DOCKER_CONFIG` or `~/.docker`), which routes
//! registries to credential helpers, and `PATH`, where Docker looks for `docker-credential-*`.
//!
//! Read by `doctor` (does Docker ask this helper for HOST?) and edited by `configure`. Edits keep
//! every other key and entry as they were (key order included), replace the file atomically and
//! keep the previous one as `config.json.bak`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::value::RawValue;
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

/// The largest `config.json` read (a real one is a few KiB; `auths` for a thousand registries
/// stays far below): a bigger file, like a FIFO or a device there, is refused with one line.
pub const MAX_CONFIG: u64 = 1 << 20;

/// How long an edit waits for another process editing the same file (`configure` runs from
/// provisioning scripts, several at once) before it gives up with one line.
pub const EDIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct DockerConfig {
    pub path: PathBuf,
    pub exists: bool,
    /// The top level, each value as written: what an edit does not touch is written back byte
    /// for byte (numbers as written, `1e3` and big integers included).
    root: indexmap::IndexMap<String, Node>,
    /// The file as read, kept as `config.json.bak` when an edit replaces it.
    original: Option<Vec<u8>>,
}

/// A value of the file: as written, or an object whose entries are as written (`credHelpers`
/// once an entry is set).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Node {
    Raw(Box<RawValue>),
    Object(indexmap::IndexMap<String, Box<RawValue>>),
}

impl Node {
    fn parse<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        match self {
            Node::Raw(r) => serde_json::from_str(r.get()).ok(),
            Node::Object(m) => serde_json::to_value(m)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok()),
        }
    }

    fn string(s: &str) -> Node {
        Node::Raw(serde_json::value::to_raw_value(s).expect("a string serializes"))
    }
}

/// What [`edit`] did to the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    Unchanged,
    /// Written; the previous version kept there, if there was one.
    Wrote {
        backup: Option<PathBuf>,
    },
}

impl DockerConfig {
    /// Reads `path` (a regular file, or a link to one, of at most [`MAX_CONFIG`] bytes; never
    /// blocking); a missing file is an empty configuration. Invalid JSON is an error (we never
    /// overwrite a file we could not read).
    pub fn load(path: &Path) -> Result<DockerConfig, String> {
        let original = match files::read_regular(path, MAX_CONFIG, true) {
            Ok(t) => Some(t),
            Err(files::ReadError::Missing) => None,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let root = match &original {
            None => indexmap::IndexMap::new(),
            Some(t) if t.iter().all(u8::is_ascii_whitespace) => indexmap::IndexMap::new(),
            Some(t) => match serde_json::from_slice::<Value>(t) {
                Ok(Value::Object(_)) => {
                    match serde_json::from_slice::<indexmap::IndexMap<String, Box<RawValue>>>(t) {
                        Ok(m) => m.into_iter().map(|(k, v)| (k, Node::Raw(v))).collect(),
                        Err(e) => return Err(format!("{}: invalid JSON: {e}", path.display())),
                    }
                }
                Ok(_) => return Err(format!("{}: not a JSON object", path.display())),
                Err(e) => return Err(format!("{}: invalid JSON: {e}", path.display())),
            },
        };
        Ok(DockerConfig {
            path: path.to_owned(),
            exists: original.is_some(),
            root,
            original,
        })
    }

    pub fn creds_store(&self) -> Option<String> {
        self.root.get("credsStore").and_then(Node::parse)
    }

    /// `credHelpers` entries whose value is a string.
    pub fn cred_helpers(&self) -> Vec<(String, String)> {
        let map: Option<Map<String, Value>> = self.root.get("credHelpers").and_then(Node::parse);
        map.into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
            .collect()
    }

    /// Keys of `auths` (registries `docker login` stored credentials for).
    pub fn auths(&self) -> Vec<String> {
        let map: Option<indexmap::IndexMap<String, Box<RawValue>>> =
            self.root.get("auths").and_then(Node::parse);
        map.into_iter().flatten().map(|(k, _)| k).collect()
    }

    /// Where Docker gets credentials for `hostport` (a host with its port, if the image
    /// reference has one), as the docker CLI decides it.
    pub fn route(&self, hostport: &str) -> Route {
        if let Some((key, name)) = self.cred_helpers().into_iter().find(|(k, _)| {
            k == hostport || k.strip_prefix("https://").is_some_and(|k| k == hostport)
        }) {
            return Route::CredHelper { key, name };
        }
        match self.creds_store() {
            Some(s) if !s.is_empty() => Route::CredsStore(s),
            _ => Route::Nothing,
        }
    }

    /// Sets `credHelpers[key] = ecr-login`. Returns the previous value when it changed. Every
    /// other entry stays as written; a `credHelpers` that is not an object is replaced.
    pub fn set_cred_helper(&mut self, key: &str) -> Option<Option<String>> {
        let mut map: indexmap::IndexMap<String, Box<RawValue>> = self
            .root
            .get("credHelpers")
            .and_then(Node::parse)
            .unwrap_or_default();
        let previous = map
            .get(key)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok());
        if previous.as_deref() == Some(HELPER_NAME) {
            return None;
        }
        let Node::Raw(ours) = Node::string(HELPER_NAME) else {
            unreachable!("a string is raw")
        };
        map.insert(key.to_owned(), ours);
        self.root.insert("credHelpers".into(), Node::Object(map));
        Some(previous)
    }

    /// Sets `credsStore = ecr-login`. Returns the previous value when it changed.
    pub fn set_creds_store(&mut self) -> Option<Option<String>> {
        let previous = self.creds_store();
        if previous.as_deref() == Some(HELPER_NAME) {
            return None;
        }
        self.root
            .insert("credsStore".into(), Node::string(HELPER_NAME));
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

    /// Replaces the file atomically with its new text, keeping the previous version as
    /// `<file>.bak`; both keep the file's owner and mode (a new file is 0600, and under `sudo -E`
    /// its directory's owner's). The `.bak` is replaced as the file is, never written through.
    fn save(&self) -> Result<Saved, String> {
        let text = self.render()?;
        let keep = files::Keep::of(&self.path, 0o600);
        let backup = match &self.original {
            Some(old) => {
                let b = PathBuf::from(format!("{}.bak", self.path.display()));
                files::replace_keeping(&b, old, keep).map_err(|e| {
                    format!("{}: cannot keep the previous version: {e}", b.display())
                })?;
                Some(b)
            }
            None => None,
        };
        files::replace_keeping(&self.path, &text, keep)
            .map_err(|e| format!("{}: cannot write: {e}", self.path.display()))?;
        Ok(Saved::Wrote { backup })
    }
}

/// Edits the file at `path` as one step among concurrent editors: takes its lock, reads it
/// again, applies `change` (which says whether it changed anything) and writes it if so. A
/// symbolic link to a file (dotfile repositories) is edited at its target; anything else that
/// is not a regular file is refused, never replaced.
pub fn edit<T>(
    path: &Path,
    change: impl FnOnce(&mut DockerConfig) -> Result<(bool, T), String>,
) -> Result<(Saved, T), String> {
    let target = match files::output(path) {
        files::Output::File(t) => t,
        files::Output::Device => {
            return Err(format!(
                "{}: not a regular file (a device or FIFO): not edited",
                path.display()
            ));
        }
        files::Output::Refused(why) => {
            return Err(format!("{}: {why}: not edited", path.display()));
        }
    };
    let dir = target
        .parent()
        .ok_or_else(|| format!("{}: no parent directory", target.display()))?;
    files::create_dir_for_user(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = files::lock_for_edit(&target, EDIT_WAIT)
        .map_err(|e| format!("{}: cannot lock it for editing: {e}", target.display()))?;
    lock.remove_leftovers(&target);
    lock.remove_leftovers(&PathBuf::from(format!("{}.bak", target.display())));
    let mut config = DockerConfig::load(&target)?;
    let (changed, out) = change(&mut config)?;
    let saved = if changed {
        config.save()?
    } else {
        Saved::Unchanged
    };
    Ok((saved, out))
}

/// The first `docker-credential-ecr-login` on `path` that is an executable file, as Docker
/// (os/exec LookPath) would find it.
pub fn find_on_path(path: Option<&str>) -> Option<PathBuf> {
    files::find_executable(path, BINARY)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;
    use std::fs;

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
        let (saved, ()) = edit(&p, |c| {
            assert_eq!(c.set_cred_helper("h.example"), Some(None));
            assert_eq!(c.set_cred_helper("h.example"), None);
            assert_eq!(c.set_creds_store(), Some(None));
            assert_eq!(c.set_creds_store(), None);
            Ok((true, ()))
        })
        .unwrap();
        let Saved::Wrote {
            backup: Some(backup),
        } = saved
        else {
            panic!("{saved:?}")
        };
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
