//! `login-password HOST` and `export [--format auth|kube-secret] [-o FILE] HOST...`: the password
//! itself, or a credentials file, for the tools that cannot run a credential helper (containerd's
//! `ctr`, `crictl`, Nomad, Kubernetes pull secrets, CI systems).
//!
//! Tokens come through the policy of `get` ([`helper::get`]: from our cache, fetched when
//! missing or past half-life), so these commands never cost more API calls than Docker would.
//! stdout carries only the secret (it is piped into another program); every failure is one line
//! on stderr, stdout stays empty and the exit status is 1. A secret is never printed to a
//! terminal unless `--force` says so, and a file (`-o FILE`) is replaced atomically, mode 0600.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;

use crate::context::{Context, Run};
use crate::ecr::TokenSource;
use crate::helper::{self, GetOutcome};
use crate::secret::Secret;
use crate::text::printable;
use crate::{error, files, registry};

pub const LOGIN_PASSWORD_USAGE: &str =
    "Usage: docker-credential-ecr-login login-password [--force] HOST";
pub const EXPORT_USAGE: &str = "Usage: docker-credential-ecr-login export [--format auth|kube-secret] [--name NAME] [--namespace NS] [-o FILE] [--force] HOST...";

/// The Secret's name when `--name` is not given.
pub const DEFAULT_SECRET_NAME: &str = "ecr-registry";

/// The line when stdout is a terminal and `--force` was not given.
pub const REFUSE_TERMINAL: &str = "refusing to print a secret to a terminal: pipe it into the program that wants it, or add --force";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"auths":{"HOST":{"auth":base64("AWS:password")}}}`: Docker's config.json, containers'
    /// auth.json (skopeo, podman, buildah `--authfile`), oras, Nomad's `auth_file`.
    #[default]
    Auth,
    /// A `kubernetes.io/dockerconfigjson` Secret manifest (an image pull secret).
    KubeSecret,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoginArgs {
    pub force: bool,
    pub host: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ExportArgs {
    pub format: Format,
    pub output: Option<PathBuf>,
    pub force: bool,
    pub name: String,
    pub namespace: Option<String>,
    pub hosts: Vec<String>,
}

pub fn parse_login_password(args: &[String]) -> Result<LoginArgs, String> {
    let mut out = LoginArgs::default();
    let mut hosts = Vec::new();
    for a in args {
        match a.as_str() {
            "--force" | "-f" => out.force = true,
            flag if flag.starts_with('-') => {
                return Err(format!(
                    "unknown option {}; {LOGIN_PASSWORD_USAGE}",
                    printable(&format!("{flag:?}"))
                ));
            }
            h => hosts.push(h.to_owned()),
        }
    }
    match hosts.as_slice() {
        [h] if !h.trim().is_empty() => {
            out.host = h.trim().to_owned();
            Ok(out)
        }
        [] | [_] => Err(format!(
            "login-password needs a HOST; {LOGIN_PASSWORD_USAGE}"
        )),
        _ => Err(format!(
            "login-password takes one HOST (export writes several); {LOGIN_PASSWORD_USAGE}"
        )),
    }
}

pub fn parse_export(args: &[String]) -> Result<ExportArgs, String> {
    let mut out = ExportArgs {
        format: Format::Auth,
        output: None,
        force: false,
        name: DEFAULT_SECRET_NAME.to_owned(),
        namespace: None,
        hosts: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| match inline.clone().or_else(|| args.next().cloned()) {
            Some(v) => Ok(v),
            None => Err(format!("{flag} needs {what}; {EXPORT_USAGE}")),
        };
        match flag {
            "--format" => {
                out.format = match value("a FORMAT (auth or kube-secret)")?.as_str() {
                    "auth" => Format::Auth,
                    "kube-secret" => Format::KubeSecret,
                    other => {
                        return Err(format!(
                            "unknown format {}: auth or kube-secret; {EXPORT_USAGE}",
                            printable(&format!("{other:?}"))
                        ));
                    }
                }
            }
            // `-o -` is stdout, as for most tools that take an output file.
            "-o" | "--output" => {
                out.output = Some(value("a FILE")?)
                    .filter(|f| f != "-")
                    .map(PathBuf::from);
            }
            "--name" => out.name = value("a NAME")?,
            "--namespace" => out.namespace = Some(value("a NAMESPACE")?),
            "--force" | "-f" if inline.is_none() => out.force = true,
            f if f.starts_with('-') => {
                return Err(format!(
                    "unknown option {}; {EXPORT_USAGE}",
                    printable(&format!("{a:?}"))
                ));
            }
            h if h.trim().is_empty() => {
                return Err(format!("an empty HOST; {EXPORT_USAGE}"));
            }
            h => {
                let h = h.trim().to_owned();
                if !out.hosts.contains(&h) {
                    out.hosts.push(h);
                }
            }
        }
    }
    if out.hosts.is_empty() {
        return Err(format!("export needs at least one HOST; {EXPORT_USAGE}"));
    }
    check_names(&out)?;
    Ok(out)
}

/// The Secret's name and namespace: valid Kubernetes names, and given only for a Secret.
fn check_names(args: &ExportArgs) -> Result<(), String> {
    if args.format == Format::KubeSecret {
        if !is_dns_subdomain(&args.name) {
            return Err(format!(
                "--name {}: a Secret's name is lowercase letters, digits, '-' and '.' (at most 253)",
                printable(&format!("{:?}", args.name))
            ));
        }
        if let Some(ns) = &args.namespace
            && !is_dns_label(ns)
        {
            return Err(format!(
                "--namespace {}: a namespace is lowercase letters, digits and '-' (at most 63)",
                printable(&format!("{ns:?}"))
            ));
        }
    } else if args.name != DEFAULT_SECRET_NAME || args.namespace.is_some() {
        return Err(format!(
            "--name and --namespace are for --format kube-secret; {EXPORT_USAGE}"
        ));
    }
    Ok(())
}

/// `login-password`: the password for one registry on stdout, newline-terminated (what
/// `aws ecr get-login-password` prints, for `docker login --password-stdin` or `ctr --user`).
pub fn login_password(args: &[String], io: &mut Run<'_>) -> ExitCode {
    let (cfg, stdout, stderr) = (io.cfg, &mut *io.stdout, &mut *io.stderr);
    let args = match parse_login_password(args) {
        Ok(a) => a,
        Err(line) => return fail(stderr, &line),
    };
    if cfg.stdout_terminal && !args.force {
        return fail(stderr, REFUSE_TERMINAL);
    }
    let Some(password) = token(&Context::new(cfg, io.now), &args.host, io.source, stderr) else {
        return ExitCode::FAILURE;
    };
    let mut body = password.expose().as_bytes().to_vec();
    body.push(b'\n');
    emit(stdout, &body)
}

/// `export`: the credentials of every HOST in one document, on stdout or in `-o FILE`. All or
/// nothing: one host without a token writes nothing.
pub fn export(args: &[String], io: &mut Run<'_>) -> ExitCode {
    let (cfg, stdout, stderr) = (io.cfg, &mut *io.stdout, &mut *io.stderr);
    let args = match parse_export(args) {
        Ok(a) => a,
        Err(line) => return fail(stderr, &line),
    };
    // Where the document goes, checked before any token is fetched.
    let dest = match &args.output {
        None if cfg.stdout_terminal && !args.force => return fail(stderr, REFUSE_TERMINAL),
        None => Dest::Stdout,
        Some(path) => match destination(path, args.force) {
            Ok(d) => d,
            Err(line) => return fail(stderr, &line),
        },
    };
    let mut found = Vec::new();
    let mut missing = false;
    let ctx = Context::new(cfg, io.now);
    for host in &args.hosts {
        match token(&ctx, host, io.source, stderr) {
            Some(p) => found.push((registry::hostport_of(host).to_owned(), p)),
            None => missing = true,
        }
    }
    if missing {
        return ExitCode::FAILURE;
    }
    let auths = auths_json(&found);
    let body = match args.format {
        Format::Auth => {
            let mut b = auths.expose().clone();
            b.push(b'\n');
            Secret::new(b)
        }
        Format::KubeSecret => kube_secret(&args.name, args.namespace.as_deref(), &auths),
    };
    let shown = |p: &std::path::Path| printable(&p.display().to_string());
    match dest {
        Dest::Stdout => emit(stdout, body.expose()),
        Dest::Device(mut device) => match device.write_all(body.expose()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let path = args.output.as_deref().unwrap_or(std::path::Path::new("-"));
                fail(stderr, &format!("cannot write {}: {e}", shown(path)))
            }
        },
        Dest::File(target) => {
            let path = args.output.as_deref().unwrap_or(&target);
            match files::replace_keeping(&target, body.expose(), files::Keep::own(0o600)) {
                Ok(()) => {
                    let what = match args.format {
                        Format::Auth => "auth",
                        Format::KubeSecret => "kube-secret",
                    };
                    // Windows has no modes: the file takes its folder's access list.
                    let mode = if cfg!(windows) { "" } else { ", mode 0600" };
                    let line = format!(
                        "wrote {} ({what}{mode}): {} registr{}",
                        shown(path),
                        found.len(),
                        if found.len() == 1 { "y" } else { "ies" }
                    );
                    emit(stdout, format!("{line}\n").as_bytes())
                }
                Err(e) => fail(stderr, &format!("cannot write {}: {e}", shown(path))),
            }
        }
    }
}

/// Where `export` writes its document.
enum Dest {
    Stdout,
    /// A regular file (new, or replaced atomically; a symbolic link's target).
    File(PathBuf),
    /// A character device or FIFO named by `-o` (`/dev/stdout`, `/dev/null`, a pipe), open.
    Device(std::fs::File),
}

/// What `-o path` is to be written as: a file replaced atomically, or a device written as it is
/// (a terminal only with `--force`); anything else is refused with the reason.
fn destination(path: &std::path::Path, force: bool) -> Result<Dest, String> {
    let shown = printable(&path.display().to_string());
    match files::output(path) {
        files::Output::File(target) => Ok(Dest::File(target)),
        files::Output::Refused(why) => Err(format!("cannot write {shown}: {why}")),
        files::Output::Device => {
            let device =
                files::open_device(path).map_err(|e| format!("cannot write {shown}: {e}"))?;
            if std::io::IsTerminal::is_terminal(&device) && !force {
                return Err(REFUSE_TERMINAL.to_owned());
            }
            Ok(Dest::Device(device))
        }
    }
}

/// The token for `host` through `get`'s policy; `None` after one stderr line saying why.
fn token(
    ctx: &Context<'_>,
    host: &str,
    source: &dyn TokenSource,
    stderr: &mut dyn Write,
) -> Option<Secret<String>> {
    let answer = helper::get_in(ctx, host, source);
    for w in &answer.warnings {
        say(stderr, w);
    }
    match answer.outcome {
        GetOutcome::Found(found) => Some(found.password),
        GetOutcome::NotEcr => {
            say(
                stderr,
                &format!(
                    "{host}: not an Amazon ECR registry (nor a name mapped to one in the settings file): no token"
                ),
            );
            None
        }
        GetOutcome::Unavailable { host, error } => {
            error::pass_through_child_stderr(&error, stderr);
            say(
                stderr,
                &format!("{host}: no token: {}", error::render(&error)),
            );
            None
        }
    }
}

/// `{"auths":{"HOST":{"auth":base64("AWS:password")}}}`, compact, hosts in the order given.
fn auths_json(found: &[(String, Secret<String>)]) -> Secret<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut auths = serde_json::Map::new();
    for (host, password) in found {
        let auth = b64.encode(format!("AWS:{}", password.expose()));
        auths.insert(host.clone(), serde_json::json!({ "auth": auth }));
    }
    let doc = serde_json::json!({ "auths": auths });
    Secret::new(serde_json::to_vec(&doc).unwrap_or_default())
}

/// A `kubernetes.io/dockerconfigjson` Secret (YAML; every value is validated or base64, so no
/// quoting is needed).
fn kube_secret(name: &str, namespace: Option<&str>, auths: &Secret<Vec<u8>>) -> Secret<Vec<u8>> {
    let data = base64::engine::general_purpose::STANDARD.encode(auths.expose());
    let namespace = namespace.map_or_else(String::new, |ns| format!("  namespace: {ns}\n"));
    Secret::new(
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{namespace}type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {data}\n"
        )
        .into_bytes(),
    )
}

/// RFC 1123 subdomain (a Secret's name).
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(is_dns_label)
}

/// RFC 1123 label (a namespace).
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn emit(stdout: &mut dyn Write, body: &[u8]) -> ExitCode {
    match stdout.write_all(body).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn say(stderr: &mut dyn Write, line: &str) {
    let _ = writeln!(stderr, "docker-credential-ecr-login: {}", printable(line));
}

fn fail(stderr: &mut dyn Write, line: &str) -> ExitCode {
    say(stderr, line);
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn login_password_takes_one_host() {
        let a = parse_login_password(&args(&["--force", " h.example "])).unwrap();
        assert_eq!((a.force, a.host.as_str()), (true, "h.example"));
        assert!(parse_login_password(&args(&[])).is_err());
        assert!(parse_login_password(&args(&[""])).is_err());
        assert!(
            parse_login_password(&args(&["a", "b"]))
                .unwrap_err()
                .contains("one HOST")
        );
        assert!(
            parse_login_password(&args(&["--bogus", "a"]))
                .unwrap_err()
                .contains("unknown option")
        );
    }

    #[test]
    fn export_options_parse_and_are_checked() {
        let a = parse_export(&args(&[
            "--format=kube-secret",
            "--name",
            "pull.secret",
            "--namespace=ci",
            "-o",
            "f.yaml",
            "a",
            "b",
            "a",
        ]))
        .unwrap();
        assert_eq!(a.format, Format::KubeSecret);
        assert_eq!(a.output, Some(PathBuf::from("f.yaml")));
        assert_eq!(
            (a.name.as_str(), a.namespace.as_deref()),
            ("pull.secret", Some("ci"))
        );
        assert_eq!(a.hosts, args(&["a", "b"]), "duplicates dropped");
        for bad in [
            &["--format", "yaml", "a"][..],
            &["--format"],
            &["-o"],
            &[],
            &["--format", "kube-secret", "--name", "Bad_Name", "a"],
            &["--format", "kube-secret", "--namespace", "a.b", "a"],
            &["--namespace", "x", "a"],
            &["--force=yes", "a"],
            &["-x", "a"],
        ] {
            assert!(parse_export(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn documents_have_the_common_shapes() {
        let found = vec![
            ("h1".to_owned(), Secret::new("p1".to_owned())),
            ("h2:5000".to_owned(), Secret::new("p2".to_owned())),
        ];
        let auths = auths_json(&found);
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            String::from_utf8(auths.expose().clone()).unwrap(),
            format!(
                "{{\"auths\":{{\"h1\":{{\"auth\":\"{}\"}},\"h2:5000\":{{\"auth\":\"{}\"}}}}}}",
                b64.encode("AWS:p1"),
                b64.encode("AWS:p2")
            )
        );
        let k = String::from_utf8(kube_secret("s", Some("ns"), &auths).expose().clone()).unwrap();
        assert!(k.contains("kind: Secret\n"));
        assert!(k.contains("  namespace: ns\n"));
        assert!(k.contains("type: kubernetes.io/dockerconfigjson\n"));
        let data = k.lines().last().unwrap().trim();
        let data = data.strip_prefix(".dockerconfigjson: ").unwrap();
        assert_eq!(b64.decode(data).unwrap(), *auths.expose());
    }
}
