//! `configure --containers`: the setup for podman, skopeo and buildah (containers/image), which
//! ignore Docker's `credsStore` (docs/contract.md §2.5).
//!
//! - `credHelpers` entries go in the containers auth file those tools read
//!   (containers-auth.json(5)): `$REGISTRY_AUTH_FILE`, else `$XDG_CONFIG_HOME/containers/auth.json`
//!   (`~/.config/containers/auth.json`). Not the primary file in `$XDG_RUNTIME_DIR`: that one is
//!   on a tmpfs, gone at logout or reboot, and it is where `podman login` keeps passwords; the
//!   tools read the `~/.config` one right after it, for every registry.
//! - `--store` writes a registries.conf drop-in (containers-registries.conf.d(5)) that makes
//!   `ecr-login` a global credential helper after the auth files:
//!   `~/.config/containers/registries.conf.d/`, or as root `/etc/containers/registries.conf.d/`.
//!
//! Both with the same file safety as Docker's `config.json`: the auth file goes through
//! [`docker_config::edit`] (locked, re-read, atomic, owner and mode kept, a link edited at its
//! target, anything else refused); the drop-in through the same `files` primitives.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::files;
use crate::setup::docker_config::{self, DockerConfig, HELPER_NAME};

/// The drop-in's name: `.conf` (the only files loaded), after the distributions' own
/// (`shortnames.conf`, `00-*`), so that its `credential-helpers` is the one that counts.
pub const DROP_IN_NAME: &str = "50-ecr-login.conf";
/// The system-wide drop-in directory, written when run as root.
pub const SYSTEM_CONF_D: &str = "/etc/containers/registries.conf.d";
/// The drop-in's whole text: the auth files first (`podman login` keeps working), then us.
pub const DROP_IN: &str = "# Written by docker-credential-ecr-login configure --containers --store.\n# podman, skopeo and buildah look in their auth files first (containers-auth.json), then ask\n# docker-credential-ecr-login, which answers for ECR registries and says \"not found\" for others.\ncredential-helpers = [\"containers-auth.json\", \"ecr-login\"]\n";
/// The most of an existing drop-in read (ours is a few hundred bytes).
const MAX_DROP_IN: u64 = 64 * 1024;

/// Where the drop-in goes for this run.
pub fn drop_in_dir(cfg: &Config) -> Option<PathBuf> {
    if cfg.root {
        Some(PathBuf::from(SYSTEM_CONF_D))
    } else {
        cfg.containers_user_conf_d.clone()
    }
}

/// Applies `configure --containers [--store] [--dry-run] KEY...` (keys already checked).
pub fn run(
    cfg: &Config,
    keys: &[String],
    store: bool,
    dry_run: bool,
    found: &Path,
) -> Result<Vec<String>, String> {
    let mut lines = vec![format!(
        "podman, skopeo and buildah will run {}",
        found.display()
    )];
    if !keys.is_empty() {
        lines.extend(cred_helpers(cfg, keys, dry_run)?);
    }
    if store {
        lines.push(drop_in(cfg, dry_run)?);
    }
    Ok(lines)
}

/// `credHelpers[KEY] = "ecr-login"` in the containers auth file, every other key (`auths` from
/// `podman login` included) kept as written.
fn cred_helpers(cfg: &Config, keys: &[String], dry_run: bool) -> Result<Vec<String>, String> {
    let path = cfg.containers_auth_file.as_deref().ok_or(
        "no home directory and no REGISTRY_AUTH_FILE: cannot locate the containers auth file",
    )?;
    let verb = if dry_run { "would set" } else { "set" };
    let plan = |auth: &mut DockerConfig| -> Result<(bool, Vec<String>), String> {
        let mut changed = false;
        let mut lines = Vec::new();
        for key in keys {
            match auth.set_cred_helper(key) {
                Some(prev) => {
                    changed = true;
                    let was = prev.map_or_else(String::new, |p| format!(" (was {p:?})"));
                    lines.push(format!(
                        "{verb} credHelpers[{key:?}] = {HELPER_NAME:?} in {}{was}",
                        path.display()
                    ));
                }
                None => lines.push(format!(
                    "credHelpers[{key:?}] is already {HELPER_NAME:?} in {}",
                    path.display()
                )),
            }
        }
        Ok((changed && !dry_run, lines))
    };
    let (saved, mut lines) = if dry_run {
        let mut auth = DockerConfig::load(path)?;
        (docker_config::Saved::Unchanged, plan(&mut auth)?.1)
    } else {
        docker_config::edit(path, plan)?
    };
    lines.push(match saved {
        docker_config::Saved::Unchanged if dry_run => {
            format!("dry run: {} not written", path.display())
        }
        docker_config::Saved::Unchanged => format!("{}: nothing to change", path.display()),
        docker_config::Saved::Wrote { backup: Some(b) } => format!(
            "wrote {} (previous version: {})",
            path.display(),
            b.display()
        ),
        docker_config::Saved::Wrote { backup: None } => format!("wrote {}", path.display()),
    });
    Ok(lines)
}

/// The drop-in: written whole when it is not already ours, under the edit lock, atomically,
/// 0644 when new (podman of every user reads the system one), owner and mode kept otherwise.
fn drop_in(cfg: &Config, dry_run: bool) -> Result<String, String> {
    let dir = drop_in_dir(cfg).ok_or(
        "no home directory: cannot locate ~/.config/containers/registries.conf.d for the drop-in",
    )?;
    let path = dir.join(DROP_IN_NAME);
    let shown = path.display();
    let current = |p: &Path| match files::read_regular(p, MAX_DROP_IN, true) {
        Ok(text) => Ok(Some(text)),
        Err(files::ReadError::Missing) => Ok(None),
        Err(e) => Err(format!("{shown}: {e}: not edited")),
    };
    let was = current(&path)?;
    if was.as_deref() == Some(DROP_IN.as_bytes()) {
        return Ok(format!("{shown}: already set"));
    }
    let what =
        format!("credential-helpers = [\"containers-auth.json\", {HELPER_NAME:?}] in {shown}");
    if dry_run {
        return Ok(format!("would set {what} (dry run: not written)"));
    }
    let target = match files::output(&path) {
        files::Output::File(t) => t,
        files::Output::Device => return Err(format!("{shown}: not a regular file: not edited")),
        files::Output::Refused(why) => return Err(format!("{shown}: {why}: not edited")),
    };
    if cfg.root && !files::is_there(&dir) {
        // Made 0700 it would hide every drop-in from other users' podman.
        return Err(format!(
            "{}: no such directory (is containers-common installed?): not written",
            dir.display()
        ));
    }
    if let Some(parent) = target.parent() {
        files::create_dir_for_user(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let lock = files::lock_for_edit(&target, docker_config::EDIT_WAIT)
        .map_err(|e| format!("{shown}: cannot lock it for editing: {e}"))?;
    lock.remove_leftovers(&target);
    if current(&target)?.as_deref() == Some(DROP_IN.as_bytes()) {
        return Ok(format!("{shown}: already set"));
    }
    files::replace_keeping(&target, DROP_IN.as_bytes(), files::Keep::of(&target, 0o644))
        .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
    Ok(format!("set {what}"))
}

#[cfg(all(test, unix))]
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_user_drop_in_is_written_whole_once_and_replaced_when_not_ours() {
        let home = tempfile::tempdir().unwrap();
        let cfg = Config::from_pairs(&[("HOME", home.path().to_str().unwrap())]);
        let dir = home.path().join(".config/containers/registries.conf.d");
        assert_eq!(drop_in_dir(&cfg), Some(dir.clone()));
        let file = dir.join(DROP_IN_NAME);
        assert!(drop_in(&cfg, true).unwrap().contains("dry run"));
        assert!(!file.exists());
        assert!(
            drop_in(&cfg, false)
                .unwrap()
                .starts_with("set credential-helpers")
        );
        assert_eq!(fs_text(&file), DROP_IN);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert!(drop_in(&cfg, false).unwrap().ends_with("already set"));
        // Someone else's text under our name: replaced, its mode kept.
        std::fs::write(&file, "credential-helpers = [\"pass\"]\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(drop_in(&cfg, false).unwrap().starts_with("set "));
        assert_eq!(fs_text(&file), DROP_IN);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A link to nothing, a directory: refused, never replaced.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(home.path().join("nowhere"), &file).unwrap();
        assert!(drop_in(&cfg, false).unwrap_err().contains("not edited"));
        assert!(!home.path().join("nowhere").exists());
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        assert!(drop_in(&cfg, false).is_err());
        // As root: the system directory.
        let mut root = cfg.clone();
        root.root = true;
        assert_eq!(drop_in_dir(&root), Some(PathBuf::from(SYSTEM_CONF_D)));
    }

    fn fs_text(p: &Path) -> String {
        String::from_utf8(std::fs::read(p).unwrap()).unwrap()
    }
}
