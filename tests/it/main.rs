//! The one integration-test binary: the real executable over stdio, against a fake ECR, moto,
//! proxies and black-holed endpoints. Each module is one area of docs/contract.md (§14).

// A test that is skipped (no root, no moto) says so on stderr, where the test runner shows it.
#![allow(clippy::print_stderr)]
// Tests set up their files (and planted ones) with std::fs; clippy.toml keeps the product to
// files.rs.
#![allow(clippy::disallowed_methods)]

mod aws;
mod cache;
mod chain;
mod doors;
mod export;
mod fallback;
mod hardening;
mod kubelet;
mod login;
mod moto;
mod network;
mod protocol;
mod roles;
mod settings;
mod support;
