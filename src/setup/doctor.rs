//! `docker-credential-ecr-login doctor [HOST...]`: for the person whose pull failed with "no basic
//! auth credentials", what the helper sees and does for HOST, step by step.
//!
//! Docker's routing (the commonest mistake: no `credHelpers`/`credsStore` for the host), whether
//! Docker can find the binary, how the host parses, which identity and region apply and why, the
//! cache state, then a real token fetch with its timing and the AWS error with a hint. It reads,
//! it never writes (no cache update), and it never prints a secret.

pub mod kubelet;

use std::time::Instant;

use crate::cache::CacheState;
use crate::cache::EntryKey;
use crate::config::Config;
use crate::context::Context;
use crate::ecr::{self, FetchError, FetchRequest, Target, TokenSource};
use crate::error::render;
use crate::fallback;
use crate::helper;
use crate::identity::CredentialSource;
use crate::registry::{self, Registry};
use crate::setup::docker_config::{self, DockerConfig, HELPER_NAME, Route};
use crate::time::utc_timestamp;

/// The report and whether every host got a token.
pub struct Report {
    pub lines: Vec<String>,
    pub ok: bool,
}

pub fn run(cfg: &Config, hosts: &[String], now: u64, source: &dyn TokenSource) -> Report {
    // It never writes: one context (cache state, settings) serves every host.
    let ctx = Context::new(cfg, now);
    let docker = cfg.docker_config_file.as_deref().map(DockerConfig::load);
    let mut lines = Vec::new();
    let hosts = if hosts.is_empty() {
        let found = known_hosts(&ctx, docker.as_ref().and_then(|d| d.as_ref().ok()));
        if found.is_empty() {
            lines.push(
                "no ECR registry named in Docker's config.json or the settings file; run `docker-credential-ecr-login doctor HOST`"
                    .to_owned(),
            );
            return Report { lines, ok: false };
        }
        found
    } else {
        hosts.to_vec()
    };
    let mut ok = true;
    for (i, host) in hosts.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        ok &= check(&ctx, host, docker.as_ref(), source, &mut lines);
    }
    Report { lines, ok }
}

/// One line of the report: a label and what it says.
struct Step {
    label: &'static str,
    text: String,
}

fn step(label: &'static str, text: impl Into<String>) -> Step {
    Step {
        label,
        text: text.into(),
    }
}

/// Every step for one host; true if a token was had.
fn check(
    ctx: &Context<'_>,
    input: &str,
    docker: Option<&Result<DockerConfig, String>>,
    source: &dyn TokenSource,
    out: &mut Vec<String>,
) -> bool {
    let cfg = ctx.cfg;
    let mut steps = vec![
        step("doctor", input),
        docker_step(docker, registry::hostport_of(input)),
        path_step(cfg),
    ];
    let ok = match resolve_step(ctx, input) {
        Err((last, ok)) => {
            steps.extend(last);
            ok
        }
        Ok(request) => {
            steps.push(registry_step(input, &request.registry));
            steps.push(mapping_step(ctx, &request));
            steps.push(identity_step(cfg, &request));
            steps.push(step(
                "region",
                format!(
                    "{} (from the registry host name)",
                    request.registry.region()
                ),
            ));
            steps.extend(cache_steps(ctx, &request));
            let (fetched, ok) = token_steps(ctx, &request, source);
            steps.extend(fetched);
            ok
        }
    };
    out.extend(steps.iter().map(|s| format!("{:<10}{}", s.label, s.text)));
    ok
}

/// 1. Docker: would it ask us for this host?
fn docker_step(docker: Option<&Result<DockerConfig, String>>, hostport: &str) -> Step {
    let d = match docker {
        None => return step("docker", "no home directory and no DOCKER_CONFIG"),
        Some(Err(e)) => return step("docker", format!("PROBLEM: {e}")),
        Some(Ok(d)) => d,
    };
    let file = d.path.display();
    let fix = format!("fix: docker-credential-ecr-login configure {hostport}");
    step(
        "docker",
        match d.route(hostport) {
            Route::CredHelper { key, name } if name == HELPER_NAME => {
                format!("{file}: credHelpers[{key:?}] = {name:?}: Docker asks this helper")
            }
            Route::CredHelper { key, name } => format!(
                "PROBLEM: {file}: credHelpers[{key:?}] = {name:?}: Docker asks docker-credential-{name}, not this helper; {fix}"
            ),
            Route::CredsStore(name) if name == HELPER_NAME => {
                format!("{file}: credsStore = {name:?}: Docker asks this helper")
            }
            Route::CredsStore(name) => format!(
                "PROBLEM: {file}: credsStore = {name:?} and no credHelpers entry: Docker asks docker-credential-{name}, not this helper; {fix}"
            ),
            Route::Nothing => format!(
                "PROBLEM: {file}{}: no credHelpers entry for {hostport} and no credsStore: Docker never asks this helper (the commonest cause of \"no basic auth credentials\"); {fix}",
                if d.exists { "" } else { " does not exist" }
            ),
        },
    )
}

/// Can Docker find the binary?
fn path_step(cfg: &Config) -> Step {
    match docker_config::find_on_path(cfg.path.as_deref()) {
        Some(p) => step("path", which_program(&p)),
        None if let crate::files::LookPath::Relative(rel) =
            crate::files::look_path(cfg.path.as_deref(), docker_config::BINARY) =>
        {
            step(
                "path",
                format!(
                    "PROBLEM: PATH finds {} as {}, relative to the current directory: Docker refuses to run it; make that PATH entry absolute",
                    docker_config::BINARY,
                    rel.display()
                ),
            )
        }
        None => step(
            "path",
            format!(
                "PROBLEM: {} is not on PATH: Docker cannot run it",
                docker_config::BINARY
            ),
        ),
    }
}

/// What Docker will run, `found` on PATH: this program, or another one first on PATH (Docker
/// Desktop installs its own `docker-credential-ecr-login`, which can shadow this one).
fn which_program(found: &std::path::Path) -> String {
    let this = std::env::current_exe().ok();
    match this {
        Some(this) if !crate::files::same_file(found, &this).unwrap_or(true) => format!(
            "PROBLEM: Docker will run {}, which is not this program ({}): another {} comes first on PATH (Docker Desktop installs its own); put {} before it on PATH, or, if it is this helper installed elsewhere, run its doctor",
            found.display(),
            this.display(),
            docker_config::BINARY,
            this.parent().unwrap_or(&this).display()
        ),
        _ => format!("Docker will run {} (this program)", found.display()),
    }
}

/// Step 2, the host and the per-registry settings: the request, or the steps that end the report and
/// whether they end it well (a host that is not ECR, served by a fallback store).
fn resolve_step(ctx: &Context<'_>, input: &str) -> Result<helper::Caller, (Vec<Step>, bool)> {
    match helper::resolve_for(ctx, input) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(not_ours_steps(ctx)),
        Err(e) => Err((
            vec![
                step("settings", format!("PROBLEM: {}", render(&e))),
                step("hint", hint(&e, None)),
            ],
            false,
        )),
    }
}

/// A host that is not ECR: where its credentials come from (the fallback store, or nowhere).
fn not_ours_steps(ctx: &Context<'_>) -> (Vec<Step>, bool) {
    let (cfg, loaded) = (ctx.cfg, &ctx.settings);
    let settings = loaded.settings.as_ref().ok();
    let mut steps = vec![];
    if let Some(w) = &loaded.warning {
        steps.push(step(
            "settings",
            format!("PROBLEM: {w} (so it names no fallback)"),
        ));
    }
    let not_ecr = "not an ECR registry host (nor a custom name in the settings file)";
    match fallback::choose(cfg, settings) {
        fallback::Choice::Off => {
            steps.push(step(
                "registry",
                format!("{not_ecr}: the helper answers \"credentials not found\" and Docker goes on anonymously"),
            ));
            steps.push(step(
                "fallback",
                format!(
                    "none: to keep `docker login` working for such hosts, name a store with `configure --store --fallback NAME` or {}",
                    crate::config::FALLBACK
                ),
            ));
            (steps, false)
        }
        fallback::Choice::Named { name, origin } => {
            steps.push(step(
                "registry",
                format!("{not_ecr}: handed to the fallback store"),
            ));
            match fallback::find(cfg.path.as_deref(), &name, &origin) {
                Ok(p) => {
                    steps.push(step(
                        "fallback",
                        format!(
                            "docker-credential-{name} (from {origin}): get, store and erase for this host run {}, and its answer is Docker's",
                            p.display()
                        ),
                    ));
                    (steps, true)
                }
                Err(line) => {
                    steps.push(step("fallback", format!("PROBLEM: {line}")));
                    (steps, false)
                }
            }
        }
    }
}

fn registry_step(input: &str, reg: &Registry) -> Step {
    let parsed = registry::host_of(input).and_then(Registry::parse);
    let custom = parsed.as_ref().map(Registry::host) != Some(reg.host());
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let kind = match reg {
        Registry::Private {
            account, region, ..
        } => format!(
            "private ECR {}: account {account}, region {region}, FIPS {}, dual-stack {}",
            reg.host(),
            yes_no(reg.is_fips()),
            yes_no(reg.is_dual_stack())
        ),
        Registry::Public { .. } => format!("ECR Public {} (API in us-east-1)", reg.host()),
    };
    if custom {
        step("registry", format!("custom name for {kind}"))
    } else {
        step("registry", kind)
    }
}

/// Which entry of the per-registry settings applies, how its key names the host, and the keys
/// it won over.
fn mapping_step(ctx: &Context<'_>, request: &helper::Caller) -> Step {
    let cfg = ctx.cfg;
    let file = cfg.settings_file.as_ref().map_or_else(
        || "the settings file".to_owned(),
        |p| p.display().to_string(),
    );
    let Some(key) = &request.mapping else {
        // A settings file that is not trusted is not read: say so here, not "no entry".
        if let Some(w) = ctx.settings.warning.clone() {
            return step(
                "settings",
                format!("PROBLEM: {w}; so no entry applies: the default credential chain"),
            );
        }
        return step(
            "settings",
            format!("no entry in {file} names this host: the default credential chain"),
        );
    };
    let kind = request.kind.map_or_else(String::new, |k| format!(" ({k})"));
    let mut text = format!("entry {key:?}{kind} in {file}");
    if !request.outranked.is_empty() {
        let others: Vec<String> = request.outranked.iter().map(|k| format!("{k:?}")).collect();
        text.push_str(&format!(
            "; it wins over {} (exact host, then account id, then the most specific pattern)",
            others.join(", ")
        ));
    }
    step("settings", text)
}

/// Which identity asks, and why that one.
fn identity_step(cfg: &Config, request: &helper::Caller) -> Step {
    let settings_file = cfg
        .settings_file
        .as_ref()
        .map_or_else(String::new, |p| p.display().to_string());
    let identity = &request.identity;
    let key = request.mapping.as_deref().unwrap_or_default();
    let why = match (&request.role, &request.profile) {
        (Some(role), _) => {
            let mut opts = Vec::new();
            if let Some(n) = &role.session_name {
                opts.push(format!("session name {n}"));
            }
            if role.external_id.is_some() {
                opts.push("external id set".to_owned());
            }
            if let Some(d) = role.duration_seconds {
                opts.push(format!("duration {d} s"));
            }
            opts.push(format!(
                "STS in {}",
                role.region
                    .as_deref()
                    .unwrap_or_else(|| request.registry.region())
            ));
            let from = match &request.profile {
                Some(p) => format!("profile {p} (its source_profile)"),
                None => format!("the default chain: {}", chain_why(cfg, identity)),
            };
            format!(
                "role {} ({}): mapping {key:?} in {settings_file} (wins over AWS_PROFILE and environment keys); assumed with the credentials of {from}",
                role.arn,
                opts.join(", ")
            )
        }
        (None, Some(p)) => format!(
            "profile {p}: mapping {key:?} in {settings_file} (wins over AWS_PROFILE and environment keys)"
        ),
        (None, None) => chain_why(cfg, identity),
    };
    let why = match identity.source.base() {
        CredentialSource::Profile { login: Some(p), .. } => format!(
            "{why}; credentials from the aws login session of profile {p} (`{}` renews it)",
            crate::error::login_command(p)
        ),
        _ => why,
    };
    step("identity", why)
}

/// Which source of the default credential chain answers, and why.
fn chain_why(cfg: &Config, identity: &crate::identity::Identity) -> String {
    let source = identity.source.base();
    match cfg.profile.as_deref() {
        _ if *source == CredentialSource::EnvKeys => {
            "environment keys (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)".into()
        }
        Some(p) if identity.profile_found() => format!("profile {p}: from {}", cfg.profile_var),
        Some(p) => format!(
            "PROBLEM: {}={p}, but no such profile in the AWS config or credentials file",
            cfg.profile_var
        ),
        None if identity.profile_found() => "profile default (AWS_PROFILE unset)".into(),
        None if *source == CredentialSource::InstanceRole => {
            "no keys, profile, web identity or container credentials: only the EC2 instance role is left".into()
        }
        None => source.to_string(),
    }
}

/// 3. The cache: trusted or not, and what it holds for this identity.
fn cache_steps(ctx: &Context<'_>, request: &helper::Caller) -> Vec<Step> {
    let (cfg, now) = (ctx.cfg, ctx.now);
    let (identity, reg) = (&request.identity, &request.registry);
    let (state, loaded) = (&ctx.cache, &ctx.settings);
    let background = helper::background_refresh(cfg, loaded.settings.as_ref().ok());
    let refresh = if background {
        "in the background: a get past a token's refresh point answers from the cache at once and a detached process fetches the new token (AWS_ECR_BACKGROUND_REFRESH=0 or \"backgroundRefresh\": false in the settings file turns this off)".to_owned()
    } else if !cfg.background_refresh {
        "in the foreground (AWS_ECR_BACKGROUND_REFRESH): a get past a token's refresh point waits for the new token".to_owned()
    } else {
        "in the foreground (\"backgroundRefresh\": false in the settings file): a get past a token's refresh point waits for the new token".to_owned()
    };
    let next = if background {
        "the next get answers with it and refreshes it in the background"
    } else {
        "the next get refreshes it"
    };
    let cache = match state {
        CacheState::Off if cfg.cache_disabled => "disabled (AWS_ECR_DISABLE_CACHE)".to_owned(),
        CacheState::Off => {
            "none: no home directory, no XDG_CACHE_HOME and no AWS_ECR_CACHE_DIR".to_owned()
        }
        CacheState::Untrusted { dir, reason } => format!(
            "PROBLEM: not using the cache {}: {reason}; every get asks AWS (fix the directory, or set AWS_ECR_CACHE_DIR to a private one)",
            dir.display()
        ),
        CacheState::On(store) => {
            let key = EntryKey::new(&identity.id, reg.host());
            let scope = reg.token_scope();
            let shared = || {
                store
                    .read(&EntryKey::new(&identity.id, &scope))
                    .filter(|e| e.is_usable(now))
            };
            match store.read(&key) {
                None if shared().is_some() => format!(
                    "no token of its own yet: the token of this identity for {scope} (fetched for another registry there) answers the next get, in {}",
                    store.dir().display()
                ),
                None => format!("no token for this identity in {}", store.dir().display()),
                Some(e) if e.is_fresh(now) => format!(
                    "fresh until {} (then refreshed; valid until {})",
                    utc_timestamp(e.fetched_at + (e.expires_at - e.fetched_at) / 2),
                    utc_timestamp(e.expires_at)
                ),
                Some(e) if e.is_usable(now) => format!(
                    "past half-life: {next} (still valid until {})",
                    utc_timestamp(e.expires_at)
                ),
                Some(e) if e.is_from_the_future(now) => format!(
                    "fetched at {}, in the future (a clock set back?): never used, the next get replaces it",
                    utc_timestamp(e.fetched_at)
                ),
                Some(e) => format!("expired at {}", utc_timestamp(e.expires_at)),
            }
        }
    };
    // An untrusted settings file is the `settings` line's (mapping_step).
    vec![step("cache", cache), step("refresh", refresh)]
}

/// 4. A real fetch (never cached by doctor), with a hint when it fails.
fn token_steps(
    ctx: &Context<'_>,
    request: &helper::Caller,
    source: &dyn TokenSource,
) -> (Vec<Step>, bool) {
    let cfg = ctx.cfg;
    let started = Instant::now();
    let result = source.fetch(&FetchRequest {
        target: Target::Registry(&request.registry),
        profile: request.profile.as_deref(),
        role: request.role.as_ref(),
        identity: &request.identity,
        aws: &ctx.aws,
        budget: ecr::fetch_budget(cfg),
        web_identity: None,
    });
    let ms = started.elapsed().as_millis();
    match result {
        Ok(t) => {
            let expires = t
                .expires_at
                .map_or_else(|| "unknown".to_owned(), utc_timestamp);
            let steps = vec![step(
                "token",
                format!(
                    "OK: GetAuthorizationToken answered in {ms} ms; token valid until {expires}"
                ),
            )];
            (steps, true)
        }
        Err(e) => {
            let profile = request.profile.as_deref().or(cfg.profile.as_deref());
            let hint = match (&request.role, &e) {
                (Some(_), FetchError::Credentials { detail, .. })
                    if detail.starts_with("failed to assume role")
                        && detail.contains("dispatch failure") =>
                {
                    "STS is unreachable: check the network, HTTPS_PROXY / NO_PROXY and AWS_ENDPOINT_URL_STS (the entry's \"region\" chooses the STS endpoint)".to_owned()
                }
                (Some(role), FetchError::Credentials { detail, .. })
                    if detail.starts_with("failed to assume role") =>
                {
                    format!(
                        "STS did not let these credentials assume {}: check that the role exists, that its trust policy allows sts:AssumeRole by them (with this external_id, if the policy asks for one), and that duration_seconds is within the role's maximum session duration",
                        role.arn
                    )
                }
                _ => hint(&e, profile),
            };
            let steps = vec![
                step("token", format!("FAILED after {ms} ms: {}", render(&e))),
                step("hint", hint),
            ];
            (steps, false)
        }
    }
}

/// What to do about a failure, for the common causes.
fn hint(e: &FetchError, profile: Option<&str>) -> String {
    let profile = profile.unwrap_or("<profile>");
    match e {
        FetchError::CredentialProcess { .. } => format!(
            "the credential_process of profile {profile} failed: run it by hand to see why (its own messages are printed above)"
        ),
        FetchError::Recorded(_) => "another process failed this way moments ago; run doctor again in a few seconds for a fresh attempt".into(),
        FetchError::NoCredentials { .. } => "no credentials: run `aws configure` (keys) or `aws configure sso` then `aws sso login`, set AWS_PROFILE, or map this registry to a profile in the settings file".into(),
        FetchError::Credentials {
            sso_profile: Some(p),
            ..
        } => format!("the SSO session has probably expired: run `aws sso login --profile {p}`"),
        FetchError::Credentials {
            login_profile: Some(p),
            ..
        } => format!(
            "the aws login session has expired or is missing: sign in again with `{}`",
            crate::error::login_command(p)
        ),
        FetchError::Credentials { expired: true, .. } => {
            "the credentials have expired: refresh them (new keys, `aws sso login`, or re-run what wrote them)".into()
        }
        FetchError::Credentials { .. } => format!(
            "check profile {profile} in ~/.aws/config and ~/.aws/credentials (role_arn, source_profile, credential_process, sso_*)"
        ),
        FetchError::Service { code, message } => {
            let lower = message.to_lowercase();
            if code.contains("AccessDenied") {
                "the identity may not call GetAuthorizationToken: allow ecr:GetAuthorizationToken on Resource \"*\" (ECR Public: ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken)".into()
            } else if lower.contains("signature expired") || code.contains("Skew") || lower.contains("clock") {
                "the system clock is off: AWS rejects signatures more than 5 minutes away; sync the clock (timedatectl / ntp)".into()
            } else if code.contains("ExpiredToken") || code == "RequestExpired" {
                format!("the session credentials have expired: refresh them (`aws sso login --profile {profile}`, new keys, or re-assume the role)")
            } else if code.contains("UnrecognizedClient") || code.contains("InvalidClientTokenId") {
                "the access key is not valid (deleted, deactivated or mistyped)".into()
            } else if code.contains("Throttl") {
                "throttled by AWS: retry later, or run fewer parallel pulls".into()
            } else {
                format!("AWS refused the request ({code})")
            }
        }
        FetchError::CredentialsTimeout { .. } => "loading credentials took too long: if a credential_process or browser login needs longer, set AWS_ECR_CREDENTIALS_TIMEOUT (seconds)".into(),
        FetchError::WebIdentityFile { .. } => "the web identity token file named above is missing or not a regular file: check AWS_WEB_IDENTITY_TOKEN_FILE (or the profile's web_identity_token_file) and the pod's token volume".into(),
        FetchError::Tls(_) => "TLS failed: behind a TLS-inspecting proxy, set AWS_CA_BUNDLE to its CA certificate (PEM)".into(),
        FetchError::Timeout(_) | FetchError::Network(_) => "the ECR API is unreachable: check the network, HTTPS_PROXY / NO_PROXY, firewall or VPC endpoint, and AWS_ENDPOINT_URL*".into(),
        FetchError::BadResponse(_) => "something other than the ECR API answered: check HTTPS_PROXY and AWS_ENDPOINT_URL*".into(),
        FetchError::CaBundle { .. } => "fix or unset AWS_CA_BUNDLE".into(),
        FetchError::Settings(_) => "fix the settings file named above".into(),
        FetchError::AwsFileTooLarge(_) => "an AWS config or credentials file is far larger than any hand-written one: check AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE".into(),
        FetchError::Setup { .. } => "the helper could not set itself up (out of memory or file descriptors?)".into(),
    }
}

/// With no HOST: every registry Docker's config or the per-registry settings name that this
/// helper would serve.
fn known_hosts(ctx: &Context<'_>, docker: Option<&DockerConfig>) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(d) = docker {
        candidates.extend(d.cred_helpers().into_iter().map(|(k, _)| k));
        candidates.extend(d.auths());
    }
    if let Ok(m) = &ctx.settings.settings {
        candidates.extend(
            m.keys()
                .filter(|k| !k.bytes().all(|b| b.is_ascii_digit()))
                // A pattern names no host to check.
                .filter(|k| crate::settings::key_kind(k) != crate::settings::KeyKind::Pattern)
                .map(str::to_owned),
        );
    }
    let mut out: Vec<String> = Vec::new();
    for c in candidates {
        let c = registry::hostport_of(&c).to_owned();
        if matches!(helper::resolve_for(ctx, &c), Ok(Some(_)) | Err(_)) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}
