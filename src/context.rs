//! The per-run context: what one run of a door reads once and every layer below it uses — the
//! configuration, the clock, whether the cache is used (its trust checks), the per-registry
//! settings file as read, and the AWS files (read when first needed). A door builds it once and
//! passes it down, so that one request does not check the cache directory or read a file again
//! at each step, and the bytes an identity covers are the bytes the SDK is given.
//!
//! It reads; it decides nothing (the policy is `helper.rs`, the fallback's hand-off `fallback.rs`).

use std::io::{Read, Write};

use crate::cache::CacheState;
use crate::config::Config;
use crate::ecr::TokenSource;
use crate::identity::AwsFilesOnce;
use crate::settings::Loaded;

/// What a door is handed for one run: the configuration, the clock (epoch seconds), where tokens
/// come from, and the standard streams (`main` gives the real ones, tests their own). The doors
/// take this one value instead of the same six arguments each.
pub struct Run<'a> {
    pub cfg: &'a Config,
    pub now: u64,
    pub source: &'a dyn TokenSource,
    pub stdin: &'a mut dyn Read,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

/// One run's view of its world.
#[derive(Debug)]
pub struct Context<'a> {
    pub cfg: &'a Config,
    /// When the run started (epoch seconds).
    pub now: u64,
    /// Whether (and where) the cache is used this run.
    pub cache: CacheState,
    /// The per-registry settings file, read once (or why it was not).
    pub settings: Loaded,
    /// The AWS config and credentials files, read at most once (identity.rs).
    pub aws: AwsFilesOnce,
}

impl<'a> Context<'a> {
    /// Checks the cache directory, then reads the settings file (in that order: the settings
    /// file may live in the cache directory, whose trust it shares).
    pub fn new(cfg: &'a Config, now: u64) -> Context<'a> {
        let cache = CacheState::of(cfg);
        let settings = Loaded::load(cfg, &cache);
        Context {
            cfg,
            now,
            cache,
            settings,
            aws: AwsFilesOnce::default(),
        }
    }
}
