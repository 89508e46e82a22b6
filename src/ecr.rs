//! The one door to AWS: `GetAuthorizationToken` for ECR and ECR Public (docs/contract.md §5).
//!
//! [`TokenSource`] is the seam the policy (`helper.rs`) talks to; [`Aws`] is the SDK
//! implementation. It owns a current-thread tokio runtime, built only when a token must be fetched,
//! so the rest of the program (and above all the cache-hit path) stays synchronous and never
//! loads aws-config, parses root certificates or starts TLS.
//!
//! Bounded time (docs/contract.md §10): IMDS gets one short attempt, every API call has
//! connect/read/attempt/operation timeouts, and the whole fetch has a final deadline.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::imds::{self, credentials::ImdsCredentialsProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::{Profile, ProfileFileCredentialsProvider, ProfileSet};
use aws_config::provider_config::ProviderConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::web_identity_token::{StaticConfiguration, WebIdentityTokenCredentialsProvider};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpClientBuilder, Connector};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_types::os_shim_internal::{Env as SdkEnv, Fs as SdkFs};
use base64::Engine as _;

use crate::config::{self, Config};
use crate::files;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
use crate::identity::{AwsFiles, AwsFilesOnce, CredentialSource, Identity, MAX_AWS_FILE_READ};
use crate::profiles;
use crate::registry::Registry;
use crate::secret::Secret;
use crate::settings::Role;

/// User-Agent product token (docs/contract.md §5: Go intends to send one and never does).
pub const USER_AGENT: &str = concat!("docker-credential-ecr-login/", env!("CARGO_PKG_VERSION"));

/// IMDS: one attempt of at most this long. On EC2 it answers in milliseconds; on a laptop there is
/// no IMDS and this is what "no credentials" costs (docs/contract.md §10: fail within about a second).
const IMDS_TIMEOUT: Duration = Duration::from_millis(900);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// All attempts of one API call (ECR, STS, SSO): an unreachable API fails within ~5 s.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(4000);
/// The most read of any HTTP response (ECR, STS, SSO, IMDS, container endpoint): a real answer
/// is a few KB; a hostile or broken endpoint must not make us read (and hold) gigabytes.
pub const MAX_RESPONSE: usize = 1 << 20;
/// Largest CA bundle read (the system bundle is about 200 KB).
const MAX_CA_BUNDLE: u64 = 16 << 20;
/// Largest web identity token file (a JWT is a few KB).
const MAX_TOKEN_FILE: u64 = 1 << 20;

/// A token as the API issued it.
#[derive(Debug)]
pub struct Token {
    pub password: Secret<String>,
    /// Unix seconds; `None` if the API did not say.
    pub expires_at: Option<u64>,
    /// `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com` for private ECR.
    pub proxy_endpoint: Option<String>,
    /// Problems met on the way that the user should see (an AWS file that is a FIFO, ...).
    pub warnings: Vec<String>,
}

pub use crate::error::FetchError;

/// The most a token fetch may take: credentials, then the API, then a margin.
pub fn fetch_budget(cfg: &Config) -> Duration {
    cfg.credentials_bound()
        .saturating_add(OPERATION_TIMEOUT)
        .saturating_add(Duration::from_secs(1))
}

/// Which registry's token to fetch.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Registry(&'a Registry),
    /// The caller's own private registry in this region (the API names it in
    /// `proxy_endpoint`), as the Go helper's `list` asks for it for the legacy `docker build`.
    DefaultRegistry {
        region: &'a str,
    },
}

impl Target<'_> {
    /// The name a target's tokens are cached and reported under: the registry's host, or
    /// `default registry in REGION`.
    pub fn name(&self) -> String {
        match self {
            Target::Registry(r) => r.host().to_owned(),
            Target::DefaultRegistry { region } => format!("default registry in {region}"),
        }
    }
}

/// One fetch, with everything the policy already knows about it.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    pub target: Target<'a>,
    /// A mapping's profile (it alone serves the request), or `None` for the default chain.
    pub profile: Option<&'a str>,
    /// A mapping's role, assumed with the credentials of `profile` (else the default chain).
    pub role: Option<&'a Role>,
    /// Whose token it is (says what a credential failure means).
    pub identity: &'a Identity,
    /// The run's AWS files (the SDK is given their text, never their paths).
    pub aws: &'a AwsFilesOnce,
    /// Give up after this long.
    pub budget: Duration,
    /// A role to assume with a web identity token in hand instead of the credential chain (the
    /// kubelet's service-account mode).
    pub web_identity: Option<&'a WebIdentity>,
}

/// A role to assume with a web identity token in hand (the kubelet's service-account mode): the
/// token comes from the request, never from a file, and is never logged.
#[derive(Debug, Clone)]
pub struct WebIdentity {
    pub role_arn: String,
    pub session_name: String,
    pub token: Secret<String>,
}

/// Where tokens come from. The policy depends only on this trait.
pub trait TokenSource {
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Token, FetchError>;
}

/// The AWS SDK implementation.
pub struct Aws<'a> {
    pub config: &'a Config,
}

impl TokenSource for Aws<'_> {
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Token, FetchError> {
        // The runtime resolves names (and, on Windows, reads a credential_process's pipe) on a
        // thread of its own, and tokio panics when it cannot start its first one. At the process
        // limit (`ulimit -u`) that must be one line and the protocol's answer instead: so make
        // sure a thread can be started before relying on one.
        std::thread::Builder::new()
            .spawn(|| ())
            .map(|t| {
                let _ = t.join();
            })
            .map_err(|e| FetchError::Setup {
                what: "cannot start a thread",
                source: e.into(),
            })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FetchError::Setup {
                what: "cannot start the async runtime",
                source: e.into(),
            })?;
        // A `credential_process` (and whatever it starts) must not outlive this fetch.
        let reaper = crate::children::Reaper::start();
        let budget = request.budget;
        let result = rt.block_on(async {
            match tokio::time::timeout(budget, self.fetch_async(request)).await {
                Ok(r) => r,
                Err(_) => Err(FetchError::Timeout(format!(
                    "no token after {:.1} s",
                    budget.as_secs_f64()
                ))),
            }
        });
        // Not `drop(rt)`, which waits for every blocking task to end: a credential_process that
        // hangs (or one it started, holding its stdout) would hold us on the Windows read of its
        // pipe, which tokio does on a blocking thread, and a hung name lookup would everywhere.
        // Left behind, they end with the process (the reaper or Windows' job object).
        rt.shutdown_background();
        reaper.finish();
        result
    }
}

/// The region a target's API lives in.
fn region_of(target: Target<'_>) -> Region {
    Region::new(match target {
        Target::Registry(r) => r.region().to_owned(),
        Target::DefaultRegistry { region } => region.to_owned(),
    })
}

impl Aws<'_> {
    /// Credentials, then the SDK configuration, then the token.
    async fn fetch_async(&self, request: &FetchRequest<'_>) -> Result<Token, FetchError> {
        let http = http_client(self.config)?;
        let region = region_of(request.target);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .operation_attempt_timeout(READ_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let aws_files = self.aws_files(request.aws)?;
        let profile_files = sdk_profile_files(aws_files);
        let provider_config = ProviderConfig::default()
            .with_http_client(http.clone())
            .with_region(Some(region.clone()))
            .with_timeout_config(timeouts.clone());
        let parts = SdkParts {
            http: http.clone(),
            region: region.clone(),
            timeouts: timeouts.clone(),
            profile_files: profile_files.clone(),
        };

        let credentials = match request.web_identity {
            Some(role) => {
                assume_web_identity(role, &parts, self.config.credentials_bound()).await?
            }
            None => {
                let started = std::time::Instant::now();
                let base = self.credentials(request, &provider_config, &parts).await?;
                match request.role {
                    Some(role) => {
                        let left = self
                            .config
                            .credentials_bound()
                            .saturating_sub(started.elapsed());
                        assume_role(role, base, request.identity, &parts, left).await?
                    }
                    None => base,
                }
            }
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .http_client(http)
            .timeout_config(timeouts)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .profile_files(profile_files);
        if let Some(p) = request.profile.or(self.config.profile.as_deref()) {
            loader = loader.profile_name(p);
        }
        let sdk = loader.load().await;
        let mut token = match request.target {
            Target::Registry(r @ Registry::Public { .. }) => {
                self.public_token(&sdk, self.endpoint_choice(&sdk, r))
                    .await?
            }
            Target::Registry(r @ Registry::Private { account, .. }) => {
                self.private_token(&sdk, Some(account), self.endpoint_choice(&sdk, r))
                    .await?
            }
            Target::DefaultRegistry { .. } => {
                self.private_token(&sdk, None, EndpointChoice::default())
                    .await?
            }
        };
        token.warnings = aws_files.warnings.clone();
        Ok(token)
    }

    /// The AWS files for the SDK as the run read them (regular files only, never a FIFO that
    /// would block the runtime), not their paths: the bytes its identities cover.
    fn aws_files<'f>(&self, aws: &'f AwsFilesOnce) -> Result<&'f AwsFiles, FetchError> {
        let aws_files = aws.get(self.config);
        if aws_files.too_large {
            return Err(FetchError::AwsFileTooLarge(MAX_AWS_FILE_READ));
        }
        Ok(aws_files)
    }

    /// Resolves credentials on their own, within the credentials bound, so that a failure is
    /// reported as what it is. The chain is the AWS CLI's (docs/contract.md §6), made of the SDK's
    /// providers: environment keys; a profile with `role_arn` (its `source_profile` chain or
    /// `credential_source`, each hop with its `duration_seconds`); web identity (the variables',
    /// else the profile's); the rest of the profile (SSO, keys, `aws login`, `credential_process`);
    /// container credentials; IMDS (one short attempt). A mapping's profile wins over everything,
    /// environment included, so it gets the profile's steps alone.
    async fn credentials(
        &self,
        request: &FetchRequest<'_>,
        provider_config: &ProviderConfig,
        parts: &SdkParts,
    ) -> Result<Credentials, FetchError> {
        let cfg = self.config;
        let mapped = request.profile;
        let explicit = mapped.or(cfg.profile.as_deref());
        let name = explicit.unwrap_or("default");
        let set = load_profiles(cfg, &parts.profile_files, request.aws, name).await?;
        let profile = set.get_profile(name);
        if profile.is_none()
            && let Some(p) = explicit
        {
            return Err(missing_profile(cfg, mapped.is_some(), p));
        }
        let mut chain: Option<CredentialsProviderChain> = None;
        let mut add = |name, p| link(&mut chain, name, p);
        // Environment keys answer first: nothing after them is built (a broken profile or web
        // identity must not fail a fetch that never reaches it).
        let env_keys = mapped.is_none() && env_keys(cfg)?;
        if mapped.is_none() {
            add(
                "Environment",
                SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()),
            );
        }
        let profile = if env_keys { None } else { profile };
        match profile {
            Some(p) if is_role(p) => {
                let sdk = sts_config(parts).await;
                add(
                    "Profile",
                    role_chain(&set, name, provider_config, parts, &sdk).await?,
                );
            }
            _ => {
                let web = if env_keys {
                    None
                } else {
                    web_identity(cfg, mapped.is_none(), profile)?
                };
                if let Some(web) = web {
                    let p = WebIdentityTokenCredentialsProvider::builder()
                        .configure(provider_config)
                        .static_configuration(web)
                        .build();
                    add("WebIdentityToken", SharedCredentialsProvider::new(p));
                }
                if profile.is_some() {
                    // SSO, keys, `aws login`, `credential_process`: the SDK's profile provider.
                    let p = ProfileFileCredentialsProvider::builder()
                        .configure(provider_config)
                        .profile_files(parts.profile_files.clone())
                        .profile_name(name)
                        .build();
                    add("Profile", SharedCredentialsProvider::new(p));
                }
            }
        }
        if mapped.is_none() && !env_keys {
            let ecs = EcsCredentialsProvider::builder()
                .configure(provider_config)
                .build();
            add("EcsContainer", SharedCredentialsProvider::new(ecs));
            add("Ec2InstanceMetadata", imds_provider(provider_config));
        }
        let Some(chain) = chain else {
            // A mapping's profile that yields nothing: unreachable (the profile exists, so it is
            // in the chain), but an empty chain must still fail as "no credentials".
            return Err(FetchError::NoCredentials {
                detail: format!("profile {name} yields no credentials"),
            });
        };
        let credentials = provide_within(cfg.credentials_bound(), &chain, request.identity).await?;
        let process = profile.is_some_and(|p| p.get("credential_process").is_some());
        usable(&credentials, &source_text(request.identity, process, name))?;
        Ok(credentials)
    }

    /// A host's FIPS / dual-stack name selects that endpoint by itself, unless the user chose an
    /// endpoint explicitly: the SDK's rules refuse both at once.
    fn endpoint_choice(&self, sdk: &aws_config::SdkConfig, registry: &Registry) -> EndpointChoice {
        let var = match registry {
            Registry::Private { .. } => config::ENDPOINT_URL_ECR,
            Registry::Public { .. } => config::ENDPOINT_URL_ECR_PUBLIC,
        };
        let custom = sdk.endpoint_url().is_some() || self.config.identity_var(var).is_some();
        EndpointChoice {
            fips: registry.is_fips() && !custom,
            dual_stack: registry.is_dual_stack() && !custom,
        }
    }

    /// `ecr:GetAuthorizationToken`, for `account` (as the Go helper sends it: emulators such as
    /// moto and LocalStack key the token on it) or for the caller's own registry.
    async fn private_token(
        &self,
        sdk: &aws_config::SdkConfig,
        account: Option<&String>,
        endpoint: EndpointChoice,
    ) -> Result<Token, FetchError> {
        let mut conf = aws_sdk_ecr::config::Builder::from(sdk);
        if endpoint.fips {
            conf = conf.use_fips(true);
        }
        if endpoint.dual_stack {
            conf = conf.use_dual_stack(true);
        }
        let client = aws_sdk_ecr::Client::from_conf(conf.build());
        // AWS deprecates `registryIds`: the token covers every registry the principal may use,
        // whatever it says.
        #[allow(deprecated)]
        let call = client
            .get_authorization_token()
            .set_registry_ids(account.map(|a| vec![a.clone()]));
        let out = call
            .customize()
            .mutate_request(add_user_agent)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        private_answer(&out)
    }

    /// `ecr-public:GetAuthorizationToken` (always us-east-1: the registry's region).
    async fn public_token(
        &self,
        sdk: &aws_config::SdkConfig,
        endpoint: EndpointChoice,
    ) -> Result<Token, FetchError> {
        let mut conf = aws_sdk_ecrpublic::config::Builder::from(sdk);
        if endpoint.fips {
            conf = conf.use_fips(true);
        }
        let client = aws_sdk_ecrpublic::Client::from_conf(conf.build());
        let out = client
            .get_authorization_token()
            .customize()
            .mutate_request(add_user_agent)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        public_answer(&out)
    }
}

/// The token in an ECR answer.
pub(crate) fn private_answer(
    out: &aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenOutput,
) -> Result<Token, FetchError> {
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| FetchError::BadResponse("no authorizationData".into()))?;
    token(
        data.authorization_token(),
        data.expires_at().map(|t| t.secs()),
        data.proxy_endpoint().map(str::to_owned),
    )
}

/// The token in an ECR Public answer.
pub(crate) fn public_answer(
    out: &aws_sdk_ecrpublic::operation::get_authorization_token::GetAuthorizationTokenOutput,
) -> Result<Token, FetchError> {
    let data = out
        .authorization_data()
        .ok_or_else(|| FetchError::BadResponse("no authorizationData".into()))?;
    token(
        data.authorization_token(),
        data.expires_at().map(|t| t.secs()),
        None,
    )
}

/// Which endpoint variant a registry's host name asks for.
#[derive(Debug, Clone, Copy, Default)]
struct EndpointChoice {
    fips: bool,
    dual_stack: bool,
}

/// What the SDK clients of a fetch are built from: its HTTP client, region, timeouts and the AWS
/// files as the AWS CLI reads them.
struct SdkParts {
    http: SharedHttpClient,
    region: Region,
    timeouts: TimeoutConfig,
    profile_files: EnvConfigFiles,
}

/// `AssumeRoleWithWebIdentity` with the token in hand, as cloud-provider-aws's
/// ecr-credential-provider does (the call is unsigned: no credentials are needed for it).
/// `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` redirect it as any SDK call.
async fn assume_web_identity(
    role: &WebIdentity,
    parts: &SdkParts,
    bound: Duration,
) -> Result<Credentials, FetchError> {
    let sdk = sts_config(parts).await;
    let client = aws_sdk_sts::Client::new(&sdk);
    let call = client
        .assume_role_with_web_identity()
        .role_arn(&role.role_arn)
        .role_session_name(&role.session_name)
        .web_identity_token(role.token.expose())
        .customize()
        .mutate_request(add_user_agent)
        .send();
    let failed = |why: String| FetchError::Credentials {
        detail: format!(
            "failed to assume role {}: {why}",
            crate::text::shown(&role.role_arn)
        ),
        sso_profile: None,
        login_profile: None,
        expired: why.to_lowercase().contains("expired"),
    };
    let out = match tokio::time::timeout(bound, call).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(match sdk_error(&e) {
                FetchError::Timeout(_) => FetchError::Timeout(format!(
                    "STS did not answer AssumeRoleWithWebIdentity within {} s",
                    OPERATION_TIMEOUT.as_secs()
                )),
                other => failed(crate::error::render(&other)),
            });
        }
        Err(_) => {
            return Err(FetchError::CredentialsTimeout {
                secs: fmt_secs(bound),
            });
        }
    };
    let c = out
        .credentials()
        .ok_or_else(|| failed("STS answered without credentials".into()))?;
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "AssumeRoleWithWebIdentity",
    ))
}

/// A per-registry role (docs/contract.md §7), assumed as the AWS CLI assumes a profile's
/// `role_arn`: `AssumeRole` signed with `base`, with the entry's session name, external id and
/// duration, at STS in the entry's region (else the registry's), by the SDK's provider.
async fn assume_role(
    role: &Role,
    base: Credentials,
    identity: &Identity,
    parts: &SdkParts,
    bound: Duration,
) -> Result<Credentials, FetchError> {
    let region = role
        .region
        .as_ref()
        .map_or_else(|| parts.region.clone(), |r| Region::new(r.clone()));
    let sdk = sts_config_in(parts, region).await;
    let mut b = AssumeRoleProvider::builder(&role.arn).configure(&sdk);
    if let Some(n) = &role.session_name {
        b = b.session_name(n);
    }
    if let Some(id) = &role.external_id {
        b = b.external_id(id);
    }
    if let Some(secs) = role.duration_seconds {
        b = b.session_length(Duration::from_secs(secs));
    }
    let provider = b.build_from_provider(base).await;
    let from = match &identity.source {
        CredentialSource::Role { from, .. } => from.to_string(),
        other => other.to_string(),
    };
    let failed = |why: String| FetchError::Credentials {
        expired: why.to_lowercase().contains("expired"),
        detail: format!(
            "failed to assume role {} with the credentials of {from}: {why}",
            crate::text::shown(&role.arn)
        ),
        sso_profile: None,
        login_profile: None,
    };
    let credentials = match tokio::time::timeout(bound, provider.provide_credentials()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(failed(sts_refusal(&e).unwrap_or_else(|| chain_text(&e)))),
        Err(_) => {
            return Err(FetchError::CredentialsTimeout {
                secs: fmt_secs(bound),
            });
        }
    };
    usable(
        &credentials,
        &format!("role {}", crate::text::shown(&role.arn)),
    )?;
    Ok(credentials)
}

/// STS's own answer to `AssumeRole` inside a provider's error (`AccessDenied: User: ... is not
/// authorized ...`), as the ECR API's errors are told, rather than the SDK's debug text.
fn sts_refusal(e: &CredentialsError) -> Option<String> {
    type AssumeRoleFailure =
        SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, HttpResponse>;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(se) = err.downcast_ref::<AssumeRoleFailure>() {
            return match sdk_error(se) {
                FetchError::Service { code, message } if message.is_empty() => Some(code),
                FetchError::Service { code, message } => Some(format!("{code}: {message}")),
                _ => None,
            };
        }
        cur = err.source();
    }
    None
}

fn add_user_agent(req: &mut aws_smithy_runtime_api::http::Request) {
    for name in ["user-agent", "x-amz-user-agent"] {
        let value = match req.headers().get(name) {
            Some(v) => format!("{v} {USER_AGENT}"),
            None => USER_AGENT.to_owned(),
        };
        req.headers_mut().insert(name, value);
    }
}

/// `authorizationToken` is base64("AWS:<password>"): the password is after the first ':'.
pub(crate) fn token(
    encoded: Option<&str>,
    expires_at: Option<i64>,
    proxy_endpoint: Option<String>,
) -> Result<Token, FetchError> {
    let encoded = encoded.ok_or_else(|| FetchError::BadResponse("no authorizationToken".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| FetchError::BadResponse("authorizationToken is not base64".into()))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| FetchError::BadResponse("authorizationToken is not text".into()))?;
    let (_user, password) = decoded
        .split_once(':')
        .ok_or_else(|| FetchError::BadResponse("authorizationToken has no ':'".into()))?;
    if password.is_empty() {
        return Err(FetchError::BadResponse(
            "authorizationToken has an empty password".into(),
        ));
    }
    Ok(Token {
        warnings: Vec::new(),
        password: Secret::new(password.to_owned()),
        expires_at: expires_at.and_then(|s| u64::try_from(s).ok()),
        proxy_endpoint,
    })
}

/// The HTTPS client: rustls with the ring provider (no aws-lc start-up cost), `HTTPS_PROXY` /
/// `NO_PROXY` from the environment, and `AWS_CA_BUNDLE` (which the Rust SDK ignores by itself)
/// as the trust store, replacing the system roots as the AWS CLI does.
fn http_client(cfg: &Config) -> Result<SharedHttpClient, FetchError> {
    let trust = match &cfg.ca_bundle {
        None => TrustStore::default(),
        Some(path) => {
            let ca_error = |problem: BoxError| FetchError::CaBundle {
                path: path.clone(),
                problem,
            };
            let pem =
                files::read_regular(path, MAX_CA_BUNDLE, true).map_err(|e| ca_error(e.into()))?;
            check_pem_bundle(&pem).map_err(|m| ca_error(m.into()))?;
            TrustStore::empty().with_pem_certificate(pem)
        }
    };
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| FetchError::Setup {
            what: "TLS setup",
            source: e.into(),
        })?;
    let client = HttpClientBuilder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = Connector::builder().proxy_config(ProxyConfig::from_env());
        if let Some(s) = settings {
            builder = builder.connector_settings(s.clone());
        }
        if let Some(c) = components {
            builder.set_sleep_impl(c.sleep_impl());
        }
        builder
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls_context.clone())
            .build()
    });
    Ok(SharedHttpClient::new(Capped(client)))
}

/// An HTTP client whose responses are read at most [`MAX_RESPONSE`] bytes: beyond it, reading
/// the body fails (and stops), and the fetch says so.
#[derive(Debug)]
struct Capped<C>(C);

impl<C: HttpClient> HttpClient for Capped<C> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Capped(self.0.http_connector(settings, components)))
    }
}

impl HttpConnector for Capped<SharedHttpConnector> {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let response = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let mut response = response.await?;
            let body = std::mem::replace(response.body_mut(), SdkBody::taken());
            *response.body_mut() =
                SdkBody::from_body_1_x(http_body_util::Limited::new(body, MAX_RESPONSE));
            Ok(response)
        })
    }
}

/// A web identity token file the SDK would read must be there and a regular file: say which
/// file is wrong (the SDK does not), and never let a FIFO block the runtime.
fn check_token_file(path: &str) -> Result<(), FetchError> {
    match files::read_regular(std::path::Path::new(path), MAX_TOKEN_FILE, true) {
        Ok(_) => Ok(()),
        Err(problem) => Err(FetchError::WebIdentityFile {
            path: path.to_owned(),
            problem,
        }),
    }
}

/// The profiles of the AWS files (as [`profiles::for_the_sdk`] made them), parsed by the SDK, with
/// `name` selected. A file the SDK cannot parse is named, with the line.
async fn load_profiles(
    cfg: &Config,
    files: &EnvConfigFiles,
    aws: &AwsFilesOnce,
    name: &str,
) -> Result<ProfileSet, FetchError> {
    let (fs, env) = (SdkFs::real(), SdkEnv::real());
    match aws_config::profile::load(&fs, &env, files, Some(name.to_owned().into())).await {
        Ok(set) => Ok(set),
        Err(e) => {
            // Which file: the SDK's message names neither (it was given their text).
            // "could not parse profile file: error parsing  on line 3: Expected ...": the SDK was
            // given text, so its message has no path; ours names the file.
            let text = chain_text(&e);
            let text = text
                .split_once("error parsing on ")
                .map_or(text.as_str(), |(_, rest)| rest)
                .to_owned();
            let file = match cfg
                .aws_credentials_file
                .as_ref()
                .zip(cfg.aws_config_file.as_ref())
            {
                Some((creds, conf)) => {
                    let (_, k) = profiles::for_the_sdk("", &aws.get(cfg).credentials);
                    let only_credentials = EnvConfigFiles::builder()
                        .with_contents(EnvConfigFileKind::Credentials, k)
                        .build();
                    if aws_config::profile::load(&fs, &env, &only_credentials, None)
                        .await
                        .is_err()
                    {
                        creds.display().to_string()
                    } else {
                        conf.display().to_string()
                    }
                }
                None => "an AWS file".to_owned(),
            };
            Err(FetchError::Credentials {
                detail: format!("cannot parse {file}: {text}"),
                sso_profile: None,
                login_profile: None,
                expired: false,
            })
        }
    }
}

/// A profile that assumes a role from other credentials (not with a web identity token).
fn is_role(p: &Profile) -> bool {
    p.get("role_arn").is_some() && p.get("web_identity_token_file").is_none()
}

/// Web identity, if configured, as botocore takes it: each of the token file, the role and the
/// session name from the variables (unless a mapping's profile is asked for), else from the
/// profile. A token file without a role is an error, not a reason to go on down the chain.
fn web_identity(
    cfg: &Config,
    use_env: bool,
    profile: Option<&Profile>,
) -> Result<Option<StaticConfiguration>, FetchError> {
    let env = |name: &str| {
        use_env
            .then(|| cfg.identity_var(name))
            .flatten()
            .map(str::to_owned)
    };
    let from_profile = |key: &str| profile.and_then(|p| p.get(key)).map(str::to_owned);
    let Some(file) =
        env(config::WEB_IDENTITY_TOKEN_FILE).or_else(|| from_profile("web_identity_token_file"))
    else {
        return Ok(None);
    };
    let Some(role_arn) = env(config::ROLE_ARN).or_else(|| from_profile("role_arn")) else {
        return Err(FetchError::Credentials {
            detail: format!(
                "a web identity token file is set ({file}) but no role to assume with it: set AWS_ROLE_ARN"
            ),
            sso_profile: None,
            login_profile: None,
            expired: false,
        });
    };
    check_token_file(&file)?;
    let session_name = env(config::ROLE_SESSION_NAME)
        .or_else(|| from_profile("role_session_name"))
        .unwrap_or_else(|| {
            // The SDK's own default for the variables' web identity.
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            format!("web-identity-token-{ms}")
        });
    Ok(Some(StaticConfiguration {
        web_identity_token_file: file.into(),
        role_arn,
        session_name,
    }))
}

/// The configuration the STS clients of a fetch share (no credentials of its own: each call is
/// given the credentials it is to be signed with).
async fn sts_config(parts: &SdkParts) -> SdkConfig {
    sts_config_in(parts, parts.region.clone()).await
}

/// [`sts_config`] with STS in `region`.
async fn sts_config_in(parts: &SdkParts, region: Region) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .http_client(parts.http.clone())
        .timeout_config(parts.timeouts.clone())
        .profile_files(parts.profile_files.clone())
        .no_credentials()
        .load()
        .await
}

/// IMDS: one short attempt (docs/contract.md §10: no credentials must fail within about 1 s).
fn imds_provider(provider_config: &ProviderConfig) -> SharedCredentialsProvider {
    let imds = imds::Client::builder()
        .configure(provider_config)
        .max_attempts(1)
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .operation_attempt_timeout(IMDS_TIMEOUT)
        .operation_timeout(IMDS_TIMEOUT)
        .build();
    SharedCredentialsProvider::new(
        ImdsCredentialsProvider::builder()
            .configure(provider_config)
            .imds_client(imds)
            .build(),
    )
}

/// A profile's role and its source, as the AWS CLI walks them: each `role_arn` is assumed with
/// the credentials of its `source_profile` (a source profile with keys of its own stops the walk
/// there) or of its `credential_source`, and with its own `role_session_name`, `external_id` and
/// `duration_seconds` (which the SDK's profile provider does not send). The base is the SDK's:
/// its profile provider (web identity, SSO, `aws login`, `credential_process`, keys), static keys,
/// or the named source.
async fn role_chain(
    set: &ProfileSet,
    start: &str,
    provider_config: &ProviderConfig,
    parts: &SdkParts,
    sdk: &SdkConfig,
) -> Result<SharedCredentialsProvider, FetchError> {
    let mut hops: Vec<&Profile> = Vec::new();
    let mut visited: Vec<&str> = Vec::new();
    let mut name = start;
    let base: SharedCredentialsProvider = loop {
        let Some(p) = set.get_profile(name) else {
            return Err(invalid(format!(
                "profile {} names source_profile {name}, which is in neither the AWS config file nor the AWS credentials file",
                visited.last().unwrap_or(&start)
            )));
        };
        if visited.contains(&name) {
            return Err(invalid(format!(
                "the source_profile chain loops: {} -> {name}",
                visited.join(" -> ")
            )));
        }
        visited.push(name);
        if visited.len() > 1 && has_static_keys(p) {
            break static_keys(p).map_err(invalid)?;
        }
        if !is_role(p) {
            if !yields_credentials(p) {
                return Err(invalid(format!("source profile {name} has no credentials")));
            }
            if let Some(file) = p.get("web_identity_token_file") {
                check_token_file(file)?;
            }
            break SharedCredentialsProvider::new(
                ProfileFileCredentialsProvider::builder()
                    .configure(provider_config)
                    .profile_files(parts.profile_files.clone())
                    .profile_name(name)
                    .build(),
            );
        }
        hops.push(p);
        match (p.get("source_profile"), p.get("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "profile {name} has both source_profile and credential_source"
                )));
            }
            (None, None) => {
                return Err(invalid(format!(
                    "profile {name} has role_arn but neither source_profile nor credential_source"
                )));
            }
            (Some(s), None) if s == name => {
                // Its own keys assume its role.
                if !has_static_keys(p) {
                    return Err(invalid(format!(
                        "profile {name} is its own source_profile but has no keys"
                    )));
                }
                break static_keys(p).map_err(invalid)?;
            }
            (Some(s), None) => name = s,
            (None, Some(source)) => break credential_source(name, source, provider_config)?,
        }
    };
    let mut provider = base;
    for hop in hops.iter().rev() {
        provider = assume_hop(hop, provider, sdk).await;
    }
    Ok(provider)
}

/// A profile's configuration that is not valid, as a credentials failure.
fn invalid(detail: String) -> FetchError {
    FetchError::Credentials {
        detail,
        sso_profile: None,
        login_profile: None,
        expired: false,
    }
}

/// The provider a profile's `credential_source` names.
fn credential_source(
    name: &str,
    source: &str,
    provider_config: &ProviderConfig,
) -> Result<SharedCredentialsProvider, FetchError> {
    Ok(match source {
        "Environment" => {
            SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new())
        }
        "EcsContainer" => SharedCredentialsProvider::new(
            EcsCredentialsProvider::builder()
                .configure(provider_config)
                .build(),
        ),
        "Ec2InstanceMetadata" => imds_provider(provider_config),
        other => {
            return Err(invalid(format!(
                "profile {name}: credential_source {other} is not Environment, EcsContainer or Ec2InstanceMetadata"
            )));
        }
    })
}

/// One hop of a role chain: `hop`'s role assumed with the credentials of `provider`, with the
/// hop's own `role_session_name`, `external_id` and `duration_seconds`.
async fn assume_hop(
    hop: &Profile,
    provider: SharedCredentialsProvider,
    sdk: &SdkConfig,
) -> SharedCredentialsProvider {
    let role = hop.get("role_arn").unwrap_or_default();
    let mut b = AssumeRoleProvider::builder(role).configure(sdk);
    if let Some(n) = hop.get("role_session_name") {
        b = b.session_name(n);
    }
    if let Some(id) = hop.get("external_id") {
        b = b.external_id(id);
    }
    // As botocore: a value that is not a number is left out.
    if let Some(secs) = hop
        .get("duration_seconds")
        .and_then(|d| d.trim().parse::<u64>().ok())
    {
        b = b.session_length(Duration::from_secs(secs));
    }
    SharedCredentialsProvider::new(b.build_from_provider(provider).await)
}

/// Whether a profile has (any part of) a static key pair.
fn has_static_keys(p: &Profile) -> bool {
    p.get("aws_access_key_id").is_some() || p.get("aws_secret_access_key").is_some()
}

/// A profile's static keys.
fn static_keys(p: &Profile) -> Result<SharedCredentialsProvider, String> {
    match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(SharedCredentialsProvider::new(Credentials::new(
            id,
            secret,
            p.get("aws_session_token").map(str::to_owned),
            None,
            "ProfileFile",
        ))),
        (None, _) => Err(format!("profile {} has no aws_access_key_id", p.name())),
        (_, None) => Err(format!("profile {} has no aws_secret_access_key", p.name())),
    }
}

/// Whether a profile that assumes no role has a credential source of its own.
fn yields_credentials(p: &Profile) -> bool {
    [
        "web_identity_token_file",
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "login_session",
        "credential_process",
        "aws_access_key_id",
    ]
    .iter()
    .any(|k| p.get(k).is_some())
}

/// Credentials that can sign: not expired (a `credential_process` may print an `Expiration` that
/// has passed; botocore refuses them too), and an access key id and session token without
/// control characters (a line break would panic the signer; botocore's HTTP client refuses it).
fn usable(c: &Credentials, source: &str) -> Result<(), FetchError> {
    if let Some(expiry) = c.expiry()
        && expiry <= std::time::SystemTime::now()
    {
        let secs = expiry
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return Err(FetchError::Credentials {
            detail: format!(
                "{source} gave credentials that expired at {}",
                crate::time::utc_timestamp(secs)
            ),
            sso_profile: None,
            login_profile: None,
            expired: true,
        });
    }
    for (what, value) in [
        ("access key id", c.access_key_id()),
        ("session token", c.session_token().unwrap_or_default()),
    ] {
        if value.chars().any(char::is_control) {
            return Err(FetchError::Credentials {
                detail: format!(
                    "the {what} from {source} contains a line break or another control character (is a line below it in an AWS file indented, so that it continues the value?)"
                ),
                sso_profile: None,
                login_profile: None,
                expired: false,
            });
        }
    }
    if c.access_key_id().trim().is_empty() {
        return Err(FetchError::Credentials {
            detail: format!("the access key id from {source} is empty"),
            sso_profile: None,
            login_profile: None,
            expired: false,
        });
    }
    Ok(())
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// The SDK panics on a bundle it cannot parse; check it first and say what is wrong.
fn check_pem_bundle(pem: &[u8]) -> Result<(), String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("contains no PEM certificate".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate ({e})"))?;
    }
    Ok(())
}

/// Adds the provider `p` named `name` to the end of `chain`.
fn link(
    chain: &mut Option<CredentialsProviderChain>,
    name: &'static str,
    p: SharedCredentialsProvider,
) {
    *chain = Some(match chain.take() {
        None => CredentialsProviderChain::first_try(name, p),
        Some(c) => c.or_else(name, p),
    });
}

/// Where the credentials came from, for a message about them: for a per-registry role, what
/// assumes it; a profile's `credential_process` (`process`) by name.
fn source_text(identity: &Identity, process: bool, profile: &str) -> String {
    let base = identity.source.base();
    if process && matches!(base, CredentialSource::Profile { .. }) {
        format!("the credential_process of profile {profile}")
    } else {
        base.to_string()
    }
}

/// The AWS files as the SDK is given them: as the AWS CLI reads them (profiles.rs).
fn sdk_profile_files(aws_files: &AwsFiles) -> EnvConfigFiles {
    let (config_text, credentials_text) =
        profiles::for_the_sdk(&aws_files.config, &aws_files.credentials);
    EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Config, config_text)
        .with_contents(EnvConfigFileKind::Credentials, credentials_text)
        .build()
}

/// As the AWS CLI: a profile asked for by name (`mapped`: by the settings file) must
/// exist, even when environment keys would answer first.
fn missing_profile(cfg: &Config, mapped: bool, name: &str) -> FetchError {
    FetchError::Credentials {
        detail: format!(
            "{} names profile {name}, which is in neither the AWS config file nor the AWS credentials file",
            if mapped {
                "the settings file"
            } else {
                cfg.profile_var
            }
        ),
        sso_profile: None,
        login_profile: None,
        expired: false,
    }
}

/// Whether the environment holds keys. A key id without its secret is an error, as with the
/// AWS CLI, not a reason to go on down the chain.
fn env_keys(cfg: &Config) -> Result<bool, FetchError> {
    let key_id = cfg.identity_var(config::ACCESS_KEY_ID).is_some();
    let secret = cfg
        .identity_env
        .iter()
        .any(|(n, _)| *n == config::SECRET_ACCESS_KEY);
    if key_id && !secret {
        return Err(FetchError::Credentials {
            detail: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
            sso_profile: None,
            login_profile: None,
            expired: false,
        });
    }
    Ok(key_id && secret)
}

/// The chain's credentials within `bound`.
async fn provide_within(
    bound: Duration,
    chain: &CredentialsProviderChain,
    identity: &Identity,
) -> Result<Credentials, FetchError> {
    match tokio::time::timeout(bound, chain.provide_credentials()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(credentials_error(&e, identity)),
        Err(_) => Err(FetchError::CredentialsTimeout {
            secs: fmt_secs(bound),
        }),
    }
}

/// Says what a credential failure means for this identity: with nothing configured but the
/// instance role, an IMDS failure means "no credentials at all"; an SSO profile's failure (the
/// legacy `sso_start_url` form reports an expired session as `UnauthorizedException`) means
/// "log in again".
fn credentials_error(e: &CredentialsError, identity: &Identity) -> FetchError {
    let text = chain_text(e);
    // For a per-registry role: the credentials that assume it failed.
    let source = identity.source.base();
    // The SDK reports a failed `credential_process` as "... exited with code <status>. Stderr:
    // <its stderr>". The stderr is the process's own business (and may carry a secret): it is
    // passed through, not made part of our line or the log.
    if let Some(rest) = raw_text(e)
        .split("external process exited with code ")
        .nth(1)
    {
        let (status, stderr) = rest.split_once(". Stderr: ").unwrap_or((rest, ""));
        return FetchError::CredentialProcess {
            status: one_line(status),
            stderr: Secret::new(stderr.to_owned()),
        };
    }
    if *source == CredentialSource::InstanceRole {
        return FetchError::NoCredentials {
            detail: format!(
                "no keys in the environment, no profile, no web identity, no container credentials, and instance metadata: {text}"
            ),
        };
    }
    let sso_profile = match source {
        CredentialSource::Profile {
            name, sso: true, ..
        } => Some(name.clone()),
        _ => None,
    };
    // An `aws login` session that is missing, expired or cannot be refreshed: the SDK's login
    // provider says "Login token" (or names the cached file it could not read).
    let login_profile = match source {
        CredentialSource::Profile { login: Some(p), .. }
            if text.contains("Login token") || text.contains("login/cache") =>
        {
            Some(p.clone())
        }
        _ => None,
    };
    match e {
        _ if sso_profile.is_some() || login_profile.is_some() => FetchError::Credentials {
            expired: text.to_lowercase().contains("expired"),
            detail: text,
            sso_profile,
            login_profile,
        },
        CredentialsError::CredentialsNotLoaded(_) => FetchError::NoCredentials { detail: text },
        CredentialsError::ProviderTimedOut(_) => FetchError::Timeout(text),
        _ => FetchError::Credentials {
            expired: text.to_lowercase().contains("expired"),
            detail: text,
            sso_profile,
            login_profile,
        },
    }
}

pub(crate) fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if body_too_large(e) {
        return FetchError::BadResponse(format!(
            "response body larger than {} MiB (not an ECR answer)",
            MAX_RESPONSE >> 20
        ));
    }
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match err.code() {
                Some(code) => FetchError::Service {
                    code: code.to_owned(),
                    message: one_line(err.message().unwrap_or_default()),
                },
                // Not an AWS error document: often a proxy or captive portal answering instead.
                None => FetchError::BadResponse(format!(
                    "HTTP {} without an AWS error code (a proxy answering instead of the API?)",
                    se.raw().status().as_u16()
                )),
            }
        }
        SdkError::TimeoutError(_) => FetchError::Timeout(format!(
            "the ECR API did not answer within {} s",
            OPERATION_TIMEOUT.as_secs()
        )),
        SdkError::DispatchFailure(d) if d.is_timeout() => FetchError::Timeout(chain_text(e)),
        SdkError::DispatchFailure(_) if is_tls(e) => FetchError::Tls(chain_text(e)),
        SdkError::DispatchFailure(_) => FetchError::Network(chain_text(e)),
        SdkError::ResponseError(_) => FetchError::BadResponse(chain_text(e)),
        _ => FetchError::Network(chain_text(e)),
    }
}

/// An error's messages and its sources', as they are (for the SDK's texts we take apart).
fn raw_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        out.push_str(&err.to_string());
        out.push('\n');
        cur = err.source();
    }
    out
}

/// Whether a connection failed in its TLS handshake (rustls said so somewhere in the chain).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() || err.to_string().contains("TLS handshake") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether a response body was cut at [`MAX_RESPONSE`].
fn body_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>()
            || err.to_string().contains("length limit exceeded")
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its sources on one line, repeated messages dropped.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = one_line(&err.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 400 {
        s.chars().take(400).collect::<String>() + "..."
    } else {
        s
    }
}

/// The one fake token source, for unit tests and the fuzz targets.
#[cfg(any(test, fuzzing))]
pub mod fake;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_everything_after_the_first_colon() {
        let enc = base64::engine::general_purpose::STANDARD.encode("AWS:pa:ss");
        let t = token(Some(&enc), Some(5), None).unwrap();
        assert_eq!(t.password.expose(), "pa:ss");
        assert_eq!(t.expires_at, Some(5));
    }

    #[test]
    fn malformed_tokens_are_bad_responses_not_panics() {
        for bad in [None, Some("!!!"), Some("QUJD")] {
            assert!(matches!(
                token(bad, None, None),
                Err(FetchError::BadResponse(_))
            ));
        }
    }

    #[test]
    fn expired_credentials_and_line_breaks_in_keys_are_refused_with_their_source() {
        let past = std::time::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
        let expired = Credentials::new("AKID", "s", None, Some(past), "test");
        let e = usable(&expired, "the credential_process of profile ops").unwrap_err();
        assert_eq!(
            crate::error::render(&e),
            "cannot load AWS credentials: the credential_process of profile ops gave credentials that expired at 2020-01-01T00:00:00Z"
        );
        assert!(matches!(e, FetchError::Credentials { expired: true, .. }));
        let future = std::time::SystemTime::now() + Duration::from_secs(3600);
        assert!(usable(&Credentials::new("AKID", "s", None, Some(future), "t"), "x").is_ok());
        assert!(usable(&Credentials::new("AKID", "s", None, None, "t"), "x").is_ok());
        for (id, token) in [
            ("AKID\n# note", None),
            ("AKID", Some("tok\r\nen".to_owned())),
        ] {
            let e = usable(&Credentials::new(id, "s", token, None, "t"), "profile p").unwrap_err();
            let text = crate::error::render(&e);
            assert!(
                text.contains("line break") && text.contains("profile p"),
                "{text}"
            );
            assert!(!text.contains("AKID"), "no key in the message: {text}");
        }
    }

    #[test]
    fn a_garbage_ca_bundle_is_refused_before_the_sdk_sees_it() {
        assert!(check_pem_bundle(b"hello").is_err());
        assert!(
            check_pem_bundle(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
