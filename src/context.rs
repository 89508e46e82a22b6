//! The per-run context: what one run of a door reads once and every layer below it uses — the
//! configuration, the clock, whether the cache is used (its trust checks), and the per-registry
//! settings file as read. A door builds it once and passes it down, so that one request does not
//! check the cache directory or read the settings file again at each step.
//!
//! It reads; it decides nothing (the policy is `helper.rs`, the fallback's hand-off `fallback.rs`).

use crate::cache::CacheState;
use crate::config::Config;
use crate::settings::Loaded;

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
        }
    }
}
