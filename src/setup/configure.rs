//! `docker-credential-ecr-login configure [--store] [--dry-run] [REGISTRY...]`: writes the Docker
//! side of the setup for the user (as docker-credential-gcr's `configure-docker` does).
//!
//! `REGISTRY...` become `credHelpers` entries, `--store` sets `credsStore`; both in
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`). Refuses when Docker could not
//! find this helper on `PATH`. Returns the lines to print; never touches stdout itself.

use std::path::Path;

use crate::config::Config;
use crate::fallback;
use crate::registry;
use crate::settings::Settings;
use crate::setup::docker_config::{self, BINARY, DockerConfig, HELPER_NAME};

pub const USAGE: &str = "Usage: docker-credential-ecr-login configure [--containers] [--store [--fallback NAME]] [--dry-run] [REGISTRY...]";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub store: bool,
    pub dry_run: bool,
    pub registries: Vec<String>,
    /// `--fallback NAME`: the settings file's `"fallback"` (needs `--store`).
    pub fallback: Option<String>,
    /// `--containers`: podman, skopeo and buildah instead of Docker (`containers.rs`).
    pub containers: bool,
    /// `-h`/`--help`: the usage and the options, nothing done.
    pub help: bool,
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
            "--containers" => out.containers = true,
            "-h" | "--help" => {
                return Ok(Args {
                    help: true,
                    ..Args::default()
                });
            }
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
    if out.fallback.is_some() && out.containers {
        return Err(format!(
            "--fallback is for Docker's credsStore; with --containers, podman keeps other registries' passwords in its auth files; {USAGE}"
        ));
    }
    if out.fallback.is_some() && !out.store {
        return Err(format!(
            "--fallback needs --store: only with credsStore does Docker ask this helper for other registries; {USAGE}"
        ));
    }
    Ok(out)
}

/// Applies `args`. `Ok(lines)` to print; `Err(line)` is the failure to print (exit 1).
///
/// The edit of `config.json` (and of the settings file, for the fallback) is one locked step:
/// concurrent runs for different registries all land; see [`docker_config::edit`].
pub fn run(cfg: &Config, args: &Args) -> Result<Vec<String>, String> {
    if args.help {
        return Ok(vec![
            USAGE.to_owned(),
            crate::setup::help::CONFIGURE.to_owned(),
        ]);
    }
    let path = cfg.docker_config_file.as_deref();
    let path = match path {
        Some(p) => p,
        None if args.containers => Path::new(""),
        None => {
            return Err(
                "no home directory and no DOCKER_CONFIG: cannot locate Docker's config.json".into(),
            );
        }
    };
    let found = this_program(cfg)?;
    let settings = Settings::load(cfg.settings_file.as_deref()).map_err(|e| e.to_string())?;
    if args.containers {
        let keys = args
            .registries
            .iter()
            .map(|r| registry_key(r, &settings))
            .collect::<Result<Vec<_>, _>>()?;
        return crate::setup::containers::run(cfg, &keys, args.store, args.dry_run, &found);
    }
    let explicit = match &args.fallback {
        Some(name) => Some(fallback_step(cfg, name, &settings)?),
        None => None,
    };
    let mut keys = Vec::new();
    for r in &args.registries {
        keys.push(registry_key(r, &settings)?);
    }
    let mut lines = vec![format!("Docker will run {}", found.display())];
    let plan = |docker: &mut DockerConfig| -> Result<(bool, Edit), String> {
        let mut edit = apply(docker, &keys, args.store, args.dry_run);
        edit.fallback = match (&explicit, &edit.previous_store) {
            (Some(step), _) => Some(step.clone()),
            (None, Some(prev)) => previous_store_step(cfg, prev, &settings, &mut edit.lines)?,
            (None, None) => None,
        };
        if let Some(f) = &edit.fallback {
            edit.lines.push(f.line(args.dry_run));
            if let Some(w) = untrusted_settings(cfg) {
                edit.lines.push(format!(
                    "{w}: until that is fixed, the fallback is not used"
                ));
            }
            if !args.dry_run {
                // Before config.json: Docker asks us for every registry once credsStore is ours,
                // and the fallback must be there by then.
                if let Some(line) = write_fallback(f)? {
                    edit.lines.push(line);
                }
            }
        }
        Ok((edit.changed && !args.dry_run, edit))
    };
    let (saved, edit) = if args.dry_run {
        let mut docker = DockerConfig::load(path)?;
        (docker_config::Saved::Unchanged, plan(&mut docker)?.1)
    } else {
        docker_config::edit(path, plan)?
    };
    lines.extend(edit.lines);
    lines.push(saved_line(path, &saved, edit.changed));
    Ok(lines)
}

/// This program as Docker will find it on PATH, or the line that says why Docker cannot.
fn this_program(cfg: &Config) -> Result<std::path::PathBuf, String> {
    if let Some(found) = docker_config::find_on_path(cfg.path.as_deref()) {
        return Ok(found);
    }
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
    Err(format!(
        "{BINARY} is not on PATH, so Docker could not run it; {how}, then run configure again"
    ))
}

/// The last line of a run: what became of config.json.
fn saved_line(path: &Path, saved: &docker_config::Saved, changed: bool) -> String {
    match saved {
        _ if !changed => format!("{}: nothing to change", path.display()),
        docker_config::Saved::Unchanged => format!("dry run: {} not written", path.display()),
        docker_config::Saved::Wrote { backup: Some(b) } => format!(
            "wrote {} (previous version: {})",
            path.display(),
            b.display()
        ),
        docker_config::Saved::Wrote { backup: None } => format!("wrote {}", path.display()),
    }
}

/// What one run changes in `config.json`, and says about it.
struct Edit {
    changed: bool,
    lines: Vec<String>,
    /// The `credsStore` that `--store` replaces (not ours, not empty).
    previous_store: Option<String>,
    fallback: Option<FallbackStep>,
}

/// Sets the `credHelpers` entries and (with `store`) `credsStore` in `docker`.
fn apply(docker: &mut DockerConfig, keys: &[String], store: bool, dry_run: bool) -> Edit {
    let verb = if dry_run { "would set" } else { "set" };
    let describe = |prev: Option<String>| match prev {
        Some(p) => format!(" (was {p:?})"),
        None => String::new(),
    };
    let mut edit = Edit {
        changed: false,
        lines: Vec::new(),
        previous_store: None,
        fallback: None,
    };
    for key in keys {
        match docker.set_cred_helper(key) {
            Some(prev) => {
                edit.changed = true;
                edit.lines.push(format!(
                    "{verb} credHelpers[{key:?}] = {HELPER_NAME:?}{}",
                    describe(prev)
                ));
            }
            None => edit
                .lines
                .push(format!("credHelpers[{key:?}] is already {HELPER_NAME:?}")),
        }
    }
    if store {
        match docker.set_creds_store() {
            Some(prev) => {
                edit.changed = true;
                edit.previous_store = prev.clone().filter(|p| !p.is_empty());
                edit.lines.push(format!(
                    "{verb} credsStore = {HELPER_NAME:?}{}",
                    describe(prev)
                ));
            }
            None => edit
                .lines
                .push(format!("credsStore is already {HELPER_NAME:?}")),
        }
    }
    edit
}

/// `--store` over another `credsStore` (`desktop`, `pass`, ...): that store becomes the fallback,
/// so the passwords `docker login` kept there stay reachable; unless the settings file already
/// names a fallback, or the store is not on `PATH` (then Docker could not reach them either).
fn previous_store_step(
    cfg: &Config,
    prev: &str,
    settings: &Settings,
    lines: &mut Vec<String>,
) -> Result<Option<FallbackStep>, String> {
    let shown = crate::text::printable(prev);
    if let Some(current) = settings.fallback() {
        if current != prev {
            lines.push(format!(
                "the fallback stays {current:?} (the settings file names it): credentials stored in the previous credsStore {shown:?} are no longer reachable through Docker; to keep them instead, run configure --store --fallback {shown}"
            ));
        }
        return Ok(None);
    }
    match fallback_step(cfg, prev, settings) {
        Ok(mut step) => {
            step.why = Some(format!(
                "so the credentials stored in the previous credsStore {shown:?} stay reachable"
            ));
            Ok(Some(step))
        }
        Err(why) => {
            lines.push(format!(
                "the previous credsStore {shown:?} is not kept as the fallback: {why}; credentials stored in it are not reachable through Docker"
            ));
            Ok(None)
        }
    }
}

/// The warning that a settings file the helper will not trust names no fallback.
fn untrusted_settings(cfg: &Config) -> Option<String> {
    let cache = crate::cache::CacheState::of(cfg);
    crate::settings::Loaded::load(cfg, &cache)
        .warning
        .or_else(|| cache.warning())
}

/// `--fallback NAME` (or the previous store): the settings file's `"fallback"`.
#[derive(Debug, Clone)]
struct FallbackStep {
    name: String,
    file: std::path::PathBuf,
    found: std::path::PathBuf,
    /// Whether the file changes.
    change: bool,
    /// Why it is set, when the user did not ask.
    why: Option<String>,
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
        let why = self
            .why
            .as_ref()
            .map_or_else(String::new, |w| format!(", {w}"));
        if self.change {
            format!("{verb} {what}{why}")
        } else {
            format!("{what}: already set")
        }
    }
}

/// Checks the fallback (a name, not a loop, on PATH).
fn fallback_step(cfg: &Config, name: &str, settings: &Settings) -> Result<FallbackStep, String> {
    let file = cfg.settings_file.clone().ok_or(
        "no home directory, AWS_ECR_CACHE_DIR or AWS_ECR_CONFIG: no settings file for the fallback",
    )?;
    let found = fallback::find(
        cfg.path.as_deref(),
        name,
        &fallback::Origin::File(file.clone()),
    )?;
    Ok(FallbackStep {
        name: name.to_owned(),
        file,
        found,
        change: settings.fallback() != Some(name),
        why: None,
    })
}

/// Sets `"fallback"` in the settings file (settings.rs owns its file). `Ok(Some(line))` when it
/// wrote.
fn write_fallback(step: &FallbackStep) -> Result<Option<String>, String> {
    if !step.change {
        return Ok(None);
    }
    crate::settings::write_fallback(&step.file, &step.name, docker_config::EDIT_WAIT)?;
    Ok(Some(format!("wrote {}", step.file.display())))
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
                || "the settings file".to_owned(),
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
                containers: false,
                help: false,
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
        let c = args(&["--containers", "--store"]).unwrap();
        assert!(c.containers && c.store);
        assert!(args(&["--containers", "--store", "--fallback", "pass"]).is_err());
        assert!(args(&["--store", "--help"]).unwrap().help);
        let cfg = Config::from_pairs(&[]);
        let help = run(&cfg, &args(&["-h"]).unwrap()).unwrap().join("\n");
        assert!(
            help.contains("--containers") && help.contains("--store"),
            "{help}"
        );
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
