//! The kubelet's door: the exec image credential provider protocol
//! (`credentialprovider.kubelet.k8s.io/v1`), a second front onto the same policy as `get`.
//!
//! The kubelet runs the file named like the provider in its `CredentialProviderConfig`
//! (`ecr-credential-provider`, the name cloud-provider-aws's provider has), writes one
//! `CredentialProviderRequest` on stdin and reads one `CredentialProviderResponse` from stdout.
//! Failures are one line on stderr (the kubelet logs it) and exit 1, with nothing on stdout.
//!
//! | request                                       | token of                                      |
//! |-----------------------------------------------|-----------------------------------------------|
//! | ECR or ECR Public image, or a mapped host      | that registry, exactly as `get` (shared cache) |
//! | any other host (a mirror routed here)          | the caller's registry in `AWS_REGION`          |
//! | with `serviceAccountToken`                     | the above, as the role (AssumeRoleWithWebIdentity), cached per service account and role; no role: refused |
//!
//! `cacheDuration` is the time until our own refresh point (half the token's life), so the
//! kubelet's memory cache expires when our disk cache would fetch anew. This module parses the
//! wire and renders the answer; the policy stays in `helper.rs`, AWS in `ecr.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::process::ExitCode;

use base64::Engine as _;
use serde::Deserialize;
use tracing::info;

use crate::config::Config;
use crate::context::{Context, Run};
use crate::digest::sha256_hex;
use crate::ecr::{Target, TokenSource, WebIdentity};
use crate::error::render;
use crate::helper::{self, GetOutcome};
use crate::identity::{AwsFilesOnce, CredentialSource, Identity};
use crate::registry::{self, Registry};
use crate::secret::Secret;

/// The file name the kubelet runs (its `CredentialProviderConfig` names the provider so).
pub const PROVIDER_NAME: &str = "ecr-credential-provider";
/// The subcommand of `docker-credential-ecr-login` that is this door.
pub const ACTION: &str = "kubelet";
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
pub const REQUEST_KIND: &str = "CredentialProviderRequest";
pub const RESPONSE_KIND: &str = "CredentialProviderResponse";
/// The service-account annotation naming the role to assume (cloud-provider-aws's name).
pub const ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";
/// The role session name cloud-provider-aws uses (visible in CloudTrail).
pub const SESSION_NAME: &str = "ecr-credential-provider";
/// The largest request read (64 KiB, as `get`'s input): a real one is an image reference (under
/// 1 KB), a service account token (a few KB; STS takes at most 20,000 characters) and the few
/// annotations the provider's `tokenAttributes` name (a role ARN: at most 2,048). Past it the
/// request is refused before anything of it is parsed, logged or sent.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// The longest role ARN IAM accepts (STS's `RoleArn` constraint): a longer one is refused
/// before any call.
pub const MAX_ROLE_ARN: usize = 2048;
/// The longest DNS name: an image whose host is longer names no registry.
const MAX_HOST: usize = 253;

/// A `CredentialProviderRequest`, checked.
#[derive(Debug)]
pub struct Request {
    pub image: String,
    /// Sent when the provider's `tokenAttributes` ask for it (kubelet 1.33+, KEP-4412).
    pub service_account_token: Option<Secret<String>>,
    pub service_account_annotations: BTreeMap<String, String>,
}

/// Why a request is refused: its one stderr line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    Read(String),
    TooLarge,
    NotJson(String),
    ApiVersion(String),
    Kind(String),
    EmptyImage,
    BadImage(String),
}

/// An untrusted value as a message quotes it: Debug-quoted, then cut ([`crate::text::shown`]).
fn quoted(s: &str) -> String {
    crate::text::shown(&format!("{s:?}"))
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Read(e) => write!(f, "cannot read the request on stdin: {e}"),
            RequestError::TooLarge => write!(
                f,
                "the request on stdin is larger than {MAX_REQUEST} bytes (not a CredentialProviderRequest)"
            ),
            RequestError::NotJson(e) => write!(
                f,
                "the request on stdin is not a JSON CredentialProviderRequest: {e}"
            ),
            RequestError::ApiVersion(v) => write!(
                f,
                "apiVersion {} is not supported (expected {API_VERSION:?}; set apiVersion: {API_VERSION} in the kubelet's CredentialProviderConfig)",
                quoted(v)
            ),
            RequestError::Kind(k) => {
                write!(f, "kind was {}, expected {REQUEST_KIND}", quoted(k))
            }
            RequestError::EmptyImage => f.write_str("image in plugin request was empty"),
            RequestError::BadImage(image) => {
                write!(
                    f,
                    "cannot tell the registry host of image {}",
                    quoted(image)
                )
            }
        }
    }
}

#[derive(Deserialize)]
struct WireRequest {
    kind: Option<String>,
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    image: Option<String>,
    #[serde(rename = "serviceAccountToken")]
    service_account_token: Option<String>,
    #[serde(rename = "serviceAccountAnnotations")]
    service_account_annotations: Option<BTreeMap<String, String>>,
}

/// Parses a request as the Kubernetes decoder would accept it: unknown fields are ignored (newer
/// kubelets may send more), the version is checked before the kind, as the reference does.
pub fn parse_request(bytes: &[u8]) -> Result<Request, RequestError> {
    let wire: WireRequest = serde_json::from_slice(bytes).map_err(|e| {
        // Not serde's text: it quotes the offending value, which may be the token.
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Eof => "it ends early",
            Category::Syntax => "malformed JSON",
            Category::Data => "not an object of the API's fields, or a field of the wrong type",
            Category::Io => "unreadable",
        };
        RequestError::NotJson(format!("{what} (line {}, column {})", e.line(), e.column()))
    })?;
    let version = wire.api_version.unwrap_or_default();
    if version != API_VERSION {
        return Err(RequestError::ApiVersion(version));
    }
    let kind = wire.kind.unwrap_or_default();
    if kind != REQUEST_KIND {
        return Err(RequestError::Kind(kind));
    }
    let image = wire.image.unwrap_or_default();
    if image.is_empty() {
        return Err(RequestError::EmptyImage);
    }
    Ok(Request {
        image,
        service_account_token: wire
            .service_account_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        service_account_annotations: wire.service_account_annotations.unwrap_or_default(),
    })
}

/// The registry host of an image reference, as the reference takes it (`url.Parse` of the image,
/// with `https://` put in front when it has no scheme, then `Hostname()`): no port, no path;
/// and no longer than a DNS name can be.
pub fn image_host(image: &str) -> Result<&str, RequestError> {
    let bad = || RequestError::BadImage(image.to_owned());
    let rest = match image.split_once("://") {
        Some((_, rest)) => rest,
        None => image,
    };
    let host = registry::host_of(rest).ok_or_else(bad)?;
    if host.len() > MAX_HOST
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(bad());
    }
    Ok(host)
}

/// A Go `time.Duration` string of whole seconds, as `metav1.Duration` marshals it:
/// `0s`, `45s`, `10m0s`, `5h59m30s`.
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// A JSON string as Go's `encoding/json` writes it (the kubelet's own encoder): `<`, `>`, `&`,
/// U+2028 and U+2029 escaped, control characters as `\u00XX` except `\n`, `\r`, `\t`.
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The response, byte for byte as the Kubernetes JSON encoder writes a `CredentialProviderResponse`
/// (fields in the type's order, a trailing newline).
pub fn render_response(host: &str, password: &Secret<String>, cache_secs: u64) -> String {
    let mut out = String::with_capacity(256 + password.expose().len());
    out.push_str("{\"kind\":\"");
    out.push_str(RESPONSE_KIND);
    out.push_str("\",\"apiVersion\":\"");
    out.push_str(API_VERSION);
    out.push_str("\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"");
    out.push_str(&go_duration(cache_secs));
    out.push_str("\",\"auth\":{");
    go_json_string(host, &mut out);
    out.push_str(":{\"username\":\"AWS\",\"password\":");
    go_json_string(password.expose(), &mut out);
    out.push_str("}}}\n");
    out
}

/// The service account a token names: its JWT payload's claims, read without checking the
/// signature (this only keys the cache; STS checks the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// `iss`: the cluster's issuer (empty when absent).
    pub iss: String,
    /// `sub`: `system:serviceaccount:NAMESPACE:NAME`.
    pub sub: String,
    /// The service account's UID, when the token carries it: a service account deleted and
    /// created again under the same name is another account.
    pub uid: Option<String>,
}

/// The claims of a service account token; `None` when it is not a JWT with a `sub`.
pub fn token_subject(token: &str) -> Option<TokenSubject> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let sub = text(claims.get("sub"))?;
    let iss = text(claims.get("iss")).unwrap_or_default();
    // Projected tokens (every token the kubelet sends): "kubernetes.io": {"serviceaccount":
    // {"name", "uid"}}; legacy secret-based tokens: the flat
    // "kubernetes.io/serviceaccount/service-account.uid".
    let uid = text(claims.pointer("/kubernetes.io/serviceaccount/uid"))
        .or_else(|| text(claims.get("kubernetes.io/serviceaccount/service-account.uid")));
    Some(TokenSubject { iss, sub, uid })
}

/// The cache owner of a service account's tokens for `role`: the service account the token names
/// (issuer, subject and UID: what a role's trust policy decides on, and which account of that
/// name) and the role, over the node's identity (which carries the endpoint settings). Never the
/// role alone: whoever creates a service account sets its annotation, and a cache must not bypass
/// STS's trust policy. A token that is not a JWT owns its entries alone. The parts are a JSON
/// array, so no value can pass for another's (a claim may hold any character).
///
/// The claims are not verified here: a forged token naming another account is served that
/// account's cached token without an STS call. Whoever can run this provider against the node's
/// cache is trusted as the kubelet is (docs/kubelet.md, "Trust boundary").
pub fn service_account_identity(
    cfg: &Config,
    aws: &AwsFilesOnce,
    role_arn: &str,
    token: &str,
) -> Identity {
    let mut identity = Identity::of(cfg, aws, None);
    let (canon, subject) = match token_subject(token) {
        Some(TokenSubject { iss, sub, uid }) => (
            serde_json::json!([
                "kubelet service account",
                identity.id,
                role_arn,
                iss,
                sub,
                uid
            ]),
            crate::text::shown(&sub),
        ),
        None => (
            serde_json::json!([
                "kubelet service account token",
                identity.id,
                role_arn,
                sha256_hex(token.as_bytes())
            ]),
            "a token that is not a JWT".to_owned(),
        ),
    };
    identity.id = sha256_hex(canon.to_string().as_bytes());
    identity.source = CredentialSource::ServiceAccount {
        subject,
        role: crate::text::shown(role_arn),
    };
    identity.web_identity_files.clear();
    identity
}

/// What the kubelet asked for, decided: whose token, for which registry.
struct Plan {
    /// The registry whose token answers, or `None`: the caller's default registry in `region`.
    registry: Option<Registry>,
    region: String,
    /// The identity that owns the cached token.
    identity: Identity,
    /// `Some`: the request goes through `helper::get`'s policy as the Docker door's would, for
    /// this server URL and its caller (resolved once, here).
    get: Option<(String, helper::Caller)>,
    /// What stderr calls the target when it fails.
    label: String,
}

pub const HELP: &str =
    "ecr-credential-provider: the kubelet's image credential provider for Amazon ECR and ECR Public

Usage: ecr-credential-provider [ARGS...]   (or: docker-credential-ecr-login kubelet [ARGS...])
  reads a credentialprovider.kubelet.k8s.io/v1 CredentialProviderRequest on stdin and prints a
  CredentialProviderResponse (cacheKeyType Registry, cacheDuration until our refresh point);
  arguments are accepted and ignored. On failure: one line on stderr, nothing on stdout, exit 1.

  ECR and ECR Public images get their registry's token (the same disk cache as `get`);
  other hosts routed here by matchImages get the caller's registry in AWS_REGION, or the
  registry the settings file names for that host.
  With serviceAccountToken (tokenAttributes), the role in the service account's annotation
  eks.amazonaws.com/ecr-role-arn (else AWS_ECR_ROLE_ARN) is assumed with
  AssumeRoleWithWebIdentity (session ecr-credential-provider); its tokens are cached per
  service account and role. With a token and no role, the request fails: the node's own
  credentials never answer for a service account.

See docs/kubelet.md, and `docker-credential-ecr-login --help` for the environment variables.";

/// Runs one kubelet request. `args` (after the program name, or after `kubelet`) are ignored,
/// but for `-h`/`--help` and `-v`/`--version`.
pub fn run(args: &[String], io: &mut Run<'_>) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => return line(io.stdout, HELP),
        Some("-v" | "--version" | "version") => {
            return line(io.stdout, &crate::protocol::version());
        }
        _ => {}
    }
    let stdout = &mut *io.stdout;
    match answer(io.cfg, io.stdin, io.stderr, io.now, io.source) {
        Ok(body) => {
            if stdout
                .write_all(body.as_bytes())
                .and_then(|()| stdout.flush())
                .is_ok()
            {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(why) => {
            // Bounded whatever the request held (its values are cut where they are quoted).
            let why = crate::text::printable_cut(&why, crate::text::MAX_LINE);
            info!(error = %why, "kubelet: no credentials");
            let _ = writeln!(io.stderr, "{PROVIDER_NAME}: {why}");
            ExitCode::FAILURE
        }
    }
}

fn line(out: &mut dyn Write, text: &str) -> ExitCode {
    match crate::protocol::write_line(out, text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// The response body, or the stderr line.
fn answer(
    cfg: &Config,
    stdin: &mut dyn Read,
    stderr: &mut dyn Write,
    now: u64,
    source: &dyn TokenSource,
) -> Result<String, String> {
    let mut buf = Vec::new();
    stdin
        .take(MAX_REQUEST + 1)
        .read_to_end(&mut buf)
        .map_err(|e| RequestError::Read(e.to_string()).to_string())?;
    if buf.len() as u64 > MAX_REQUEST {
        return Err(RequestError::TooLarge.to_string());
    }
    let request = parse_request(&buf).map_err(|e| e.to_string())?;
    let host = image_host(&request.image).map_err(|e| e.to_string())?;

    let role = match &request.service_account_token {
        Some(token) => Some(WebIdentity {
            role_arn: service_account_role(cfg, &request)?,
            session_name: SESSION_NAME.to_owned(),
            token: token.clone(),
        }),
        None => None,
    };
    let ctx = Context::new(cfg, now);
    let mut plan = plan(&ctx, host, role.as_ref())?;
    info!(
        host,
        registry = plan.target().name(),
        identity = %plan.identity.source,
        service_account = role.is_some(),
        "kubelet: request"
    );
    let answer = match plan.get.take() {
        Some((url, caller)) => helper::get_resolved(&ctx, caller, &url, source),
        None => helper::get_as(&ctx, plan.target(), &plan.identity, role.as_ref(), source),
    };
    for w in &answer.warnings {
        let w = crate::text::printable_cut(w, crate::text::MAX_LINE);
        let _ = writeln!(stderr, "{PROVIDER_NAME}: {w}");
    }
    let found = match answer.outcome {
        GetOutcome::Found(found) => found,
        GetOutcome::NotEcr => return Err(format!("{}: not an ECR registry", plan.label)),
        GetOutcome::Unavailable { error: why, .. } => {
            crate::error::pass_through_child_stderr(&why, stderr);
            return Err(format!("{}: {}", plan.label, render(&why)));
        }
    };
    // `cacheDuration`: until our own refresh point, whether the token was fetched now or cached.
    let cache_secs = found.refresh_in(now);
    Ok(render_response(host, &found.password, cache_secs))
}

/// The role a request with a service account token assumes: the service account's annotation if
/// set and not empty, else `AWS_ECR_ROLE_ARN` (cloud-provider-aws's provider takes an empty
/// annotation too, and then fails). No role is an error, never the node's credentials: the
/// operator who gave this provider service account tokens asked for per-pod roles, and a tenant
/// who can annotate its own service account (with an empty value, say) must not get tokens
/// fetched with the node's role.
fn service_account_role(cfg: &Config, request: &Request) -> Result<String, String> {
    let annotated = request
        .service_account_annotations
        .get(ROLE_ANNOTATION)
        .filter(|a| !a.is_empty());
    let role = annotated
        .or(cfg.kubelet_role_arn.as_ref())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            format!(
                "the request carries a service account token but names no role to assume: annotate the service account with {ROLE_ANNOTATION} or set AWS_ECR_ROLE_ARN in the provider's env (the node's own credentials never answer for a service account)"
            )
        })?;
    if role.len() > MAX_ROLE_ARN {
        return Err(format!(
            "the role to assume ({}) is {} bytes long, more than an IAM role ARN can be ({MAX_ROLE_ARN})",
            quoted(role),
            role.len()
        ));
    }
    Ok(role.clone())
}

/// Decides the registry and the identity of a request.
fn plan(ctx: &Context<'_>, host: &str, role: Option<&WebIdentity>) -> Result<Plan, String> {
    let cfg = ctx.cfg;
    let resolved = helper::resolve_for(ctx, host).map_err(|e| format!("{host}: {e}"))?;
    let (registry, region, identity, get, label) = match resolved {
        Some(r) => {
            let label = if r.registry.host() == host {
                host.to_owned()
            } else {
                format!("{host} (registry {})", r.registry.host())
            };
            let region = r.registry.region().to_owned();
            (
                Some(r.registry.clone()),
                region,
                r.identity.clone(),
                Some((host.to_owned(), r)),
                label,
            )
        }
        None => {
            let region = crate::identity::default_region(cfg, &ctx.aws).ok_or_else(|| {
                format!(
                    "{host} is not an ECR registry and no region is set: set AWS_REGION or the profile's region (the caller's registry there answers for it, as with cloud-provider-aws), or map {host} to a registry in the settings file"
                )
            })?;
            (
                None,
                region.to_owned(),
                Identity::of(cfg, &ctx.aws, None),
                None,
                format!("{host} (the caller's registry in {region})"),
            )
        }
    };
    Ok(match role {
        None => Plan {
            registry,
            region,
            identity,
            get,
            label,
        },
        Some(role) => Plan {
            identity: service_account_identity(cfg, &ctx.aws, &role.role_arn, role.token.expose()),
            registry,
            region,
            get: None,
            label,
        },
    })
}

impl Plan {
    fn target(&self) -> Target<'_> {
        match &self.registry {
            Some(r) => Target::Registry(r),
            None => Target::DefaultRegistry {
                region: &self.region,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"test.registry.io/foobar"}"#;

    #[test]
    fn go_durations_match_metav1_duration_strings() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(600), "10m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(21_570), "5h59m30s");
        assert_eq!(go_duration(21_600), "6h0m0s");
        assert_eq!(go_duration(90_061), "25h1m1s");
    }

    #[test]
    fn the_references_golden_request_parses() {
        let r = parse_request(REQ.as_bytes()).unwrap();
        assert_eq!(r.image, "test.registry.io/foobar");
        assert!(r.service_account_token.is_none());
        assert!(r.service_account_annotations.is_empty());
    }

    #[test]
    fn wrong_kind_version_empty_image_and_garbage_are_refused() {
        let bad_kind = REQ.replace("CredentialProviderRequest", "CredentialProviderFoo");
        assert_eq!(
            parse_request(bad_kind.as_bytes()).unwrap_err(),
            RequestError::Kind("CredentialProviderFoo".into())
        );
        let bad_version = REQ.replace("credentialprovider.kubelet.k8s.io/v1", "foo.k8s.io/v1");
        assert_eq!(
            parse_request(bad_version.as_bytes()).unwrap_err(),
            RequestError::ApiVersion("foo.k8s.io/v1".into())
        );
        let empty = REQ.replace("test.registry.io/foobar", "");
        assert_eq!(
            parse_request(empty.as_bytes()).unwrap_err(),
            RequestError::EmptyImage
        );
        for garbage in ["", "{", "[]", "null", "\"x\"", "\u{0}"] {
            assert!(
                matches!(
                    parse_request(garbage.as_bytes()),
                    Err(RequestError::NotJson(_))
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored_like_the_kubernetes_decoder() {
        let r = parse_request(
            br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x.io/y","future":{"a":1},"serviceAccountToken":"t","serviceAccountAnnotations":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(r.service_account_token.unwrap().expose(), "t");
        assert_eq!(r.service_account_annotations["k"], "v");
    }

    #[test]
    fn image_hosts_are_taken_as_the_reference_takes_them() {
        for (image, host) in [
            (
                "123456789123.dkr.ecr.us-west-2.amazonaws.com/foo/bar:1.0",
                "123456789123.dkr.ecr.us-west-2.amazonaws.com",
            ),
            (
                "123456789123.dkr.ecr.us-west-2.amazonaws.com/public.ecr.aws/foo:latest",
                "123456789123.dkr.ecr.us-west-2.amazonaws.com",
            ),
            ("http://foobar", "foobar"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io"),
            (
                "mirror.example.com:5000/x/y@sha256:abcd",
                "mirror.example.com",
            ),
            ("public.ecr.aws", "public.ecr.aws"),
        ] {
            assert_eq!(image_host(image), Ok(host), "{image}");
        }
        for bad in ["foobar  ", "nginx:latest", "a b/c", "/x", "[::1]:5000/x"] {
            assert!(image_host(bad).is_err(), "{bad}");
        }
        // No longer than a DNS name.
        let label = "a".repeat(63);
        let longest = format!("{label}.{label}.{label}.{}", "a".repeat(61));
        assert_eq!(longest.len(), 253);
        assert_eq!(image_host(&format!("{longest}/x")), Ok(longest.as_str()));
        assert!(image_host(&format!("{longest}a/x")).is_err());
    }

    #[test]
    fn the_references_golden_response_is_rendered_byte_for_byte() {
        // plugin_test.go's expected output, with its host and password.
        let out = render_response("*.registry.io", &Secret::new("password".into()), 600);
        assert_eq!(
            out.replace("\"AWS\"", "\"user\""),
            "{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"10m0s\",\"auth\":{\"*.registry.io\":{\"username\":\"user\",\"password\":\"password\"}}}\n"
        );
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let mut s = String::new();
        go_json_string("a<b>&\"\\\n\u{1}\u{2028}é", &mut s);
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\\u2028é\"");
    }

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(claims))
    }

    #[test]
    fn the_token_names_its_service_account() {
        let t = jwt(r#"{"iss":"https://oidc.example","sub":"system:serviceaccount:ns:app"}"#);
        assert_eq!(
            token_subject(&t),
            Some(TokenSubject {
                iss: "https://oidc.example".into(),
                sub: "system:serviceaccount:ns:app".into(),
                uid: None,
            })
        );
        assert_eq!(token_subject("DEADBEEF="), None);
        assert_eq!(token_subject(&jwt(r#"{"iss":"x"}"#)), None);
    }

    #[test]
    fn the_service_accounts_uid_is_read_from_projected_and_legacy_tokens() {
        let projected = jwt(
            r#"{"iss":"i","sub":"system:serviceaccount:ns:app","kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"app","uid":"u-1"}}}"#,
        );
        assert_eq!(
            token_subject(&projected).unwrap().uid.as_deref(),
            Some("u-1")
        );
        let legacy = jwt(
            r#"{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:ns:app","kubernetes.io/serviceaccount/service-account.uid":"u-2"}"#,
        );
        assert_eq!(token_subject(&legacy).unwrap().uid.as_deref(), Some("u-2"));
    }

    #[test]
    fn tokens_are_keyed_by_service_account_and_role_never_by_role_alone() {
        let cfg = Config::from_lookup(|_| None, None);
        let role = "arn:aws:iam::123456789012:role/pull";
        let a = jwt(r#"{"iss":"i","sub":"system:serviceaccount:ns:a"}"#);
        let a2 = jwt(r#"{"iss":"i","sub":"system:serviceaccount:ns:a","exp":2}"#);
        let b = jwt(r#"{"iss":"i","sub":"system:serviceaccount:ns:b"}"#);
        let other_cluster = jwt(r#"{"iss":"j","sub":"system:serviceaccount:ns:a"}"#);
        let id = |r: &str, t: &str| service_account_identity(&cfg, &Default::default(), r, t).id;
        assert_eq!(
            id(role, &a),
            id(role, &a2),
            "a new token of the same account"
        );
        assert_ne!(id(role, &a), id(role, &b));
        assert_ne!(id(role, &a), id(role, &other_cluster));
        assert_ne!(id(role, &a), id("arn:aws:iam::123456789012:role/other", &a));
        assert_ne!(id(role, &a), Identity::of_fresh(&cfg, None).id);
        assert_ne!(id(role, "opaque-1"), id(role, "opaque-2"));
    }

    #[test]
    fn no_claim_can_pass_for_another_in_the_key() {
        let cfg = Config::from_lookup(|_| None, None);
        let role = "arn:aws:iam::123456789012:role/pull";
        let id = |t: &str| service_account_identity(&cfg, &Default::default(), role, t).id;
        // A newline moved from one claim to the next.
        let (a, b) = (
            jwt(r#"{"iss":"I","sub":"X\nY"}"#),
            jwt(r#"{"iss":"I\nX","sub":"Y"}"#),
        );
        assert_eq!(token_subject(&a).unwrap().sub, "X\nY");
        assert_eq!(token_subject(&b).unwrap().iss, "I\nX");
        assert_ne!(id(&a), id(&b));
        // The role and the claims, likewise.
        assert_ne!(
            service_account_identity(
                &cfg,
                &Default::default(),
                "r\ni",
                &jwt(r#"{"iss":"s","sub":"t"}"#)
            )
            .id,
            service_account_identity(
                &cfg,
                &Default::default(),
                "r",
                &jwt(r#"{"iss":"i\ns","sub":"t"}"#)
            )
            .id
        );
    }

    #[test]
    fn a_service_account_created_again_under_the_same_name_is_another_owner() {
        let cfg = Config::from_lookup(|_| None, None);
        let role = "arn:aws:iam::123456789012:role/pull";
        let token = |uid: &str, pod: &str| {
            jwt(&format!(
                r#"{{"iss":"i","sub":"system:serviceaccount:ns:app","kubernetes.io":{{"namespace":"ns","pod":{{"name":"{pod}"}},"serviceaccount":{{"name":"app","uid":"{uid}"}}}}}}"#
            ))
        };
        let id = |t: &str| service_account_identity(&cfg, &Default::default(), role, t).id;
        assert_eq!(
            id(&token("u-1", "p1")),
            id(&token("u-1", "p2")),
            "same account"
        );
        assert_ne!(
            id(&token("u-1", "p1")),
            id(&token("u-2", "p1")),
            "recreated"
        );
        let flat = |uid: &str| {
            jwt(&format!(
                r#"{{"iss":"i","sub":"system:serviceaccount:ns:app","kubernetes.io/serviceaccount/service-account.uid":"{uid}"}}"#
            ))
        };
        assert_ne!(id(&flat("u-1")), id(&flat("u-2")));
    }

    #[test]
    fn a_huge_claim_or_role_is_shown_cut() {
        let cfg = Config::from_lookup(|_| None, None);
        let sub = "s".repeat(30_000);
        let t = jwt(&format!(r#"{{"iss":"i","sub":"{sub}"}}"#));
        let summary = service_account_identity(&cfg, &Default::default(), &"r".repeat(3000), &t)
            .source
            .to_string();
        assert!(
            summary.len() < 2 * crate::text::MAX_SHOWN + 100,
            "{}",
            summary.len()
        );
    }

    /// One kubelet request through [`run`], answered by the fuzz fake.
    fn kubelet(cfg: &Config, request: &str) -> (ExitCode, String, String, usize) {
        let source = crate::ecr::fake::FakeSource::new(Some(Some(43_200)), 1_800_000_000);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(
            &[],
            &mut Run {
                cfg,
                now: source.now,
                source: &source,
                stdin: &mut request.as_bytes(),
                stdout: &mut out,
                stderr: &mut err,
            },
        );
        let asked = source.asked.borrow().len();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            asked,
        )
    }

    fn sa_request(token: &str, annotation: Option<&str>) -> String {
        let annotations = annotation.map_or_else(String::new, |a| {
            format!(r#","serviceAccountAnnotations":{{"{ROLE_ANNOTATION}":"{a}"}}"#)
        });
        format!(
            r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/app","serviceAccountToken":"{token}"{annotations}}}"#
        )
    }

    #[test]
    fn a_service_account_token_without_a_role_never_gets_the_nodes_token() {
        let cfg = Config::from_pairs(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ECR_DISABLE_CACHE", "1"),
        ]);
        let token = jwt(r#"{"iss":"i","sub":"system:serviceaccount:ns:app"}"#);
        // No annotation, an empty one: no variable to fall back on.
        for annotation in [None, Some("")] {
            let (code, out, err, asked) = kubelet(&cfg, &sa_request(&token, annotation));
            assert_eq!(
                (code, out.as_str(), asked),
                (ExitCode::FAILURE, "", 0),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("names no role"), "{err}");
            assert!(err.contains(ROLE_ANNOTATION) && err.contains("AWS_ECR_ROLE_ARN"));
        }
        // Without a token, the node's credentials answer as before.
        let (code, _, err, asked) = kubelet(&cfg, REQ_ECR);
        assert_eq!((code, asked), (ExitCode::SUCCESS, 1), "{err}");
    }

    #[test]
    fn an_empty_annotation_does_not_escape_aws_ecr_role_arn() {
        let role = "arn:aws:iam::123456789012:role/pull";
        let cfg = Config::from_pairs(&[("AWS_ECR_ROLE_ARN", role)]);
        let request = parse_request(sa_request("t", Some("")).as_bytes()).unwrap();
        assert_eq!(service_account_role(&cfg, &request).as_deref(), Ok(role));
        let request = parse_request(sa_request("t", Some("arn:x")).as_bytes()).unwrap();
        assert_eq!(service_account_role(&cfg, &request).as_deref(), Ok("arn:x"));
        let long = "r".repeat(MAX_ROLE_ARN + 1);
        let request = parse_request(sa_request("t", Some(&long)).as_bytes()).unwrap();
        let err = service_account_role(&cfg, &request).unwrap_err();
        assert!(err.len() < 2 * crate::text::MAX_SHOWN, "{err}");
    }

    #[test]
    fn no_request_value_makes_a_long_stderr_line() {
        let cfg = Config::from_pairs(&[("AWS_ECR_DISABLE_CACHE", "1")]);
        let big = "a".repeat(60_000);
        for request in [
            REQ.replace("test.registry.io/foobar", &format!("{big} ")),
            REQ.replace("test.registry.io/foobar", &format!("{big}/x")),
            REQ.replace("CredentialProviderRequest", &big),
            REQ.replace("credentialprovider.kubelet.k8s.io/v1", &big),
        ] {
            let (code, _, err, asked) = kubelet(&cfg, &request);
            assert_eq!((code, asked), (ExitCode::FAILURE, 0));
            assert_eq!(err.lines().count(), 1);
            assert!(
                err.len() < 2 * crate::text::MAX_SHOWN,
                "{} bytes",
                err.len()
            );
        }
    }

    const REQ_ECR: &str = r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/app"}"#;
}
