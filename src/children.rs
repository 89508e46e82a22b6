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

#[cfg(unix)]
#[path = "children/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "children/windows.rs"]
mod sys;

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
    let pid = sys::spawn_apart(program, args)?;
    if let Ok(mut d) = DETACHED.lock() {
        d.push(pid);
    }
    Ok(pid)
}

/// Whether `pid` was started by [`spawn_detached`].
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
    /// Linux: this process becomes a child subreaper; Windows: it joins a job that kills its
    /// processes when it exits (then there is nothing left to do at the end); elsewhere nothing.
    pub fn start() -> Reaper {
        Reaper {
            active: sys::start_reaper(),
        }
    }

    /// Kills every descendant still running and reaps them. Returns how many were killed.
    pub fn finish(self) -> usize {
        if !self.active {
            return 0;
        }
        let killed = sys::kill_descendants(&is_detached);
        if killed > 0 {
            tracing::warn!(
                killed,
                "killed processes left running by the credential chain"
            );
        }
        killed
    }
}
