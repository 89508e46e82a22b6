//! The one integration-test binary: the real executable over stdio, against a fake ECR, moto,
//! proxies and black-holed endpoints. Each module is one area of docs/contract.md (§14).

mod cache;
mod hardening;
mod moto;
mod network;
mod protocol;
mod settings;
mod support;
