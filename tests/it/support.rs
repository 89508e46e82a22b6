//! Test support: the real binary run over stdio with a scrubbed environment, and a small fake of
//! the ECR / ECR Public APIs (realistic expiry, call counting, error modes).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// The helper cargo built for these tests.
const BUILT: &str = env!("CARGO_BIN_EXE_docker-credential-ecr-login");
pub(crate) const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
pub(crate) const NOT_FOUND: &str = "credentials not found in native keychain\n";
pub(crate) const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Are these tests (and the helper they start) run by qemu-user (`make test-cross` sets
/// ECR_TESTS_QEMU_USER=1)? qemu-user 7.2 refuses `prctl(PR_SET_CHILD_SUBREAPER)` (EINVAL) and
/// runs a `vfork` as a `fork`, so a failed exec after `posix_spawn` is not reported to the parent
/// (the child exits 127): the few checks of exactly those kernel features are skipped there.
pub(crate) fn under_qemu_user() -> bool {
    // The test harness's own switch, not the helper's configuration.
    #[allow(clippy::disallowed_methods)]
    let set = std::env::var_os("ECR_TESTS_QEMU_USER").is_some_and(|v| v == "1");
    set
}

/// The Linux helper under test: the one cargo built for these tests, or the program
/// `ECR_TESTS_HELPER` names. `make test-cross` names the aarch64 static binary there: this harness
/// stays a native program and the kernel's binfmt_misc hands every helper it starts to qemu-user
/// (an emulated harness forking many helpers at once can deadlock inside qemu-user before the
/// exec: packaging/cross-test.sh).
pub(crate) fn helper_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // The test harness's own switch, not the helper's configuration.
        #[allow(clippy::disallowed_methods)]
        let named = std::env::var("ECR_TESTS_HELPER").ok();
        named
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| BUILT.to_string())
    })
}

/// The Windows build under test, when `ECR_TESTS_WINDOWS_EXE` names it (`make test-windows`:
/// packaging/windows/test.sh, which also sets WINEPREFIX): every run of the helper is then
/// `wine64 <exe> ...` ([`Env::command`]), and tests of Unix-only mechanisms skip ([`unix_only`]).
/// The bcryptprimitives.dll shim must be next to the .exe (test.sh puts it there).
pub(crate) fn windows_exe() -> Option<&'static str> {
    static EXE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        // The test harness's own switch, not the helper's configuration.
        #[allow(clippy::disallowed_methods)]
        let exe = std::env::var("ECR_TESTS_WINDOWS_EXE").ok();
        exe.filter(|e| !e.is_empty())
    })
    .as_deref()
}

/// The fallback tests' fake credential store built for Windows (packaging/windows/fake-store.c),
/// when `ECR_TESTS_WINDOWS_STORE` names it (`make test-windows`).
pub(crate) fn windows_fake_store() -> Option<String> {
    // The test harness's own switch, not the helper's configuration.
    #[allow(clippy::disallowed_methods)]
    let store = std::env::var("ECR_TESTS_WINDOWS_STORE").ok();
    store.filter(|s| !s.is_empty())
}

/// Wine's loader for 64-bit Windows programs (Debian's wine64 package).
pub(crate) const WINE: &str = "/usr/lib/wine/wine64";

/// The PATH of [`Env::new`].
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The variables that name a file or directory: [`Env::windows_vars`] hands them to the Windows
/// .exe in Windows form (as a Windows user would write them), so the paths in its messages are
/// [`shown`]'s.
const PATH_VARS: &[&str] = &[
    "AWS_ECR_CACHE_DIR",
    "AWS_ECR_CONFIG",
    "AWS_CA_BUNDLE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "DOCKER_CONFIG",
    // The fake credential store's directory (tests/it/fallback.rs), which the helper passes on.
    "FAKE_DIR",
];

/// `path` as the helper under test names it in messages: as it is, or (the Windows .exe) in
/// Windows form, `Z:\a\b`.
pub(crate) fn shown(path: &Path) -> String {
    let s = path.display().to_string();
    if windows_exe().is_some() && s.starts_with('/') {
        windows_path(&s)
    } else {
        s
    }
}

/// `/a/b` as Windows under Wine names it: `Z:\a\b`.
pub(crate) fn windows_path(unix: &str) -> String {
    format!("Z:{}", unix.replace('/', "\\"))
}

/// `unix` for the Linux helper, `windows` for the Windows .exe (what a message says differs).
pub(crate) fn unix_or_windows<'a>(unix: &'a str, windows: &'a str) -> &'a str {
    if windows_exe().is_some() {
        windows
    } else {
        unix
    }
}

/// True, with a one-line note on stderr, when the helper under test is the Windows .exe and the
/// test (or the rest of it) is about `what`, a Unix-only mechanism: the caller returns early.
pub(crate) fn unix_only(what: &str) -> bool {
    if windows_exe().is_none() {
        return false;
    }
    // libtest runs each test on a thread named after it.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    eprintln!("skipped against the Windows .exe: {test}: {what} (Unix only)");
    true
}

/// The helper installed as `dir/name` (the kubelet's provider name, a docker-credential name):
/// a symbolic link to [`helper_bin`]; for the Windows .exe a symbolic link `name.exe` to it (what Windows
/// runs for `name`; Wine follows it), with the bcryptprimitives.dll shim beside it (Wine looks
/// for DLLs next to the program as started). Returns the path to run ([`Env::command_of`]).
pub(crate) fn install_helper(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::symlink;
    match windows_exe() {
        None => {
            let link = dir.join(name);
            symlink(helper_bin(), &link).expect("symlink the helper");
            link
        }
        Some(exe) => {
            let exe = Path::new(exe);
            let link = dir.join(format!("{name}.exe"));
            symlink(exe, &link).expect("symlink the .exe");
            let shim = dir.join("bcryptprimitives.dll");
            if !shim.exists() {
                symlink(exe.with_file_name("bcryptprimitives.dll"), shim)
                    .expect("symlink the shim");
            }
            link
        }
    }
}

/// A `credential_process` program in `dir`, returning the command line for the AWS config: a
/// shell script of `sh` (after `#!/bin/sh`), or for the Windows .exe a batch file of `cmd` (the
/// SDK runs the command with `cmd.exe /C` there; `@echo off` is added).
pub(crate) fn process_script(dir: &Path, sh: &str, cmd: &str) -> String {
    if windows_exe().is_none() {
        let script = dir.join("creds.sh");
        std::fs::write(&script, format!("#!/bin/sh\n{sh}")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        return script.display().to_string();
    }
    let script = dir.join("creds.cmd");
    let body: String = cmd.lines().map(|l| format!("{l}\r\n")).collect();
    std::fs::write(&script, format!("@echo off\r\n{body}")).unwrap();
    shown(&script)
}

/// The JSON a credential_process prints, with these keys.
pub(crate) fn process_json(access_key: &str) -> String {
    format!(r#"{{"Version":1,"AccessKeyId":"{access_key}","SecretAccessKey":"{SECRET_KEY}"}}"#)
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// The `Secret` of a successful `get`.
    pub(crate) fn secret(&self) -> String {
        assert_eq!(self.code, 0, "get failed: {self:?}");
        let v: serde_json::Value = serde_json::from_str(&self.stdout).expect("JSON answer");
        v["Secret"].as_str().expect("Secret").to_owned()
    }
}

/// A scrubbed environment for the binary: a temp HOME and nothing inherited but PATH.
pub(crate) struct Env {
    pub(crate) home: tempfile::TempDir,
    pub(crate) vars: HashMap<String, String>,
}

impl Env {
    pub(crate) fn new() -> Env {
        let home = tempfile::tempdir().expect("tempdir");
        let mut vars = HashMap::new();
        vars.insert("HOME".into(), home.path().display().to_string());
        vars.insert("PATH".into(), DEFAULT_PATH.into());
        vars.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        Env { home, vars }
    }

    /// Static keys and the fake's endpoint for both APIs.
    pub(crate) fn with_fake(fake: &Fake) -> Env {
        let mut e = Env::new();
        e.set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE1")
            .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .set("AWS_ENDPOINT_URL_ECR", &fake.url())
            .set("AWS_ENDPOINT_URL_ECR_PUBLIC", &fake.url());
        e
    }

    pub(crate) fn set(&mut self, k: &str, v: &str) -> &mut Env {
        self.vars.insert(k.into(), v.into());
        self
    }

    pub(crate) fn unset(&mut self, k: &str) -> &mut Env {
        self.vars.remove(k);
        self
    }

    pub(crate) fn path(&self) -> &Path {
        self.home.path()
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        match self.vars.get("AWS_ECR_CACHE_DIR") {
            Some(d) => PathBuf::from(d),
            None => self.path().join(".ecr"),
        }
    }

    /// The helper ([`helper_bin`], or the Windows .exe under Wine: [`windows_exe`]) with `args` and this
    /// environment.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        match windows_exe() {
            None => self.command_of(Path::new(helper_bin()), args),
            Some(exe) => self.command_of(Path::new(exe), args),
        }
    }

    /// The program at `program` (the helper under another name: [`install_helper`]) with `args`
    /// and this environment; under Wine (see [`windows_exe`]) run by wine64, the environment
    /// translated by [`Env::windows_vars`].
    pub(crate) fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        if windows_exe().is_none() {
            let mut c = Command::new(program);
            c.args(args).env_clear().envs(&self.vars);
            return c;
        }
        let mut c = Command::new(WINE);
        c.arg(program)
            .args(args)
            .env_clear()
            .envs(self.windows_vars());
        c
    }

    /// The environment as the Windows .exe gets it under Wine. Wine replaces USERPROFILE (the
    /// helper's home on Windows) with its own `C:\users\<name>`, drops HOME and replaces PATH
    /// with the Windows default, passing everything else through. So what the helper derives from
    /// the home is named explicitly from this Env's home (unless the test set it), PATH goes into
    /// WINEPATH (which Wine appends to its PATH) in Windows form, and WINEPREFIX and WINEDEBUG
    /// are kept. Unix absolute paths work as they are: Wine resolves them on drive Z:, which maps
    /// to `/` and is the current drive (the tests' working directory is a Unix directory).
    pub(crate) fn windows_vars(&self) -> HashMap<String, String> {
        let mut v = self.vars.clone();
        if let Some(home) = v.remove("HOME") {
            let home = Path::new(&home);
            for (var, path) in [
                ("AWS_ECR_CACHE_DIR", home.join(".ecr")),
                ("DOCKER_CONFIG", home.join(".docker")),
                ("AWS_CONFIG_FILE", home.join(".aws/config")),
                ("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials")),
            ] {
                v.entry(var.into())
                    .or_insert_with(|| path.display().to_string());
            }
        }
        for var in PATH_VARS {
            if let Some(p) = v.get_mut(*var)
                && p.starts_with('/')
            {
                *p = windows_path(p);
            }
        }
        if let Some(path) = v.remove("PATH") {
            let dirs: Vec<String> = path
                .split(':')
                .filter(|d| !d.is_empty() && !DEFAULT_PATH.split(':').any(|x| x == *d))
                .map(windows_path)
                .collect();
            if !dirs.is_empty() {
                v.insert("WINEPATH".into(), dirs.join(";"));
            }
        }
        for var in ["WINEPREFIX", "WINEDEBUG"] {
            // The test harness's own switches, not the helper's configuration.
            #[allow(clippy::disallowed_methods)]
            if let Ok(val) = std::env::var(var) {
                v.entry(var.into()).or_insert(val);
            }
        }
        v.entry("WINEDEBUG".into()).or_insert_with(|| "-all".into());
        v
    }

    /// Runs the binary with `input` on stdin; kills it if it hangs (a hang is a failure).
    pub(crate) fn run(&self, args: &[&str], input: &[u8]) -> Output {
        self.run_for(args, input, Duration::from_secs(60))
    }

    /// As [`Env::run`], with a watchdog of `limit`: a run killed by it has `code` -1.
    pub(crate) fn run_for(&self, args: &[&str], input: &[u8], limit: Duration) -> Output {
        run_command(self.command(args), input, limit)
    }

    pub(crate) fn get(&self, host: &str) -> Output {
        self.run(&["get"], host.as_bytes())
    }

    /// `get` with a watchdog of `limit` (code -1 when it had to kill the run).
    pub(crate) fn get_for(&self, host: &str, limit: Duration) -> Output {
        self.run_for(&["get"], host.as_bytes(), limit)
    }

    /// Every byte the helper logged.
    pub(crate) fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(rd) = std::fs::read_dir(self.cache_dir().join("log")) {
            for e in rd.flatten() {
                s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        s
    }
}

/// Runs `cmd` (stdin, stdout and stderr piped) with `input` on stdin, then closes stdin.
pub(crate) fn run_command(mut cmd: Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
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
    let out = wait_for(child, limit);
    let _ = writer.join();
    out
}

/// Waits for a spawned child (stdout and stderr piped), SIGKILLing it after `limit`: a killed
/// run has `code` -1.
pub(crate) fn wait_for(child: Child, limit: Duration) -> Output {
    let done = Arc::new(AtomicBool::new(false));
    let pid = child.id();
    let watchdog = {
        let done = done.clone();
        thread::spawn(move || {
            let start = std::time::Instant::now();
            while start.elapsed() < limit {
                thread::sleep(Duration::from_millis(50));
                if done.load(Ordering::SeqCst) {
                    return;
                }
            }
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        })
    };
    let out = child.wait_with_output().expect("wait");
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// How the fake answers `GetAuthorizationToken`.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// A token valid for this many seconds.
    Ok { lifetime: u64 },
    /// HTTP 400 AccessDeniedException.
    AccessDenied,
    /// HTTP 500 ServerException.
    ServerError,
    /// Sleep this long, then answer like `Ok { lifetime: 43200 }`.
    Slow(Duration),
    /// HTTP 400 with this AWS error code and message (the message is put into the JSON as
    /// is, so JSON escapes such as `\\u001b` arrive as control characters).
    Error(&'static str, &'static str),
    /// HTTP 200 with exactly this body (malformed answers; kubelet tests).
    Answer(&'static str),
    /// Sleep this long, then answer like `AccessDenied`.
    SlowError(Duration),
    /// HTTP 200 with a chunked body of this many bytes, generated as it is sent (a token made
    /// of `A`s, valid JSON if read to the end). The bytes sent are in [`Fake::body_bytes_sent`].
    Huge(u64),
    /// A valid token whose `expiresAt` is this JSON number text (e.g. `1e300`).
    ExpiresAt(&'static str),
    /// A token of `base64("AWS:")`: the right form, an empty password.
    EmptyPassword,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) target: String,
    pub(crate) user_agent: String,
    /// Access key id from the SigV4 `Authorization` header.
    pub(crate) access_key: String,
    pub(crate) region: String,
    /// The request body as received (JSON).
    pub(crate) body: String,
}

/// A fake ECR + ECR Public API on 127.0.0.1. The password it issues names the access key and
/// the call number, so tests can tell whose token they got and whether it is new.
pub(crate) struct Fake {
    pub(crate) port: u16,
    scheme: &'static str,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<Mutex<Vec<Request>>>,
    sent: Arc<Sent>,
}

/// What `Mode::Huge` answers have sent, and how many of them ended (finished or cut off).
#[derive(Debug, Default)]
pub(crate) struct Sent {
    bytes: AtomicU64,
    ended: AtomicU64,
    /// While set ([`Fake::hold`]), every request is recorded and then left unanswered.
    held: AtomicBool,
}

impl Fake {
    pub(crate) fn start() -> Fake {
        Fake::start_with(None)
    }

    /// The fake over TLS with this server configuration.
    pub(crate) fn start_tls(tls: rustls::ServerConfig) -> Fake {
        Fake::start_with(Some(Arc::new(tls)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(Mode::Ok { lifetime: 43_200 }));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Sent::default());
        let scheme = if tls.is_some() { "https" } else { "http" };
        {
            let (mode, requests, sent) = (mode.clone(), requests.clone(), sent.clone());
            thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (mode, requests, tls) = (mode.clone(), requests.clone(), tls.clone());
                    let sent = sent.clone();
                    thread::spawn(move || match tls {
                        None => serve(stream, &mode, &requests, &sent),
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            serve(
                                rustls::StreamOwned::new(conn, stream),
                                &mode,
                                &requests,
                                &sent,
                            )
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
            sent,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub(crate) fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    /// From now on, requests are recorded but not answered until [`Fake::release`].
    pub(crate) fn hold(&self) {
        self.sent.held.store(true, Ordering::SeqCst);
    }

    pub(crate) fn release(&self) {
        self.sent.held.store(false, Ordering::SeqCst);
    }

    pub(crate) fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Body bytes sent by `Mode::Huge` answers so far.
    pub(crate) fn body_bytes_sent(&self) -> u64 {
        self.sent.bytes.load(Ordering::SeqCst)
    }

    /// Waits (up to `limit`) until `n` `Mode::Huge` answers have ended; false if they did not.
    pub(crate) fn wait_huge_ended(&self, n: u64, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if self.sent.ended.load(Ordering::SeqCst) >= n {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
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
    sent: &Sent,
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
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let n = {
            let mut r = requests.lock().unwrap();
            r.push(req.clone());
            r.len()
        };
        while sent.held.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        let m = mode.lock().unwrap().clone();
        let mut expires_text = None;
        let mut password = format!("pw-{}-{n}", req.access_key);
        let lifetime = match m {
            Mode::Ok { lifetime } => lifetime,
            Mode::ExpiresAt(text) => {
                expires_text = Some(text.to_owned());
                43_200
            }
            Mode::EmptyPassword => {
                password.clear();
                43_200
            }
            Mode::Huge(len) => {
                respond_huge(reader.get_mut(), len, sent);
                return;
            }
            Mode::SlowError(d) => {
                thread::sleep(d);
                respond(
                    reader.get_mut(),
                    400,
                    r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken"}"#,
                );
                continue;
            }
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
        let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
        let expires = expires_text.unwrap_or_else(|| (now() + lifetime).to_string());
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

/// A 200 answer whose chunked body of `len` bytes is made as it is sent: a JSON document whose
/// token is `A`s. Stops when the client stops reading (a write fails).
fn respond_huge(stream: &mut impl Write, len: u64, sent: &Sent) {
    let head = br#"{"authorizationData":[{"authorizationToken":""#;
    let tail = br#"","expiresAt":4102444800,"proxyEndpoint":"https://123456789012.dkr.ecr.us-west-2.amazonaws.com"}]}"#;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n\r\n"
    );
    let fill = vec![b'A'; 64 * 1024];
    let middle = len.saturating_sub((head.len() + tail.len()) as u64);
    let mut chunk = |data: &[u8]| -> bool {
        let ok = write!(stream, "{:x}\r\n", data.len()).is_ok()
            && stream.write_all(data).is_ok()
            && stream.write_all(b"\r\n").is_ok();
        if ok {
            sent.bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
        }
        ok
    };
    let mut ok = chunk(head);
    let mut left = middle;
    while ok && left > 0 {
        let n = left.min(fill.len() as u64) as usize;
        ok = chunk(&fill[..n]);
        left -= n as u64;
    }
    if ok && chunk(tail) {
        let _ = stream.write_all(b"0\r\n\r\n");
        let _ = stream.flush();
    }
    sent.ended.fetch_add(1, Ordering::SeqCst);
}

/// A TCP port that accepts connections (the kernel completes the handshake) and never answers:
/// what an unreachable metadata service or a black-holed API looks like to a client.
pub(crate) fn black_hole() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A port with nothing listening (connection refused).
pub(crate) fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A forward proxy that records what it is asked for and refuses everything (403), so nothing
/// ever leaves the machine: `CONNECT host:443` lines for HTTPS, absolute URIs for HTTP.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub(crate) fn start() -> Proxy {
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

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A moto server (a real third-party implementation of the ECR and STS APIs) on a free port,
/// recording every request; killed on drop.
pub(crate) struct Moto {
    pub(crate) port: u16,
    child: std::process::Child,
    pub(crate) recording: tempfile::NamedTempFile,
}

impl Moto {
    /// moto on a free port, or `None` (with a note on stderr saying what is missing) when it is
    /// not installed. `make test` installs it and sets `ECR_TESTS_REQUIRE_MOTO=1`, so there a
    /// missing moto is a failure, never a skip.
    pub(crate) fn start() -> Option<Moto> {
        let installed = Command::new("python3")
            .args(["-c", "import moto.server, werkzeug"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let what = "moto is not installed (python3 -m pip install 'moto[server]', or run `make test`, which installs it)";
            // The test harness's own switch, not the helper's configuration.
            #[allow(clippy::disallowed_methods)]
            let required = std::env::var_os("ECR_TESTS_REQUIRE_MOTO").is_some();
            assert!(!required, "{what}");
            eprintln!("skipped: {what}");
            return None;
        }
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
                    return Some(moto);
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not start on port {port}");
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests moto recorded, one per line: headers and (decoded) body.
    pub(crate) fn recorded(&self) -> String {
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

/// `env` with the helper on PATH under its docker-credential name (as Docker finds it) and a
/// DOCKER_CONFIG directory: the path of its (not yet written) config.json.
pub(crate) fn with_docker_config(env: &mut Env) -> PathBuf {
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    install_helper(&bin, "docker-credential-ecr-login");
    env.set("PATH", &format!("{}:/usr/bin:/bin", bin.display()));
    let docker = env.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    env.set("DOCKER_CONFIG", &docker.display().to_string());
    docker.join("config.json")
}

/// A fresh pseudo-terminal: (master, slave).
pub(crate) fn openpty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors it opened into the two ints; the other
    // arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors are ours alone from here on.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}
