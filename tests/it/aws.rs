//! A fake of every AWS endpoint the credential chain can reach, on one loopback port: ECR's
//! `GetAuthorizationToken`, STS (`AssumeRole`, `AssumeRoleWithWebIdentity`), the IAM Identity
//! Center portal (`GetRoleCredentials`), the sign-in service's token refresh (`CreateOAuth2Token`,
//! `aws login` sessions), the container credentials endpoint and the EC2 instance metadata
//! service. Both our helper and botocore are pointed at it (tests/it/chain.rs); every call is
//! recorded with the access key that signed it.
//!
//! Credentials it issues are derived from what was asked and who asked (a hash), so that two
//! clients that make the same calls with the same keys get the same keys back, and a key tells
//! where it came from: `ASIASTS…` (STS), `ASIASSO…`, `ASIALOGIN…`, `ASIACONTAINER…`, `ASIAIMDS…`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// An expiry far ahead (every SDK accepts it; nothing refreshes before it).
pub(crate) const FAR_FUTURE: &str = "2099-01-01T00:00:00Z";
/// An expiry long past.
pub(crate) const LONG_AGO: &str = "2020-01-01T00:00:00Z";
/// What the fake sign-in service answers to a refresh token that starts with this: HTTP 401,
/// `AccessDeniedException` / `TOKEN_EXPIRED` (the sign-in session itself has expired).
pub(crate) const EXPIRED_REFRESH: &str = "refresh-expired";
/// STS refuses to assume a role whose name starts with this: HTTP 403, `AccessDenied`.
pub(crate) const DENIED_ROLE: &str = "denied";

/// One call the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// `ecr`, `sts`, `sso`, `signin`, `container`, `imds`, or `unknown`.
    pub(crate) service: &'static str,
    /// The operation (`GetAuthorizationToken`, `AssumeRole`, ...) or the path.
    pub(crate) action: String,
    /// The access key id of the SigV4 signature (empty: unsigned).
    pub(crate) signer: String,
    /// The session token sent with it (`X-Amz-Security-Token`; empty: none).
    pub(crate) token: String,
    /// The region of the SigV4 signature.
    pub(crate) region: String,
    /// Form or query parameters, or the JSON body's top-level strings and numbers.
    pub(crate) params: BTreeMap<String, String>,
    /// The access key id the fake answered with, if it issued credentials.
    pub(crate) issued: Option<String>,
}

/// The fake, listening on 127.0.0.1 until dropped (the listener thread lives on, idle).
pub(crate) struct FakeAws {
    pub(crate) port: u16,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeAws {
    pub(crate) fn start() -> FakeAws {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || serve(stream, &log));
            }
        });
        FakeAws { port, calls }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every call so far, in order.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls so far, forgetting them.
    pub(crate) fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// The calls to one service.
    pub(crate) fn calls_to(&self, service: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.service == service)
            .collect()
    }

    /// The variables that send every SDK call of the chain here (IMDS and container credentials
    /// are set per case: they are credential sources of their own).
    pub(crate) fn endpoint_vars(&self) -> Vec<(&'static str, String)> {
        let url = self.url();
        vec![
            ("AWS_ENDPOINT_URL_ECR", url.clone()),
            ("AWS_ENDPOINT_URL_STS", url.clone()),
            ("AWS_ENDPOINT_URL_SSO", url.clone()),
            ("AWS_ENDPOINT_URL_SIGNIN", url),
        ]
    }
}

/// A short, stable digest of `parts` for issued keys: 16 upper-case hex digits.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02X}"))
        .collect()
}

struct Http {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Http> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), form(q)),
        None => (target, BTreeMap::new()),
    };
    Some(Http {
        method,
        path,
        query,
        headers,
        body,
    })
}

/// `a=b&c=d`, percent-decoded.
fn form(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, extra: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Call>>) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let auth = req
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default();
        // Credential=AKID/20260101/us-west-2/ecr/aws4_request
        let scope: Vec<&str> = auth
            .split("Credential=")
            .nth(1)
            .unwrap_or("")
            .split([',', ' '])
            .next()
            .unwrap_or("")
            .split('/')
            .collect();
        let signer = scope.first().unwrap_or(&"").to_string();
        let region = scope.get(2).unwrap_or(&"").to_string();
        let body = String::from_utf8_lossy(&req.body).into_owned();
        let target = req.headers.get("x-amz-target").cloned().unwrap_or_default();
        let mut call = Call {
            service: "unknown",
            action: req.path.clone(),
            signer: signer.clone(),
            token: req
                .headers
                .get("x-amz-security-token")
                .cloned()
                .unwrap_or_default(),
            region,
            params: BTreeMap::new(),
            issued: None,
        };
        let (status, ctype, extra, answer): (u16, &str, String, String) = if req.path
            == "/latest/api/token"
            && req.method == "PUT"
        {
            call.service = "imds";
            (
                200,
                "text/plain",
                "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n".into(),
                "imds-session-token".into(),
            )
        } else if let Some(rest) = req
            .path
            .strip_prefix("/latest/meta-data/iam/security-credentials-extended/")
            .or_else(|| {
                req.path
                    .strip_prefix("/latest/meta-data/iam/security-credentials/")
            })
        {
            call.service = "imds";
            if rest.is_empty() {
                (
                    200,
                    "text/plain",
                    String::new(),
                    "fake-instance-role".into(),
                )
            } else {
                let key = format!("ASIAIMDS{}", digest(&[rest]));
                call.issued = Some(key.clone());
                (
                    200,
                    "application/json",
                    String::new(),
                    format!(
                        r#"{{"Code":"Success","LastUpdated":"2024-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"{key}","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":"{FAR_FUTURE}"}}"#
                    ),
                )
            }
        } else if req.path.starts_with("/container-credentials") {
            call.service = "container";
            let key = format!("ASIACONTAINER{}", digest(&[&req.path]));
            call.issued = Some(key.clone());
            (
                200,
                "application/json",
                String::new(),
                format!(
                    r#"{{"AccessKeyId":"{key}","SecretAccessKey":"container-secret","Token":"container-token","Expiration":"{FAR_FUTURE}"}}"#
                ),
            )
        } else if req.path == "/federation/credentials" {
            call.service = "sso";
            call.action = "GetRoleCredentials".into();
            call.params = req.query.clone();
            let bearer = req
                .headers
                .get("x-amz-sso_bearer_token")
                .cloned()
                .unwrap_or_default();
            call.params.insert("bearer".into(), bearer.clone());
            let account = req.query.get("account_id").cloned().unwrap_or_default();
            let role = req.query.get("role_name").cloned().unwrap_or_default();
            let key = format!("ASIASSO{}", digest(&[&account, &role, &bearer]));
            if bearer.contains("expired") {
                (
                    401,
                    "application/json",
                    "x-amzn-ErrorType: UnauthorizedException\r\n".into(),
                    r#"{"message":"Session token not found or invalid"}"#.into(),
                )
            } else {
                call.issued = Some(key.clone());
                (
                    200,
                    "application/json",
                    String::new(),
                    format!(
                        r#"{{"roleCredentials":{{"accessKeyId":"{key}","secretAccessKey":"sso-secret","sessionToken":"sso-token","expiration":4070908800000}}}}"#
                    ),
                )
            }
        } else if req.path == "/v1/token" {
            call.service = "signin";
            call.action = "CreateOAuth2Token".into();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let input = if json.get("tokenInput").is_some() {
                &json["tokenInput"]
            } else {
                &json
            };
            let refresh = input["refreshToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            call.params.insert("refreshToken".into(), refresh.clone());
            call.params.insert(
                "grantType".into(),
                input["grantType"].as_str().unwrap_or_default().to_owned(),
            );
            call.params.insert(
                "dpop".into(),
                req.headers.get("dpop").cloned().unwrap_or_default(),
            );
            if refresh.starts_with(EXPIRED_REFRESH) {
                (
                    401,
                    "application/json",
                    "x-amzn-ErrorType: AccessDeniedException\r\n".into(),
                    r#"{"error":"TOKEN_EXPIRED","message":"The refresh token has expired"}"#.into(),
                )
            } else {
                let key = format!("ASIALOGIN{}", digest(&[&refresh]));
                call.issued = Some(key.clone());
                (
                    200,
                    "application/json",
                    String::new(),
                    format!(
                        r#"{{"accessToken":{{"accessKeyId":"{key}","secretAccessKey":"login-secret","sessionToken":"login-token"}},"tokenType":"aws_sigv4","expiresIn":900,"refreshToken":"{refresh}-next"}}"#
                    ),
                )
            }
        } else if target.starts_with("AmazonEC2ContainerRegistry_V20150921.") {
            call.service = "ecr";
            call.action = target
                .trim_start_matches("AmazonEC2ContainerRegistry_V20150921.")
                .to_owned();
            let password = format!("pw-{signer}");
            let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
            (
                200,
                "application/x-amz-json-1.1",
                String::new(),
                format!(
                    r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":4070908800,"proxyEndpoint":"https://123456789012.dkr.ecr.{}.amazonaws.com"}}]}}"#,
                    call.region
                ),
            )
        } else if req.method == "POST" && form(&body).contains_key("Action") {
            call.service = "sts";
            let params = form(&body);
            let action = params["Action"].clone();
            call.action = action.clone();
            let role = params.get("RoleArn").cloned().unwrap_or_default();
            let web_token = params.get("WebIdentityToken").cloned().unwrap_or_default();
            call.params = params;
            call.params.remove("Version");
            call.params.remove("Action");
            if call.params.contains_key("WebIdentityToken") {
                call.params
                    .insert("WebIdentityToken".into(), digest(&[&web_token]));
            }
            let role_name = role.rsplit('/').next().unwrap_or("role");
            if role_name.starts_with(DENIED_ROLE) {
                log.lock().unwrap().push(call);
                respond(
                    &mut out,
                    403,
                    "text/xml",
                    "",
                    &format!(
                        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: {} is not authorized to perform: sts:AssumeRole on resource: {}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#,
                        xml_escape(&signer),
                        xml_escape(&role)
                    ),
                );
                continue;
            }
            let key = format!("ASIASTS{}", digest(&[&action, &role, &signer]));
            call.issued = Some(key.clone());
            let session = call
                .params
                .get("RoleSessionName")
                .cloned()
                .unwrap_or_default();
            (
                200,
                "text/xml",
                String::new(),
                format!(
                    r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result><Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>sts-secret</SecretAccessKey><SessionToken>sts-token</SessionToken><Expiration>{FAR_FUTURE}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:{}</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/{}/{}</Arn></AssumedRoleUser></{action}Result><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></{action}Response>"#,
                    xml_escape(&session),
                    xml_escape(role_name),
                    xml_escape(&session)
                ),
            )
        } else {
            (404, "text/plain", String::new(), "not found".into())
        };
        log.lock().unwrap().push(call);
        respond(&mut out, status, ctype, &extra, &answer);
    }
}

/// A cached `aws login` session as the AWS CLI writes it.
pub(crate) fn login_cache(key: &str, expires: &str, refresh: &str, dpop_pem: &str) -> String {
    serde_json::json!({
        "accessToken": {
            "accessKeyId": key,
            "secretAccessKey": "login-cached-secret",
            "sessionToken": "login-cached-token",
            "accountId": "123456789012",
            "expiresAt": expires,
        },
        "tokenType": "aws_sigv4",
        "refreshToken": refresh,
        "idToken": "eyJhbGciOiJub25lIn0.e30.",
        "clientId": "arn:aws:signin:::devtools/same-device",
        "dpopKey": dpop_pem,
    })
    .to_string()
}

/// A P-256 private key in SEC1 PEM, as `aws login` keeps its DPoP key (the openssl CLI makes it).
pub(crate) fn dpop_key() -> String {
    let out = Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout"])
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl ecparam failed");
    String::from_utf8(out.stdout).unwrap()
}
