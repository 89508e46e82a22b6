//! The Unix side of `files.rs`: `O_NOFOLLOW`/`O_NONBLOCK` opens, modes, owners (OpenSSH's rule).

use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The separator of `PATH`.
pub(super) const PATH_SEPARATOR: char = ':';

/// Read-only, never blocking, and (unless `follow`) never through a symbolic link.
pub(super) fn read_options(follow: bool) -> OpenOptions {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let mut o = OpenOptions::new();
    o.read(true).custom_flags(flags);
    o
}

/// Never through a symbolic link at the last component, never blocking; created files get `mode`.
pub(super) fn private(o: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    o.mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
}

/// Whether an open failed because it met a symbolic link (`O_NOFOLLOW`: ELOOP).
pub(super) fn is_symlink_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// The names a program called `name` may have on disk.
pub(super) fn executable_names(name: &str) -> Vec<String> {
    vec![name.to_owned()]
}

pub(super) fn is_executable(meta: &Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// OpenSSH's rule: owned by the effective user, writable by neither group nor others.
pub(super) fn check_owner_and_writers(path: &Path, meta: &Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "owned by uid {}, not by you (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {mode:04o}; fix: chmod go-w {})",
            path.display()
        ));
    }
    Ok(())
}

pub(super) fn usable_dir(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK | libc::X_OK) == 0 }
}

pub(super) fn private_dir_builder() -> fs::DirBuilder {
    let mut b = fs::DirBuilder::new();
    b.mode(0o700);
    b
}

pub(super) fn mode_of(meta: &Metadata) -> u32 {
    meta.mode() & 0o7777
}

pub(super) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// The device and inode of `path` (symbolic links followed).
pub(super) fn file_id(path: &Path) -> io::Result<(u64, u64)> {
    let m = fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}
