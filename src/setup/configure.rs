//! `docker-credential-ecr-login configure [--store] [--dry-run] [REGISTRY...]`: writes the Docker
//! side of the setup for the user (as docker-credential-gcr's `configure-docker` does).
//!
//! `REGISTRY...` become `credHelpers` entries, `--store` sets `credsStore`; both in
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`). Refuses when Docker could not
//! find this helper on `PATH`. Returns the lines to print; never touches stdout itself.

use crate::config::Config;
use crate::fallback;
use crate::registry;
use crate::settings::Settings;
use crate::setup::docker_config::{self, BINARY, DockerConfig, HELPER_NAME};

pub const USAGE: &str = "Usage: docker-credential-ecr-login configure [--store [--fallback NAME]] [--dry-run] [REGISTRY...]";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub store: bool,
    pub dry_run: bool,
    pub registries: Vec<String>,
    /// `--fallback NAME`: the settings file's `"fallback"` (needs `--store`).
    pub fallback: Option<String>,
}

pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut args = args.iter();
    while let Some(a) = args.next() {
        if let Some(name) = a.strip_prefix("--fallback=") {
            out.fallback = Some(name.to_owned());
            continue;
        }
        match a.as_str() {
            "--store" => out.store = true,
            "--fallback" => match args.next() {
                Some(name) => out.fallback = Some(name.clone()),
                None => return Err(format!("--fallback needs a NAME; {USAGE}")),
            },
            "--dry-run" | "-n" => out.dry_run = true,
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag:?}; {USAGE}"));
            }
            r => out.registries.push(r.to_owned()),
        }
    }
    if !out.store && out.registries.is_empty() {
        return Err(format!("nothing to configure; {USAGE}"));
    }
    if out.fallback.is_some() && !out.store {
        return Err(format!(
            "--fallback needs --store: only with credsStore does Docker ask this helper for other registries; {USAGE}"
        ));
    }
    Ok(out)
}

/// Applies `args`. `Ok(lines)` to print; `Err(line)` is the failure to print (exit 1).
pub fn run(cfg: &Config, args: &Args) -> Result<Vec<String>, String> {
    let path = cfg
        .docker_config_file
        .as_deref()
        .ok_or("no home directory and no DOCKER_CONFIG: cannot locate Docker's config.json")?;
    let Some(found) = docker_config::find_on_path(cfg.path.as_deref()) else {
        if let crate::files::LookPath::Relative(rel) =
            crate::files::look_path(cfg.path.as_deref(), BINARY)
        {
            return Err(format!(
                "PATH finds {BINARY} as {}, relative to the current directory, and Docker refuses to run such a program; put its directory on PATH as an absolute path, then run configure again",
                rel.display()
            ));
        }
        let how = if cfg!(windows) {
            "put it in a directory on PATH (System Properties, Environment Variables) and open a new terminal"
        } else {
            "install it (make install) or add its directory to PATH"
        };
        return Err(format!(
            "{BINARY} is not on PATH, so Docker could not run it; {how}, then run configure again"
        ));
    };
    let settings = Settings::load(cfg.settings_file.as_deref()).map_err(|e| e.to_string())?;
    let fallback = match &args.fallback {
        Some(name) => Some(fallback_step(cfg, name, &settings)?),
        None => None,
    };
    let mut keys = Vec::new();
    for r in &args.registries {
        keys.push(registry_key(r, &settings)?);
    }

    let mut docker = DockerConfig::load(path)?;
    let verb = if args.dry_run { "would set" } else { "set" };
    let mut lines = vec![format!("Docker will run {}", found.display())];
    let mut changed = false;
    let describe = |prev: Option<String>| match prev {
        Some(p) => format!(" (was {p:?})"),
        None => String::new(),
    };
    for key in &keys {
        match docker.set_cred_helper(key) {
            Some(prev) => {
                changed = true;
                lines.push(format!(
                    "{verb} credHelpers[{key:?}] = {HELPER_NAME:?}{}",
                    describe(prev)
                ));
            }
            None => lines.push(format!("credHelpers[{key:?}] is already {HELPER_NAME:?}")),
        }
    }
    if args.store {
        match docker.set_creds_store() {
            Some(prev) => {
                changed = true;
                lines.push(format!(
                    "{verb} credsStore = {HELPER_NAME:?}{}",
                    describe(prev)
                ));
            }
            None => lines.push(format!("credsStore is already {HELPER_NAME:?}")),
        }
    }
    let fallback_changed = fallback.as_ref().is_some_and(|f| f.change.is_some());
    if let Some(f) = &fallback {
        lines.push(f.line(args.dry_run));
        // A settings file the helper will not trust names no fallback (docs/security.md).
        let cache = crate::cache::CacheState::of(cfg);
        if let Some(w) = crate::settings::Loaded::load(cfg, &cache)
            .warning
            .or_else(|| cache.warning())
        {
            lines.push(format!(
                "{w}: until that is fixed, the fallback is not used"
            ));
        }
    }
    if !changed && !fallback_changed {
        lines.push(format!("{}: nothing to change", path.display()));
        return Ok(lines);
    }
    if let Some(FallbackStep {
        change: Some(root),
        file,
        ..
    }) = &fallback
        && !args.dry_run
    {
        write_settings(file, root)?;
        lines.push(format!("wrote {}", file.display()));
    }
    if !changed {
        lines.push(format!("{}: nothing to change", path.display()));
    } else if args.dry_run {
        lines.push(format!("dry run: {} not written", path.display()));
    } else {
        match docker.save()? {
            Some(b) => lines.push(format!(
                "wrote {} (previous version: {})",
                path.display(),
                b.display()
            )),
            None => lines.push(format!("wrote {}", path.display())),
        }
    }
    Ok(lines)
}

/// `--fallback NAME`: the settings file and its new content, if it changes.
struct FallbackStep {
    name: String,
    file: std::path::PathBuf,
    found: std::path::PathBuf,
    /// The file's new JSON object, when it changes.
    change: Option<serde_json::Map<String, serde_json::Value>>,
}

impl FallbackStep {
    fn line(&self, dry_run: bool) -> String {
        let verb = if dry_run { "would set" } else { "set" };
        let what = format!(
            "fallback = {:?} in {} (docker-credential-{} is {})",
            self.name,
            self.file.display(),
            self.name,
            self.found.display()
        );
        match self.change {
            Some(_) => format!("{verb} {what}"),
            None => format!("{what}: already set"),
        }
    }
}

/// Checks the fallback (a name, not a loop, on PATH) and prepares the settings file's edit.
fn fallback_step(cfg: &Config, name: &str, settings: &Settings) -> Result<FallbackStep, String> {
    let file = cfg.settings_file.clone().ok_or(
        "no home directory, AWS_ECR_CACHE_DIR or AWS_ECR_CONFIG: no settings file for the fallback",
    )?;
    let found = fallback::find(
        cfg.path.as_deref(),
        name,
        &fallback::Origin::File(file.clone()),
    )?;
    let change = if settings.fallback() == Some(name) {
        None
    } else {
        let mut root = match crate::files::read_regular(&file, 1 << 20, true) {
            Ok(text) => match serde_json::from_slice::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(format!("{}: not a JSON object", file.display())),
            },
            Err(crate::files::ReadError::Missing) => serde_json::Map::new(),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        root.insert(
            "fallback".into(),
            serde_json::Value::String(name.to_owned()),
        );
        Some(root)
    };
    Ok(FallbackStep {
        name: name.to_owned(),
        file,
        found,
        change,
    })
}

/// Writes the settings file atomically: its mode kept, 0600 when new, its directory 0700.
fn write_settings(
    file: &std::path::Path,
    root: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    let target = crate::files::canonical(file).unwrap_or_else(|_| file.to_owned());
    if let Some(dir) = target.parent()
        && !dir.exists()
    {
        crate::files::create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mode = std::fs::metadata(&target).map_or(0o600, |m| crate::files::mode_of(&m));
    let mut text = serde_json::to_vec_pretty(root).map_err(|e| e.to_string())?;
    text.push(b'\n');
    crate::files::replace_atomic(&target, &text, mode)
        .map_err(|e| format!("{}: cannot write: {e}", target.display()))
}

/// The `credHelpers` key for what the user typed: host[:port] without scheme or path, accepted
/// only for ECR hosts and custom names mapped in the per-registry settings.
fn registry_key(input: &str, settings: &Settings) -> Result<String, String> {
    let key = registry::hostport_of(input);
    match (registry::host_of(input), settings.resolve(input)) {
        (Some(_), Ok(Some(_))) => Ok(key.to_owned()),
        (_, Err(e)) => Err(e.to_string()),
        _ => Err(format!(
            "{input:?} is not an ECR registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com, public.ecr.aws, ...) nor a custom name in {}",
            settings.path().map_or_else(
                || "the per-registry settings".to_owned(),
                |p| p.display().to_string()
            )
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Args, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_parse() {
        assert_eq!(
            args(&["--store", "--dry-run", "h"]).unwrap(),
            Args {
                store: true,
                dry_run: true,
                registries: vec!["h".into()],
                fallback: None,
            }
        );
        assert_eq!(
            args(&["--store", "--fallback", "pass"])
                .unwrap()
                .fallback
                .as_deref(),
            Some("pass")
        );
        assert_eq!(
            args(&["--store", "--fallback=pass"])
                .unwrap()
                .fallback
                .as_deref(),
            Some("pass")
        );
        assert!(args(&["--fallback", "pass"]).is_err());
        assert!(args(&["--store", "--fallback"]).is_err());
        assert!(args(&[]).is_err());
        assert!(args(&["--dry-run"]).is_err());
        assert!(
            args(&["--force", "h"])
                .unwrap_err()
                .contains("unknown option")
        );
    }

    #[test]
    fn keys_keep_the_port_and_drop_scheme_and_path() {
        let m = Settings::default();
        assert_eq!(
            registry_key(
                "https://123456789012.dkr.ecr.us-west-2.amazonaws.com:443/v2/",
                &m
            )
            .unwrap(),
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:443"
        );
        assert_eq!(
            registry_key("public.ecr.aws", &m).unwrap(),
            "public.ecr.aws"
        );
        assert!(
            registry_key("docker.io", &m)
                .unwrap_err()
                .contains("not an ECR registry")
        );
    }
}
