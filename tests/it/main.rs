//! The one integration-test binary: the real executable over stdio, against a fake ECR, moto,
//! and black-holed endpoints. Each module is one area of SPEC.md.

mod cache;
mod protocol;
mod support;
