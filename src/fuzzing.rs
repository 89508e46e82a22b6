//! Entry points for the cargo-fuzz targets in `fuzz/` (`make fuzz`): thin wrappers that take bytes
//! as they arrive from outside and feed them through the code the helper runs on them.
//!
//! Compiled only for fuzzing (`cfg(fuzzing)`, which cargo-fuzz sets): not in the shipped library.
//! Not an interface (hidden from the docs, free to change). It must not touch the network or the
//! process environment: the token source is a fake, the configuration comes from a lookup, and the
//! ECR API is a canned HTTP answer given to the SDK's own deserializer.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_ecr::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;

use crate::cache::CacheEntry;
use crate::config::Config;
use crate::ecr::{FetchError, Token, TokenSource};
use crate::settings::{Settings, SettingsError};

pub use crate::ecr::fake::{FAKE_PASSWORD, FakeSource};

/// A configuration from `vars` alone (no process environment, no password database).
pub fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_pairs(vars)
}

/// What one [`crate::run`] printed.
pub struct RunOutput {
    pub code: ExitCode,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// [`crate::run`] with `stdin` as the input and captured stdout/stderr, as `main` calls it.
pub fn run(
    args: &[&str],
    cfg: &Config,
    stdin: &[u8],
    now: u64,
    source: &dyn TokenSource,
) -> RunOutput {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = crate::run(
        &args,
        cfg,
        &mut Cursor::new(stdin),
        &mut stdout,
        &mut stderr,
        SystemTime::UNIX_EPOCH + Duration::from_secs(now),
        source,
    );
    RunOutput {
        code,
        stdout,
        stderr,
    }
}

/// The bytes of `tokens/<key>.json` as the cache reads them.
pub fn parse_cache_entry(bytes: &[u8]) -> Option<CacheEntry> {
    crate::cache::parse_entry(bytes)
}

/// The bytes of the per-registry settings file as [`Settings::load`] reads them.
pub fn parse_settings(bytes: &[u8]) -> Result<Settings, SettingsError> {
    Settings::from_bytes(Path::new("config.json"), bytes)
}

/// An AWS config or credentials file as the identity reads it (`None`: not UTF-8, which the
/// identity treats as an empty file).
pub fn parse_aws_ini(bytes: &[u8]) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
    std::str::from_utf8(bytes)
        .ok()
        .map(crate::identity::parse_ini)
}

/// Our decoding of `authorizationToken` and `expiresAt` (epoch seconds).
pub fn decode_token(encoded: Option<&str>, expires_at: Option<i64>) -> Result<Token, FetchError> {
    crate::ecr::token(encoded, expires_at, None)
}

/// A canned HTTP answer: every request gets the status and body last set.
#[derive(Debug, Clone, Default)]
struct Canned(Arc<Mutex<(u16, Vec<u8>)>>);

impl HttpConnector for Canned {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let (status, body) = self.0.lock().expect("not poisoned").clone();
        let status = StatusCode::try_from(status)
            .unwrap_or_else(|_| StatusCode::try_from(500).expect("500 is a status code"));
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, body.into())))
    }
}

impl HttpClient for Canned {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

struct Api {
    rt: tokio::runtime::Runtime,
    canned: Canned,
    ecr: aws_sdk_ecr::Client,
    public: aws_sdk_ecrpublic::Client,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let canned = Canned::default();
        let creds = Credentials::new("AKIDFUZZ", "fuzz-secret", None, None, "fuzz");
        let region = Region::new("us-east-1");
        let ecr = aws_sdk_ecr::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(creds.clone())
            .http_client(canned.clone())
            .retry_config(aws_sdk_ecr::config::retry::RetryConfig::disabled())
            .build();
        let public = aws_sdk_ecrpublic::Config::builder()
            .behavior_version(aws_sdk_ecrpublic::config::BehaviorVersion::latest())
            .region(aws_sdk_ecrpublic::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .http_client(canned.clone())
            .retry_config(aws_sdk_ecrpublic::config::retry::RetryConfig::disabled())
            .build();
        Api {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime"),
            canned,
            ecr: aws_sdk_ecr::Client::from_conf(ecr),
            public: aws_sdk_ecrpublic::Client::from_conf(public),
        }
    })
}

/// `GetAuthorizationToken` of ECR (or ECR Public) answered with `status` and `body`: the SDK's
/// own deserializer, then our mapping of its output or error (the functions `Aws` uses).
pub fn api_answer(public: bool, status: u16, body: &[u8]) -> Result<Token, FetchError> {
    let api = api();
    *api.canned.0.lock().expect("not poisoned") = (status, body.to_vec());
    api.rt.block_on(async {
        if public {
            let out = api
                .public
                .get_authorization_token()
                .send()
                .await
                .map_err(|e| crate::ecr::sdk_error(&e))?;
            crate::ecr::public_answer(&out)
        } else {
            let out = api
                .ecr
                .get_authorization_token()
                .send()
                .await
                .map_err(|e| crate::ecr::sdk_error(&e))?;
            crate::ecr::private_answer(&out)
        }
    })
}
