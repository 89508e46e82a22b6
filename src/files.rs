//! Files and directories the helper does not fully control (docs/security.md).
//!
//! - [`read_regular`]: reads a file only if it is a regular file, checked on the open descriptor
//!   (`O_NONBLOCK` + `fstat`), so a FIFO or a device never blocks a run; reads are bounded.
//! - [`check_private`]: OpenSSH's rule for `~/.ssh`: a directory or file is used only when the
//!   effective user owns it and neither group nor others can write it. Only the path itself is
//!   checked, not its ancestors.
//! - The `open_*` functions never follow a symbolic link at the last component (`O_NOFOLLOW`) and
//!   create files exclusively or privately (0600).
//!
//! What differs per platform is in `files/unix.rs` and `files/windows.rs` (Windows: no modes,
//! the owner and access list instead of the mode; docs/security.md, "Windows").

// The one module that opens files with the standard library (clippy.toml keeps it that way).
#![allow(clippy::disallowed_methods)]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

#[cfg(unix)]
#[path = "files/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "files/windows.rs"]
mod sys;

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
        // O_NOFOLLOW met a symbolic link.
        _ if sys::is_symlink_refusal(&e) => ReadError::NotRegular,
        _ => ReadError::Io(e),
    }
}

/// Opens `path` read-only without blocking and only if it is a regular file; with its length.
fn open_regular(path: &Path, follow: bool) -> Result<(File, u64), ReadError> {
    let file = sys::read_options(follow).open(path).map_err(classify)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular);
    }
    Ok((file, meta.len()))
}

/// The whole of a regular file of at most `max` bytes.
pub fn read_regular(path: &Path, max: u64, follow: bool) -> Result<Vec<u8>, ReadError> {
    let (file, len) = open_regular(path, follow)?;
    // Room for the whole file at once (a cache hit reads its entry in one call), plus the byte
    // that tells a file grown past `max`.
    let room = usize::try_from(len.min(max)).map_or(0, |n| n.saturating_add(1));
    let mut buf = Vec::with_capacity(room);
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(buf)
}

/// Whether this process has a controlling terminal (Windows: a console) that someone could
/// answer a prompt on.
pub fn has_terminal() -> bool {
    let terminal = if cfg!(windows) { "CONIN$" } else { "/dev/tty" };
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(terminal)
        .is_ok()
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
/// `os/exec.LookPath`) would run it: `None` when there is none, and also when the first one is
/// found through a relative entry, which Docker refuses to run ([`look_path`] tells them apart).
/// On Windows the separator is `;` and `name` is tried with `.exe`, `.com`, `.bat`, `.cmd`.
pub fn find_executable(path: Option<&str>, name: &str) -> Option<std::path::PathBuf> {
    match look_path(path, name) {
        LookPath::Found(p) => Some(p),
        LookPath::Relative(_) | LookPath::Missing => None,
    }
}

/// `dir/name` if it is an executable file, as Go's `exec.LookPath` takes a path: on Windows
/// `name` is tried with `.exe`, `.com`, `.bat`, `.cmd` when it has no extension.
pub fn find_in_dir(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    sys::executable_names(name)
        .iter()
        .map(|n| dir.join(n))
        .find(|p| fs::metadata(p).is_ok_and(|m| sys::is_executable(&m)))
}

/// Whether `meta` is a file this platform would run (Unix: an execute bit; Windows: a file).
pub fn is_executable(meta: &fs::Metadata) -> bool {
    sys::is_executable(meta)
}

// --- Programs looked up as Docker looks them up; private files checked on the descriptor read;
// --- the null device. (issue 19: the fallback store, the settings file, the AWS files.)

/// What Docker (Go's `os/exec.LookPath`, Go 1.19 and later) makes of a program name on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookPath {
    /// The first executable file of that name, through an absolute entry: what Docker runs.
    Found(std::path::PathBuf),
    /// The first one is found through an empty, `.` or other relative entry, so relative to the
    /// current directory (`./docker-credential-x`): Docker refuses to run it (Go's
    /// `exec.ErrDot`) rather than look further, and so does this helper. The path as found.
    Relative(std::path::PathBuf),
    /// None on `PATH`.
    Missing,
}

/// Looks `name` up on a `PATH`-style list as Docker does (see [`LookPath`]); an empty entry is
/// the current directory.
pub fn look_path(path: Option<&str>, name: &str) -> LookPath {
    let Some(path) = path else {
        return LookPath::Missing;
    };
    for dir in path.split(sys::PATH_SEPARATOR) {
        let dir = Path::new(if dir.is_empty() { "." } else { dir });
        if let Some(found) = find_in_dir(dir, name) {
            return if found.is_absolute() {
                LookPath::Found(found)
            } else {
                LookPath::Relative(found)
            };
        }
    }
    LookPath::Missing
}

/// Why a file that must be the user's own was not read ([`read_private`]).
#[derive(Debug)]
pub enum PrivateReadError {
    /// Missing, not a regular file, too large or unreadable.
    Read(ReadError),
    /// The file opened may not be trusted: the reason, for the user.
    Untrusted(String),
}

impl fmt::Display for PrivateReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivateReadError::Read(e) => e.fmt(f),
            PrivateReadError::Untrusted(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for PrivateReadError {}

/// The whole of a regular file of at most `max` bytes, read only when it may be trusted:
/// OpenSSH's rule ([`check_private`]) applied to the file opened, through `fstat` on its
/// descriptor, never to a second lookup of `path`, so a file swapped in after the check cannot
/// be read in place of the one checked. Symbolic links are followed: the target is what is
/// checked and read. Opened without blocking; anything but a regular file is refused unread.
/// (Windows: the type is checked on the handle, the owner and access list by path after the
/// open, as [`check_private`] does.)
pub fn read_private(path: &Path, max: u64) -> Result<Vec<u8>, PrivateReadError> {
    let read = |e: ReadError| PrivateReadError::Read(e);
    let file = sys::read_options(true)
        .open(path)
        .map_err(|e| read(classify(e)))?;
    let meta = file.metadata().map_err(|e| read(ReadError::Io(e)))?;
    // Trust first: a FIFO someone else planted is theirs (untrusted), one's own is a mistake.
    sys::check_owner_and_writers(path, &meta).map_err(PrivateReadError::Untrusted)?;
    if !meta.file_type().is_file() {
        return Err(read(ReadError::NotRegular));
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len().min(max)).unwrap_or(0) + 1);
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| read(ReadError::Io(e)))?;
    if buf.len() as u64 > max {
        return Err(read(ReadError::TooLarge(max)));
    }
    Ok(buf)
}

/// Whether `path` is the null device by name: `/dev/null`, and on Windows `NUL` (also `NUL:`
/// and `\\.\NUL`), the common way to say "no such file" in a variable that names one.
pub fn is_null_device(path: &Path) -> bool {
    if cfg!(windows) {
        let s = path.as_os_str().to_string_lossy();
        ["NUL", "NUL:", r"\\.\NUL"]
            .iter()
            .any(|n| s.eq_ignore_ascii_case(n))
    } else {
        path == Path::new("/dev/null")
    }
}

#[cfg(all(test, unix))]
mod lookup_and_private_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(dir: &Path, name: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_program_found_through_a_relative_path_entry_is_refused_as_docker_does() {
        let d = tempfile::tempdir().unwrap();
        let abs = tempfile::tempdir().unwrap();
        let there = executable(abs.path(), "docker-credential-x");
        // A directory named relative to the working directory: `../../tmp/xyz`.
        executable(d.path(), "docker-credential-x");
        let up = std::env::current_dir().unwrap().components().count() - 1;
        let rel_name = format!(
            "{}{}",
            "../".repeat(up),
            d.path().display().to_string().trim_start_matches('/')
        );
        let empty = tempfile::tempdir().unwrap();
        let a = abs.path().display().to_string();
        assert_eq!(
            look_path(Some(&a), "docker-credential-x"),
            LookPath::Found(there.clone())
        );
        for path in [
            format!("{rel_name}:{a}"),
            format!("./{rel_name}:{a}"),
            format!("{rel_name}/:{a}"),
        ] {
            assert!(
                matches!(look_path(Some(&path), "docker-credential-x"), LookPath::Relative(p) if !p.is_absolute()),
                "{path}"
            );
            assert_eq!(find_executable(Some(&path), "docker-credential-x"), None);
        }
        // A relative entry without the program is passed over, as Docker does.
        let path = format!(":.:{rel_name}/none:{a}");
        assert_eq!(
            look_path(Some(&path), "docker-credential-x"),
            LookPath::Found(there.clone())
        );
        assert_eq!(
            find_executable(Some(&path), "docker-credential-x"),
            Some(there)
        );
        assert_eq!(
            look_path(
                Some(&empty.path().display().to_string()),
                "docker-credential-x"
            ),
            LookPath::Missing
        );
        assert_eq!(look_path(None, "docker-credential-x"), LookPath::Missing);
    }

    #[test]
    fn a_private_read_checks_the_file_it_opened() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("good");
        fs::write(&good, "mine").unwrap();
        fs::set_permissions(&good, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private(&good, 10).unwrap(), b"mine");
        // A private link to a file others may write: the file read is the one checked.
        let shared = d.path().join("shared");
        fs::write(&shared, "theirs").unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o666)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        for p in [&shared, &link] {
            match read_private(p, 10) {
                Err(PrivateReadError::Untrusted(why)) => assert!(why.contains("0666"), "{why}"),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert!(matches!(
            read_private(&fifo, 10),
            Err(PrivateReadError::Read(ReadError::NotRegular))
        ));
        assert!(matches!(
            read_private(&good, 2),
            Err(PrivateReadError::Read(ReadError::TooLarge(2)))
        ));
        assert!(matches!(
            read_private(&d.path().join("none"), 2),
            Err(PrivateReadError::Read(ReadError::Missing))
        ));
    }

    #[test]
    fn the_null_device_is_known_by_its_name() {
        assert!(is_null_device(Path::new("/dev/null")));
        assert!(!is_null_device(Path::new("/dev/zero")));
        assert!(!is_null_device(Path::new("NUL")));
    }
}

// --- End of the issue 19 block.

/// `fs::canonicalize`, in the form the platform shows paths: on Windows without the `\\?\`
/// prefix the standard library adds (`C:\Users\me`, `\\server\share`), which people never type.
pub fn canonical(path: &Path) -> io::Result<std::path::PathBuf> {
    let p = fs::canonicalize(path)?;
    if cfg!(windows) {
        let s = p.to_string_lossy();
        if let Some(unc) = s.strip_prefix(r"\\?\UNC\") {
            return Ok(format!(r"\\{unc}").into());
        }
        if let Some(rest) = s.strip_prefix(r"\\?\")
            && rest.as_bytes().get(1) == Some(&b':')
        {
            return Ok(rest.into());
        }
    }
    Ok(p)
}

/// Whether `a` and `b` are one file (symbolic links followed): the same device and inode, on
/// Windows the same volume and file index. Unlike comparing canonical paths this also sees a
/// hard link (`mklink /H` needs no administrator, a symbolic link does).
pub fn same_file(a: &Path, b: &Path) -> io::Result<bool> {
    Ok(sys::file_id(a)? == sys::file_id(b)?)
}

/// The permission bits of `meta` (Unix; 0600 on Windows, which has none).
pub fn mode_of(meta: &fs::Metadata) -> u32 {
    sys::mode_of(meta)
}

/// Sets the permission bits of `path` (Unix; nothing on Windows).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    sys::set_mode(path, mode)
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
    match sys::check_owner_and_writers(path, &meta) {
        Ok(()) => Trust::Trusted,
        Err(why) => Trust::Untrusted(why),
    }
}

/// Whether the user can list, read and write in the directory `path` (a private directory the
/// user cannot use, after `chmod 000`, is no cache rather than a failure).
pub fn usable_dir(path: &Path) -> bool {
    sys::usable_dir(path)
}

/// Creates `path` exclusively, 0600, never through a symbolic link.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    sys::private(OpenOptions::new().write(true).create_new(true), 0o600).open(path)
}

/// Opens (creating it 0600 if missing) a regular file for reading and writing, never through a
/// symbolic link and never blocking; anything but a regular file is refused.
pub fn open_private_rw(path: &Path) -> io::Result<File> {
    let file = sys::private(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        0o600,
    )
    .open(path)?;
    ensure_regular(file)
}

/// Opens (creating it 0600 if missing) a regular file for appending, as [`open_private_rw`].
/// `Ok((file, created))`.
pub fn open_private_append(path: &Path) -> io::Result<(File, bool)> {
    let created = sys::private(OpenOptions::new().append(true).create_new(true), 0o600).open(path);
    match created {
        Ok(f) => Ok((ensure_regular(f)?, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let f = sys::private(OpenOptions::new().append(true), 0o600).open(path)?;
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
    replace_with(target, body, mode, |_| Ok(()))
}

/// [`replace_atomic`], with `prepare` run on the temp file before its body is written.
fn replace_with(
    target: &Path,
    body: &[u8],
    mode: u32,
    prepare: impl FnOnce(&File) -> io::Result<()>,
) -> io::Result<()> {
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
        let mut f =
            sys::private(OpenOptions::new().write(true).create_new(true), mode).open(&tmp)?;
        prepare(&f)?;
        f.write_all(body)?;
        // Without this, a power loss after the rename can leave an empty file.
        f.sync_all()?;
        drop(f);
        rename_over(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates a private (0700) directory, and its missing parents 0700. Existing ones are left as
/// they are (the caller checks them with [`check_private`]).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    sys::private_dir_builder().recursive(true).create(path)
}

/// Creates the one directory `path` private (0700; on Windows it inherits its parent's access
/// list); an existing one is fine.
pub fn create_private_dir_one(path: &Path) -> io::Result<()> {
    match sys::private_dir_builder().create(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// `rename(from, to)`, replacing `to`. On Windows the standard library's rename replaces even a
/// file another process has open (POSIX semantics, as our readers open with delete sharing), but
/// a scanner or indexer may hold it briefly without that sharing: a few short retries cover it.
fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::rename(from, to) {
            Err(e) if cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied && tries < 5 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 << tries));
            }
            other => return other,
        }
    }
}

// Files written for people (`configure`, `export -o`): docs/security.md, "Files written for
// you". Same rules as the cache (no link followed where we create, nothing but a regular file
// replaced, bounded non-blocking reads), plus what a person's own files need: a path through a
// symbolic link (dotfile repositories) is written at its target, a device named as the output is
// written as the device it is, and an edited file keeps its owner and mode.

/// What a path named for output is.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// A regular file (the target, when the path is a symbolic link to one), or nothing yet: it
    /// is replaced atomically.
    File(std::path::PathBuf),
    /// A character device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe): written as it is, never
    /// replaced.
    Device,
    /// Anything else (a directory, a block device, a socket, a link to nothing): why not.
    Refused(String),
}

/// What `path` is, for writing a file there (see [`Output`]).
pub fn output(path: &Path) -> Output {
    let link = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Output::File(path.to_owned()),
        Err(e) => return Output::Refused(format!("cannot inspect it: {e}")),
    };
    if link.file_type().is_file() {
        return Output::File(path.to_owned());
    }
    let meta = if link.file_type().is_symlink() {
        match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Output::Refused(
                    "a symbolic link to nothing (refusing to create its target)".into(),
                );
            }
            Err(e) => return Output::Refused(format!("cannot inspect it: {e}")),
        }
    } else {
        link
    };
    if meta.file_type().is_file() {
        return match canonical(path) {
            Ok(target) => Output::File(target),
            Err(e) => Output::Refused(format!("cannot resolve it: {e}")),
        };
    }
    if sys::is_writable_device(&meta) {
        return Output::Device;
    }
    Output::Refused(format!("not a regular file ({})", sys::kind_of(&meta)))
}

/// Opens the character device or FIFO `path` for writing, as [`Output::Device`] found it: never
/// created, truncated or blocked on (a FIFO nobody reads is an error, not a wait).
pub fn open_device(path: &Path) -> io::Result<File> {
    sys::open_device(path)
}

/// The owner and mode a file written for the user gets.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    mode: u32,
    owner: Option<sys::Owner>,
}

impl Keep {
    /// A file that stays the writer's own, `mode` (`export -o`).
    pub fn own(mode: u32) -> Keep {
        Keep { mode, owner: None }
    }

    /// An existing regular file's own mode and owner (as the docker CLI keeps them); for a new
    /// file `new_mode` and, when run as root, the owner of its directory, so that `sudo -E ...
    /// configure` leaves the user's files the user's.
    pub fn of(target: &Path, new_mode: u32) -> Keep {
        match fs::symlink_metadata(target) {
            Ok(m) if m.file_type().is_file() => Keep {
                mode: sys::mode_of(&m),
                owner: sys::owner_of(&m),
            },
            _ => Keep {
                mode: new_mode,
                owner: sys::owner_for_new(target.parent().unwrap_or(Path::new("."))),
            },
        }
    }

    /// The same owner with another mode (a backup takes its original's mode).
    pub fn with_mode(self, mode: u32) -> Keep {
        Keep { mode, ..self }
    }

    pub fn mode(&self) -> u32 {
        self.mode
    }
}

/// [`replace_atomic`], the new file given `keep`'s mode (whatever the umask) and owner.
pub fn replace_keeping(target: &Path, body: &[u8], keep: Keep) -> io::Result<()> {
    replace_with(target, body, keep.mode, |f| {
        if let Some(owner) = keep.owner {
            sys::set_owner(f, owner)?;
        }
        sys::set_file_mode(f, keep.mode)
    })
}

/// Creates the directory `path` and its missing parents 0700; when run as root, each one made
/// gets the owner of the directory it is made in (`sudo -E configure` with no `~/.docker` yet).
pub fn create_dir_for_user(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() || fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_for_user(parent)?;
    }
    create_private_dir_one(path)?;
    if let Some(owner) = sys::owner_for_new(path.parent().unwrap_or(Path::new("."))) {
        let dir = File::open(path)?;
        sys::set_owner(&dir, owner)?;
    }
    Ok(())
}

/// The lock of one edit of `target` (a read, a change, a write): held until dropped.
#[derive(Debug)]
pub struct EditLock {
    _file: File,
}

impl EditLock {
    /// Removes the temp files [`replace_atomic`] left beside `target` when a writer was killed
    /// (`kill -9` between create and rename). Every writer of `target` holds this lock while its
    /// temp file exists, so under the lock any such file is a dead writer's.
    pub fn remove_leftovers(&self, target: &Path) {
        let dir = target.parent().unwrap_or(Path::new("."));
        let Some(name) = target.file_name() else {
            return;
        };
        let prefix = format!(".{}.tmp.", name.to_string_lossy());
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix)
                && e.file_type().is_ok_and(|t| t.is_file())
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Takes the lock that serialises edits of `target`: `.NAME.lock` beside it (created 0600 with
/// the owner a new file there gets), never through a symbolic link. Waits at most `wait` for
/// another holder, then fails (a stopped holder never hangs us).
pub fn lock_for_edit(target: &Path, wait: std::time::Duration) -> io::Result<EditLock> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let path = dir.join(format!(".{name}.lock"));
    let file = match create_new_private(&path) {
        Ok(f) => {
            if let Some(owner) = sys::owner_for_new(dir) {
                sys::set_owner(&f, owner)?;
            }
            f
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open_private_rw(&path)?,
        Err(e) => return Err(e),
    };
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(EditLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "another process has held {} for {} s",
                        path.display(),
                        wait.as_secs()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

// ---- issue 23 (XDG cache): whether a path is there, without following it.

/// Whether something (a file, a directory, a link, even a dangling one) is at `path`: the link
/// itself is looked at, never followed, and nothing is opened. An error other than "not there"
/// (a directory on the way that cannot be searched) counts as there: the caller then uses the
/// path and meets the real problem, instead of silently choosing another directory.
pub fn is_there(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

// ---- issue 23 (configure --containers): whether this process is root.

/// Whether this process runs as root (Unix: effective uid 0; never on Windows): `configure
/// --containers --store` then writes the system-wide drop-in.
pub fn is_root() -> bool {
    sys::is_root()
}

// ---- issue 21 (platform code behind the seam): a lock's note, a program's name, the home.

/// Writes `text` where the waiters on the lock file `lock` read it ([`read_lock_note`]): into
/// the lock file itself on Unix, where the lock is advisory; into the file `beside` on Windows,
/// where the lock covers the lock file's bytes and no other process may read them. Best effort.
pub fn write_lock_note(lock: &File, beside: &Path, text: &[u8]) {
    sys::write_lock_note(lock, beside, text);
}

/// What the holder of the lock file `lock` wrote with [`write_lock_note`] (a short note: at
/// most 32 bytes on Unix, 64 on Windows).
pub fn read_lock_note(lock: &File, beside: &Path) -> Option<Vec<u8>> {
    sys::read_lock_note(lock, beside)
}

/// The name a program was run as, from `argv[0]`: its file name, without `.exe` on Windows
/// (where `name.exe` is what a lookup of `name` finds).
pub fn program_name(argv0: &Path) -> Option<&std::ffi::OsStr> {
    sys::program_name(argv0)
}

/// The home directory the platform's own tools use before the standard one, from the
/// environment lookup `env`: on Windows `USERPROFILE`, as the Go helper and the docker CLI
/// decide it (so `%USERPROFILE%\.ecr` and `%USERPROFILE%\.docker` are theirs too); none on Unix.
pub fn home_override(env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    sys::home_override(env)
}

// ---- issue 21 (no std::fs outside files.rs): removing a name, listing a directory, a time
// ---- and an executable looked at. clippy.toml forbids the std::fs calls behind them elsewhere.

/// Removes the name `path`: a file, or a symbolic link itself (never what it points to). A
/// directory is never removed (an error). `Ok(true)` when this call removed it, `Ok(false)` when
/// nothing was there (already gone is done: another process may have removed it first). Whether
/// another user's file may be removed is the system's rule for unlinking (a sticky directory
/// keeps it theirs); the error says why not.
pub fn unlink(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The names in the directory `dir` (not `.` or `..`), in no particular order. Names only:
/// nothing in `dir` is opened or inspected, so a symbolic link is a name like any other and is
/// never followed; the caller decides what a name is by the name, or by [`modified_no_follow`].
/// A name that cannot be read from the listing is skipped. An error when `dir` cannot be listed
/// (missing, not a directory, not readable); a link to a directory lists the directory.
pub fn dir_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    Ok(fs::read_dir(dir)?
        .flatten()
        .map(|e| e.file_name())
        .collect())
}

/// When the name `path` was last modified: a symbolic link's own time, never its target's (a
/// planted link cannot make a file look fresh or stale by what it points at). Nothing is opened.
pub fn modified_no_follow(path: &Path) -> io::Result<std::time::SystemTime> {
    fs::symlink_metadata(path)?.modified()
}

/// Whether `path` is a file this platform would run ([`is_executable`]), symbolic links followed:
/// the target is what runs. The error (the system's, as it is) when it cannot be inspected:
/// missing, a link to nothing, a directory on the way that cannot be searched.
pub fn executable_at(path: &Path) -> io::Result<bool> {
    Ok(is_executable(&fs::metadata(path)?))
}

#[cfg(all(test, unix))]
mod no_std_fs_tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::{Duration, SystemTime};

    #[test]
    fn unlink_removes_a_link_not_its_target_and_never_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        fs::write(&target, "keep").unwrap();
        let link = d.path().join("link");
        symlink(&target, &link).unwrap();
        assert!(unlink(&link).unwrap());
        assert!(fs::symlink_metadata(&link).is_err(), "the link is gone");
        assert_eq!(fs::read(&target).unwrap(), b"keep", "its target is not");
        // A link to a directory goes; the directory and what is in it stay.
        let dir = d.path().join("dir");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("f"), "x").unwrap();
        symlink(&dir, d.path().join("dirlink")).unwrap();
        assert!(unlink(&d.path().join("dirlink")).unwrap());
        assert!(dir.join("f").is_file());
        // A dangling link is a name like any other.
        symlink(d.path().join("nowhere"), d.path().join("dangling")).unwrap();
        assert!(unlink(&d.path().join("dangling")).unwrap());
        assert!(fs::symlink_metadata(d.path().join("dangling")).is_err());
        // A directory, even an empty one, is an error and stays.
        let empty = d.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(unlink(&empty).is_err());
        assert!(empty.is_dir());
        assert!(unlink(&dir).is_err());
        assert!(dir.join("f").is_file());
        // A file goes; already gone is done, and says so.
        assert!(unlink(&target).unwrap());
        assert!(!unlink(&target).unwrap());
        assert!(!unlink(&d.path().join("never")).unwrap());
        // A name under a missing directory is gone too; under a file it cannot be (an error).
        assert!(!unlink(&d.path().join("none").join("x")).unwrap());
        fs::write(&target, "").unwrap();
        assert!(unlink(&target.join("x")).is_err());
    }

    #[test]
    fn dir_names_lists_names_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("file"), "").unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("sub").join("inner"), "").unwrap();
        symlink(d.path().join("sub"), d.path().join("to-sub")).unwrap();
        symlink(d.path().join("nowhere"), d.path().join("dangling")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "").unwrap();
        symlink(outside.path(), d.path().join("to-outside")).unwrap();
        let mut names = dir_names(d.path()).unwrap();
        names.sort();
        // Every name once, links included (a dangling one too); nothing from inside a directory
        // or behind a link.
        assert_eq!(
            names,
            ["dangling", "file", "sub", "to-outside", "to-sub"].map(std::ffi::OsString::from)
        );
        assert!(dir_names(&d.path().join("none")).is_err());
        assert!(dir_names(&d.path().join("file")).is_err());
        assert!(
            dir_names(tempfile::tempdir().unwrap().path())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn modified_no_follow_is_the_links_own_time_not_its_targets() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        fs::write(&target, "").unwrap();
        let old = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
        fs::File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(modified_no_follow(&target).unwrap(), old);
        let link = d.path().join("link");
        symlink(&target, &link).unwrap();
        let age = |p: &Path| {
            SystemTime::now()
                .duration_since(modified_no_follow(p).unwrap())
                .unwrap_or_default()
        };
        // Made just now: far younger than the month-old target it points at.
        assert!(age(&link) < Duration::from_secs(24 * 3600));
        let dangling = d.path().join("dangling");
        symlink(d.path().join("nowhere"), &dangling).unwrap();
        assert!(modified_no_follow(&dangling).is_ok());
        assert_eq!(
            modified_no_follow(&d.path().join("none"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn executable_at_follows_links_to_the_program() {
        let d = tempfile::tempdir().unwrap();
        let prog = d.path().join("prog");
        fs::write(&prog, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
        let plain = d.path().join("plain");
        fs::write(&plain, "").unwrap();
        fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(executable_at(&prog).unwrap());
        assert!(!executable_at(&plain).unwrap());
        assert!(
            !executable_at(d.path()).unwrap(),
            "a directory is not a program"
        );
        // A link is what it points at: to a program, a program; to a plain file, not.
        symlink(&prog, d.path().join("to-prog")).unwrap();
        symlink(&plain, d.path().join("to-plain")).unwrap();
        assert!(executable_at(&d.path().join("to-prog")).unwrap());
        assert!(!executable_at(&d.path().join("to-plain")).unwrap());
        symlink(d.path().join("nowhere"), d.path().join("dangling")).unwrap();
        assert_eq!(
            executable_at(&d.path().join("dangling"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }
}

// ---- End of the issue 21 (no std::fs outside files.rs) block.

#[cfg(all(test, unix))]
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
    fn a_symlink_or_hard_link_is_the_same_file_and_a_copy_is_not() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "x").unwrap();
        let (sym, hard, copy) = (d.path().join("s"), d.path().join("h"), d.path().join("c"));
        std::os::unix::fs::symlink(&f, &sym).unwrap();
        fs::hard_link(&f, &hard).unwrap();
        fs::copy(&f, &copy).unwrap();
        assert!(same_file(&f, &sym).unwrap());
        assert!(same_file(&f, &hard).unwrap());
        assert!(!same_file(&f, &copy).unwrap());
        assert!(same_file(&f, &d.path().join("none")).is_err());
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

#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;
    use std::os::windows::ffi::OsStrExt;
    use std::ptr;
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{
        EXPLICIT_ACCESS_W, GRANT_ACCESS, GetNamedSecurityInfoW, NO_MULTIPLE_TRUSTEE,
        SE_FILE_OBJECT, SetEntriesInAclW, SetNamedSecurityInfoW, TRUSTEE_IS_SID,
        TRUSTEE_IS_WELL_KNOWN_GROUP, TRUSTEE_W,
    };
    use windows_sys::Win32::Security::{
        ACL, CreateWellKnownSid, DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
        SECURITY_MAX_SID_SIZE, SUB_CONTAINERS_AND_OBJECTS_INHERIT, WinWorldSid,
    };

    /// Adds "Everyone: modify" to `path`'s access list, as `icacls path /grant Everyone:M` does.
    fn grant_everyone_write(path: &Path) {
        let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
        let mut sid = [0u8; SECURITY_MAX_SID_SIZE as usize];
        let mut len = sid.len() as u32;
        // SAFETY: `sid` is `len` bytes long.
        let ok = unsafe {
            CreateWellKnownSid(
                WinWorldSid,
                ptr::null_mut(),
                sid.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_ne!(ok, 0, "CreateWellKnownSid");
        let (mut old, mut sd): (*mut ACL, PSECURITY_DESCRIPTOR) =
            (ptr::null_mut(), ptr::null_mut());
        // SAFETY: `wide` is NUL-terminated; `old` points into `sd`, freed below.
        let err = unsafe {
            GetNamedSecurityInfoW(
                wide.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut old,
                ptr::null_mut(),
                &mut sd,
            )
        };
        assert_eq!(err, 0, "GetNamedSecurityInfoW");
        let access = EXPLICIT_ACCESS_W {
            // FILE_GENERIC_READ | FILE_GENERIC_WRITE | FILE_GENERIC_EXECUTE | DELETE ("M").
            grfAccessPermissions: 0x0012_0089 | 0x0012_0116 | 0x0012_00a0 | 0x0001_0000,
            grfAccessMode: GRANT_ACCESS,
            grfInheritance: SUB_CONTAINERS_AND_OBJECTS_INHERIT,
            Trustee: TRUSTEE_W {
                pMultipleTrustee: ptr::null_mut(),
                MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
                TrusteeForm: TRUSTEE_IS_SID,
                TrusteeType: TRUSTEE_IS_WELL_KNOWN_GROUP,
                ptstrName: sid.as_mut_ptr().cast(),
            },
        };
        let mut new: *mut ACL = ptr::null_mut();
        // SAFETY: one entry; `old` is the object's current list (or null); `new` is allocated.
        let err = unsafe { SetEntriesInAclW(1, &access, old, &mut new) };
        assert_eq!(err, 0, "SetEntriesInAclW");
        // SAFETY: `wide` is NUL-terminated and `new` a valid ACL.
        let err = unsafe {
            SetNamedSecurityInfoW(
                wide.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                ptr::null_mut(),
                ptr::null_mut(),
                new,
                ptr::null(),
            )
        };
        // SAFETY: both were allocated by the calls above, to be freed with LocalFree.
        unsafe {
            LocalFree(new.cast());
            LocalFree(sd);
        }
        assert_eq!(err, 0, "SetNamedSecurityInfoW");
    }

    // Under Wine (how CI runs these), the access list is Wine's: kept beside the file when it was
    // set through the API, as here, and otherwise made up from the Unix mode (the owner, SYSTEM,
    // and Everyone for the "other" bits, so a directory chmod 0777 from the Linux side is
    // "writable by Everyone" too: tests/it/hardening.rs checks that against the .exe).
    #[test]
    fn a_private_directory_is_trusted_and_one_everyone_may_write_is_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c");
        assert_eq!(check_private(&p, true), Trust::Missing);
        create_private_dir(&p).unwrap();
        assert_eq!(check_private(&p, true), Trust::Trusted);
        let f = p.join("f");
        fs::write(&f, "").unwrap();
        assert_eq!(check_private(&f, false), Trust::Trusted);
        assert!(matches!(check_private(&f, true), Trust::Untrusted(r) if r == "not a directory"));
        grant_everyone_write(&p);
        match check_private(&p, true) {
            Trust::Untrusted(r) => assert!(
                r.contains("writable by Everyone") && r.contains("icacls"),
                "{r}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn find_executable_splits_path_on_semicolons_and_tries_exe() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Not what Windows would run for the name: no extension.
        fs::write(a.path().join("docker-credential-x"), "").unwrap();
        fs::write(b.path().join("docker-credential-x.exe"), "").unwrap();
        fs::write(a.path().join("docker-credential-y.cmd"), "").unwrap();
        // Both entries hold a drive letter's ':', which must not split them.
        let path = format!("{};{}", a.path().display(), b.path().display());
        assert!(path.contains(':'));
        assert_eq!(
            find_executable(Some(&path), "docker-credential-x"),
            Some(b.path().join("docker-credential-x.exe"))
        );
        assert_eq!(
            find_executable(Some(&path), "docker-credential-y"),
            Some(a.path().join("docker-credential-y.cmd"))
        );
        // A name with an extension is taken as it is.
        assert_eq!(
            find_executable(Some(&path), "docker-credential-y.cmd"),
            Some(a.path().join("docker-credential-y.cmd"))
        );
        assert_eq!(find_executable(Some(&path), "docker-credential-z"), None);
        assert_eq!(
            find_in_dir(b.path(), "docker-credential-x"),
            Some(b.path().join("docker-credential-x.exe"))
        );
    }

    #[test]
    fn a_hard_link_is_the_same_file_and_a_copy_is_not() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f.exe");
        fs::write(&f, "x").unwrap();
        let (hard, copy) = (d.path().join("h.exe"), d.path().join("c.exe"));
        fs::hard_link(&f, &hard).unwrap();
        fs::copy(&f, &copy).unwrap();
        assert!(same_file(&f, &f).unwrap());
        assert!(same_file(&f, &hard).unwrap());
        assert!(!same_file(&f, &copy).unwrap());
        assert!(same_file(&f, &d.path().join("none")).is_err());
    }

    #[test]
    fn canonical_paths_are_shown_without_the_verbatim_prefix() {
        let d = tempfile::tempdir().unwrap();
        let raw = fs::canonicalize(d.path()).unwrap().display().to_string();
        assert!(
            raw.starts_with(r"\\?\"),
            "the standard library's form: {raw}"
        );
        let shown = canonical(d.path()).unwrap().display().to_string();
        assert_eq!(shown, raw[4..]);
        assert_eq!(shown.as_bytes()[1], b':', "{shown}");
    }
}
