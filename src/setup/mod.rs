//! The commands for people: `configure` (writes Docker's config.json), `doctor` (explains what
//! happens for a host), `login-password` and `export` (the password or a credentials file for
//! tools that cannot run a helper), and the help text. Docker never runs these; the wire protocol Docker
//! speaks is `protocol.rs`.

pub mod configure;
pub mod containers;
pub mod docker_config;
pub mod doctor;
pub mod export;
pub mod help;
pub mod yaml;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::Action;
use crate::context::Run;
use crate::protocol::{self, fail, ok};

/// Runs one of the commands for people; any other action is not theirs and answers usage.
pub fn run(action: &Action, io: &mut Run<'_>) -> ExitCode {
    let (cfg, now, source) = (io.cfg, io.now, io.source);
    let stdout = &mut *io.stdout;
    match action {
        Action::Configure(rest) => {
            match configure::parse(rest).and_then(|a| configure::run(cfg, &a)) {
                Ok(lines) => ok(lines
                    .iter()
                    .try_for_each(|l| protocol::write_line(stdout, l))),
                Err(e) => fail(stdout, &e),
            }
        }
        // The kubelet's configuration: `doctor --kubelet-config FILE [IMAGE...]`.
        Action::Doctor(args) if doctor::kubelet::wanted(args) => {
            let (lines, good) = doctor::kubelet::run(args);
            report(stdout, &lines, good)
        }
        Action::Doctor(hosts) => {
            let report_ = doctor::run(cfg, hosts, now, source);
            report(stdout, &report_.lines, report_.ok)
        }
        // The password or a credentials file for tools that cannot run a helper: stdout is the
        // secret only, failures are stderr lines (docs/contract.md §2.8).
        Action::LoginPassword(args) => export::login_password(args, io),
        Action::Export(args) => export::export(args, io),
        Action::Help => ok(protocol::write_line(stdout, &help::help())),
        _ => fail(stdout, protocol::USAGE),
    }
}

/// A doctor's lines on stdout; success only if the doctor found nothing wrong and all were written.
fn report(stdout: &mut dyn Write, lines: &[String], good: bool) -> ExitCode {
    let written = lines
        .iter()
        .try_for_each(|l| protocol::write_line(stdout, l));
    if good && written.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
