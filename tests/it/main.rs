//! The one integration-test binary: the real executable over stdio, against a fake ECR, moto,
//! proxies and black-holed endpoints. Each module is one area of SPEC.md.

mod cache;
mod kubelet;
mod moto;
mod network;
mod protocol;
mod settings;
mod support;
