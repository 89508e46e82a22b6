//! The Windows side of `files.rs`.
//!
//! Windows has no modes: a file created under the profile directory inherits its access control
//! list, which grants the user, SYSTEM and Administrators and nobody else. The trust rule is
//! OpenSSH for Windows' rule for `.ssh`: a directory or file is used only when its owner is the
//! user, SYSTEM or Administrators, and its access list lets nobody else write to it.

use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetTokenInformation, IsWellKnownSid,
    LookupAccountSidW, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, TOKEN_QUERY,
    TOKEN_USER, TokenUser, WinBuiltinAdministratorsSid, WinLocalSystemSid,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, GetFileInformationByHandle,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// The separator of `PATH`.
pub(super) const PATH_SEPARATOR: char = ';';

/// `FILE_FLAG_OPEN_REPARSE_POINT`: open a symbolic link (or junction) itself, not its target.
const OPEN_REPARSE_POINT: u32 = 0x0020_0000;

/// `FILE_FLAG_BACKUP_SEMANTICS`: lets a directory be opened (without it, opening one fails with
/// "Access denied", which names the wrong problem).
const BACKUP_SEMANTICS: u32 = 0x0200_0000;

/// Read-only, and (unless `follow`) a symbolic link is opened as itself, so the regular-file
/// check that follows refuses it; so is a directory, which opens too. Opening a named pipe or
/// device never blocks on Windows; the same check refuses them before any read.
pub(super) fn read_options(follow: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true);
    o.custom_flags(if follow {
        BACKUP_SEMANTICS
    } else {
        BACKUP_SEMANTICS | OPEN_REPARSE_POINT
    });
    o
}

/// Never through a symbolic link; there are no modes (the file inherits its directory's access
/// list).
pub(super) fn private(o: &mut OpenOptions, _mode: u32) -> &mut OpenOptions {
    o.custom_flags(OPEN_REPARSE_POINT)
}

/// A symbolic link is opened as itself (and then refused as not a regular file), never an error.
pub(super) fn is_symlink_refusal(_e: &io::Error) -> bool {
    false
}

/// The names a program called `name` may have on disk (as Go's `exec.LookPath` tries them).
pub(super) fn executable_names(name: &str) -> Vec<String> {
    if Path::new(name).extension().is_some() {
        vec![name.to_owned()]
    } else {
        [".exe", ".com", ".bat", ".cmd"]
            .iter()
            .map(|ext| format!("{name}{ext}"))
            .collect()
    }
}

pub(super) fn is_executable(meta: &Metadata) -> bool {
    meta.is_file()
}

pub(super) fn usable_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok()
}

pub(super) fn private_dir_builder() -> fs::DirBuilder {
    fs::DirBuilder::new()
}

/// The volume serial number and file index of `path` (symbolic links followed).
pub(super) fn file_id(path: &Path) -> io::Result<(u32, u64)> {
    use std::os::windows::io::AsRawHandle;
    let file = fs::File::open(path)?;
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the handle is open for the call; `info` is written by it.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok((info.dwVolumeSerialNumber, index))
}

pub(super) fn mode_of(_meta: &Metadata) -> u32 {
    0o600
}

pub(super) fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// No owner is handed over on Windows: a file written for the user inherits its folder's access
/// list.
pub(super) type Owner = ();

pub(super) fn owner_of(_meta: &Metadata) -> Option<Owner> {
    None
}

pub(super) fn owner_for_new(_dir: &Path) -> Option<Owner> {
    None
}

pub(super) fn set_owner(_file: &fs::File, _owner: Owner) -> io::Result<()> {
    Ok(())
}

pub(super) fn set_file_mode(_file: &fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Devices (`NUL`, `CON`) and pipes are not written as outputs on Windows: only files.
pub(super) fn is_writable_device(_meta: &Metadata) -> bool {
    false
}

pub(super) fn kind_of(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else {
        "a device or special file"
    }
}

pub(super) fn open_device(_path: &Path) -> io::Result<fs::File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "only files are written on Windows",
    ))
}

// Rights that let someone change what a directory or file holds, or who may.
const FILE_WRITE_DATA: u32 = 0x0002; // a directory: add a file
const FILE_APPEND_DATA: u32 = 0x0004; // a directory: add a subdirectory
const FILE_DELETE_CHILD: u32 = 0x0040;
const DELETE: u32 = 0x0001_0000;
const WRITE_DAC: u32 = 0x0004_0000;
const WRITE_OWNER: u32 = 0x0008_0000;
const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const WRITE_RIGHTS: u32 = FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | FILE_DELETE_CHILD
    | DELETE
    | WRITE_DAC
    | WRITE_OWNER
    | GENERIC_ALL
    | GENERIC_WRITE;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
const INHERIT_ONLY_ACE: u8 = 0x08;

#[repr(C)]
struct AceHeader {
    ace_type: u8,
    flags: u8,
    size: u16,
}

/// `ACCESS_ALLOWED_ACE`: the header, the mask, then the SID's first word.
#[repr(C)]
struct AllowedAce {
    header: AceHeader,
    mask: u32,
    sid_start: u32,
}

/// Frees what `GetNamedSecurityInfoW` allocated.
struct LocalBox(PSECURITY_DESCRIPTOR);

impl Drop for LocalBox {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a Win32 allocation documented to be freed by LocalFree.
        unsafe { LocalFree(self.0) };
    }
}

/// The process's user (`TokenUser`), as the bytes of a `TOKEN_USER` (the SID lives inside).
fn token_user() -> Option<Vec<u64>> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` receives a handle we close.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let mut len = 0u32;
    // SAFETY: a size query with no buffer, then a call with a buffer of that size (u64-aligned).
    unsafe { GetTokenInformation(token, TokenUser, ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    } != 0;
    // SAFETY: `token` is a handle this function opened.
    unsafe { CloseHandle(token) };
    ok.then_some(buf)
}

/// A name for `sid` as Windows shows it (`DOMAIN\name`), else its string form.
fn sid_name(sid: PSID) -> String {
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let (mut n, mut d) = (name.len() as u32, domain.len() as u32);
    let mut kind = 0;
    // SAFETY: the buffers are as long as the lengths given; `sid` is valid for the call.
    let ok = unsafe {
        LookupAccountSidW(
            ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut n,
            domain.as_mut_ptr(),
            &mut d,
            &mut kind,
        )
    } != 0;
    if ok {
        let name = String::from_utf16_lossy(&name[..n as usize]);
        let domain = String::from_utf16_lossy(&domain[..d as usize]);
        return if domain.is_empty() {
            name
        } else {
            format!("{domain}\\{name}")
        };
    }
    let mut s: *mut u16 = ptr::null_mut();
    // SAFETY: on success `s` is a NUL-terminated string to be freed with LocalFree.
    if unsafe { ConvertSidToStringSidW(sid, &mut s) } == 0 || s.is_null() {
        return "an unknown account".into();
    }
    let _free = LocalBox(s.cast());
    // SAFETY: `s` is NUL-terminated (above).
    let len = (0..).take_while(|&i| unsafe { *s.add(i) } != 0).count();
    // SAFETY: `len` u16s precede the NUL.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(s, len) })
}

/// OpenSSH for Windows' rule (see the module comment).
pub(super) fn check_owner_and_writers(path: &Path, _meta: &Metadata) -> Result<(), String> {
    let Some(user) = token_user() else {
        return Err("cannot tell which user this process runs as".into());
    };
    // SAFETY: `user` holds a TOKEN_USER written by GetTokenInformation.
    let me: PSID = unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    // SAFETY: IsWellKnownSid/EqualSid only read the SIDs given, valid for these calls.
    let trusted = |sid: PSID| unsafe {
        EqualSid(sid, me) != 0
            || IsWellKnownSid(sid, WinLocalSystemSid) != 0
            || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0
    };
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
    let (mut owner, mut dacl, mut sd): (PSID, *mut ACL, PSECURITY_DESCRIPTOR) =
        (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // SAFETY: `wide` is NUL-terminated; the out-pointers point into `sd`, freed by LocalBox.
    let err = unsafe {
        GetNamedSecurityInfoW(
            wide.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            ptr::null_mut(),
            &mut dacl,
            ptr::null_mut(),
            &mut sd,
        )
    };
    if err != 0 {
        return Err(format!(
            "cannot read who may write it: {}",
            io::Error::from_raw_os_error(err as i32)
        ));
    }
    let _free = LocalBox(sd);
    if owner.is_null() || !trusted(owner) {
        let who = if owner.is_null() {
            "nobody".into()
        } else {
            sid_name(owner)
        };
        return Err(format!("owned by {who}, not by you"));
    }
    if dacl.is_null() {
        return Err(format!(
            "it has no access control list, so anyone can write to it (fix: icacls \"{}\" /reset)",
            path.display()
        ));
    }
    // SAFETY: `dacl` points to a valid ACL inside `sd`.
    let count = unsafe { (*dacl).AceCount };
    for i in 0..u32::from(count) {
        let mut ace: *mut core::ffi::c_void = ptr::null_mut();
        // SAFETY: `i` is below the ACL's count; `ace` points into the ACL on success.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 || ace.is_null() {
            continue;
        }
        // SAFETY: every ACE starts with an ACE_HEADER; ACCESS_ALLOWED_ACEs have the layout above.
        let ace = unsafe { &*ace.cast::<AllowedAce>() };
        if ace.header.ace_type != ACCESS_ALLOWED_ACE_TYPE
            || ace.header.flags & INHERIT_ONLY_ACE != 0
            || ace.mask & WRITE_RIGHTS == 0
        {
            continue;
        }
        let sid: PSID = ptr::addr_of!(ace.sid_start).cast_mut().cast();
        if !trusted(sid) {
            let who = sid_name(sid);
            return Err(format!(
                "writable by {who}, not only by you (fix: icacls \"{}\" /remove \"{who}\")",
                path.display()
            ));
        }
    }
    Ok(())
}

/// There is no root on Windows (files.rs, issue 23).
pub(super) fn is_root() -> bool {
    false
}

// ---- issue 21: a lock's note, a program's name, the home.

/// The note lives beside the lock file: the lock covers the lock file's bytes, and no other
/// process may read them.
pub(super) fn write_lock_note(_lock: &fs::File, beside: &Path, text: &[u8]) {
    let _ = super::replace_atomic(beside, text, 0o600);
}

pub(super) fn read_lock_note(_lock: &fs::File, beside: &Path) -> Option<Vec<u8>> {
    super::read_regular(beside, 64, false).ok()
}

pub(super) fn program_name(argv0: &Path) -> Option<&std::ffi::OsStr> {
    let exe = argv0
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("exe"));
    if exe {
        argv0.file_stem()
    } else {
        argv0.file_name()
    }
}

pub(super) fn home_override(env: &dyn Fn(&str) -> Option<String>) -> Option<std::path::PathBuf> {
    env("USERPROFILE").map(std::path::PathBuf::from)
}
