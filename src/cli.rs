//! The command line: which action was asked for. The actions of Docker's protocol
//! (`protocol.rs`) and the commands for people (`setup/`) are the two front doors.

use std::fmt;

use crate::protocol::USAGE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
    List,
    Version,
    Help,
    /// `configure [--store] [--dry-run] REGISTRY...` (the arguments after the action).
    Configure(Vec<String>),
    /// `doctor [HOST...]`.
    Doctor(Vec<String>),
    /// `login-password [--force] HOST`.
    LoginPassword(Vec<String>),
    /// `export [--format auth|kube-secret] [-o FILE] HOST...`.
    Export(Vec<String>),
}

/// Why the command line is not an action: the line printed on stdout (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    Usage,
    UnknownAction(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Usage => f.write_str(USAGE),
            UsageError::UnknownAction(a) => {
                write!(f, "unknown action: {}", a.escape_debug())?;
                write!(f, " ({USAGE})")
            }
        }
    }
}

pub fn parse_args(args: &[String]) -> Result<Action, UsageError> {
    match args.split_first() {
        Some((a, rest)) if a == "configure" => return Ok(Action::Configure(rest.to_vec())),
        Some((a, rest)) if a == "doctor" => return Ok(Action::Doctor(rest.to_vec())),
        Some((a, rest)) if a == "login-password" => {
            return Ok(Action::LoginPassword(rest.to_vec()));
        }
        Some((a, rest)) if a == "export" => return Ok(Action::Export(rest.to_vec())),
        _ => {}
    }
    let [action] = args else {
        return Err(UsageError::Usage);
    };
    Ok(match action.as_str() {
        "get" => Action::Get,
        "store" => Action::Store,
        "erase" => Action::Erase,
        "list" => Action::List,
        "version" | "-v" | "--version" => Action::Version,
        "-h" | "--help" | "help" => Action::Help,
        other => return Err(UsageError::UnknownAction(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn actions_and_flags_parse() {
        assert_eq!(parse_args(&args(&["get"])), Ok(Action::Get));
        assert_eq!(parse_args(&args(&["--version"])), Ok(Action::Version));
        assert_eq!(parse_args(&args(&["-v"])), Ok(Action::Version));
        assert_eq!(parse_args(&args(&["-h"])), Ok(Action::Help));
        assert_eq!(parse_args(&args(&[])), Err(UsageError::Usage));
        assert_eq!(parse_args(&args(&["get", "x"])), Err(UsageError::Usage));
        assert_eq!(
            parse_args(&args(&["configure", "--store"])),
            Ok(Action::Configure(args(&["--store"])))
        );
        assert_eq!(parse_args(&args(&["doctor"])), Ok(Action::Doctor(vec![])));
        assert_eq!(
            parse_args(&args(&["login-password", "h"])),
            Ok(Action::LoginPassword(args(&["h"])))
        );
        assert_eq!(
            parse_args(&args(&["export", "-o", "f", "h"])),
            Ok(Action::Export(args(&["-o", "f", "h"])))
        );
        let e = parse_args(&args(&["fetch"])).unwrap_err();
        assert!(e.to_string().contains("unknown action"));
    }
}
