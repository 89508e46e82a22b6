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

/// A file's owner: user and group.
pub(super) type Owner = (u32, u32);

pub(super) fn owner_of(meta: &Metadata) -> Option<Owner> {
    Some((meta.uid(), meta.gid()))
}

/// The owner a new file in `dir` gets beyond the creator's: `dir`'s owner, when we run as root
/// and `dir` belongs to someone else (root editing a user's files for them); otherwise none.
pub(super) fn owner_for_new(dir: &Path) -> Option<Owner> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let m = fs::metadata(dir).ok()?;
    (m.uid() != 0).then(|| (m.uid(), m.gid()))
}

/// `fchown` of an open file, only when it changes something.
pub(super) fn set_owner(file: &fs::File, (uid, gid): Owner) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let m = file.metadata()?;
    if (m.uid(), m.gid()) == (uid, gid) {
        return Ok(());
    }
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::fchown(file.as_raw_fd(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fchmod` of an open file (whatever the umask made of its creation mode).
pub(super) fn set_file_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// A character device or a FIFO: what may be written as it is.
pub(super) fn is_writable_device(meta: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    t.is_char_device() || t.is_fifo()
}

/// What a file is, in words.
pub(super) fn kind_of(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_fifo() {
        "a FIFO"
    } else {
        "a special file"
    }
}

/// Opens a character device or FIFO for writing: no create, no truncate, no controlling terminal
/// taken, and no wait for a FIFO's reader (ENXIO when there is none). Blocking again once open,
/// so a slow reader is waited for as a pipe is.
pub(super) fn open_device(path: &Path) -> io::Result<fs::File> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENXIO) {
                io::Error::other("a FIFO no process is reading")
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !is_writable_device(&meta) {
        return Err(io::Error::other(format!(
            "not a character device or FIFO ({})",
            if meta.is_file() {
                "a regular file"
            } else {
                kind_of(&meta)
            }
        )));
    }
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open for the duration of both calls.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// Whether the effective uid is 0 (files.rs, issue 23).
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

// ---- issue 21: a lock's note, a program's name, the home.

/// The note lives in the lock file itself: the lock is advisory, so waiters can read it.
pub(super) fn write_lock_note(lock: &fs::File, _beside: &Path, text: &[u8]) {
    use std::os::unix::fs::FileExt;
    let _ = lock.write_all_at(text, 0);
    let _ = lock.set_len(text.len() as u64);
}

pub(super) fn read_lock_note(lock: &fs::File, _beside: &Path) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 32];
    let n = lock.read_at(&mut buf, 0).ok()?;
    Some(buf[..n].to_vec())
}

pub(super) fn program_name(argv0: &Path) -> Option<&std::ffi::OsStr> {
    argv0.file_name()
}

pub(super) fn home_override(_env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    None
}
