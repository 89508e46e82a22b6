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
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::imds::{self, credentials::ImdsCredentialsProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
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
use base64::Engine as _;

use crate::config::{self, Config};
use crate::files::{self, ReadError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
use crate::identity::{AwsFiles, CredentialSource, Identity};
use crate::registry::Registry;
use crate::secret::Secret;

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
/// Largest AWS config/credentials file handed to the SDK (the identity reads less: identity.rs).
const MAX_AWS_FILE_FOR_SDK: u64 = 16 << 20;
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
    /// Whose token it is (says what a credential failure means).
    pub identity: &'a Identity,
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
        // The SDK gets the AWS files as we read them (regular files only, never a FIFO that
        // would block the runtime), not their paths.
        let aws_files = AwsFiles::read(self.config, MAX_AWS_FILE_FOR_SDK);
        if aws_files.too_large {
            return Err(FetchError::AwsFileTooLarge(MAX_AWS_FILE_FOR_SDK));
        }
        let profile_files = EnvConfigFiles::builder()
            .with_contents(EnvConfigFileKind::Config, aws_files.config.clone())
            .with_contents(
                EnvConfigFileKind::Credentials,
                aws_files.credentials.clone(),
            )
            .build();
        if request.web_identity.is_none() {
            check_web_identity_files(self.config, request)?;
        }
        let provider_config = ProviderConfig::default()
            .with_http_client(http.clone())
            .with_region(Some(region.clone()))
            .with_timeout_config(timeouts.clone());

        let credentials = match request.web_identity {
            Some(role) => {
                let sts = WebIdentitySts {
                    http: http.clone(),
                    region: region.clone(),
                    timeouts: timeouts.clone(),
                    profile_files: profile_files.clone(),
                };
                assume_web_identity(role, sts, self.config.credentials_bound()).await?
            }
            None => {
                self.credentials(request, &provider_config, &profile_files)
                    .await?
            }
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .http_client(http)
            .timeout_config(timeouts)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .profile_files(profile_files);
        if let Some(p) = request.profile {
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
        token.warnings = aws_files.warnings;
        Ok(token)
    }

    /// Resolves credentials on their own, within the credentials bound, so that a failure is
    /// reported as what it is. A mapping's profile wins over everything, environment keys
    /// included, so it gets the profile provider alone; otherwise the SDK's default chain, in its
    /// order, with our profile files and a one-attempt IMDS client.
    async fn credentials(
        &self,
        request: &FetchRequest<'_>,
        provider_config: &ProviderConfig,
        profile_files: &EnvConfigFiles,
    ) -> Result<Credentials, FetchError> {
        let mut profile_provider = ProfileFileCredentialsProvider::builder()
            .configure(provider_config)
            .profile_files(profile_files.clone());
        if let Some(p) = request.profile {
            profile_provider = profile_provider.profile_name(p);
        }
        let profile_provider = profile_provider.build();
        let chain: SharedCredentialsProvider = match request.profile {
            Some(_) => SharedCredentialsProvider::new(profile_provider),
            None => {
                // IMDS: one short attempt (docs/contract.md §10: no credentials must fail within
                // about 1 s).
                let imds = imds::Client::builder()
                    .configure(provider_config)
                    .max_attempts(1)
                    .connect_timeout(IMDS_TIMEOUT)
                    .read_timeout(IMDS_TIMEOUT)
                    .operation_attempt_timeout(IMDS_TIMEOUT)
                    .operation_timeout(IMDS_TIMEOUT)
                    .build();
                SharedCredentialsProvider::new(
                    CredentialsProviderChain::first_try(
                        "Environment",
                        EnvironmentVariableCredentialsProvider::new(),
                    )
                    .or_else("Profile", profile_provider)
                    .or_else(
                        "WebIdentityToken",
                        WebIdentityTokenCredentialsProvider::builder()
                            .configure(provider_config)
                            .build(),
                    )
                    .or_else(
                        "EcsContainer",
                        EcsCredentialsProvider::builder()
                            .configure(provider_config)
                            .build(),
                    )
                    .or_else(
                        "Ec2InstanceMetadata",
                        ImdsCredentialsProvider::builder()
                            .configure(provider_config)
                            .imds_client(imds)
                            .build(),
                    ),
                )
            }
        };
        let bound = self.config.credentials_bound();
        match tokio::time::timeout(bound, chain.provide_credentials()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(credentials_error(&e, request.identity)),
            Err(_) => Err(FetchError::CredentialsTimeout {
                secs: fmt_secs(bound),
            }),
        }
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

/// What the STS client of [`assume_web_identity`] is built from: the fetch's own HTTP client,
/// region, timeouts and AWS files.
struct WebIdentitySts {
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
    sts: WebIdentitySts,
    bound: Duration,
) -> Result<Credentials, FetchError> {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(sts.region)
        .http_client(sts.http)
        .timeout_config(sts.timeouts)
        .profile_files(sts.profile_files)
        .no_credentials()
        .load()
        .await;
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
        detail: format!("failed to assume role {}: {why}", role.role_arn),
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
fn check_web_identity_files(cfg: &Config, request: &FetchRequest<'_>) -> Result<(), FetchError> {
    let identity = request.identity;
    // (path, whether a missing file is an error now): a profile's own file always; the
    // variables' file is reached only after environment keys and a profile with credentials,
    // so while a profile exists only a file that could block is refused early.
    let mut paths: Vec<(String, bool)> = identity
        .web_identity_files
        .iter()
        .map(|p| (p.clone(), true))
        .collect();
    if request.profile.is_none()
        && identity.source != CredentialSource::EnvKeys
        && let Some(p) = cfg.identity_var(config::WEB_IDENTITY_TOKEN_FILE)
        && cfg.identity_var(config::ROLE_ARN).is_some()
    {
        paths.push((p.to_owned(), !identity.profile_found()));
    }
    for (path, must_exist) in paths {
        match files::read_regular(std::path::Path::new(&path), MAX_TOKEN_FILE, true) {
            Ok(_) => {}
            Err(ReadError::Missing) if !must_exist => {}
            Err(problem) => return Err(FetchError::WebIdentityFile { path, problem }),
        }
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

/// Says what a credential failure means for this identity: with nothing configured but the
/// instance role, an IMDS failure means "no credentials at all"; an SSO profile's failure (the
/// legacy `sso_start_url` form reports an expired session as `UnauthorizedException`) means
/// "log in again".
fn credentials_error(e: &CredentialsError, identity: &Identity) -> FetchError {
    let text = chain_text(e);
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
    if identity.source == CredentialSource::InstanceRole {
        return FetchError::NoCredentials {
            detail: format!(
                "no keys in the environment, no profile, no web identity, no container credentials, and instance metadata: {text}"
            ),
        };
    }
    let sso_profile = match &identity.source {
        CredentialSource::Profile {
            name, sso: true, ..
        } => Some(name.clone()),
        _ => None,
    };
    // An `aws login` session that is missing, expired or cannot be refreshed: the SDK's login
    // provider says "Login token" (or names the cached file it could not read).
    let login_profile = match &identity.source {
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
    fn a_garbage_ca_bundle_is_refused_before_the_sdk_sees_it() {
        assert!(check_pem_bundle(b"hello").is_err());
        assert!(
            check_pem_bundle(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
