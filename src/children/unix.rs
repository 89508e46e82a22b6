//! The Unix side of `children.rs`: a detached start (`posix_spawn` with glibc, else `fork`,
//! `setsid`, `execv`), and on Linux the child subreaper that kills what the credential chain left
//! running (found in `/proc`). Other Unix systems have no subreaper: there the reaper is inactive.

use std::path::Path;

/// Linux (glibc): `posix_spawn` with a session of its own (`POSIX_SPAWN_SETSID`), `/dev/null` on
/// 0, 1 and 2, and every other descriptor closed (`addclosefrom_np`). glibc runs the child on
/// this process's memory until it execs (`CLONE_VFORK`), so the client's pipes are let go before
/// this returns: a forked child holds them until the scheduler runs it, and the client, reading
/// to end of file, waits that long (milliseconds on a busy machine). A failed exec is reported
/// here, and the caller refreshes in the foreground.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
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
    let mut pid: libc::pid_t = 0;
    // SAFETY: the file actions and attributes are initialised before use and destroyed after;
    // every pointer handed to posix_spawn (path, argv, environ) stays valid for the call.
    let rc = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut rc = libc::posix_spawn_file_actions_init(&mut actions);
        if rc == 0 {
            rc = libc::posix_spawnattr_init(&mut attr);
            if rc == 0 {
                rc = apart_actions(&mut actions, &mut attr);
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
            }
            libc::posix_spawn_file_actions_destroy(&mut actions);
        }
        rc
    };
    match rc {
        0 => Ok(pid as u32),
        rc => Err(std::io::Error::from_raw_os_error(rc)),
    }
}

/// The child's start: `/dev/null` on 0, 1 and 2, nothing else open, a session of its own.
///
/// # Safety
/// Both must have been initialised.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe fn apart_actions(
    actions: &mut libc::posix_spawn_file_actions_t,
    attr: &mut libc::posix_spawnattr_t,
) -> libc::c_int {
    // SAFETY: initialised by the caller; the path is a static C string.
    unsafe {
        let mut rc = libc::posix_spawn_file_actions_addopen(
            actions,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDWR,
            0,
        );
        for target in [1, 2] {
            if rc == 0 {
                rc = libc::posix_spawn_file_actions_adddup2(actions, 0, target);
            }
        }
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_addclosefrom_np(actions, 3);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setflags(attr, libc::POSIX_SPAWN_SETSID as _);
        }
        rc
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) use forked::spawn_apart;

/// Other Unix systems: the detached start by `fork`.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod forked {
    use super::Path;

    /// Unix: `fork`, then in the child `setsid`, `/dev/null` on 0, 1 and 2, every other descriptor
    /// close-on-exec, and `execv`. The parent does not wait for the exec (the standard library's
    /// `Command` does, through a pipe): it answers its client at once. An exec that fails ends the
    /// child with status 127; the claim it leaves lapses (`Store::claim_refresh`).
    pub(in crate::children) fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
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
    fn cloexec_from_3() {
        if close_range_cloexec() {
            return;
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

    /// Sets close-on-exec on every descriptor from 3 up in one call; `false` when it could not.
    /// Async-signal-safe.
    #[cfg(target_os = "linux")]
    fn close_range_cloexec() -> bool {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags (Linux 5.11+).
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        r == 0
    }

    /// No `close_range` outside Linux: descriptor by descriptor.
    #[cfg(not(target_os = "linux"))]
    fn close_range_cloexec() -> bool {
        false
    }
}

#[cfg(target_os = "linux")]
pub(super) use linux::{kill_descendants, start_reaper};

/// No child subreaper outside Linux: the reaper is inactive.
#[cfg(not(target_os = "linux"))]
pub(super) fn start_reaper() -> bool {
    false
}

/// Never called (the reaper is inactive): nothing to kill.
#[cfg(not(target_os = "linux"))]
pub(super) fn kill_descendants(_spared: &dyn Fn(i32) -> bool) -> usize {
    0
}

/// Linux: the child subreaper, and the descendants found in `/proc`.
#[cfg(target_os = "linux")]
mod linux {
    /// Makes this process a child subreaper (orphaned descendants are re-parented to it rather
    /// than to init); whether it is one.
    pub(in crate::children) fn start_reaper() -> bool {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and has no other effect
        // than re-parenting orphaned descendants to this process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
    }

    /// Kills every descendant still running (but those `spared`) and reaps them, in up to five
    /// rounds. How many were killed.
    pub(in crate::children) fn kill_descendants(spared: &dyn Fn(i32) -> bool) -> usize {
        let mut killed = 0;
        for _ in 0..5 {
            let pids = descendants(std::process::id() as i32, spared);
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
        killed
    }

    /// Collects the exit status of every child that has exited, without blocking.
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

    /// Every process whose parent chain leads to `root` (excluding `root` and those `spared`),
    /// from `/proc/*/stat`.
    fn descendants(root: i32, spared: &dyn Fn(i32) -> bool) -> Vec<i32> {
        // Names only, never followed (files.rs lists every directory): a pid is a name that parses.
        let Ok(names) = crate::files::dir_names(std::path::Path::new("/proc")) else {
            return Vec::new();
        };
        let mut parent_of: Vec<(i32, i32)> = Vec::new();
        for name in &names {
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
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
                if ppid == p && pid != root && !out.contains(&pid) && !spared(pid) {
                    out.push(pid);
                    frontier.push(pid);
                }
            }
        }
        out
    }

    /// `(ppid, state)` from a `/proc/PID/stat` line: `pid (comm) state ppid ...`, where comm may
    /// hold spaces and parentheses (so parse after the last `)`).
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
}
