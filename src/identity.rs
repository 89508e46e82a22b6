//! Who is asking: an identity derived from configuration alone, never from resolved credentials.
//!
//! A cache hit must not run the credential chain (no `credential_process`, no STS, no SSO, no
//! IMDS: docs/contract.md §9), yet tokens of different principals must never be mixed up. So the
//! cache key's owner is a hash of everything that *selects* credentials: the credential
//! environment variables and the selected profile's sections in `~/.aws/config` and
//! `~/.aws/credentials` (following `source_profile` and `sso_session`). Change the keys, the
//! profile, its role, its SSO account or role, or its `credential_process` command, and the
//! identity changes; a token fetched for one identity is never served to another. Secrets enter
//! only the hash.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use sha2::{Digest, Sha256};

use crate::config::{self, Config, SECRET_VARS};
use crate::digest::hex;
use crate::files::{self, ReadError};
use crate::profiles;
use crate::secret::Secret;
use crate::settings::Role;

/// Largest AWS config/credentials file the identity covers. A bigger one is not hashed in part
/// (a profile past the limit could change unseen): the run does not use the cache.
pub const MAX_AWS_FILE: u64 = 1 << 20;
/// Largest AWS config/credentials file read at all (and handed to the SDK); a bigger one fails
/// the fetch with one line.
pub const MAX_AWS_FILE_READ: u64 = 16 << 20;
/// Keys of a profile that never change whose credentials it yields.
const IGNORED_KEYS: &[&str] = &["region", "output", "cli_pager", "cli_history"];

/// Where the credentials of an identity come from, as far as configuration tells (nothing is
/// resolved): the first source of the SDK's chain that the configuration provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (first in the chain).
    EnvKeys,
    /// A profile with sections in the AWS config or credentials file (or a file too large to
    /// tell). `sso`: it gets credentials through IAM Identity Center, so its failures usually
    /// mean "run `aws sso login --profile NAME`"; `login`: the profile (it or one of its source
    /// profiles) whose `aws login` session it uses, so that a missing or expired session means
    /// "run `aws login`".
    Profile {
        name: String,
        sso: bool,
        login: Option<String>,
    },
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` (with `AWS_ROLE_ARN`, as EKS IRSA sets them; the role may
    /// also come from the profile).
    WebIdentity { role: String },
    /// The ECS / EKS Pod Identity container credentials endpoint.
    Container,
    /// Nothing configured: only the EC2 instance role (IMDS) is left to try.
    InstanceRole,
    /// The kubelet's service-account mode: the role assumed with a pod's service account token
    /// (`kubelet.rs`), `subject` being the account the token names.
    ServiceAccount { subject: String, role: String },
    /// A per-registry `role_arn`, assumed with the credentials of `from` (its `source_profile`,
    /// else the default chain).
    Role {
        arn: String,
        from: Box<CredentialSource>,
    },
}

impl CredentialSource {
    /// The source whose credentials are used first: for a role, what assumes it.
    pub fn base(&self) -> &CredentialSource {
        match self {
            CredentialSource::Role { from, .. } => from.base(),
            other => other,
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::EnvKeys => f.write_str("environment keys"),
            CredentialSource::Profile { name, .. } => write!(f, "profile {name}"),
            CredentialSource::WebIdentity { role } => write!(f, "web identity role {role}"),
            CredentialSource::Container => f.write_str("container credentials"),
            CredentialSource::InstanceRole => f.write_str("default chain (instance role)"),
            CredentialSource::ServiceAccount { subject, role } => {
                write!(f, "service account {subject} as {role}")
            }
            CredentialSource::Role { arn, from } => write!(f, "role {arn} from {from}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Hex SHA-256 over the canonical description (secrets included only here, hashed).
    pub id: String,
    /// Where its credentials come from (its `Display` is the summary for logs).
    pub source: CredentialSource,
    /// False when an AWS file was too large to read whole: this run must not use the cache.
    pub cacheable: bool,
    /// AWS files that exist but cannot be used (a FIFO, unreadable): one stderr line each.
    pub warnings: Vec<String>,
    /// `web_identity_token_file` values of the selected profile's sections.
    pub web_identity_files: Vec<String>,
}

impl Identity {
    /// The identity of the current configuration, the AWS files being the run's (`aws`: read
    /// once, the very bytes the SDK is given). `profile_override` (a per-registry mapping) wins
    /// over `AWS_PROFILE`.
    pub fn of(cfg: &Config, aws: &AwsFilesOnce, profile_override: Option<&str>) -> Identity {
        let mut canon = canonical_env(cfg);
        let has_env_keys = cfg.identity_var(config::ACCESS_KEY_ID).is_some()
            && cfg
                .identity_env
                .iter()
                .any(|(n, _)| *n == config::SECRET_ACCESS_KEY);
        let profile = profile_override
            .or(cfg.profile.as_deref())
            .unwrap_or("default");
        let mut cacheable = true;
        let mut warnings = Vec::new();
        let mut web_identity_files = Vec::new();
        let source = if has_env_keys && profile_override.is_none() {
            // Environment keys come first in the chain: the profile cannot matter, unless one is
            // named that does not exist (then no keys are used: the fetch fails, as the AWS CLI).
            let _ = writeln!(canon, "env-keys");
            if let Some(p) = &cfg.profile {
                let _ = writeln!(canon, "named profile {p}");
            }
            CredentialSource::EnvKeys
        } else {
            let files = aws.get(cfg);
            cacheable = !files.too_large_to_identify;
            warnings = files.warnings.clone();
            let sections = if cacheable {
                profile_sections(files, profile)
            } else {
                Sections::new()
            };
            web_identity_files = sections
                .values()
                .filter_map(|kv| kv.get("web_identity_token_file").cloned())
                .collect();
            let _ = writeln!(canon, "profile {profile}");
            for (section, kv) in &sections {
                for (k, v) in kv {
                    let _ = writeln!(canon, "[{section}] {k}={v}");
                }
            }
            profile_source(cfg, profile, profile_override, &sections, !cacheable)
        };
        Identity {
            id: hex(&Sha256::digest(canon.as_bytes())),
            source,
            cacheable,
            warnings,
            web_identity_files,
        }
    }

    /// [`Identity::of`] with files read for it alone (tests).
    #[cfg(test)]
    pub fn of_fresh(cfg: &Config, profile_override: Option<&str>) -> Identity {
        Identity::of(cfg, &AwsFilesOnce::default(), profile_override)
    }

    /// The identity of a per-registry role: the role, its session name, external id and
    /// duration (each changes the session STS issues), and the identity of the credentials that
    /// assume it (`source_profile`, else the default chain). The STS region is not part of it, as
    /// a profile's `region` is not.
    pub fn of_role(cfg: &Config, aws: &AwsFilesOnce, role: &Role) -> Identity {
        let from = Identity::of(cfg, aws, role.source_profile.as_deref());
        let mut canon = String::new();
        let _ = writeln!(canon, "role {}", role.arn);
        if let Some(id) = &role.external_id {
            let _ = writeln!(canon, "external_id sha256:{}", hex(&Sha256::digest(id)));
        }
        if let Some(n) = &role.session_name {
            let _ = writeln!(canon, "role_session_name {n}");
        }
        if let Some(d) = role.duration_seconds {
            let _ = writeln!(canon, "duration_seconds {d}");
        }
        let _ = writeln!(canon, "from {}", from.id);
        Identity {
            id: hex(&Sha256::digest(canon.as_bytes())),
            source: CredentialSource::Role {
                arn: role.arn.clone(),
                from: Box::new(from.source),
            },
            cacheable: from.cacheable,
            warnings: from.warnings,
            web_identity_files: from.web_identity_files,
        }
    }

    /// Whether the selected profile has sections in the AWS files (for a role: the profile that
    /// assumes it).
    pub fn profile_found(&self) -> bool {
        matches!(self.source.base(), CredentialSource::Profile { .. })
    }
}

/// The identity's environment part: every identity variable but the profile (a mapping may
/// override that), secrets hashed.
fn canonical_env(cfg: &Config) -> String {
    let mut canon = String::new();
    for (name, value) in &cfg.identity_env {
        if *name == config::PROFILE {
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
    canon
}

/// Where the keys of `profile` come from, given its sections of the AWS files.
fn profile_source(
    cfg: &Config,
    profile: &str,
    profile_override: Option<&str>,
    sections: &Sections,
    too_large: bool,
) -> CredentialSource {
    // The profile's own keys (both files), as the SDK merges them.
    let own = |key: &str| {
        let config_name = if profile == "default" {
            "config:default".to_owned()
        } else {
            format!("config:profile {profile}")
        };
        [format!("credentials:{profile}"), config_name]
            .iter()
            .find_map(|s| sections.get(s).and_then(|kv| kv.get(key)).cloned())
    };
    let assumes_role = own("role_arn").is_some() && own("web_identity_token_file").is_none();
    let env_web_identity =
        profile_override.is_none() && cfg.identity_var(config::WEB_IDENTITY_TOKEN_FILE).is_some();
    // Too large to read: whether the profile exists is the SDK's to say.
    if sections.is_empty() && !too_large {
        default_chain_source(cfg)
    } else if env_web_identity && !assumes_role {
        // Web identity from the variables comes before the profile's other sources.
        CredentialSource::WebIdentity {
            role: cfg
                .identity_var(config::ROLE_ARN)
                .map(str::to_owned)
                .or_else(|| own("role_arn"))
                .unwrap_or_default(),
        }
    } else {
        CredentialSource::Profile {
            name: profile.to_owned(),
            sso: sections
                .values()
                .any(|kv| kv.keys().any(|k| k.starts_with("sso_"))),
            login: login_profile(sections),
        }
    }
}

/// The profile of `sections` that has an `aws login` session, if any.
fn login_profile(sections: &Sections) -> Option<String> {
    sections.iter().find_map(|(section, kv)| {
        kv.contains_key("login_session").then(|| {
            let name = section.split_once(':').map_or(section.as_str(), |(_, n)| n);
            name.strip_prefix("profile ").unwrap_or(name).to_owned()
        })
    })
}

/// The source when no profile applies: the chain's later steps, in its order.
fn default_chain_source(cfg: &Config) -> CredentialSource {
    if cfg.identity_var(config::WEB_IDENTITY_TOKEN_FILE).is_some() {
        CredentialSource::WebIdentity {
            role: cfg
                .identity_var(config::ROLE_ARN)
                .unwrap_or_default()
                .to_owned(),
        }
    } else if cfg
        .identity_var(config::CONTAINER_CREDENTIALS_RELATIVE_URI)
        .or(cfg.identity_var(config::CONTAINER_CREDENTIALS_FULL_URI))
        .is_some()
    {
        CredentialSource::Container
    } else {
        CredentialSource::InstanceRole
    }
}

/// The region of the caller's default registry, as the AWS CLI takes it: `AWS_REGION`, else
/// `AWS_DEFAULT_REGION`, else the selected profile's `region` (`AWS_DEFAULT_PROFILE`, else
/// `AWS_PROFILE`, else `default`; a `region` in the credentials file counts, as with botocore).
pub fn default_region(cfg: &Config, aws: &AwsFilesOnce) -> Option<String> {
    if let Some(r) = &cfg.region {
        return Some(r.clone());
    }
    let files = aws.get(cfg);
    let (config, credentials) = profiles::for_the_sdk(&files.config, &files.credentials);
    let profile = cfg.profile.as_deref().unwrap_or("default");
    profiles::property(&config, &credentials, profile, "region").filter(|r| !r.is_empty())
}

pub type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// The AWS config and credentials files as this run sees them: read once, whole, only if they
/// are regular files (a FIFO there must not block: it counts as absent, with a warning; the
/// null device is an empty file, without one). The SDK
/// is handed the same text (`ecr.rs`), so what the identity hashed is what selects credentials.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AwsFiles {
    pub config: String,
    pub credentials: String,
    /// A file was larger than [`MAX_AWS_FILE_READ`] (its text is then empty): no fetch.
    pub too_large: bool,
    /// A file was larger than [`MAX_AWS_FILE`]: no identity can cover it, no cache.
    pub too_large_to_identify: bool,
    pub warnings: Vec<String>,
}

/// The run's AWS files: read at most once, when first needed (an identity from environment keys
/// never needs them), and then shared by every identity worked out and every fetch made in the
/// run (`context.rs` holds it), so the bytes an identity covers are the bytes the SDK is given.
#[derive(Default)]
pub struct AwsFilesOnce(std::sync::OnceLock<Secret<AwsFiles>>);

impl AwsFilesOnce {
    pub fn get(&self, cfg: &Config) -> &AwsFiles {
        self.0
            .get_or_init(|| Secret::new(AwsFiles::read(cfg)))
            .expose()
    }
}

impl fmt::Debug for AwsFilesOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Their text holds keys: whether they were read is all that is shown.
        f.debug_struct("AwsFilesOnce")
            .field("read", &self.0.get().is_some())
            .finish()
    }
}

impl AwsFiles {
    /// Both files, each up to [`MAX_AWS_FILE_READ`].
    pub fn read(cfg: &Config) -> AwsFiles {
        let mut out = AwsFiles::default();
        for (path, name, text) in [
            (&cfg.aws_config_file, "AWS config file", &mut out.config),
            (
                &cfg.aws_credentials_file,
                "AWS credentials file",
                &mut out.credentials,
            ),
        ] {
            // `/dev/null` (Windows: `NUL`) is the common way to say "no such file": an empty
            // file, silently (it is no regular file, so it would otherwise be warned about).
            let Some(path) = path.as_deref().filter(|p| !files::is_null_device(p)) else {
                continue;
            };
            match files::read_regular(path, MAX_AWS_FILE_READ, true) {
                Ok(bytes) => {
                    out.too_large_to_identify |= bytes.len() as u64 > MAX_AWS_FILE;
                    *text = String::from_utf8_lossy(&bytes).into_owned();
                }
                Err(ReadError::Missing) => {}
                Err(ReadError::TooLarge(_)) => {
                    out.too_large = true;
                    out.too_large_to_identify = true;
                }
                Err(e) => out.warnings.push(format!(
                    "warning: ignoring the {name} {}: {e}",
                    path.display()
                )),
            }
        }
        out
    }
}

/// The sections that decide what `profile` yields: the profile in both files, then its
/// `source_profile` chain and its `sso_session`, keyed "config:profile x", "credentials:x", ...
fn profile_sections(files: &AwsFiles, profile: &str) -> Sections {
    // The text the SDK is given (profiles.rs), so that what is hashed is what it reads.
    let (config, creds) = profiles::for_the_sdk(&files.config, &files.credentials);
    let config = parse_ini(&config);
    let creds = parse_ini(&creds);
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
/// indented continuation lines folded into the previous key.
pub fn parse_ini(text: &str) -> Sections {
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
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;
    use std::fs;
    use std::path::{Path, PathBuf};

    fn cfg(vars: &[(&str, &str)], dir: &Path) -> Config {
        let home = dir.display().to_string();
        let mut pairs = vec![("HOME", home.as_str())];
        pairs.extend_from_slice(vars);
        Config::from_pairs(&pairs)
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
        let a = Identity::of_fresh(
            &cfg(
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIA1"),
                    ("AWS_SECRET_ACCESS_KEY", "s1"),
                ],
                d.path(),
            ),
            None,
        );
        let b = Identity::of_fresh(
            &cfg(
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIA1"),
                    ("AWS_SECRET_ACCESS_KEY", "s2"),
                ],
                d.path(),
            ),
            None,
        );
        let c = Identity::of_fresh(
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
        assert!(!a.source.to_string().contains("s1") && !a.id.contains("s1"));
    }

    #[test]
    fn profile_identity_follows_role_process_and_source_profile_but_not_region() {
        let d = tempfile::tempdir().unwrap();
        let base = "[profile dev]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nregion = us-east-1\n[profile base]\ncredential_process = /bin/get-creds one\n";
        write(d.path(), "config", base);
        let c = cfg(&[("AWS_PROFILE", "dev")], d.path());
        let first = Identity::of_fresh(&c, None);
        assert_eq!(first.source.to_string(), "profile dev");
        assert_eq!(Identity::of_fresh(&c, None), first, "stable");

        write(d.path(), "config", &base.replace("us-east-1", "eu-west-1"));
        assert_eq!(
            Identity::of_fresh(&c, None).id,
            first.id,
            "region is not identity"
        );

        write(d.path(), "config", &base.replace("role/a", "role/b"));
        assert_ne!(
            Identity::of_fresh(&c, None).id,
            first.id,
            "role changes identity"
        );

        write(d.path(), "config", &base.replace("one", "two"));
        assert_ne!(
            Identity::of_fresh(&c, None).id,
            first.id,
            "source profile's process changes identity"
        );

        write(d.path(), "config", base);
        let other = Identity::of_fresh(&cfg(&[("AWS_PROFILE", "base")], d.path()), None);
        assert_ne!(other.id, first.id);
        assert_eq!(
            Identity::of_fresh(&c, Some("base")).id,
            other.id,
            "override wins"
        );
    }

    /// Keys in the credentials file, environment keys, and a role with nothing but its ARN.
    fn role_world(d: &Path) -> (Config, Role) {
        write(
            d,
            "credentials",
            "[base]\naws_access_key_id = A\naws_secret_access_key = S\n[other]\naws_access_key_id = B\naws_secret_access_key = S\n",
        );
        let c = cfg(
            &[("AWS_ACCESS_KEY_ID", "E"), ("AWS_SECRET_ACCESS_KEY", "S")],
            d,
        );
        let role = Role {
            arn: "arn:aws:iam::123456789012:role/a".into(),
            external_id: None,
            session_name: None,
            duration_seconds: None,
            region: None,
            source_profile: None,
        };
        (c, role)
    }

    #[test]
    fn a_registrys_role_is_its_own_identity() {
        let d = tempfile::tempdir().unwrap();
        let (c, role) = role_world(d.path());
        let a = Identity::of_role(&c, &Default::default(), &role);
        assert_eq!(
            a.source.to_string(),
            "role arn:aws:iam::123456789012:role/a from environment keys"
        );
        assert_eq!(a.source.base(), &CredentialSource::EnvKeys);
        assert_ne!(a.id, Identity::of_fresh(&c, None).id, "not the chain's own");
        assert_eq!(
            Identity::of_role(&c, &Default::default(), &role),
            a,
            "stable"
        );
    }

    #[test]
    fn every_part_of_a_role_but_its_sts_region_is_identity() {
        let d = tempfile::tempdir().unwrap();
        let (c, role) = role_world(d.path());
        let a = Identity::of_role(&c, &Default::default(), &role);
        let differs = |r: Role| {
            assert_ne!(
                Identity::of_role(&c, &Default::default(), &r).id,
                a.id,
                "{r:?}"
            )
        };
        differs(Role {
            arn: "arn:aws:iam::123456789012:role/b".into(),
            ..role.clone()
        });
        differs(Role {
            external_id: Some("x1".into()),
            ..role.clone()
        });
        differs(Role {
            session_name: Some("s1".into()),
            ..role.clone()
        });
        differs(Role {
            duration_seconds: Some(900),
            ..role.clone()
        });
        differs(Role {
            source_profile: Some("base".into()),
            ..role.clone()
        });
        let base = Identity::of_role(
            &c,
            &Default::default(),
            &Role {
                source_profile: Some("base".into()),
                ..role.clone()
            },
        );
        assert_ne!(
            Identity::of_role(
                &c,
                &Default::default(),
                &Role {
                    source_profile: Some("other".into()),
                    ..role.clone()
                }
            )
            .id,
            base.id
        );
        assert!(base.profile_found());
        assert_eq!(
            Identity::of_role(
                &c,
                &Default::default(),
                &Role {
                    region: Some("eu-west-1".into()),
                    ..role.clone()
                }
            )
            .id,
            a.id,
            "the STS region is not identity"
        );
        let secret = Identity::of_role(
            &c,
            &Default::default(),
            &Role {
                external_id: Some("ext-secret".into()),
                ..role
            },
        );
        assert!(!secret.source.to_string().contains("ext-secret"));
    }

    #[test]
    fn sso_session_account_and_role_are_part_of_the_identity() {
        let d = tempfile::tempdir().unwrap();
        let text = "[profile s]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n";
        write(d.path(), "config", text);
        let c = cfg(&[("AWS_PROFILE", "s")], d.path());
        let a = Identity::of_fresh(&c, None);
        assert_eq!(
            a.source,
            CredentialSource::Profile {
                name: "s".into(),
                sso: true,
                login: None,
            }
        );
        write(d.path(), "config", &text.replace("Dev", "Admin"));
        assert_ne!(Identity::of_fresh(&c, None).id, a.id);
        write(
            d.path(),
            "config",
            &text.replace("corp.awsapps", "other.awsapps"),
        );
        assert_ne!(Identity::of_fresh(&c, None).id, a.id);
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
        let a = Identity::of_fresh(&c, None);
        write(
            d.path(),
            "credentials",
            "[default]\naws_access_key_id = A\naws_secret_access_key = T\n",
        );
        assert_ne!(Identity::of_fresh(&c, None).id, a.id);
    }

    #[test]
    fn a_file_too_large_to_hash_whole_makes_the_run_uncacheable() {
        let d = tempfile::tempdir().unwrap();
        let filler = "# filler\n".repeat((MAX_AWS_FILE as usize / 9) + 10);
        write(
            d.path(),
            "credentials",
            &format!("{filler}[default]\naws_access_key_id = A\naws_secret_access_key = S\n"),
        );
        let id = Identity::of_fresh(&cfg(&[], d.path()), None);
        assert!(!id.cacheable);
        write(
            d.path(),
            "credentials",
            "[default]\naws_access_key_id = A\naws_secret_access_key = S\n",
        );
        assert!(Identity::of_fresh(&cfg(&[], d.path()), None).cacheable);
    }

    #[test]
    fn a_run_reads_the_aws_files_once_and_every_identity_covers_those_bytes() {
        let d = tempfile::tempdir().unwrap();
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = S\n[profile p]\n";
        write(d.path(), "credentials", text);
        let c = cfg(&[], d.path());
        let aws = AwsFilesOnce::default();
        let first = Identity::of(&c, &aws, None);
        // Changed afterwards: the run goes on with what it read, for every identity it works
        // out and for the SDK (aws.get is what ecr.rs hands it).
        write(
            d.path(),
            "credentials",
            "[default]\naws_access_key_id = B\n",
        );
        assert_eq!(Identity::of(&c, &aws, None), first);
        assert_eq!(aws.get(&c).credentials, text);
        assert_ne!(
            Identity::of_fresh(&c, None).id,
            first.id,
            "a new run reads again"
        );
        // Environment keys: the files are not needed, so not read.
        let env = cfg(
            &[("AWS_ACCESS_KEY_ID", "E"), ("AWS_SECRET_ACCESS_KEY", "S")],
            d.path(),
        );
        let untouched = AwsFilesOnce::default();
        Identity::of(&env, &untouched, None);
        assert_eq!(format!("{untouched:?}"), "AwsFilesOnce { read: false }");
        // Too large to identify, not too large to use: no cache, and the SDK gets the text.
        let filler = "# filler\n".repeat((MAX_AWS_FILE as usize / 9) + 10);
        write(d.path(), "credentials", &format!("{filler}{text}"));
        let big = AwsFilesOnce::default();
        assert!(!Identity::of(&c, &big, None).cacheable);
        assert!(big.get(&c).credentials.ends_with(text) && !big.get(&c).too_large);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_as_the_config_file_is_absent_with_a_warning() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let c = cfg(&[("AWS_CONFIG_FILE", fifo.to_str().unwrap())], d.path());
        let id = Identity::of_fresh(&c, None);
        assert!(id.cacheable);
        assert_eq!(id.warnings.len(), 1, "{:?}", id.warnings);
        assert!(id.warnings[0].contains("not a regular file"));
    }

    #[test]
    fn the_null_device_as_an_aws_file_is_empty_without_a_warning() {
        let d = tempfile::tempdir().unwrap();
        let null = if cfg!(windows) { "NUL" } else { "/dev/null" };
        let c = cfg(
            &[
                ("AWS_CONFIG_FILE", null),
                ("AWS_SHARED_CREDENTIALS_FILE", null),
            ],
            d.path(),
        );
        let files = AwsFiles::read(&c);
        assert_eq!(
            (files.config.as_str(), files.credentials.as_str()),
            ("", "")
        );
        assert!(files.warnings.is_empty(), "{:?}", files.warnings);
        assert!(!files.too_large);
        let id = Identity::of_fresh(&c, None);
        assert!(id.cacheable && id.warnings.is_empty(), "{:?}", id.warnings);
    }

    #[test]
    fn a_directory_as_the_config_file_is_absent_with_a_warning() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(&[("AWS_CONFIG_FILE", d.path().to_str().unwrap())], d.path());
        let id = Identity::of_fresh(&c, None);
        assert!(id.cacheable);
        assert_eq!(id.warnings.len(), 1, "{:?}", id.warnings);
        assert!(
            id.warnings[0].contains("not a regular file"),
            "{:?}",
            id.warnings
        );
    }

    #[test]
    fn the_login_session_and_its_cache_directory_are_part_of_the_identity() {
        let d = tempfile::tempdir().unwrap();
        let text = "[profile c]\nlogin_session = arn:aws:iam::123456789012:user/alice\nregion = us-west-2\n";
        write(d.path(), "config", text);
        let c = cfg(&[("AWS_PROFILE", "c")], d.path());
        let a = Identity::of_fresh(&c, None);
        assert_eq!(
            a.source,
            CredentialSource::Profile {
                name: "c".into(),
                sso: false,
                login: Some("c".into()),
            }
        );
        write(d.path(), "config", &text.replace("alice", "bob"));
        assert_ne!(Identity::of_fresh(&c, None).id, a.id, "another sign-in");
        write(d.path(), "config", text);
        let elsewhere = cfg(
            &[
                ("AWS_PROFILE", "c"),
                ("AWS_LOGIN_CACHE_DIRECTORY", "/other"),
            ],
            d.path(),
        );
        assert_ne!(
            Identity::of_fresh(&elsewhere, None).id,
            a.id,
            "another session cache"
        );
        // A role whose source profile signed in: that profile's session.
        write(
            d.path(),
            "config",
            &format!("[profile r]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = c\n{text}"),
        );
        let r = Identity::of_fresh(&cfg(&[("AWS_PROFILE", "r")], d.path()), None);
        assert!(
            matches!(&r.source, CredentialSource::Profile { login: Some(p), .. } if p == "c"),
            "{:?}",
            r.source
        );
    }

    #[test]
    fn aws_default_profile_selects_before_aws_profile() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "credentials",
            "[a]\naws_access_key_id = A\naws_secret_access_key = S\n[b]\naws_access_key_id = B\naws_secret_access_key = S\n",
        );
        let both = Identity::of_fresh(
            &cfg(
                &[("AWS_PROFILE", "a"), ("AWS_DEFAULT_PROFILE", "b")],
                d.path(),
            ),
            None,
        );
        assert_eq!(both.source.to_string(), "profile b");
        assert_eq!(
            both.id,
            Identity::of_fresh(&cfg(&[("AWS_DEFAULT_PROFILE", "b")], d.path()), None).id
        );
    }

    #[test]
    fn environment_web_identity_comes_before_the_profiles_keys_but_not_its_role() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "credentials",
            "[default]\naws_access_key_id = A\naws_secret_access_key = S\n",
        );
        let irsa = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa"),
        ];
        let id = Identity::of_fresh(&cfg(&irsa, d.path()), None);
        assert_eq!(
            id.source.to_string(),
            "web identity role arn:aws:iam::1:role/irsa"
        );
        write(
            d.path(),
            "config",
            "[default]\nrole_arn = arn:aws:iam::1:role/deploy\nsource_profile = default\n",
        );
        let id = Identity::of_fresh(&cfg(&irsa, d.path()), None);
        assert_eq!(id.source.to_string(), "profile default");
    }

    #[test]
    fn a_named_profile_is_part_of_an_environment_keys_identity() {
        let d = tempfile::tempdir().unwrap();
        let keys = [("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")];
        let plain = Identity::of_fresh(&cfg(&keys, d.path()), None);
        let mut named = keys.to_vec();
        named.push(("AWS_PROFILE", "ghost"));
        let named = Identity::of_fresh(&cfg(&named, d.path()), None);
        assert_eq!(named.source, CredentialSource::EnvKeys);
        assert_ne!(plain.id, named.id);
    }

    #[test]
    fn indented_keys_are_hashed_as_the_sdk_reads_them() {
        let d = tempfile::tempdir().unwrap();
        let text = "[default]\n    aws_access_key_id = A\n      # rotated\n    aws_secret_access_key = S\n";
        write(d.path(), "credentials", text);
        let c = cfg(&[], d.path());
        let a = Identity::of_fresh(&c, None);
        write(d.path(), "credentials", &text.replace("= S", "= T"));
        assert_ne!(Identity::of_fresh(&c, None).id, a.id);
    }

    #[test]
    fn the_default_region_is_the_environments_else_the_profiles() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "config",
            "[default]\nregion = us-east-2\n[profile dev]\nregion = eu-west-1 # home\n",
        );
        let region =
            |vars: &[(&str, &str)]| default_region(&cfg(vars, d.path()), &Default::default());
        assert_eq!(region(&[]).as_deref(), Some("us-east-2"));
        assert_eq!(
            region(&[("AWS_PROFILE", "dev")]).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region(&[("AWS_PROFILE", "dev"), ("AWS_DEFAULT_REGION", "ap-south-1")]).as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(
            region(&[
                ("AWS_REGION", "eu-central-1"),
                ("AWS_DEFAULT_REGION", "ap-south-1")
            ])
            .as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(region(&[("AWS_PROFILE", "ops")]), None);
        write(d.path(), "credentials", "[dev]\nregion = ca-central-1\n");
        assert_eq!(
            region(&[("AWS_PROFILE", "dev")]).as_deref(),
            Some("ca-central-1")
        );
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
