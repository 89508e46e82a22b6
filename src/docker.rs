//! Docker's door: `get`, `list`, `store`, `erase` and `version` as Docker's credential-helper
//! protocol asks them (docs/contract.md §2). It reads the request, asks the policy (`helper`) or
//! the fallback decision (`fallback`), and renders the answer; it holds no policy itself.

use std::io::{Read, Write};
use std::process::ExitCode;

use tracing::info;

use crate::context::{Context, Run};
use crate::fallback::{self, Fallback, Handoff, Storage};
use crate::helper::{self, GetOutcome};
use crate::protocol::{self, Credentials, fail, ok};
use crate::text::printable;
use crate::{cli::Action, error};

/// Runs one of Docker's actions; any other action is not Docker's and answers usage.
pub fn run(action: &Action, io: &mut Run<'_>) -> ExitCode {
    match action {
        Action::Get => get(io),
        Action::List => {
            // stdin is not read: Docker sends `unused`, and a pipe left open must not hang us.
            let ctx = Context::new(io.cfg, io.now);
            let hosts = helper::list_in(&ctx, io.source);
            info!(count = hosts.len(), "list");
            ok(list_answer(&ctx, &hosts, io.stdout, io.stderr))
        }
        Action::Store => store(io),
        Action::Erase => erase(io),
        Action::Version => ok(protocol::write_line(io.stdout, &protocol::version())),
        _ => fail(io.stdout, protocol::USAGE),
    }
}

/// `get`: the token for an ECR host, the fallback store's answer for another.
fn get(io: &mut Run<'_>) -> ExitCode {
    let (stdout, stderr) = (&mut *io.stdout, &mut *io.stderr);
    let input = protocol::read_input(io.stdin);
    let Some(server_url) = input.as_deref().and_then(protocol::server_url_of) else {
        info!("get: unreadable input (oversized or not UTF-8)");
        return fail(stdout, protocol::NOT_FOUND);
    };
    if server_url.is_empty() {
        return fail(stdout, protocol::NO_SERVER_URL);
    }
    let ctx = Context::new(io.cfg, io.now);
    let answer = helper::get_in(&ctx, &server_url, io.source);
    for w in &answer.warnings {
        let _ = writeln!(stderr, "docker-credential-ecr-login: {}", printable(w));
    }
    match answer.outcome {
        GetOutcome::Found(found) => ok(protocol::write_credentials(
            stdout,
            &Credentials {
                server_url: &server_url,
                username: "AWS",
                secret: &found.password,
            },
        )),
        // Not ours: the fallback store's, if one is named (docs/contract.md §2.7).
        GetOutcome::NotEcr => match Fallback::of(&ctx).handoff {
            Handoff::Off => fail(stdout, protocol::NOT_FOUND),
            Handoff::Broken(line) => {
                say(stderr, &line);
                fail(stdout, protocol::NOT_FOUND)
            }
            Handoff::Ready(program) => {
                let input = input.unwrap_or_default();
                delegate(&program, "get", &input, stdout, stderr)
            }
        },
        GetOutcome::Unavailable { host, error } => {
            error::pass_through_child_stderr(&error, stderr);
            // Docker shows a helper's stderr: say why there is no token (docs/contract.md §3.3).
            let _ = writeln!(
                stderr,
                "docker-credential-ecr-login: {}",
                printable(&format!("{host}: {}", error::render(&error)))
            );
            fail(stdout, protocol::NOT_FOUND)
        }
    }
}

/// `store`: the credentials JSON Docker sends after `docker login`.
fn store(io: &mut Run<'_>) -> ExitCode {
    let mut input = Vec::new();
    if let Err(e) = io
        .stdin
        .take(protocol::MAX_INPUT + 1)
        .read_to_end(&mut input)
    {
        return fail(io.stdout, &format!("cannot read stdin: {e}"));
    }
    match protocol::store_request_of(&input) {
        Err(e) => fail(io.stdout, &e),
        Ok(req) => {
            info!(server = %req.server_url, ignored = io.cfg.ignore_creds_storage, "store");
            storage(io, "store", &req.server_url, &input)
        }
    }
}

/// `erase`: the server URL Docker sends after `docker logout`.
fn erase(io: &mut Run<'_>) -> ExitCode {
    let input = protocol::read_input(io.stdin);
    match input.as_deref().and_then(protocol::server_url_of) {
        None => fail(io.stdout, protocol::NO_SERVER_URL),
        Some(url) if url.is_empty() => fail(io.stdout, protocol::NO_SERVER_URL),
        Some(url) => {
            info!(server = %url, ignored = io.cfg.ignore_creds_storage, "erase");
            let input = input.unwrap_or_default();
            storage(io, "erase", &url, &input)
        }
    }
}

/// `store`/`erase` answered as [`fallback::storage`] decides (docs/contract.md §2.3, §2.7).
fn storage(io: &mut Run<'_>, action: &str, server_url: &str, input: &[u8]) -> ExitCode {
    let ctx = &Context::new(io.cfg, io.now);
    let (stdout, stderr) = (&mut *io.stdout, &mut *io.stderr);
    match fallback::storage(ctx, action, server_url) {
        Storage::NothingKept => {
            say(stderr, &helper::not_kept(ctx, action, server_url));
            ExitCode::SUCCESS
        }
        Storage::Silent => ExitCode::SUCCESS,
        Storage::NotImplemented => fail(stdout, protocol::NOT_IMPLEMENTED),
        Storage::Broken(line) => {
            say(stderr, &line);
            fail(stdout, &line)
        }
        Storage::Delegate(program) => delegate(&program, action, input, stdout, stderr),
    }
}

/// Runs the fallback store for `action`: its stdout and exit status are the answer.
fn delegate(
    program: &std::path::Path,
    action: &str,
    input: &[u8],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    match fallback::pass_through(program, action, input, stdout) {
        Ok(Some(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Ok(None) => {
            say(
                stderr,
                &format!("fallback {} was ended by a signal", program.display()),
            );
            ExitCode::FAILURE
        }
        Err(fallback::NotRun(line)) => {
            say(stderr, &line);
            if action == "get" {
                fail(stdout, protocol::NOT_FOUND)
            } else {
                fail(stdout, &line)
            }
        }
    }
}

/// `list` with the fallback store's entries merged in (ours win); a failing fallback costs only
/// its entries and one stderr line.
fn list_answer(
    ctx: &Context<'_>,
    hosts: &[String],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> std::io::Result<()> {
    match Fallback::of(ctx).handoff {
        Handoff::Off => protocol::write_list(stdout, hosts),
        Handoff::Broken(line) => {
            say(stderr, &line);
            protocol::write_list(stdout, hosts)
        }
        Handoff::Ready(program) => match fallback::list(&program) {
            Ok(theirs) => {
                info!(count = theirs.len(), "list: fallback entries");
                protocol::write_merged_list(stdout, hosts, &theirs)
            }
            Err(line) => {
                say(stderr, &line);
                protocol::write_list(stdout, hosts)
            }
        },
    }
}

/// One line on stderr, ours.
fn say(stderr: &mut dyn Write, line: &str) {
    let _ = writeln!(stderr, "docker-credential-ecr-login: {}", printable(line));
}
