//! Who is asking: an identity derived from configuration alone, never from resolved credentials.
//!
//! A cache hit must not run the credential chain (no `credential_process`, no STS, no SSO, no
//! IMDS: SPEC §5), yet tokens of different principals must never be mixed up. So the cache key's
//! owner is a hash of everything that *selects* credentials: the credential environment variables
//! and the selected profile's sections in `~/.aws/config` and `~/.aws/credentials` (following
//! `source_profile` and `sso_session`). Change the keys, the profile, its role, its SSO account or
//! role, or its `credential_process` command, and the identity changes; a token fetched for one
//! identity is never served to another. Secrets enter only the hash.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::{Config, SECRET_VARS};

/// Largest AWS config/credentials file read (anything bigger is not a hand-written config).
const MAX_AWS_FILE: u64 = 1 << 20;
/// Keys of a profile that never change whose credentials it yields.
const IGNORED_KEYS: &[&str] = &["region", "output", "cli_pager", "cli_history"];

/// The summary of an identity with no configured credentials: only IMDS is left to try.
pub const FALLBACK_SUMMARY: &str = "default chain (instance role)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Hex SHA-256 over the canonical description (secrets included only here, hashed).
    pub id: String,
    /// A short non-secret description for logs: "environment keys", "profile prod", ...
    pub summary: String,
    /// Whether the selected profile has a section in the AWS config or credentials file.
    pub profile_found: bool,
    /// The selected profile's name when it gets credentials through IAM Identity Center (SSO):
    /// its failures usually mean "run `aws sso login --profile NAME`".
    pub sso_profile: Option<String>,
}

impl Identity {
    /// The identity of the current configuration. `profile_override` (a per-registry mapping)
    /// wins over `AWS_PROFILE`.
    pub fn of(cfg: &Config, profile_override: Option<&str>) -> Identity {
        let mut canon = String::new();
        for (name, value) in &cfg.identity_env {
            if *name == "AWS_PROFILE" {
                // Part of the identity as the selected profile, below (a mapping may override it).
                continue;
            }
            let v = value.expose();
            if SECRET_VARS.contains(name) {
                let _ = writeln!(canon, "env {name} sha256:{}", hex(&Sha256::digest(v)));
            } else {
                let _ = writeln!(canon, "env {name}={v}");
            }
        }
        let has_env_keys = cfg.identity_var("AWS_ACCESS_KEY_ID").is_some()
            && cfg
                .identity_env
                .iter()
                .any(|(n, _)| *n == "AWS_SECRET_ACCESS_KEY");
        let profile = profile_override
            .or(cfg.profile.as_deref())
            .unwrap_or("default");
        let mut profile_found = false;
        let mut sso_profile = None;
        let summary = if has_env_keys && profile_override.is_none() {
            // Environment keys come first in the chain: the profile cannot matter.
            let _ = writeln!(canon, "env-keys");
            "environment keys".to_owned()
        } else {
            let sections = profile_sections(cfg, profile);
            let _ = writeln!(canon, "profile {profile}");
            for (section, kv) in &sections {
                for (k, v) in kv {
                    let _ = writeln!(canon, "[{section}] {k}={v}");
                }
            }
            profile_found = !sections.is_empty();
            if sections
                .values()
                .any(|kv| kv.keys().any(|k| k.starts_with("sso_")))
            {
                sso_profile = Some(profile.to_owned());
            }
            if sections.is_empty() {
                describe_fallback(cfg)
            } else {
                format!("profile {profile}")
            }
        };
        Identity {
            id: hex(&Sha256::digest(canon.as_bytes())),
            summary,
            profile_found,
            sso_profile,
        }
    }
}

fn describe_fallback(cfg: &Config) -> String {
    if let Some(role) = cfg.identity_var("AWS_ROLE_ARN") {
        format!("web identity role {role}")
    } else if cfg
        .identity_var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .or(cfg.identity_var("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        .is_some()
    {
        "container credentials".to_owned()
    } else {
        FALLBACK_SUMMARY.to_owned()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// The sections that decide what `profile` yields: the profile in both files, then its
/// `source_profile` chain and its `sso_session`, keyed "config:profile x", "credentials:x", ...
fn profile_sections(cfg: &Config, profile: &str) -> Sections {
    let config = cfg
        .aws_config_file
        .as_deref()
        .map(read_ini)
        .unwrap_or_default();
    let creds = cfg
        .aws_credentials_file
        .as_deref()
        .map(read_ini)
        .unwrap_or_default();
    let mut out = Sections::new();
    let mut next = Some(profile.to_owned());
    // A source_profile loop is a configuration error the SDK reports; just stop following it.
    while let Some(name) = next.take() {
        let config_name = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        let mut source = None;
        for (file, sections, section) in [
            ("config", &config, config_name.as_str()),
            ("config", &config, name.as_str()),
            ("credentials", &creds, name.as_str()),
        ] {
            let key = format!("{file}:{section}");
            if out.contains_key(&key) {
                continue;
            }
            if let Some(kv) = sections.get(section) {
                if let Some(s) = kv.get("source_profile") {
                    source = Some(s.clone());
                }
                if let Some(sso) = kv.get("sso_session")
                    && let Some(skv) = config.get(&format!("sso-session {sso}"))
                {
                    out.insert(format!("config:sso-session {sso}"), skv.clone());
                }
                out.insert(key, kv.clone());
            }
        }
        if let Some(s) = source {
            let seen = out.keys().any(|k| k.ends_with(&format!(":profile {s}")))
                || (s == "default" && out.contains_key("config:default"))
                || out.contains_key(&format!("credentials:{s}"));
            if !seen {
                next = Some(s);
            }
        }
    }
    out
}

/// A forgiving INI reader with the AWS CLI's shape: `[section]`, `key = value`, `#`/`;` comments,
/// indented continuation lines folded into the previous key. A missing or unreadable file is empty.
fn read_ini(path: &Path) -> Sections {
    let mut text = String::new();
    let ok = fs::File::open(path)
        .and_then(|f| f.take(MAX_AWS_FILE).read_to_string(&mut text))
        .is_ok();
    if !ok {
        return Sections::new();
    }
    parse_ini(&text)
}

pub(crate) fn parse_ini(text: &str) -> Sections {
    let mut out = Sections::new();
    let mut section: Option<String> = None;
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            section = Some(name.clone());
            out.entry(name).or_default();
            last_key = None;
            continue;
        }
        let Some(sec) = section.as_ref() else {
            continue;
        };
        let kv = out.entry(sec.clone()).or_default();
        if raw.starts_with([' ', '\t']) {
            if let Some(k) = &last_key
                && let Some(v) = kv.get_mut(k)
            {
                v.push('\n');
                v.push_str(line);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim().to_owned();
            if IGNORED_KEYS.contains(&k.as_str()) {
                last_key = None;
                continue;
            }
            kv.insert(k.clone(), v.trim().to_owned());
            last_key = Some(k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn cfg(vars: &[(&str, &str)], dir: &Path) -> Config {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("HOME".into(), dir.display().to_string());
        Config::from_lookup(|k| map.get(k).cloned(), None)
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(".aws").join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn different_env_keys_are_different_identities_and_secrets_stay_out_of_the_summary() {
        let d = tempfile::tempdir().unwrap();
        let a = Identity::of(
            &cfg(
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIA1"),
                    ("AWS_SECRET_ACCESS_KEY", "s1"),
                ],
                d.path(),
            ),
            None,
        );
        let b = Identity::of(
            &cfg(
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIA1"),
                    ("AWS_SECRET_ACCESS_KEY", "s2"),
                ],
                d.path(),
            ),
            None,
        );
        let c = Identity::of(
            &cfg(
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIA2"),
                    ("AWS_SECRET_ACCESS_KEY", "s1"),
                ],
                d.path(),
            ),
            None,
        );
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert!(!a.summary.contains("s1") && !a.id.contains("s1"));
    }

    #[test]
    fn profile_identity_follows_role_process_and_source_profile_but_not_region() {
        let d = tempfile::tempdir().unwrap();
        let base = "[profile dev]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nregion = us-east-1\n[profile base]\ncredential_process = /bin/get-creds one\n";
        write(d.path(), "config", base);
        let c = cfg(&[("AWS_PROFILE", "dev")], d.path());
        let first = Identity::of(&c, None);
        assert_eq!(first.summary, "profile dev");
        assert_eq!(Identity::of(&c, None), first, "stable");

        write(d.path(), "config", &base.replace("us-east-1", "eu-west-1"));
        assert_eq!(
            Identity::of(&c, None).id,
            first.id,
            "region is not identity"
        );

        write(d.path(), "config", &base.replace("role/a", "role/b"));
        assert_ne!(Identity::of(&c, None).id, first.id, "role changes identity");

        write(d.path(), "config", &base.replace("one", "two"));
        assert_ne!(
            Identity::of(&c, None).id,
            first.id,
            "source profile's process changes identity"
        );

        write(d.path(), "config", base);
        let other = Identity::of(&cfg(&[("AWS_PROFILE", "base")], d.path()), None);
        assert_ne!(other.id, first.id);
        assert_eq!(Identity::of(&c, Some("base")).id, other.id, "override wins");
    }

    #[test]
    fn sso_session_account_and_role_are_part_of_the_identity() {
        let d = tempfile::tempdir().unwrap();
        let text = "[profile s]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n";
        write(d.path(), "config", text);
        let c = cfg(&[("AWS_PROFILE", "s")], d.path());
        let a = Identity::of(&c, None);
        assert_eq!(a.sso_profile.as_deref(), Some("s"));
        write(d.path(), "config", &text.replace("Dev", "Admin"));
        assert_ne!(Identity::of(&c, None).id, a.id);
        write(
            d.path(),
            "config",
            &text.replace("corp.awsapps", "other.awsapps"),
        );
        assert_ne!(Identity::of(&c, None).id, a.id);
    }

    #[test]
    fn credentials_file_keys_change_the_identity() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "credentials",
            "[default]\naws_access_key_id = A\naws_secret_access_key = S\n",
        );
        let c = cfg(&[], d.path());
        let a = Identity::of(&c, None);
        write(
            d.path(),
            "credentials",
            "[default]\naws_access_key_id = A\naws_secret_access_key = T\n",
        );
        assert_ne!(Identity::of(&c, None).id, a.id);
    }

    #[test]
    fn ini_parser_folds_continuations_and_skips_comments() {
        let s = parse_ini("# c\n[ profile  x ]\na = 1\ns3 =\n  k = v\n; c\nb=2\n");
        let x = &s["profile x"];
        assert_eq!(x["a"], "1");
        assert_eq!(x["s3"], "\nk = v");
        assert_eq!(x["b"], "2");
    }
}
