//! The one door to AWS: `GetAuthorizationToken` for ECR and ECR Public (SPEC §3).
//!
//! [`TokenSource`] is the seam the policy (`helper.rs`) talks to; [`Aws`] is the SDK
//! implementation. It owns a current-thread tokio runtime, built only when a token must be fetched,
//! so the rest of the program (and above all the cache-hit path) stays synchronous and never
//! loads aws-config, parses root certificates or starts TLS.
//!
//! Bounded time (SPEC §3, "better than Go"): IMDS gets one short attempt, every API call has
//! connect/read/attempt/operation timeouts, and the whole fetch has a final deadline.

use std::fmt;
use std::fs;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpClientBuilder, Connector};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use base64::Engine as _;

use crate::config::Config;
use crate::identity::{FALLBACK_SUMMARY, Identity};
use crate::registry::Registry;
use crate::secret::Secret;

/// User-Agent product token (SPEC §3: Go intends to send one and never does).
pub const USER_AGENT: &str = concat!("docker-credential-ecr-login/", env!("CARGO_PKG_VERSION"));

/// IMDS: one attempt of at most this long. On EC2 it answers in milliseconds; on a laptop there is
/// no IMDS and this is what "no credentials" costs (SPEC: fail within about a second).
const IMDS_TIMEOUT: Duration = Duration::from_millis(900);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// All attempts of one API call (ECR, STS, SSO): an unreachable API fails within ~5 s.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(4000);
/// Resolving credentials, whatever the source (a `credential_process` may hang).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(6);

/// A token as the API issued it.
#[derive(Debug)]
pub struct Token {
    pub password: Secret<String>,
    /// Unix seconds; `None` if the API did not say.
    pub expires_at: Option<u64>,
    /// `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com` for private ECR.
    pub proxy_endpoint: Option<String>,
}

/// Why a token could not be had: the text of the helper's stderr line (SPEC §1).
/// Messages never contain secrets: they come from error codes and the SDK's (redacting) errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The credential chain found nothing.
    NoCredentials(String),
    /// A credential source exists but failed (expired SSO session, bad profile, STS error, ...).
    Credentials(String),
    /// The API answered with an error code (AccessDeniedException, ThrottlingException, ...).
    Service { code: String, message: String },
    /// Nothing answered in time.
    Timeout(String),
    /// Connection refused, DNS, TLS, proxy.
    Network(String),
    /// An answer we cannot use (no token, not base64, ...).
    BadResponse(String),
    /// Our own configuration is wrong (e.g. an unreadable `AWS_CA_BUNDLE`).
    Config(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NoCredentials(m) => write!(
                f,
                "no AWS credentials found ({m}); set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run `aws configure` / `aws sso login`"
            ),
            FetchError::Credentials(m) => write!(f, "cannot load AWS credentials: {m}"),
            FetchError::Service { code, message } if message.is_empty() => f.write_str(code),
            FetchError::Service { code, message } => write!(f, "{code}: {message}"),
            FetchError::Timeout(m) => write!(f, "timed out: {m}"),
            FetchError::Network(m) => write!(f, "network error: {m}"),
            FetchError::BadResponse(m) => write!(f, "unusable answer from ECR: {m}"),
            FetchError::Config(m) => f.write_str(m),
        }
    }
}

/// The most a token fetch may take: credentials, then the API, then a margin.
pub const FETCH_BUDGET: Duration = CREDENTIALS_TIMEOUT
    .saturating_add(OPERATION_TIMEOUT)
    .saturating_add(Duration::from_secs(1));

/// Where tokens come from. The policy depends only on this trait.
pub trait TokenSource {
    /// Fetches a token for `registry` as `profile` (or the default chain when `None`), giving up
    /// after `budget`.
    fn fetch(
        &self,
        registry: &Registry,
        profile: Option<&str>,
        budget: Duration,
    ) -> Result<Token, FetchError>;

    /// Fetches a token for the caller's own registry in `region` (the API names it in
    /// `proxy_endpoint`), as the Go helper's `list` does for the legacy `docker build`.
    fn fetch_default(&self, region: &str, budget: Duration) -> Result<Token, FetchError> {
        let registry = Registry::Private {
            host: format!("the default registry in {region}"),
            account: String::new(),
            region: region.to_owned(),
            fips: false,
            dual_stack: false,
        };
        self.fetch(&registry, None, budget)
    }
}

/// The AWS SDK implementation.
pub struct Aws<'a> {
    pub config: &'a Config,
}

impl TokenSource for Aws<'_> {
    fn fetch(
        &self,
        registry: &Registry,
        profile: Option<&str>,
        budget: Duration,
    ) -> Result<Token, FetchError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FetchError::Config(format!("cannot start the async runtime: {e}")))?;
        rt.block_on(async {
            match tokio::time::timeout(budget, self.fetch_async(registry, profile)).await {
                Ok(r) => r,
                Err(_) => Err(FetchError::Timeout(format!(
                    "no token after {:.1} s",
                    budget.as_secs_f64()
                ))),
            }
        })
    }
}

impl Aws<'_> {
    async fn fetch_async(
        &self,
        registry: &Registry,
        profile: Option<&str>,
    ) -> Result<Token, FetchError> {
        let http = http_client(self.config)?;
        let region = Region::new(registry.region().to_owned());
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .operation_attempt_timeout(READ_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();

        // Credentials first, on their own, so a failure is reported as what it is.
        let provider_config = ProviderConfig::default()
            .with_http_client(http.clone())
            .with_region(Some(region.clone()))
            .with_timeout_config(timeouts.clone());
        // A mapping's profile wins over everything, environment keys included, so it gets the
        // profile provider alone; otherwise the whole default chain.
        let chain: SharedCredentialsProvider = match profile {
            Some(p) => SharedCredentialsProvider::new(
                ProfileFileCredentialsProvider::builder()
                    .configure(&provider_config)
                    .profile_name(p)
                    .build(),
            ),
            None => {
                // IMDS: one short attempt (SPEC: no credentials must fail within about 1 s).
                let imds = imds::Client::builder()
                    .configure(&provider_config)
                    .max_attempts(1)
                    .connect_timeout(IMDS_TIMEOUT)
                    .read_timeout(IMDS_TIMEOUT)
                    .operation_attempt_timeout(IMDS_TIMEOUT)
                    .operation_timeout(IMDS_TIMEOUT)
                    .build();
                SharedCredentialsProvider::new(
                    DefaultCredentialsChain::builder()
                        .configure(provider_config)
                        .region(region.clone())
                        .imds_client(imds)
                        .build()
                        .await,
                )
            }
        };
        let credentials =
            match tokio::time::timeout(CREDENTIALS_TIMEOUT, chain.provide_credentials()).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    return Err(credentials_error(&e, &Identity::of(self.config, profile)));
                }
                Err(_) => {
                    return Err(FetchError::Timeout(format!(
                        "loading AWS credentials took more than {} s",
                        CREDENTIALS_TIMEOUT.as_secs()
                    )));
                }
            };

        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .http_client(http)
            .timeout_config(timeouts)
            .credentials_provider(SharedCredentialsProvider::new(credentials));
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let sdk = loader.load().await;
        // A host's FIPS / dual-stack name selects that endpoint by itself, unless the user chose
        // an endpoint explicitly: the SDK's rules refuse both at once (SPEC §3).
        let custom_endpoint = sdk.endpoint_url().is_some()
            || std::env::var_os(match registry {
                Registry::Private { .. } => "AWS_ENDPOINT_URL_ECR",
                Registry::Public { .. } => "AWS_ENDPOINT_URL_ECR_PUBLIC",
            })
            .is_some_and(|v| !v.is_empty());
        let fips = registry.is_fips() && !custom_endpoint;
        let dual = registry.is_dual_stack() && !custom_endpoint;

        match registry {
            Registry::Private { .. } => {
                let mut conf = aws_sdk_ecr::config::Builder::from(&sdk);
                if fips {
                    conf = conf.use_fips(true);
                }
                if dual {
                    conf = conf.use_dual_stack(true);
                }
                let client = aws_sdk_ecr::Client::from_conf(conf.build());
                let out = client
                    .get_authorization_token()
                    .customize()
                    .mutate_request(add_user_agent)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&e))?;
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
            Registry::Public { .. } => {
                let mut conf = aws_sdk_ecrpublic::config::Builder::from(&sdk);
                if fips {
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
                let data = out
                    .authorization_data()
                    .ok_or_else(|| FetchError::BadResponse("no authorizationData".into()))?;
                token(
                    data.authorization_token(),
                    data.expires_at().map(|t| t.secs()),
                    None,
                )
            }
        }
    }
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
    Ok(Token {
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
            let pem = fs::read(path).map_err(|e| {
                FetchError::Config(format!("AWS_CA_BUNDLE {}: {e}", path.display()))
            })?;
            check_pem_bundle(&pem).map_err(|m| {
                FetchError::Config(format!("AWS_CA_BUNDLE {}: {m}", path.display()))
            })?;
            TrustStore::empty().with_pem_certificate(pem)
        }
    };
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| FetchError::Config(format!("TLS setup: {e}")))?;
    Ok(
        HttpClientBuilder::new().build_with_connector_fn(move |settings, components| {
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
        }),
    )
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
    if identity.summary == FALLBACK_SUMMARY {
        return FetchError::NoCredentials(format!(
            "no keys in the environment, no profile, no web identity, no container credentials, and instance metadata: {text}"
        ));
    }
    if let Some(p) = &identity.sso_profile {
        return FetchError::Credentials(format!(
            "{text}; the SSO session may have expired: run `aws sso login --profile {p}`"
        ));
    }
    match e {
        CredentialsError::CredentialsNotLoaded(_) => FetchError::NoCredentials(text),
        CredentialsError::ProviderTimedOut(_) => FetchError::Timeout(text),
        _ => FetchError::Credentials(text),
    }
}

pub(crate) fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
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
        SdkError::DispatchFailure(_) => FetchError::Network(chain_text(e)),
        SdkError::ResponseError(_) => FetchError::BadResponse(chain_text(e)),
        _ => FetchError::Network(chain_text(e)),
    }
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

/// Seconds since the epoch.
pub fn unix_now(now: SystemTime) -> u64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
