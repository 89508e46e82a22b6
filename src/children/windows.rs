//! The Windows side of `children.rs`: a detached start (a new process group, out of our job), and
//! a job object that kills what the credential chain left running when this process exits.

use std::path::Path;

/// Windows: a detached process (no console) in a new process group, stdio on the null device,
/// no handle of ours inherited. The standard library makes its own handles non-inheritable, but
/// the standard handles this process was given (the client's pipes) came to it inheritable, and
/// `CreateProcess` hands every inheritable handle to the child: the refresher would hold the
/// client's stdout open, and Docker or the kubelet would wait for the refresh. So they are made
/// non-inheritable first (this process only answers and exits after this).
pub(super) fn spawn_apart(program: &Path, args: &[&str]) -> std::io::Result<u32> {
    use std::os::windows::process::CommandExt;
    use std::process::{Command, Stdio};
    use windows_sys::Win32::System::Threading::{
        CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
    };
    keep_standard_handles();
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

/// Makes this process's standard handles non-inheritable.
fn keep_standard_handles() {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::{HANDLE_FLAG_INHERIT, SetHandleInformation};
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
}

/// Puts this process in a job that kills its processes when it exits ([`kill_with_this_process`]);
/// the reaper itself has nothing to do afterwards: inactive.
pub(super) fn start_reaper() -> bool {
    kill_with_this_process();
    false
}

/// Never called (the reaper is inactive): the job object ends them when this process exits.
pub(super) fn kill_descendants(_spared: &dyn Fn(i32) -> bool) -> usize {
    0
}

/// Windows: puts this process (and so every process it starts from now on) in a job that kills
/// them all when this process exits. Once per process; a failure (a job that forbids nesting)
/// leaves things as they were.
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
                tracing::info!("no job object: the credential chain's children may outlive us");
            }
        }
    });
}
