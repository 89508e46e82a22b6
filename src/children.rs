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
            if ppid == p && pid != root && !out.contains(&pid) {
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
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
        SetInformationJobObject,
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
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
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
