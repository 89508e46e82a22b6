//! The policy of `get` and `list`: registry -> identity -> cache -> fetch -> answer.
//!
//! Decides when the cache answers (fresh; or past half-life but still usable, while a detached
//! process refreshes it), when the caller asks the API (missing or no longer usable, or past
//! half-life with background refresh off), what to hand out when the API fails (a cached token
//! only while it is still valid), and how concurrent processes share one fetch (the entry lock,
//! then a re-read). One private token serves every registry of its scope
//! ([`Registry::token_scope`]) for one identity: it is kept under the scope, and copied to each
//! registry's own entry when that registry first asks (so `list` and the kubelet still see
//! entries by host). It writes nothing to stdout or stderr: it returns outcomes, and `lib.rs`
//! renders them.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::children;

use tracing::{info, warn};

use crate::cache::{CacheEntry, CacheState, EntryKey, Failure, Locked, Store};
use crate::config::Config;
use crate::context::Context;
use crate::ecr::{self, FetchError, FetchRequest, Target, Token, TokenSource};
use crate::identity::Identity;
use crate::registry::Registry;
use crate::secret::Secret;
use crate::settings::{KeyKind, Role, Settings, SettingsError};

/// The internal action of a background refresh: `__refresh get SERVER_URL` (the entry a `get`
/// would answer `SERVER_URL` with) or `__refresh default REGION` (the kubelet's caller's
/// registry). Run by this program only, detached (`children::spawn_detached`); the environment
/// it inherits makes its configuration and identity the parent's.
pub const REFRESH_ACTION: &str = "__refresh";

/// `list` never takes longer than this, network or not (docs/contract.md §2.2).
pub const LIST_BUDGET: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum GetOutcome {
    /// Answer with these credentials.
    Found(Found),
    /// Not an ECR host: not-found, silently.
    NotEcr,
    /// An ECR host (or a custom name for one) whose token cannot be had: not-found, and this
    /// cause on stderr, about `host` (the registry's host, or what the client sent).
    Unavailable { host: String, error: FetchError },
}

/// What `get` answers, and the warnings (one stderr line each) the user should see with it.
#[derive(Debug)]
pub struct Answer {
    pub outcome: GetOutcome,
    pub warnings: Vec<String>,
}

/// Where a token handed out came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Cache,
    CacheAfterWait,
    Api,
    StaleAfterError,
    StaleAfterSharedError,
    /// Past its refresh point, still usable: answered while a detached process refreshes it.
    CacheRefreshing,
}

/// A token handed out, with what every door needs to know about it.
#[derive(Debug)]
pub struct Found {
    pub password: Secret<String>,
    /// When it was fetched (epoch seconds): this request's time for a token from AWS, the entry's
    /// for a token from the cache.
    pub fetched_at: u64,
    /// When it expires (epoch seconds), if AWS said.
    pub expires_at: Option<u64>,
    pub served: Served,
}

impl Found {
    /// The token of a cache entry.
    fn cached(e: &CacheEntry, served: Served) -> Found {
        Found {
            password: e.password.clone(),
            fetched_at: e.fetched_at,
            expires_at: Some(e.expires_at),
            served,
        }
    }

    /// A token from AWS, fetched at `now`.
    fn fetched(password: Secret<String>, now: u64, expires_at: Option<u64>) -> Found {
        Found {
            password,
            fetched_at: now,
            expires_at,
            served: Served::Api,
        }
    }

    /// Seconds from `now` until its refresh point (half its life; 0 when past it, or when AWS
    /// gave no expiry).
    pub fn refresh_in(&self, now: u64) -> u64 {
        self.expires_at
            .map_or(0, |exp| crate::cache::refresh_in(self.fetched_at, exp, now))
    }
}

/// How an entry past its refresh point (still usable) is refreshed.
enum Mode<'a> {
    /// By the caller, who waits (background refresh off, or no way to start a refresher).
    Foreground,
    /// By a detached refresher this function starts (it returns whether one started); the
    /// caller is answered from the cache at once.
    Background(&'a dyn Fn() -> bool),
    /// This process is the refresher: it fetches as a waiting caller would, then ends its claim.
    Refresher,
}

/// Whether a stale entry is refreshed in the background: on unless `AWS_ECR_BACKGROUND_REFRESH`
/// or the settings file's `"backgroundRefresh"` says otherwise, and possible only when `main`
/// allows it (`Config::can_spawn_refresher`).
pub fn background_refresh(cfg: &Config, settings: Option<&Settings>) -> bool {
    cfg.background_refresh && settings.and_then(Settings::background_refresh) != Some(false)
}

/// Starts `__refresh ARGS...` detached; whether it started.
fn start_refresher(cfg: &Config, args: &[&str]) -> bool {
    if !cfg.can_spawn_refresher {
        return false;
    }
    // Looked up only now: a hit never pays for it.
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "background refresh not started: this program's path is unknown");
            return false;
        }
    };
    let mut all = vec![REFRESH_ACTION];
    all.extend_from_slice(args);
    match children::spawn_detached(&program, &all) {
        Ok(pid) => {
            info!(pid, "background refresh started");
            true
        }
        Err(e) => {
            warn!(error = %e, "background refresh not started: refreshing in the foreground");
            false
        }
    }
}

pub fn get(cfg: &Config, server_url: &str, now: u64, source: &dyn TokenSource) -> Answer {
    get_in(&Context::new(cfg, now), server_url, source)
}

/// [`get`] within a run's [`Context`] (its cache state and settings, read once).
pub fn get_in(ctx: &Context<'_>, server_url: &str, source: &dyn TokenSource) -> Answer {
    let loaded = &ctx.settings;
    let clock = Clock::new(ctx.now);
    // A request that is not resolved has no warnings to show.
    let answer = |outcome| Answer {
        outcome,
        warnings: Vec::new(),
    };
    let settings = match &loaded.settings {
        Ok(m) => m,
        // A broken settings file is no business of hosts that are not ECR (custom names
        // included: they cannot be told from other registries without the file).
        Err(_) if Registry::parse(server_url).is_none() => {
            info!(input_len = server_url.len(), "get: not an ECR host");
            return answer(GetOutcome::NotEcr);
        }
        Err(e) => {
            warn!(error = %e, "get: settings file");
            let host = input_host(server_url);
            return answer(GetOutcome::Unavailable {
                host,
                error: FetchError::Settings(e.clone()),
            });
        }
    };
    let resolved = match resolve_in(ctx, settings, server_url) {
        Ok(Some(r)) => r,
        Ok(None) => {
            info!(input_len = server_url.len(), "get: not an ECR host");
            return answer(GetOutcome::NotEcr);
        }
        Err(e) => {
            warn!(error = %e, "get: settings file");
            let host = input_host(server_url);
            return answer(GetOutcome::Unavailable { host, error: e });
        }
    };
    get_for(ctx, resolved, server_url, clock, source)
}

/// [`get_in`] for a caller already resolved (the kubelet's door resolves to plan its answer):
/// the identity is not worked out again.
pub fn get_resolved(
    ctx: &Context<'_>,
    caller: Caller,
    server_url: &str,
    source: &dyn TokenSource,
) -> Answer {
    get_for(ctx, caller, server_url, Clock::new(ctx.now), source)
}

/// The policy of [`get`] once the caller is known.
fn get_for(
    ctx: &Context<'_>,
    caller: Caller,
    server_url: &str,
    clock: Clock,
    source: &dyn TokenSource,
) -> Answer {
    let (cfg, cache) = (ctx.cfg, &ctx.cache);
    let settings = ctx.settings.settings.as_ref().ok();
    let mut warnings: Vec<String> = Vec::new();
    warnings.extend(cache.warning());
    warnings.extend(ctx.settings.warning.clone());
    let Caller {
        registry,
        profile,
        role,
        identity,
        ..
    } = caller;
    warnings.extend(identity.warnings.iter().cloned());
    if let Some(w) = cache.warning() {
        warn!(%w, "cache not used");
    }
    let request = FetchRequest {
        target: Target::Registry(&registry),
        profile: profile.as_deref(),
        role: role.as_ref(),
        identity: &identity,
        aws: &ctx.aws,
        budget: ecr::fetch_budget(cfg),
        web_identity: None,
    };
    let spawn = || start_refresher(cfg, &["get", server_url]);
    let mode = if background_refresh(cfg, settings) && cfg.can_spawn_refresher {
        Mode::Background(&spawn)
    } else {
        Mode::Foreground
    };
    answer_for(cfg, cache, &request, clock, source, warnings, mode)
}

/// The internal action [`REFRESH_ACTION`]: refreshes one entry as a waiting `get` would (the
/// same lock, budget, entry or failure record), answers no one, and ends the claim that started
/// it. `false` on arguments this program does not send.
pub fn refresh(cfg: &Config, args: &[String], now: u64, source: &dyn TokenSource) -> bool {
    let clock = Clock::new(now);
    // The refresher is a run of its own: its context, read once, as the get's was.
    let ctx = Context::new(cfg, now);
    let cache = &ctx.cache;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["get", server_url] => {
            let Ok(Some(r)) = resolve_for(&ctx, server_url) else {
                return false;
            };
            let request = FetchRequest {
                target: Target::Registry(&r.registry),
                profile: r.profile.as_deref(),
                role: r.role.as_ref(),
                identity: &r.identity,
                aws: &ctx.aws,
                budget: ecr::fetch_budget(cfg),
                web_identity: None,
            };
            answer_for(
                cfg,
                cache,
                &request,
                clock,
                source,
                Vec::new(),
                Mode::Refresher,
            )
        }
        ["default", region] => {
            let identity = Identity::of(cfg, &ctx.aws, None);
            let request = FetchRequest {
                target: Target::DefaultRegistry { region },
                profile: None,
                role: None,
                identity: &identity,
                aws: &ctx.aws,
                budget: ecr::fetch_budget(cfg),
                web_identity: None,
            };
            answer_for(
                cfg,
                cache,
                &request,
                clock,
                source,
                Vec::new(),
                Mode::Refresher,
            )
        }
        _ => return false,
    };
    matches!(outcome.outcome, GetOutcome::Found { .. })
}

/// The cache-then-fetch policy of one request, logged, as an [`Answer`].
fn answer_for(
    cfg: &Config,
    cache: &CacheState,
    request: &FetchRequest<'_>,
    clock: Clock,
    source: &dyn TokenSource,
    mut warnings: Vec<String>,
    mode: Mode<'_>,
) -> Answer {
    let result = get_registry(
        cfg,
        cache.store(),
        request,
        clock,
        source,
        &mut warnings,
        mode,
    );
    let ms = clock.started.elapsed().as_secs_f64() * 1000.0;
    let host = request.target.name();
    let identity = &request.identity.source;
    let outcome = match result {
        Ok(found) => {
            info!(host, %identity, source = ?found.served, ms, "get: token");
            GetOutcome::Found(found)
        }
        Err(e) => {
            warn!(host, %identity, error = %crate::error::render(&e), ms, "get: no token");
            GetOutcome::Unavailable { host, error: e }
        }
    };
    Answer { outcome, warnings }
}

/// The policy of [`get`] (the same entries, locks, failure records and stale rules) for a target
/// and identity another door decided: the kubelet's hosts that are not ECR (the caller's default
/// registry) and its service-account tokens (an identity per service account, a role to assume).
pub fn get_as(
    ctx: &Context<'_>,
    target: Target<'_>,
    identity: &Identity,
    web_identity: Option<&crate::ecr::WebIdentity>,
    source: &dyn TokenSource,
) -> Answer {
    let (cfg, cache) = (ctx.cfg, &ctx.cache);
    let clock = Clock::new(ctx.now);
    let warnings: Vec<String> = cache.warning().into_iter().collect();
    let request = FetchRequest {
        target,
        profile: None,
        role: None,
        identity,
        aws: &ctx.aws,
        budget: ecr::fetch_budget(cfg),
        web_identity,
    };
    // A service account's token is the kubelet's, handed over on stdin for this request: it is
    // not passed on to a refresher, so those entries refresh in the foreground.
    // (A registry's entries come here only with a service account's token: without one, the
    // kubelet's door asks `get`.)
    let spawn = || match target {
        Target::DefaultRegistry { region } => {
            let settings = ctx.settings.settings.as_ref().ok();
            background_refresh(cfg, settings) && start_refresher(cfg, &["default", region])
        }
        Target::Registry(_) => false,
    };
    let mode = if web_identity.is_none() && cfg.background_refresh && cfg.can_spawn_refresher {
        Mode::Background(&spawn)
    } else {
        Mode::Foreground
    };
    answer_for(cfg, cache, &request, clock, source, warnings, mode)
}

/// The host a client asked about, for a message: the ECR host if it is one, else its input.
fn input_host(server_url: &str) -> String {
    Registry::parse(server_url).map_or_else(|| server_url.to_owned(), |r| r.host().to_owned())
}

/// The one stderr line of `store` (`action` "store") or `erase` of a host this helper serves
/// (docs/contract.md §2.3): nothing is kept, tokens come from the AWS credentials, and whose, so
/// that someone who logged in with another account's password knows to map the host.
pub fn not_kept(ctx: &Context<'_>, action: &str, server_url: &str) -> String {
    let cfg = ctx.cfg;
    let host = Registry::parse(server_url).map_or_else(
        || crate::registry::hostport_of(server_url).to_owned(),
        |r| r.host().to_owned(),
    );
    let host = crate::text::shown(&host);
    let what = if action == "store" {
        "the password was not kept"
    } else {
        "nothing to erase"
    };
    let from = "this helper gets tokens for this host from the AWS credentials";
    match resolve_for(ctx, server_url) {
        Ok(Some(r)) => {
            let map = cfg.settings_file.as_ref().map_or_else(String::new, |f| {
                format!("; for another account's, map the host in {}", f.display())
            });
            format!("{host}: {what}: {from} ({}){map}", identity_named(cfg, &r))
        }
        Ok(None) => format!("{host}: {what}: {from}"),
        Err(e) => format!("{host}: {what}: {from}, but {}", crate::error::render(&e)),
    }
}

/// The identity of a request in a few words, as `doctor` names it: no secret, no key id.
pub fn identity_named(cfg: &Config, request: &Caller) -> String {
    use crate::identity::CredentialSource;
    let key = request.mapping.as_deref().unwrap_or_default();
    match (&request.profile, &request.identity.source) {
        (_, source @ CredentialSource::Role { .. }) => format!("{source}, mapped by {key:?}"),
        (Some(p), _) => format!("profile {p}, mapped by {key:?}"),
        (None, CredentialSource::Profile { name, .. }) if cfg.profile.is_some() => {
            format!("profile {name} from AWS_PROFILE")
        }
        (None, source) => source.to_string(),
    }
}

/// Who asks for which registry: the outcome of the per-registry settings and the identity.
#[derive(Debug)]
pub struct Caller {
    pub registry: Registry,
    /// A profile named by a mapping (its `profile`, or its role's `source_profile`): it wins over
    /// `AWS_PROFILE` and environment keys.
    pub profile: Option<String>,
    /// A role named by a mapping, assumed with the credentials of `profile` (else the default
    /// chain).
    pub role: Option<Role>,
    /// The key of the per-registry mapping that applied, if any.
    pub mapping: Option<String>,
    /// How that key named the host.
    pub kind: Option<KeyKind>,
    /// Keys that name the host too but lost to `mapping`.
    pub outranked: Vec<String>,
    pub identity: Identity,
}

/// Who asks for `server_url`, as the per-registry settings a run's [`Context`] read and the
/// identity decide; `None` for a host that is not ECR (nor a mapped custom name).
pub fn resolve_for(ctx: &Context<'_>, server_url: &str) -> Result<Option<Caller>, FetchError> {
    match &ctx.settings.settings {
        Ok(settings) => resolve_in(ctx, settings, server_url),
        Err(e) => Err(FetchError::from(e.clone())),
    }
}

/// [`resolve_for`] with the per-registry settings already loaded (for `list`, which resolves each
/// cached entry).
fn resolve_in(
    ctx: &Context<'_>,
    settings: &Settings,
    server_url: &str,
) -> Result<Option<Caller>, FetchError> {
    let (cfg, aws) = (ctx.cfg, &ctx.aws);
    let Some(resolved) = settings.resolve(server_url)? else {
        return Ok(None);
    };
    let (identity, profile, which) = match &resolved.role {
        Some(role) => (
            Identity::of_role(cfg, aws, role),
            role.source_profile.clone(),
            "source_profile",
        ),
        None => (
            Identity::of(cfg, aws, resolved.profile.as_deref()),
            resolved.profile.clone(),
            "profile",
        ),
    };
    if let Some(p) = &profile
        && !identity.profile_found()
    {
        return Err(FetchError::Settings(SettingsError {
            path: settings.path().map(Path::to_path_buf).unwrap_or_default(),
            key: resolved.key.clone(),
            problem: format!(
                "\"{which}\": unknown profile {p:?}: no such section in the AWS config or credentials file"
            ),
        }));
    }
    Ok(Some(Caller {
        registry: resolved.registry,
        profile,
        role: resolved.role,
        mapping: resolved.key,
        kind: resolved.kind,
        outranked: resolved.outranked,
        identity,
    }))
}

/// The clock of one request: the time it started (epoch seconds, as `main` read it) and the
/// instant, so that a record read or written later is dated later.
#[derive(Debug, Clone, Copy)]
struct Clock {
    now: u64,
    started: Instant,
}

impl Clock {
    fn new(now: u64) -> Clock {
        Clock {
            now,
            started: Instant::now(),
        }
    }

    /// `now` plus the whole seconds this request has taken so far.
    fn later(&self) -> u64 {
        self.now.saturating_add(self.started.elapsed().as_secs())
    }
}

/// The cache-then-fetch policy for one request (see the module comment), in its steps: a hit,
/// a shared failure, a background refresh, the lock, a re-read, the fetch, the record.
fn get_registry(
    cfg: &Config,
    store: Option<&Store>,
    request: &FetchRequest<'_>,
    clock: Clock,
    source: &dyn TokenSource,
    warnings: &mut Vec<String>,
    mode: Mode<'_>,
) -> Result<Found, FetchError> {
    let now = clock.now;
    let Some(store) = usable_store(store, request) else {
        return fetch_noting(source, request, warnings).map(|(p, exp)| Found::fetched(p, now, exp));
    };
    let slot = Slot::new(cfg, store, request, clock);
    // A hit reads one file and computes nothing more.
    let cached = store.read(&slot.key);
    if !matches!(mode, Mode::Refresher)
        && let Some(e) = cached.as_ref().filter(|e| e.is_fresh(now))
    {
        return Ok(Found::cached(e, Served::Cache));
    }
    // The refresher ends the claim that started it, whatever the outcome (after the lock is
    // released: this is declared first, so dropped last).
    let _claim = matches!(mode, Mode::Refresher).then(|| Claim {
        store,
        key: slot.fetch_key(),
    });
    let cached = slot.with_scope(cached);
    if let Some(e) = cached.as_ref().filter(|e| e.is_fresh(now)) {
        return Ok(Found::cached(e, Served::Cache));
    }
    if let Some(f) = slot.recent_failure() {
        return shared_failure(cached, f, now);
    }
    if let Some(answer) = slot.refresh_in_background(&mode, cached.as_ref(), request.budget) {
        return Ok(answer);
    }
    // Miss or past half-life: one process fetches, the others wait for its outcome. The lock
    // (if held) is released when this function returns, after the outcome is written.
    let _held = slot.lock(request.budget);
    let cached = slot.with_scope(store.read(&slot.key)).or(cached);
    if let Some(e) = cached.as_ref().filter(|e| e.is_fresh(now)) {
        return Ok(Found::cached(e, Served::CacheAfterWait));
    }
    if let Some(f) = slot.recent_failure() {
        return shared_failure(cached, f, now);
    }
    match fetch_noting(source, request, warnings) {
        Ok((password, expires_at)) => {
            slot.record(&password, expires_at);
            Ok(Found::fetched(password, now, expires_at))
        }
        Err(err) => {
            slot.record_failure(&err);
            match cached {
                // Better than Go: a stale token only while the registry would still accept it.
                Some(e) if e.is_usable(now) => {
                    warn!(host = slot.host(), err = %crate::error::render(&err), expires_at = e.expires_at, "refresh failed; using cached token");
                    Ok(Found::cached(&e, Served::StaleAfterError))
                }
                _ => Err(err),
            }
        }
    }
}

/// The store, if this request's tokens may be kept in it.
fn usable_store<'a>(store: Option<&'a Store>, request: &FetchRequest<'_>) -> Option<&'a Store> {
    let store = store?;
    if !request.identity.cacheable {
        info!(
            host = request.target.name(),
            "cache not used: an AWS config or credentials file is too large to identify"
        );
        return None;
    }
    Some(store)
}

/// A fetch, its warnings added to `warnings` (each once).
fn fetch_noting(
    source: &dyn TokenSource,
    request: &FetchRequest<'_>,
    warnings: &mut Vec<String>,
) -> Result<(Secret<String>, Option<u64>), FetchError> {
    fetch(source, request).map(|t| {
        for n in t.warnings {
            if !warnings.contains(&n) {
                warnings.push(n);
            }
        }
        (t.password, t.expires_at)
    })
}

/// One request's place in the store: its registry's entry, its token scope's (a private
/// registry's region, partition and flavour, kept under its own key: one fetch per scope serves
/// every account's registry in it), and who may share its failures.
struct Slot<'a> {
    store: &'a Store,
    identity: &'a str,
    key: EntryKey,
    /// The scope's entry, when the scope is not the registry itself.
    scope_key: Option<EntryKey>,
    /// A failure is shared only under the same network settings as well (config.rs), and in the
    /// kubelet's service-account mode only among requests carrying the same token: the entry is
    /// the service account's, but the claims that name it are not checked here (STS checks the
    /// token), so a forged token's failure must not answer for the real account's pulls.
    failure_owner: String,
    clock: Clock,
}

impl<'a> Slot<'a> {
    fn new(cfg: &Config, store: &'a Store, request: &FetchRequest<'a>, clock: Clock) -> Slot<'a> {
        let identity = request.identity.id.as_str();
        let host = request.target.name();
        let scope = match request.target {
            Target::Registry(r) => r.token_scope(),
            Target::DefaultRegistry { .. } => host.clone(),
        };
        let scope_key = (scope != host).then(|| EntryKey::new(identity, &scope));
        let mut failure_owner = format!(
            "{identity}:{}",
            crate::digest::sha256_hex(cfg.fetch_context.as_bytes())
        );
        if let Some(w) = request.web_identity {
            failure_owner.push(':');
            failure_owner.push_str(&crate::digest::sha256_hex(w.token.expose().as_bytes()));
        }
        Slot {
            store,
            identity,
            key: EntryKey::new(identity, &host),
            scope_key,
            failure_owner,
            clock,
        }
    }

    fn host(&self) -> &str {
        self.key.registry()
    }

    /// The fetch (its lock, its refresher) is the scope's.
    fn fetch_key(&self) -> &EntryKey {
        self.scope_key.as_ref().unwrap_or(&self.key)
    }

    /// This registry's entry `own`, or the scope's token when that is newer (then copied to this
    /// registry's entry, so the next hit reads one file, and `list` shows this registry).
    fn with_scope(&self, own: Option<CacheEntry>) -> Option<CacheEntry> {
        let now = self.clock.now;
        let Some(scoped) = self
            .scope_key
            .as_ref()
            .and_then(|k| self.store.read(k))
            .filter(|s| s.is_usable(now))
            .filter(|s| own.as_ref().is_none_or(|o| s.fetched_at > o.fetched_at))
        else {
            return own;
        };
        let copy = CacheEntry {
            registry: self.host().to_owned(),
            ..scoped
        };
        if let Err(err) = self.store.write(&self.key, &copy) {
            warn!(dir = %self.store.dir().display(), %err, "cache not written");
        }
        Some(copy)
    }

    /// A failure another process recorded moments ago. Its age is taken at the time it is read
    /// (a waiter reads one recorded after it started), so one dated in the future answers for
    /// no more than its few seconds.
    fn recent_failure(&self) -> Option<Failure> {
        let read_at = self.clock.later();
        self.store
            .read_failure(&self.key, &self.failure_owner)
            .filter(|f| f.is_recent(read_at))
    }

    /// Past its refresh point, still usable: answer now, refresh in a detached process (one per
    /// entry: the claim; if it cannot start, the caller refreshes as with background refresh
    /// off, and `None` is returned).
    fn refresh_in_background(
        &self,
        mode: &Mode<'_>,
        cached: Option<&CacheEntry>,
        budget: Duration,
    ) -> Option<Found> {
        let (Mode::Background(spawn), Some(e)) = (mode, cached) else {
            return None;
        };
        if !e.is_usable(self.clock.now) {
            return None;
        }
        if !self
            .store
            .claim_refresh(self.fetch_key(), budget.saturating_mul(2))
        {
            info!(
                host = self.host(),
                "get: past its refresh point; a refresh is under way"
            );
            return Some(Found::cached(e, Served::CacheRefreshing));
        }
        if spawn() {
            return Some(Found::cached(e, Served::CacheRefreshing));
        }
        self.store.end_refresh(self.fetch_key());
        None
    }

    /// The fetch's lock, waiting while another process holds it until its outcome (an entry
    /// or a failure record) appears.
    fn lock(&self, budget: Duration) -> Option<crate::cache::EntryLock> {
        let now = self.clock.now;
        let ready = || {
            let e = self.with_scope(self.store.read(&self.key));
            e.is_some_and(|e| e.is_fresh(now)) || self.recent_failure().is_some()
        };
        match self.store.lock(self.fetch_key(), budget, ready) {
            Locked::Held(l) => Some(l),
            Locked::Ready => None,
            Locked::Unlocked => {
                warn!(
                    host = self.host(),
                    "entry lock not taken (unwritable cache, or a holder past its deadline): fetching without it"
                );
                None
            }
        }
    }

    /// Keeps a fetched token (the scope's entry first, so a registry's entry is never newer
    /// than its scope's), forgets the failure record, prunes. A token that arrives already
    /// expired (or nearly) is handed out but not kept.
    fn record(&self, password: &Secret<String>, expires_at: Option<u64>) {
        let now = self.clock.now;
        let entry = expires_at
            .map(|exp| CacheEntry::new(self.host(), self.identity, password.clone(), now, exp))
            .filter(|e| e.is_usable(now));
        if let Some(entry) = entry {
            let scoped = self.scope_key.as_ref().map(|k| {
                let e = CacheEntry {
                    registry: k.registry().to_owned(),
                    ..entry.clone()
                };
                self.store.write(k, &e)
            });
            for result in [
                scoped.unwrap_or(Ok(())),
                self.store.write(&self.key, &entry),
            ] {
                if let Err(err) = result {
                    warn!(dir = %self.store.dir().display(), %err, "cache not written");
                }
            }
        }
        self.store.clear_failure(&self.key);
        let pruned = self.store.prune(now);
        if pruned > 0 {
            info!(pruned, "cache: removed expired or damaged entries");
        }
    }

    /// Shares a failed fetch with the processes waiting for it, and any arriving soon after.
    fn record_failure(&self, err: &FetchError) {
        let cause = crate::error::render(err);
        let record = Failure::new(self.host(), &self.failure_owner, cause, self.clock.later());
        if let Err(e) = self.store.write_failure(&self.key, &record) {
            warn!(%e, "failure record not written");
        }
    }
}

/// A refresher's claim on an entry (`Store::claim_refresh`), ended when dropped.
struct Claim<'a> {
    store: &'a Store,
    key: &'a EntryKey,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.store.end_refresh(self.key);
    }
}

/// Another process's fetch failed moments ago: answer as it did, without asking AWS again.
fn shared_failure(
    cached: Option<CacheEntry>,
    failure: Failure,
    now: u64,
) -> Result<Found, FetchError> {
    match cached {
        Some(e) if e.is_usable(now) => Ok(Found::cached(&e, Served::StaleAfterSharedError)),
        _ => {
            info!(
                age = now.saturating_sub(failure.recorded_at),
                "get: a recent failure answers"
            );
            Err(FetchError::Recorded(failure.cause))
        }
    }
}

fn fetch(source: &dyn TokenSource, request: &FetchRequest<'_>) -> Result<Token, FetchError> {
    let started = Instant::now();
    let result = source.fetch(request);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let host = match request.target {
        Target::Registry(r) => r.host(),
        Target::DefaultRegistry { region } => region,
    };
    match &result {
        Ok(t) => info!(host, ms, expires_at = ?t.expires_at, "GetAuthorizationToken ok"),
        Err(e) => {
            warn!(host, ms, error = %crate::error::render(e), "GetAuthorizationToken failed")
        }
    }
    result
}

/// `list`: the registries with a cached token usable by the identity that would ask for each
/// (the default one, or a mapping's profile). With a default region (`AWS_REGION`,
/// `AWS_DEFAULT_REGION` or the profile's: `identity::default_region`) and no such token in that
/// region, it also asks for the caller's own registry there, as the Go helper does for the legacy
/// `docker build`, within [`LIST_BUDGET`]; what it can't get, it leaves out (docs/contract.md
/// §2.2).
pub fn list(cfg: &Config, now: u64, source: &dyn TokenSource) -> Vec<String> {
    list_in(&Context::new(cfg, now), source)
}

/// [`list`] within a run's [`Context`] (its cache state and settings, read once).
pub fn list_in(ctx: &Context<'_>, source: &dyn TokenSource) -> Vec<String> {
    let (cfg, now) = (ctx.cfg, ctx.now);
    let store = ctx.cache.store().cloned();
    // With a broken settings file no entry's owner can be told (every get fails too): list nothing.
    let Ok(settings) = &ctx.settings.settings else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = store
        .iter()
        .flat_map(Store::entries)
        .filter(|e| e.is_usable(now))
        .filter(|e| {
            matches!(resolve_in(ctx, settings, &e.registry), Ok(Some(r))
                if r.identity.id == e.identity && r.registry.host() == e.registry)
        })
        .map(|e| e.registry)
        .collect();
    if let Some(region) = &crate::identity::default_region(cfg, &ctx.aws) {
        let covered = hosts
            .iter()
            .any(|h| matches!(Registry::parse(h), Some(Registry::Private { region: r, .. }) if &r == region));
        if !covered && let Some(host) = default_registry(ctx, settings, region, source) {
            hosts.push(host);
        }
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Fetches (and caches) the caller's registry in `region`; `None` on any failure.
fn default_registry(
    ctx: &Context<'_>,
    settings: &Settings,
    region: &str,
    source: &dyn TokenSource,
) -> Option<String> {
    let (cfg, now, store) = (ctx.cfg, ctx.now, ctx.cache.store());
    let started = Instant::now();
    // Whose registry it is, is what the default chain's identity says.
    let default_identity = Identity::of(cfg, &ctx.aws, None);
    let request = FetchRequest {
        target: Target::DefaultRegistry { region },
        profile: None,
        role: None,
        identity: &default_identity,
        aws: &ctx.aws,
        budget: LIST_BUDGET,
        web_identity: None,
    };
    let token = match source.fetch(&request) {
        Ok(t) => t,
        Err(e) => {
            info!(region, error = %crate::error::render(&e), "list: no default registry");
            return None;
        }
    };
    let registry = token.proxy_endpoint.as_deref().and_then(Registry::parse)?;
    let host = registry.host();
    // Only a registry the default identity would also be asked for (not one a mapping sends
    // to another profile) is listed and cached.
    let identity = match resolve_in(ctx, settings, host) {
        Ok(Some(r)) if r.profile.is_none() && r.identity.cacheable => r.identity,
        _ => return None,
    };
    if let (Some(store), Some(exp)) = (store, token.expires_at) {
        let entry = CacheEntry::new(host, &identity.id, token.password, now, exp);
        if entry.is_usable(now) {
            let _ = store.write(&EntryKey::new(&identity.id, host), &entry);
        }
    }
    info!(
        host,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "list: default registry"
    );
    Some(host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

    use std::cell::Cell;

    type Fake = crate::ecr::fake::FakeSource;

    fn cfg(dir: &std::path::Path) -> Config {
        let home = dir.display().to_string();
        Config::from_pairs(&[
            ("HOME", &home),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ])
    }

    fn denied() -> Result<(String, u64), FetchError> {
        Err(FetchError::Service {
            code: "AccessDeniedException".into(),
            message: "no".into(),
        })
    }

    fn password(a: Answer) -> String {
        match a.outcome {
            GetOutcome::Found(found) => found.password.expose().clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fresh_hit_makes_no_call_and_half_life_triggers_a_refresh() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![
            Ok(("one".into(), 1000 + 100)),
            Ok(("two".into(), 2000)),
        ]);
        assert_eq!(password(get(&c, HOST, 1000, &fake)), "one");
        assert_eq!(password(get(&c, HOST, 1049, &fake)), "one");
        assert_eq!(fake.calls(), 1);
        assert_eq!(password(get(&c, HOST, 1050, &fake)), "two");
        assert_eq!(fake.calls(), 2);
    }

    #[test]
    fn a_token_fetched_by_a_process_that_started_a_second_later_is_a_hit() {
        // Concurrent pulls start across a second boundary, and the one that wins the lock may be
        // the later one: its entry says fetched at 1001, the waiter's clock says 1000.
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![Ok(("one".into(), 1001 + 43_200))]);
        assert_eq!(password(get(&c, HOST, 1001, &fake)), "one");
        assert_eq!(password(get(&c, HOST, 1000, &fake)), "one");
        assert_eq!(fake.calls(), 1);
    }

    #[test]
    fn failed_refresh_serves_the_cached_token_only_while_it_is_valid() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![Ok(("one".into(), 1100)), denied(), denied()]);
        assert_eq!(password(get(&c, HOST, 1000, &fake)), "one");
        assert_eq!(password(get(&c, HOST, 1060, &fake)), "one");
        assert!(matches!(
            get(&c, HOST, 1100, &fake).outcome,
            GetOutcome::Unavailable {
                error: FetchError::Service { .. },
                ..
            }
        ));
    }

    #[test]
    fn non_ecr_hosts_never_reach_the_source() {
        let d = tempfile::tempdir().unwrap();
        let fake = Fake::scripted(vec![]);
        assert!(matches!(
            get(&cfg(d.path()), "index.docker.io", 1, &fake).outcome,
            GetOutcome::NotEcr
        ));
        assert_eq!(fake.calls(), 0);
    }

    #[test]
    fn a_failure_is_shared_for_a_few_seconds_with_the_same_identity_only() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![denied(), Ok(("other".into(), 9000)), denied()]);
        let first = get(&c, HOST, 1000, &fake).outcome;
        let GetOutcome::Unavailable { error: e, .. } = first else {
            panic!("{first:?}")
        };
        let cause = e.to_string();
        // Within the burst: the same cause, no call.
        match get(&c, HOST, 1000 + crate::cache::FAILURE_TTL - 1, &fake).outcome {
            GetOutcome::Unavailable { error: e, .. } => assert_eq!(e.to_string(), cause),
            other => panic!("{other:?}"),
        }
        assert_eq!(fake.calls(), 1);
        // Another identity asks for itself.
        let mut other = c.clone();
        other
            .identity_env
            .retain(|(n, _)| *n != "AWS_SECRET_ACCESS_KEY");
        other
            .identity_env
            .push(("AWS_SECRET_ACCESS_KEY", Secret::new("t".into())));
        assert_eq!(password(get(&other, HOST, 1001, &fake)), "other");
        assert_eq!(fake.calls(), 2);
        // After the record's time, the API is asked again.
        let late = get(&c, HOST, 1000 + crate::cache::FAILURE_TTL, &fake).outcome;
        assert!(matches!(
            late,
            GetOutcome::Unavailable {
                error: FetchError::Service { .. },
                ..
            }
        ));
        assert_eq!(fake.calls(), 3);
    }

    #[test]
    fn a_service_account_failure_is_shared_only_among_requests_with_the_same_token() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let registry = Registry::parse(HOST).unwrap();
        // One identity (the service account the claims name), several tokens naming it.
        let identity = Identity::of_fresh(&c, None);
        let with = |token: &str| crate::ecr::WebIdentity {
            role_arn: "arn:aws:iam::123456789012:role/pull".into(),
            session_name: "s".into(),
            token: Secret::new(token.into()),
        };
        let (forged, real) = (with("forged"), with("real"));
        let fake = Fake::scripted(vec![denied(), Ok(("real".into(), 9000))]);
        let ask = |w: &crate::ecr::WebIdentity, now| {
            get_as(
                &Context::new(&c, now),
                Target::Registry(&registry),
                &identity,
                Some(w),
                &fake,
            )
            .outcome
        };
        assert!(matches!(ask(&forged, 1000), GetOutcome::Unavailable { .. }));
        // The same token within the burst: the recorded failure answers.
        assert!(matches!(ask(&forged, 1001), GetOutcome::Unavailable { .. }));
        assert_eq!(fake.calls(), 1);
        // Another token naming the same account is not answered by the forged one's failure.
        match ask(&real, 1001) {
            GetOutcome::Found(found) => assert_eq!(found.password.expose(), "real"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fake.calls(), 2);
    }

    /// `get` of `host` at `now` with background refresh, `spawn` standing for the refresher.
    fn get_bg(c: &Config, host: &str, now: u64, fake: &Fake, spawn: &dyn Fn() -> bool) -> Answer {
        let cache = CacheState::of(c);
        let registry = Registry::parse(host).unwrap();
        let identity = Identity::of_fresh(c, None);
        let request = FetchRequest {
            target: Target::Registry(&registry),
            profile: None,
            role: None,
            identity: &identity,
            aws: &Default::default(),
            budget: Duration::from_secs(10),
            web_identity: None,
        };
        let mode = Mode::Background(spawn);
        answer_for(c, &cache, &request, Clock::new(now), fake, Vec::new(), mode)
    }

    #[test]
    fn a_stale_entry_answers_at_once_and_starts_one_refresh() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![
            Ok(("one".into(), 1000 + 43_200)),
            Ok(("two".into(), 30_000 + 43_200)),
        ]);
        let spawned = Cell::new(0);
        let spawn = || {
            spawned.set(spawned.get() + 1);
            true
        };
        assert_eq!(password(get_bg(&c, HOST, 1000, &fake, &spawn)), "one");
        assert_eq!((fake.calls(), spawned.get()), (1, 0), "a miss waits");
        // Past half-life, still usable: the cached token, no call, one refresher for a burst.
        for _ in 0..50 {
            assert_eq!(password(get_bg(&c, HOST, 30_000, &fake, &spawn)), "one");
        }
        assert_eq!((fake.calls(), spawned.get()), (1, 1));
        // The refresher: it fetches, writes, and ends its claim.
        let registry = Registry::parse(HOST).unwrap();
        let identity = Identity::of_fresh(&c, None);
        let request = FetchRequest {
            target: Target::Registry(&registry),
            profile: None,
            role: None,
            identity: &identity,
            aws: &Default::default(),
            budget: Duration::from_secs(10),
            web_identity: None,
        };
        let cache = CacheState::of(&c);
        let r = answer_for(
            &c,
            &cache,
            &request,
            Clock::new(30_000),
            &fake,
            Vec::new(),
            Mode::Refresher,
        );
        assert_eq!(password(r), "two");
        assert_eq!(fake.calls(), 2);
        assert_eq!(password(get_bg(&c, HOST, 30_001, &fake, &spawn)), "two");
        // Past its refresh point again: the claim was ended, so a new refresher starts.
        assert_eq!(password(get_bg(&c, HOST, 60_000, &fake, &spawn)), "two");
        assert_eq!((fake.calls(), spawned.get()), (2, 2));
    }

    #[test]
    fn an_unusable_entry_makes_the_caller_wait_and_a_refresher_that_cannot_start_too() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![
            Ok(("one".into(), 1000 + 43_200)),
            Ok(("two".into(), 50_000 + 43_200)),
            Ok(("three".into(), 100_000 + 43_200)),
        ]);
        let never = || panic!("no refresher for an unusable entry");
        assert_eq!(password(get_bg(&c, HOST, 1000, &fake, &never)), "one");
        // Expired: fetched while the caller waits.
        assert_eq!(password(get_bg(&c, HOST, 50_000, &fake, &never)), "two");
        // Stale, but no refresher could be started: the caller refreshes.
        assert_eq!(
            password(get_bg(&c, HOST, 100_000, &fake, &|| false)),
            "three"
        );
        assert_eq!(fake.calls(), 3);
    }

    #[test]
    fn a_recent_failure_starts_no_refresher_until_it_lapses() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![Ok(("one".into(), 1000 + 43_200)), denied()]);
        let spawned = Cell::new(0);
        let spawn = || {
            spawned.set(spawned.get() + 1);
            true
        };
        password(get_bg(&c, HOST, 1000, &fake, &spawn));
        // A refresh failed (foreground here): its record is on disk.
        assert_eq!(password(get(&c, HOST, 30_000, &fake)), "one");
        assert_eq!(fake.calls(), 2);
        assert_eq!(password(get_bg(&c, HOST, 30_001, &fake, &spawn)), "one");
        assert_eq!(
            spawned.get(),
            0,
            "a recent failure record suppresses the refresher"
        );
        assert_eq!(
            password(get_bg(
                &c,
                HOST,
                30_000 + crate::cache::FAILURE_TTL + 1,
                &fake,
                &spawn
            )),
            "one"
        );
        assert_eq!(spawned.get(), 1, "after it lapses a refresher starts");
    }

    #[test]
    fn one_token_serves_every_account_of_a_region_and_list_shows_each() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let (a, b) = (HOST, "210987654321.dkr.ecr.us-west-2.amazonaws.com");
        let (eu, fips) = (
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com",
            "210987654321.dkr.ecr-fips.us-west-2.amazonaws.com",
        );
        let fake = Fake::scripted(vec![
            Ok(("west".into(), 1000 + 43_200)),
            Ok(("eu".into(), 1000 + 43_200)),
            Ok(("fips".into(), 1000 + 43_200)),
            Ok(("west2".into(), 30_000 + 43_200)),
        ]);
        assert_eq!(password(get(&c, a, 1000, &fake)), "west");
        assert_eq!(password(get(&c, b, 1001, &fake)), "west");
        assert_eq!(password(get(&c, b, 1002, &fake)), "west");
        assert_eq!(fake.calls(), 1);
        assert_eq!(password(get(&c, eu, 1003, &fake)), "eu");
        assert_eq!(password(get(&c, fips, 1003, &fake)), "fips");
        assert_eq!(fake.calls(), 3);
        // registryIds: the account that caused each fetch.
        assert_eq!(
            *fake.targets.borrow(),
            vec![a.to_owned(), eu.to_owned(), fips.to_owned()]
        );
        let mut all = vec![a.to_owned(), b.to_owned(), eu.to_owned(), fips.to_owned()];
        all.sort();
        assert_eq!(list(&c, 1004, &fake), all);
        // A refresh for one account serves the others.
        assert_eq!(password(get(&c, b, 30_000, &fake)), "west2");
        assert_eq!(password(get(&c, a, 30_001, &fake)), "west2");
        assert_eq!(fake.calls(), 4);
        // Another identity shares nothing.
        let mut other = c.clone();
        other
            .identity_env
            .retain(|(n, _)| *n != "AWS_SECRET_ACCESS_KEY");
        other
            .identity_env
            .push(("AWS_SECRET_ACCESS_KEY", Secret::new("t".into())));
        let fake2 = Fake::scripted(vec![Ok(("mine".into(), 30_000 + 43_200))]);
        assert_eq!(password(get(&other, b, 30_002, &fake2)), "mine");
    }

    #[test]
    fn an_entry_written_before_shared_tokens_still_answers() {
        // Entries of earlier versions are per registry, with the same key and format.
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let identity = Identity::of_fresh(&c, None);
        let store = Store::new(d.path().join(".ecr").as_path());
        let old = CacheEntry::new(
            HOST,
            &identity.id,
            Secret::new("old".into()),
            1000,
            1000 + 43_200,
        );
        store
            .write(&EntryKey::new(&identity.id, HOST), &old)
            .unwrap();
        let fake = Fake::scripted(vec![Ok(("new".into(), 10_000 + 43_200))]);
        assert_eq!(password(get(&c, HOST, 1001, &fake)), "old");
        assert_eq!(fake.calls(), 0);
        // Another account of the region has no token yet: one fetch, then shared.
        let b = "210987654321.dkr.ecr.us-west-2.amazonaws.com";
        assert_eq!(password(get(&c, b, 10_000, &fake)), "new");
        assert_eq!(
            password(get(&c, HOST, 10_001, &fake)),
            "old",
            "its own fresh entry"
        );
        // Past its own refresh point, the scope's newer token answers, without a call.
        assert_eq!(password(get(&c, HOST, 23_000, &fake)), "new");
        assert_eq!(fake.calls(), 1);
    }

    #[test]
    fn list_shows_only_this_identitys_usable_entries() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::scripted(vec![Ok(("one".into(), 5000))]);
        password(get(&c, HOST, 1000, &fake));
        assert_eq!(list(&c, 1000, &fake), vec![HOST.to_owned()]);
        assert!(list(&c, 5000, &fake).is_empty());
        let mut other = c.clone();
        other
            .identity_env
            .retain(|(n, _)| *n != "AWS_ACCESS_KEY_ID");
        assert!(list(&other, 1000, &fake).is_empty());
    }
}
