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
