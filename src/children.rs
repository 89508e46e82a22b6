//! No child outlives a fetch (docs/security.md, "credential_process").
//!
//! The SDK runs a profile's `credential_process` with `sh -c` and abandons it when our
//! credentials bound passes; the process, and anything it started, would keep running after the
//! helper exits. So around a fetch this process becomes a child subreaper (orphaned grandchildren
//! are re-parented to it rather than to init), and afterwards every descendant still alive is
//! killed. Descendants are found in `/proc` (Linux).
//!
//! On Windows the SDK runs it with `cmd.exe /C`; there this process puts itself in a job object
//! that kills every process in it when the job's last handle closes, which is when the helper
//! exits: whatever the credential chain left running ends with the helper, not later.

use std::path::Path;
use std::sync::Mutex;

/// Processes started by [`spawn_detached`]: a [`Reaper`] spares them (and theirs).
static DETACHED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Starts `program ARGS...` detached from this process and from whoever started it (a
/// background refresh, `helper.rs`), and returns without waiting for it. The child holds none of
/// this process's descriptors: stdin, stdout and stderr are `/dev/null` (so a client reading our
/// stdout sees it close when we exit), and every other descriptor is closed on exec. On Unix it
/// runs in a session of its own (no controlling terminal: it can neither prompt nor write to
/// one, and a terminal's hang-up or ^C does not reach it); on Windows it is a detached process
/// in a process group of its own, out of this process's job when the job allows it.
pub fn spawn_detached(program: &Path, args: &[&str]) -> std::io::Result<u32> {
    let pid = spawn_apart(program, args)?;
    if let Ok(mut d) = DETACHED.lock() {
        d.push(pid);
    }
    Ok(pid)
}

/// Linux (glibc): `posix_spawn` with a new session (`POSIX_SPAWN_SETSID`), `/dev/null` on 0, 1
/// and 2, and every other descriptor closed (`addclosefrom_np`). glibc runs the child on this
/// process's memory until it execs (`CLONE_VFORK`), so the client's pipes are let go before this
/// returns: a forked child would hold them until the scheduler ran it, and the client, reading to
/// end of file, would wait that long (milliseconds on a busy machine). A failed exec is reported
/// here, and the caller refreshes in the foreground.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    unsafe extern "C" {
        static environ: *const *mut libc::c_char;
    }
    let invalid = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let path = CString::new(program.as_os_str().as_bytes()).map_err(invalid)?;
    let mut argv_owned = vec![path.clone()];
    for a in args {
        argv_owned.push(CString::new(*a).map_err(invalid)?);
    }
    let mut argv: Vec<*mut libc::c_char> =
        argv_owned.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let fail = |rc: libc::c_int| std::io::Error::from_raw_os_error(rc);
    // SAFETY: the file actions and attributes are initialised before use and destroyed after;
    // every pointer handed to posix_spawn (path, argv, environ) stays valid for the call.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let rc = libc::posix_spawn_file_actions_init(&mut actions);
        if rc != 0 {
            return Err(fail(rc));
        }
        let rc = libc::posix_spawnattr_init(&mut attr);
        if rc != 0 {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(fail(rc));
        }
        let mut rc = libc::posix_spawn_file_actions_addopen(
            &mut actions,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDWR,
            0,
        );
        for target in [1, 2] {
            if rc == 0 {
                rc = libc::posix_spawn_file_actions_adddup2(&mut actions, 0, target);
            }
        }
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_addclosefrom_np(&mut actions, 3);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSID as _);
        }
        let mut pid: libc::pid_t = 0;
        if rc == 0 {
            rc = libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr(),
                environ,
            );
        }
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        if rc != 0 {
            return Err(fail(rc));
        }
        Ok(pid as u32)
    }
}

/// Other Unix: `fork`, then in the child `setsid`, `/dev/null` on 0, 1 and 2, every other
/// descriptor close-on-exec, and `execv`. The parent does not wait for the exec (the standard
/// library's `Command` does, through a pipe): it answers its client at once. An exec that fails
/// ends the child with status 127; the claim it leaves lapses (`Store::claim_refresh`).
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let invalid = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    // The child's failure to exec is not seen here: make it unlikely (an upgrade that replaced
    // or removed the file leaves this process with a path that no longer names a program).
    if !program.is_file() {
        return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
    }
    // Everything the child needs is made before the fork: after it, the child may only make
    // async-signal-safe calls (another thread may hold the allocator's lock).
    let path = CString::new(program.as_os_str().as_bytes()).map_err(invalid)?;
    let mut argv_owned = vec![path.clone()];
    for a in args {
        argv_owned.push(CString::new(*a).map_err(invalid)?);
    }
    let mut argv: Vec<*const libc::c_char> = argv_owned.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let null = c"/dev/null";
    // SAFETY: after fork the child calls only async-signal-safe functions (setsid, open, dup2,
    // close, fcntl, syscall, getrlimit, execv, _exit) on data made before the fork, then execs
    // or exits; the parent only reads the result.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => unsafe {
            libc::setsid();
            let fd = libc::open(null.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                libc::_exit(127);
            }
            for target in 0..3 {
                if fd != target {
                    libc::dup2(fd, target);
                }
            }
            if fd > 2 {
                libc::close(fd);
            }
            cloexec_from_3();
            libc::execv(path.as_ptr(), argv.as_ptr());
            libc::_exit(127)
        },
        pid => Ok(pid as u32),
    }
}

/// Marks every descriptor from 3 up close-on-exec (descriptors this process inherited without
/// the flag, from a client that leaked them, included). Async-signal-safe.
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
fn cloexec_from_3() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags (Linux 5.11+).
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r == 0 {
            return;
        }
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid pointer; fcntl on any number is harmless (EBADF).
    unsafe {
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            i32::try_from(limit.rlim_cur.min(65_536)).unwrap_or(1024)
        } else {
            1024
        };
        for fd in 3..max {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// Windows: a detached process (no console) in a new process group, stdio on the null device,
/// no handle of ours inherited. The standard library makes its own handles non-inheritable, but
/// the standard handles this process was given (the client's pipes) came to it inheritable, and
/// `CreateProcess` hands every inheritable handle to the child: the refresher would hold the
/// client's stdout open, and Docker or the kubelet would wait for the refresh. So they are made
/// non-inheritable first (this process only answers and exits after this).
#[cfg(windows)]
fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
    use std::os::windows::io::AsRawHandle;
    use std::os::windows::process::CommandExt;
    use std::process::{Command, Stdio};
    use windows_sys::Win32::Foundation::{HANDLE_FLAG_INHERIT, SetHandleInformation};
    use windows_sys::Win32::System::Threading::{
        CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
    };
    for handle in [
        std::io::stdin().as_raw_handle(),
        std::io::stdout().as_raw_handle(),
        std::io::stderr().as_raw_handle(),
    ] {
        if !handle.is_null() {
            // SAFETY: clears a flag of a handle this process holds (a stale or pseudo handle
            // only makes the call fail, which changes nothing).
            unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) };
        }
    }
    let command = || {
        let mut c = Command::new(program);
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    // Out of our job (which kills its processes when we exit) when the job allows it; a job
    // someone else put us in may not, and then the child stays in it.
    let child = command()
        .creation_flags(flags | CREATE_BREAKAWAY_FROM_JOB)
        .spawn()
        .or_else(|_| command().creation_flags(flags).spawn())?;
    // Not waited for: it outlives this process.
    Ok(child.id())
}

#[cfg(not(any(unix, windows)))]
fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
    let child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    Ok(child.id())
}

/// Whether `pid` was started by [`spawn_detached`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn is_detached(pid: i32) -> bool {
    DETACHED
        .lock()
        .is_ok_and(|d| d.iter().any(|&p| i64::from(p) == i64::from(pid)))
}

/// Started before a fetch, finished after it.
#[derive(Debug)]
pub struct Reaper {
    active: bool,
}

impl Reaper {
    pub fn start() -> Reaper {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and has no other effect
            // than re-parenting orphaned descendants to this process.
            let ok = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
            Reaper { active: ok }
        }
        #[cfg(windows)]
        {
            kill_with_this_process();
            Reaper { active: false }
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        Reaper { active: false }
    }

    /// Kills every descendant still running and reaps them. Returns how many were killed.
    pub fn finish(self) -> usize {
        if !self.active {
            return 0;
        }
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut killed = 0;
        #[cfg(target_os = "linux")]
        for _ in 0..5 {
            let pids = descendants(std::process::id() as i32);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill has no memory-safety preconditions; `pid` is a descendant.
                if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
            reap();
        }
        if killed > 0 {
            tracing::warn!(
                killed,
                "killed processes left running by the credential chain"
            );
        }
        killed
    }
}

/// Collects the exit status of every child that has exited, without blocking.
#[cfg(target_os = "linux")]
fn reap() {
    // A killed process needs a moment to become a zombie; wait briefly for each.
    for _ in 0..50 {
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer to an int.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r < 0 {
            return; // ECHILD: no children left
        }
        if r == 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Every process whose parent chain leads to `root` (excluding `root`), from `/proc/*/stat`.
#[cfg(target_os = "linux")]
fn descendants(root: i32) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let path = std::path::PathBuf::from(format!("/proc/{pid}/stat"));
        let Ok(stat) = crate::files::read_regular(&path, 4096, false) else {
            continue;
        };
        let stat = String::from_utf8_lossy(&stat);
        if let Some((ppid, state)) = parse_stat(&stat)
            && state != 'Z'
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut out: Vec<i32> = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parent_of {
            // A background refresh is not the credential chain's: it outlives us on purpose.
            if ppid == p && pid != root && !out.contains(&pid) && !is_detached(pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// Windows: puts this process (and so every process it starts from now on) in a job that kills
/// them all when this process exits. Once per process; a failure (a job that forbids nesting)
/// leaves things as they were.
#[cfg(windows)]
fn kill_with_this_process() {
    use std::sync::OnceLock;
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_BREAKAWAY_OK,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JobObjectExtendedLimitInformation, SetInformationJobObject,
    };
    use windows_sys::Win32::System::Threading::GetCurrentProcess;
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: plain Win32 calls on a job this function creates; the job handle is left open
        // on purpose: it closes when the process exits, and that is what kills the job.
        unsafe {
            let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if job.is_null() {
                return;
            }
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            // Breakaway allowed: a background refresh (`spawn_detached`) leaves the job.
            info.BasicLimitInformation.LimitFlags =
                JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK;
            let set = SetInformationJobObject(
                job,
                JobObjectExtendedLimitInformation,
                (&raw const info).cast(),
                std::mem::size_of_val(&info) as u32,
            );
            if set == 0 || AssignProcessToJobObject(job, GetCurrentProcess()) == 0 {
                tracing::debug!("no job object: the credential chain's children may outlive us");
            }
        }
    });
}

/// `(ppid, state)` from a `/proc/PID/stat` line: `pid (comm) state ppid ...`, where comm may
/// hold spaces and parentheses (so parse after the last `)`).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_stat(stat: &str) -> Option<(i32, char)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        assert_eq!(parse_stat("42 (a) b (c)) S 7 42 42 0 -1"), Some((7, 'S')));
        assert_eq!(parse_stat("garbage"), None);
    }
}
