//! Files and directories the helper does not fully control (docs/security.md).
//!
//! - [`read_regular`]: reads a file only if it is a regular file, checked on the open descriptor
//!   (`O_NONBLOCK` + `fstat`), so a FIFO or a device never blocks a run; reads are bounded.
//! - [`check_private`]: OpenSSH's rule for `~/.ssh`: a directory or file is used only when the
//!   effective user owns it and neither group nor others can write it. Only the path itself is
//!   checked, not its ancestors.
//! - The `open_*` functions never follow a symbolic link at the last component (`O_NOFOLLOW`) and
//!   create files exclusively or privately (0600).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// No such file (or no such directory on the way).
    Missing,
    /// A FIFO, device, directory or (with `follow == false`) symbolic link.
    NotRegular,
    /// Larger than the limit given.
    TooLarge(u64),
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing => f.write_str("no such file"),
            ReadError::NotRegular => f.write_str("not a regular file"),
            ReadError::TooLarge(max) => write!(f, "larger than {max} bytes"),
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

fn classify(e: io::Error) -> ReadError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ReadError::Missing,
        // ELOOP: O_NOFOLLOW met a symbolic link.
        _ if e.raw_os_error() == Some(libc::ELOOP) => ReadError::NotRegular,
        _ => ReadError::Io(e),
    }
}

/// Opens `path` read-only without blocking and only if it is a regular file.
pub fn open_regular(path: &Path, follow: bool) -> Result<File, ReadError> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(classify)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular);
    }
    Ok(file)
}

/// The whole of a regular file of at most `max` bytes.
pub fn read_regular(path: &Path, max: u64, follow: bool) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, follow)?;
    let mut buf = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(buf)
}

/// Whether a directory or file may be trusted (see the module comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Nothing there (yet).
    Missing,
    Trusted,
    /// There, but someone else could have put things in it: the reason, for the user.
    Untrusted(String),
}

/// The first `dir/name` on a `PATH`-style list that is an executable file, as Docker (Go's
/// `os/exec.LookPath`) would find it; an empty entry is the current directory.
pub fn find_executable(path: Option<&str>, name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path?
        .split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// OpenSSH's check of `path` (symbolic links followed: the target is what is used).
pub fn check_private(path: &Path, want_dir: bool) -> Trust {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return match classify(e) {
                ReadError::Missing => Trust::Missing,
                other => Trust::Untrusted(format!("cannot inspect it: {other}")),
            };
        }
    };
    if want_dir && !meta.is_dir() {
        return Trust::Untrusted("not a directory".into());
    }
    let me = euid();
    if meta.uid() != me {
        return Trust::Untrusted(format!(
            "owned by uid {}, not by you (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Trust::Untrusted(format!(
            "writable by group or others (mode {mode:04o}; fix: chmod go-w {})",
            path.display()
        ));
    }
    Trust::Trusted
}

/// Whether the user can list, read and write in the directory `path` (a private directory the
/// user cannot use, after `chmod 000`, is no cache rather than a failure).
pub fn usable_dir(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK | libc::X_OK) == 0 }
}

/// Creates `path` exclusively, 0600, never through a symbolic link.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Opens (creating it 0600 if missing) a regular file for reading and writing, never through a
/// symbolic link and never blocking; anything but a regular file is refused.
pub fn open_private_rw(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    ensure_regular(file)
}

/// Opens (creating it 0600 if missing) a regular file for appending, as [`open_private_rw`].
/// `Ok((file, created))`.
pub fn open_private_append(path: &Path) -> io::Result<(File, bool)> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let created = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(flags)
        .open(path);
    match created {
        Ok(f) => Ok((ensure_regular(f)?, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let f = OpenOptions::new()
                .append(true)
                .custom_flags(flags)
                .open(path)?;
            Ok((ensure_regular(f)?, false))
        }
        Err(e) => Err(e),
    }
}

fn ensure_regular(file: File) -> io::Result<File> {
    if file.metadata()?.file_type().is_file() {
        Ok(file)
    } else {
        Err(io::Error::other("not a regular file"))
    }
}

/// Replaces `target` atomically with `body`: a temp file created exclusively (mode `mode`,
/// never through a symbolic link) beside it, synced, then renamed over it. A crash leaves the old
/// file or the new one, never a mix; a failed write leaves no temp file behind.
pub fn replace_atomic(target: &Path, body: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write as _;
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.tmp.{}.{nanos}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(body)?;
        // Without this, a power loss after the rename can leave an empty file.
        f.sync_all()?;
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a private (0700) directory, and its missing parents 0700. Existing ones are left as
/// they are (the caller checks them with [`check_private`]).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    #[test]
    fn fifos_and_symlinks_are_not_regular_files_and_never_block() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(
            read_regular(&fifo, 10, true),
            Err(ReadError::NotRegular)
        ));
        let file = d.path().join("f");
        fs::write(&file, "abc").unwrap();
        let link = d.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 10, true).unwrap(), b"abc");
        assert!(matches!(
            read_regular(&link, 10, false),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            read_regular(&file, 2, true),
            Err(ReadError::TooLarge(2))
        ));
        assert!(matches!(
            read_regular(&d.path().join("none"), 2, true),
            Err(ReadError::Missing)
        ));
        assert!(open_private_rw(&fifo).is_err());
        assert!(open_private_append(&fifo).is_err());
    }

    #[test]
    fn a_dangling_symlink_is_never_created_through() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        let link = d.path().join("x.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_private_rw(&link).is_err());
        assert!(open_private_append(&link).is_err());
        assert!(create_new_private(&link).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn group_or_world_writable_is_untrusted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c");
        assert_eq!(check_private(&p, true), Trust::Missing);
        create_private_dir(&p).unwrap();
        assert_eq!(check_private(&p, true), Trust::Trusted);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(check_private(&p, true), Trust::Untrusted(r) if r.contains("0777")));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
        let f = p.join("f");
        fs::write(&f, "").unwrap();
        assert!(matches!(check_private(&f, true), Trust::Untrusted(_)));
    }
}
