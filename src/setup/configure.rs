//! `docker-credential-ecr-login configure [--store] [--dry-run] [REGISTRY...]`: writes the Docker
//! side of the setup for the user (as docker-credential-gcr's `configure-docker` does).
//!
//! `REGISTRY...` become `credHelpers` entries, `--store` sets `credsStore`; both in
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`). Refuses when Docker could not
//! find this helper on `PATH`. Returns the lines to print; never touches stdout itself.

use crate::config::Config;
use crate::registry;
use crate::settings::Settings;
use crate::setup::docker_config::{self, BINARY, DockerConfig, HELPER_NAME};

pub const USAGE: &str =
    "Usage: docker-credential-ecr-login configure [--store] [--dry-run] [REGISTRY...]";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub store: bool,
    pub dry_run: bool,
    pub registries: Vec<String>,
}

pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    for a in args {
        match a.as_str() {
            "--store" => out.store = true,
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
    Ok(out)
}

/// Applies `args`. `Ok(lines)` to print; `Err(line)` is the failure to print (exit 1).
pub fn run(cfg: &Config, args: &Args) -> Result<Vec<String>, String> {
    let path = cfg
        .docker_config_file
        .as_deref()
        .ok_or("no home directory and no DOCKER_CONFIG: cannot locate Docker's config.json")?;
    let Some(found) = docker_config::find_on_path(cfg.path.as_deref()) else {
        return Err(format!(
            "{BINARY} is not on PATH, so Docker could not run it; install it (make install) or add its directory to PATH, then run configure again"
        ));
    };
    let mappings = Settings::load(cfg.settings_file.as_deref()).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for r in &args.registries {
        keys.push(registry_key(r, &mappings)?);
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

/// The `credHelpers` key for what the user typed: host[:port] without scheme or path, accepted
/// only for ECR hosts and custom names mapped in the per-registry settings.
fn registry_key(input: &str, mappings: &Settings) -> Result<String, String> {
    let key = registry::hostport_of(input);
    match (registry::host_of(input), mappings.resolve(input)) {
        (Some(_), Ok(Some(_))) => Ok(key.to_owned()),
        (_, Err(e)) => Err(e.to_string()),
        _ => Err(format!(
            "{input:?} is not an ECR registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com, public.ecr.aws, ...) nor a custom name in {}",
            mappings.path().map_or_else(
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
                registries: vec!["h".into()]
            }
        );
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
