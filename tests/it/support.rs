//! Test support: the real binary run over stdio with a scrubbed environment, and a small fake of
//! the ECR / ECR Public APIs (realistic expiry, call counting, error modes).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

pub const BIN: &str = env!("CARGO_BIN_EXE_docker-credential-ecr-login");
pub const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
pub const NOT_FOUND: &str = "credentials not found in native keychain\n";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The `Secret` of a successful `get`.
    pub fn secret(&self) -> String {
        assert_eq!(self.code, 0, "get failed: {self:?}");
        let v: serde_json::Value = serde_json::from_str(&self.stdout).expect("JSON answer");
        v["Secret"].as_str().expect("Secret").to_owned()
    }
}

/// A scrubbed environment for the binary: a temp HOME and nothing inherited but PATH.
pub struct Env {
    pub home: tempfile::TempDir,
    pub vars: HashMap<String, String>,
}

impl Env {
    pub fn new() -> Env {
        let home = tempfile::tempdir().expect("tempdir");
        let mut vars = HashMap::new();
        vars.insert("HOME".into(), home.path().display().to_string());
        vars.insert("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into());
        vars.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        Env { home, vars }
    }

    /// Static keys and the fake's endpoint for both APIs.
    pub fn with_fake(fake: &Fake) -> Env {
        let mut e = Env::new();
        e.set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE1")
            .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .set("AWS_ENDPOINT_URL_ECR", &fake.url())
            .set("AWS_ENDPOINT_URL_ECR_PUBLIC", &fake.url());
        e
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Env {
        self.vars.insert(k.into(), v.into());
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Env {
        self.vars.remove(k);
        self
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    pub fn cache_dir(&self) -> PathBuf {
        match self.vars.get("AWS_ECR_CACHE_DIR") {
            Some(d) => PathBuf::from(d),
            None => self.path().join(".ecr"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).env_clear().envs(&self.vars);
        c
    }

    /// Runs the binary with `input` on stdin; kills it if it hangs (a hang is a failure).
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let done = Arc::new(AtomicBool::new(false));
        let pid = child.id();
        let watchdog = {
            let done = done.clone();
            thread::spawn(move || {
                for _ in 0..600 {
                    thread::sleep(Duration::from_millis(100));
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                }
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            })
        };
        let out = child.wait_with_output().expect("wait");
        done.store(true, Ordering::SeqCst);
        let _ = writer.join();
        let _ = watchdog.join();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn get(&self, host: &str) -> Output {
        self.run(&["get"], host.as_bytes())
    }

    /// Every byte the helper logged.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(rd) = std::fs::read_dir(self.cache_dir().join("log")) {
            for e in rd.flatten() {
                s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        s
    }
}

/// How the fake answers `GetAuthorizationToken`.
#[derive(Debug, Clone)]
pub enum Mode {
    /// A token valid for this many seconds.
    Ok { lifetime: u64 },
    /// HTTP 400 AccessDeniedException.
    AccessDenied,
    /// HTTP 500 ServerException.
    ServerError,
    /// Sleep this long, then answer like `Ok { lifetime: 43200 }`.
    Slow(Duration),
    /// HTTP 400 with this AWS error code and message.
    Error(&'static str, &'static str),
    /// HTTP 200 with exactly this body (malformed answers; kubelet tests).
    Answer(&'static str),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: String,
    pub user_agent: String,
    /// Access key id from the SigV4 `Authorization` header.
    pub access_key: String,
    pub region: String,
}

/// A fake ECR + ECR Public API on 127.0.0.1. The password it issues names the access key and
/// the call number, so tests can tell whose token they got and whether it is new.
pub struct Fake {
    pub port: u16,
    scheme: &'static str,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    pub fn start() -> Fake {
        Fake::start_with(None)
    }

    /// The fake over TLS with this server configuration.
    pub fn start_tls(tls: rustls::ServerConfig) -> Fake {
        Fake::start_with(Some(Arc::new(tls)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(Mode::Ok { lifetime: 43_200 }));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let scheme = if tls.is_some() { "https" } else { "http" };
        {
            let (mode, requests) = (mode.clone(), requests.clone());
            thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (mode, requests, tls) = (mode.clone(), requests.clone(), tls.clone());
                    thread::spawn(move || match tls {
                        None => serve(stream, &mode, &requests),
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            serve(rustls::StreamOwned::new(conn, stream), &mode, &requests)
                        }
                    });
                }
            });
        }
        Fake {
            port,
            scheme,
            mode,
            requests,
        }
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn serve<S: Read + Write>(
    stream: S,
    mode: &Mutex<Mode>,
    requests: &Mutex<Vec<Request>>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
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
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let target = headers.get("x-amz-target").cloned().unwrap_or_default();
        let auth = headers.get("authorization").cloned().unwrap_or_default();
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
        let req = Request {
            target: target.clone(),
            user_agent: headers.get("user-agent").cloned().unwrap_or_default(),
            access_key: scope.first().unwrap_or(&"").to_string(),
            region: scope.get(2).unwrap_or(&"").to_string(),
        };
        let n = {
            let mut r = requests.lock().unwrap();
            r.push(req.clone());
            r.len()
        };
        let m = mode.lock().unwrap().clone();
        let lifetime = match m {
            Mode::Ok { lifetime } => lifetime,
            Mode::Slow(d) => {
                thread::sleep(d);
                43_200
            }
            Mode::AccessDenied => {
                respond(
                    reader.get_mut(),
                    400,
                    r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken"}"#,
                );
                continue;
            }
            Mode::Error(code, message) => {
                let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
                respond(reader.get_mut(), 400, &body);
                continue;
            }
            Mode::Answer(body) => {
                respond(reader.get_mut(), 200, body);
                continue;
            }
            Mode::ServerError => {
                respond(
                    reader.get_mut(),
                    500,
                    r#"{"__type":"ServerException","message":"internal error"}"#,
                );
                continue;
            }
        };
        let password = format!("pw-{}-{n}", req.access_key);
        let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
        let expires = now() + lifetime;
        let body = if target.starts_with("SpencerFrontendService") {
            format!(
                r#"{{"authorizationData":{{"authorizationToken":"{token}","expiresAt":{expires}}}}}"#
            )
        } else {
            format!(
                r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires},"proxyEndpoint":"https://123456789012.dkr.ecr.{}.amazonaws.com"}}]}}"#,
                req.region
            )
        };
        respond(reader.get_mut(), 200, &body);
    }
}

fn respond(stream: &mut impl Write, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Internal Server Error",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// A TCP port that accepts connections (the kernel completes the handshake) and never answers:
/// what an unreachable metadata service or a black-holed API looks like to a client.
pub fn black_hole() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A port with nothing listening (connection refused).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A forward proxy that records what it is asked for and refuses everything (403), so nothing
/// ever leaves the machine: `CONNECT host:443` lines for HTTPS, absolute URIs for HTTP.
pub struct Proxy {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_ok() {
                    s.lock().unwrap().push(line.trim_end().to_owned());
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                    }
                    let _ = reader.get_mut().write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        });
        Proxy { port, seen }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A moto server (a real third-party implementation of the ECR and STS APIs) on a free port,
/// recording every request; killed on drop.
pub struct Moto {
    pub port: u16,
    child: std::process::Child,
    pub recording: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start() -> Moto {
        let recording = tempfile::NamedTempFile::new().expect("tempfile");
        let port = closed_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", recording.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (make test installs moto[server])");
        let moto = Moto {
            port,
            child,
            recording,
        };
        for _ in 0..300 {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return moto;
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests moto recorded, one per line: headers and (decoded) body.
    pub fn recorded(&self) -> String {
        let text = std::fs::read_to_string(self.recording.path()).unwrap_or_default();
        let mut out = String::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let body = v["body"].as_str().unwrap_or_default();
            let body = if v["body_encoded"].as_bool() == Some(true) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_default();
                String::from_utf8_lossy(&raw).into_owned()
            } else {
                body.to_owned()
            };
            out.push_str(&format!("{} {body}\n", v["headers"]));
        }
        out
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
