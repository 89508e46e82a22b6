//! The policy of `get` and `list`: registry -> identity -> cache -> fetch -> answer.
//!
//! Decides when the cache answers (fresh), when to ask the API (missing or past half-life), what
//! to hand out when the API fails (a cached token only while it is still valid), and how
//! concurrent processes share one fetch (the entry lock, then a re-read). It writes nothing to
//! stdout or stderr: it returns outcomes, and `lib.rs` renders them.

use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::cache::{CacheEntry, CacheState, Failure, Locked, Store};
use crate::config::Config;
use crate::ecr::{self, FetchError, FetchRequest, Target, Token, TokenSource};
use crate::identity::Identity;
use crate::registry::Registry;
use crate::secret::Secret;
use crate::settings::{Loaded, Settings, SettingsError};

/// `list` never takes longer than this, network or not (docs/contract.md §2.2).
pub const LIST_BUDGET: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum GetOutcome {
    /// Answer with these credentials.
    Found { password: Secret<String> },
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

/// How a found token was obtained (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cache,
    CacheAfterWait,
    Api,
    StaleAfterError,
    StaleAfterSharedError,
}

pub fn get(cfg: &Config, server_url: &str, now: u64, source: &dyn TokenSource) -> Answer {
    let started = Instant::now();
    let cache = CacheState::of(cfg);
    let loaded = Loaded::load(cfg, &cache);
    let mut warnings: Vec<String> = Vec::new();
    let answer = |outcome, warnings| Answer { outcome, warnings };
    let settings = match loaded.settings {
        Ok(m) => m,
        // A broken settings file is no business of hosts that are not ECR (custom names
        // included: they cannot be told from other registries without the file).
        Err(_) if Registry::parse(server_url).is_none() => {
            info!(input_len = server_url.len(), "get: not an ECR host");
            return answer(GetOutcome::NotEcr, warnings);
        }
        Err(e) => {
            warn!(error = %e, "get: per-registry settings");
            let host = input_host(server_url);
            return answer(
                GetOutcome::Unavailable {
                    host,
                    error: FetchError::Settings(e),
                },
                warnings,
            );
        }
    };
    let resolved = match resolve_in(cfg, &settings, server_url) {
        Ok(Some(r)) => r,
        Ok(None) => {
            info!(input_len = server_url.len(), "get: not an ECR host");
            return answer(GetOutcome::NotEcr, warnings);
        }
        Err(e) => {
            warn!(error = %e, "get: per-registry settings");
            let host = input_host(server_url);
            return answer(GetOutcome::Unavailable { host, error: e }, warnings);
        }
    };
    warnings.extend(cache.warning());
    warnings.extend(loaded.warning);
    let Request {
        registry,
        profile,
        identity,
        ..
    } = resolved;
    warnings.extend(identity.warnings.iter().cloned());
    if let Some(w) = cache.warning() {
        warn!(%w, "cache not used");
    }
    let request = FetchRequest {
        target: Target::Registry(&registry),
        profile: profile.as_deref(),
        identity: &identity,
        budget: ecr::fetch_budget(cfg),
        web_identity: None,
    };
    answer_for(cfg, &cache, &request, (now, started), source, warnings)
}

/// The cache-then-fetch policy of one request, logged, as an [`Answer`].
fn answer_for(
    cfg: &Config,
    cache: &CacheState,
    request: &FetchRequest<'_>,
    (now, started): (u64, Instant),
    source: &dyn TokenSource,
    mut warnings: Vec<String>,
) -> Answer {
    let result = get_registry(
        cfg,
        cache.store(),
        request,
        (now, started),
        source,
        &mut warnings,
    );
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let host = request.target.name();
    let identity = &request.identity.source;
    let outcome = match result {
        Ok((password, how)) => {
            info!(host, %identity, source = ?how, ms, "get: token");
            GetOutcome::Found { password }
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
    cfg: &Config,
    target: Target<'_>,
    identity: &Identity,
    web_identity: Option<&crate::ecr::WebIdentity>,
    now: u64,
    source: &dyn TokenSource,
) -> Answer {
    let started = Instant::now();
    let cache = CacheState::of(cfg);
    let warnings: Vec<String> = cache.warning().into_iter().collect();
    let request = FetchRequest {
        target,
        profile: None,
        identity,
        budget: ecr::fetch_budget(cfg),
        web_identity,
    };
    answer_for(cfg, &cache, &request, (now, started), source, warnings)
}

/// The host a client asked about, for a message: the ECR host if it is one, else its input.
fn input_host(server_url: &str) -> String {
    Registry::parse(server_url).map_or_else(|| server_url.to_owned(), |r| r.host().to_owned())
}

/// Who asks for which registry: the outcome of the per-registry settings and the identity.
#[derive(Debug)]
pub struct Request {
    pub registry: Registry,
    /// A profile named by a mapping (it wins over `AWS_PROFILE` and environment keys).
    pub profile: Option<String>,
    /// The key of the per-registry mapping that applied, if any.
    pub mapping: Option<String>,
    pub identity: Identity,
}

/// Applies the per-registry settings to what the client sent. `Ok(None)`: not ours to answer.
pub fn resolve(cfg: &Config, server_url: &str) -> Result<Option<Request>, FetchError> {
    let cache = CacheState::of(cfg);
    let settings = Loaded::load(cfg, &cache).settings?;
    resolve_in(cfg, &settings, server_url)
}

/// [`resolve`] with the per-registry settings already loaded (for `list`, which resolves each
/// cached entry).
fn resolve_in(
    cfg: &Config,
    settings: &Settings,
    server_url: &str,
) -> Result<Option<Request>, FetchError> {
    let Some(resolved) = settings.resolve(server_url)? else {
        return Ok(None);
    };
    let identity = Identity::of(cfg, resolved.profile.as_deref());
    if let Some(p) = &resolved.profile
        && !identity.profile_found()
    {
        return Err(FetchError::Settings(SettingsError {
            path: settings.path().map(Path::to_path_buf).unwrap_or_default(),
            key: resolved.key.clone(),
            problem: format!(
                "unknown profile {p:?}: no such section in the AWS config or credentials file"
            ),
        }));
    }
    Ok(Some(Request {
        registry: resolved.registry,
        profile: resolved.profile,
        mapping: resolved.key,
        identity,
    }))
}

/// The cache-then-fetch policy for one request (see the module comment).
fn get_registry(
    cfg: &Config,
    store: Option<&Store>,
    request: &FetchRequest<'_>,
    (now, started): (u64, Instant),
    source: &dyn TokenSource,
    warnings: &mut Vec<String>,
) -> Result<(Secret<String>, Source), FetchError> {
    let name = request.target.name();
    let host = name.as_str();
    let (identity, budget) = (request.identity, request.budget);
    let mut fetch = |source: &dyn TokenSource| {
        let r = fetch(source, request);
        r.map(|t| {
            for n in t.warnings {
                if !warnings.contains(&n) {
                    warnings.push(n);
                }
            }
            (t.password, t.expires_at)
        })
    };
    let store = match store {
        Some(s) if identity.cacheable => s,
        Some(_) => {
            info!(
                host,
                "cache not used: an AWS config or credentials file is too large to identify"
            );
            return fetch(source).map(|(p, _)| (p, Source::Api));
        }
        None => return fetch(source).map(|(p, _)| (p, Source::Api)),
    };
    let key = Store::key(&identity.id, host);
    // A failure is shared only under the same network settings as well (config.rs), and in the
    // kubelet's service-account mode only among requests carrying the same token: the entry is
    // the service account's, but the claims that name it are not checked here (STS checks the
    // token), so a forged token's failure must not answer for the real account's pulls.
    let mut failure_owner = format!(
        "{}:{}",
        identity.id,
        crate::digest::sha256_hex(cfg.fetch_context.as_bytes())
    );
    if let Some(w) = request.web_identity {
        failure_owner.push(':');
        failure_owner.push_str(&crate::digest::sha256_hex(w.token.expose().as_bytes()));
    }
    let fresh = |e: &Option<CacheEntry>| e.as_ref().is_some_and(|e| e.is_fresh(now));
    // A failure record's age is taken at the time it is read (a waiter reads one recorded
    // after it started), so one dated in the future answers for no more than its few seconds.
    let recent_failure = || {
        let read_at = now.saturating_add(started.elapsed().as_secs());
        store
            .read_failure(&key, &failure_owner, host)
            .filter(|f| f.is_recent(read_at))
    };
    let cached = store.read(&key, &identity.id, host);
    if let Some(e) = cached.as_ref().filter(|e| e.is_fresh(now)) {
        return Ok((e.password.clone(), Source::Cache));
    }
    if let Some(f) = recent_failure() {
        return shared_failure(cached, f, now);
    }

    // Miss or past half-life: one process fetches, the others wait for its outcome.
    let lock = store.lock(&key, budget, || {
        fresh(&store.read(&key, &identity.id, host)) || recent_failure().is_some()
    });
    let _held = match lock {
        Locked::Held(l) => Some(l),
        Locked::Ready => None,
        Locked::Unlocked => {
            warn!(
                host,
                "entry lock not taken (unwritable cache, or a holder past its deadline): fetching without it"
            );
            None
        }
    };
    let cached = store.read(&key, &identity.id, host).or(cached);
    if let Some(e) = cached.as_ref().filter(|e| e.is_fresh(now)) {
        return Ok((e.password.clone(), Source::CacheAfterWait));
    }
    if let Some(f) = recent_failure() {
        return shared_failure(cached, f, now);
    }
    // The lock (if held) is released when this function returns, after the outcome is written.
    match fetch(source) {
        Ok((password, expires_at)) => {
            // A token that arrives already expired (or nearly) is handed out but not kept.
            let entry = expires_at
                .map(|exp| CacheEntry::new(host, &identity.id, password.clone(), now, exp))
                .filter(|e| e.is_usable(now));
            if let Some(entry) = entry
                && let Err(err) = store.write(&key, &entry)
            {
                warn!(dir = %store.dir().display(), %err, "cache not written");
            }
            store.clear_failure(&key);
            let pruned = store.prune(now);
            if pruned > 0 {
                info!(pruned, "cache: removed expired or damaged entries");
            }
            Ok((password, Source::Api))
        }
        Err(err) => {
            // Shared with the processes waiting for this fetch, and any arriving soon after.
            let at = now.saturating_add(started.elapsed().as_secs());
            let cause = crate::error::render(&err);
            let record = Failure::new(host, &failure_owner, cause, at);
            if let Err(e) = store.write_failure(&key, &record) {
                warn!(%e, "failure record not written");
            }
            match cached {
                // Better than Go: a stale token only while the registry would still accept it.
                Some(e) if e.is_usable(now) => {
                    warn!(host, err = %crate::error::render(&err), expires_at = e.expires_at, "refresh failed; using cached token");
                    Ok((e.password, Source::StaleAfterError))
                }
                _ => Err(err),
            }
        }
    }
}

/// Another process's fetch failed moments ago: answer as it did, without asking AWS again.
fn shared_failure(
    cached: Option<CacheEntry>,
    failure: Failure,
    now: u64,
) -> Result<(Secret<String>, Source), FetchError> {
    match cached {
        Some(e) if e.is_usable(now) => Ok((e.password, Source::StaleAfterSharedError)),
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
    let cache = CacheState::of(cfg);
    let store = cache.store().cloned();
    // With a broken settings file no entry's owner can be told (every get fails too): list nothing.
    let Ok(settings) = Loaded::load(cfg, &cache).settings else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = store
        .iter()
        .flat_map(Store::entries)
        .filter(|e| e.is_usable(now))
        .filter(|e| {
            matches!(resolve_in(cfg, &settings, &e.registry), Ok(Some(r))
                if r.identity.id == e.identity && r.registry.host() == e.registry)
        })
        .map(|e| e.registry)
        .collect();
    if let Some(region) = &crate::identity::default_region(cfg) {
        let covered = hosts
            .iter()
            .any(|h| matches!(Registry::parse(h), Some(Registry::Private { region: r, .. }) if &r == region));
        if !covered
            && let Some(host) =
                default_registry(cfg, &settings, region, now, store.as_ref(), source)
        {
            hosts.push(host);
        }
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Fetches (and caches) the caller's registry in `region`; `None` on any failure.
fn default_registry(
    cfg: &Config,
    settings: &Settings,
    region: &str,
    now: u64,
    store: Option<&Store>,
    source: &dyn TokenSource,
) -> Option<String> {
    let started = Instant::now();
    // Whose registry it is, is what the default chain's identity says.
    let default_identity = Identity::of(cfg, None);
    let request = FetchRequest {
        target: Target::DefaultRegistry { region },
        profile: None,
        identity: &default_identity,
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
    let identity = match resolve_in(cfg, settings, host) {
        Ok(Some(r)) if r.profile.is_none() && r.identity.cacheable => r.identity,
        _ => return None,
    };
    if let (Some(store), Some(exp)) = (store, token.expires_at) {
        let entry = CacheEntry::new(host, &identity.id, token.password, now, exp);
        if entry.is_usable(now) {
            let _ = store.write(&Store::key(&identity.id, host), &entry);
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
    use std::cell::{Cell, RefCell};

    const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

    struct Fake {
        calls: Cell<u32>,
        answers: RefCell<Vec<Result<(String, u64), FetchError>>>,
    }

    impl Fake {
        fn new(answers: Vec<Result<(String, u64), FetchError>>) -> Fake {
            Fake {
                calls: Cell::new(0),
                answers: RefCell::new(answers),
            }
        }
    }

    impl TokenSource for Fake {
        fn fetch(&self, _: &FetchRequest<'_>) -> Result<Token, FetchError> {
            self.calls.set(self.calls.get() + 1);
            self.answers.borrow_mut().remove(0).map(|(p, exp)| Token {
                password: Secret::new(p),
                expires_at: Some(exp),
                proxy_endpoint: None,
                warnings: Vec::new(),
            })
        }
    }

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
            GetOutcome::Found { password } => password.expose().clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fresh_hit_makes_no_call_and_half_life_triggers_a_refresh() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::new(vec![
            Ok(("one".into(), 1000 + 100)),
            Ok(("two".into(), 2000)),
        ]);
        assert_eq!(password(get(&c, HOST, 1000, &fake)), "one");
        assert_eq!(password(get(&c, HOST, 1049, &fake)), "one");
        assert_eq!(fake.calls.get(), 1);
        assert_eq!(password(get(&c, HOST, 1050, &fake)), "two");
        assert_eq!(fake.calls.get(), 2);
    }

    #[test]
    fn a_token_fetched_by_a_process_that_started_a_second_later_is_a_hit() {
        // Concurrent pulls start across a second boundary, and the one that wins the lock may be
        // the later one: its entry says fetched at 1001, the waiter's clock says 1000.
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::new(vec![Ok(("one".into(), 1001 + 43_200))]);
        assert_eq!(password(get(&c, HOST, 1001, &fake)), "one");
        assert_eq!(password(get(&c, HOST, 1000, &fake)), "one");
        assert_eq!(fake.calls.get(), 1);
    }

    #[test]
    fn failed_refresh_serves_the_cached_token_only_while_it_is_valid() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::new(vec![Ok(("one".into(), 1100)), denied(), denied()]);
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
        let fake = Fake::new(vec![]);
        assert!(matches!(
            get(&cfg(d.path()), "index.docker.io", 1, &fake).outcome,
            GetOutcome::NotEcr
        ));
        assert_eq!(fake.calls.get(), 0);
    }

    #[test]
    fn a_failure_is_shared_for_a_few_seconds_with_the_same_identity_only() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::new(vec![denied(), Ok(("other".into(), 9000)), denied()]);
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
        assert_eq!(fake.calls.get(), 1);
        // Another identity asks for itself.
        let mut other = c.clone();
        other
            .identity_env
            .retain(|(n, _)| *n != "AWS_SECRET_ACCESS_KEY");
        other
            .identity_env
            .push(("AWS_SECRET_ACCESS_KEY", Secret::new("t".into())));
        assert_eq!(password(get(&other, HOST, 1001, &fake)), "other");
        assert_eq!(fake.calls.get(), 2);
        // After the record's time, the API is asked again.
        let late = get(&c, HOST, 1000 + crate::cache::FAILURE_TTL, &fake).outcome;
        assert!(matches!(
            late,
            GetOutcome::Unavailable {
                error: FetchError::Service { .. },
                ..
            }
        ));
        assert_eq!(fake.calls.get(), 3);
    }

    #[test]
    fn a_service_account_failure_is_shared_only_among_requests_with_the_same_token() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let registry = Registry::parse(HOST).unwrap();
        // One identity (the service account the claims name), several tokens naming it.
        let identity = Identity::of(&c, None);
        let with = |token: &str| crate::ecr::WebIdentity {
            role_arn: "arn:aws:iam::123456789012:role/pull".into(),
            session_name: "s".into(),
            token: Secret::new(token.into()),
        };
        let (forged, real) = (with("forged"), with("real"));
        let fake = Fake::new(vec![denied(), Ok(("real".into(), 9000))]);
        let ask = |w: &crate::ecr::WebIdentity, now| {
            get_as(
                &c,
                Target::Registry(&registry),
                &identity,
                Some(w),
                now,
                &fake,
            )
            .outcome
        };
        assert!(matches!(ask(&forged, 1000), GetOutcome::Unavailable { .. }));
        // The same token within the burst: the recorded failure answers.
        assert!(matches!(ask(&forged, 1001), GetOutcome::Unavailable { .. }));
        assert_eq!(fake.calls.get(), 1);
        // Another token naming the same account is not answered by the forged one's failure.
        match ask(&real, 1001) {
            GetOutcome::Found { password } => assert_eq!(password.expose(), "real"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fake.calls.get(), 2);
    }

    #[test]
    fn list_shows_only_this_identitys_usable_entries() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        let fake = Fake::new(vec![Ok(("one".into(), 5000))]);
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
