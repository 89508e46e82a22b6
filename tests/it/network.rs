//! docs/contract.md §5 and §10, bounded time and the networks users really have: black-holed
//! metadata and APIs, closed ports, proxies, FIPS and dual-stack endpoints, and a private CA via
//! AWS_CA_BUNDLE.
//! (Tests assert outcomes, never timings: a hang is caught by the runner's watchdog, and
//! `make bench` reports how long each failure takes.)

use std::fs;
use std::process::Command;
use std::sync::Arc;

use crate::support::*;

#[test]
fn no_credentials_and_a_black_holed_metadata_service_fail_with_a_reason() {
    let (_hole, port) = black_hole();
    let mut env = Env::new();
    env.unset("AWS_EC2_METADATA_DISABLED").set(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        &format!("http://127.0.0.1:{port}"),
    );
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(
        out.stderr.starts_with(&format!(
            "docker-credential-ecr-login: {HOST}: no AWS credentials found"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("timed out") || out.stderr.contains("timeout"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_api_on_a_closed_port_is_a_network_error() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set(
        "AWS_ENDPOINT_URL_ECR",
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(out.stderr.contains("network error"), "{}", out.stderr);
    assert!(out.stderr.contains("Connection refused"), "{}", out.stderr);
}

#[test]
fn a_black_holed_api_times_out_with_a_reason() {
    let (_hole, port) = black_hole();
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ENDPOINT_URL_ECR", &format!("http://127.0.0.1:{port}"));
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

/// Which host the helper asks the proxy to tunnel to, for a registry host and no endpoint set.
fn tunnel_target(host: &str) -> String {
    let proxy = Proxy::start();
    let mut env = Env::new();
    env.set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE1")
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .set("HTTPS_PROXY", &proxy.url());
    let out = env.get(host);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND), "{host}");
    assert!(out.stderr.contains("network error"), "{}", out.stderr);
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "{host}: the proxy was used");
    seen[0].clone()
}

#[test]
fn https_proxy_is_used_and_fips_and_dual_stack_hosts_pick_their_endpoints() {
    for (host, endpoint) in [
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "api.ecr.us-west-2.amazonaws.com",
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "api.ecr-fips.us-gov-west-1.amazonaws.com",
        ),
        (
            "123456789012.dkr-ecr.us-west-2.on.aws",
            "ecr.us-west-2.api.aws",
        ),
        (
            "123456789012.dkr-ecr-fips.us-west-2.on.aws",
            "ecr-fips.us-west-2.api.aws",
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "api.ecr.cn-north-1.amazonaws.com.cn",
        ),
        ("public.ecr.aws", "api.ecr-public.us-east-1.amazonaws.com"),
    ] {
        assert_eq!(
            tunnel_target(host),
            format!("CONNECT {endpoint}:443 HTTP/1.1"),
            "{host}"
        );
    }
}

#[test]
fn no_proxy_sends_matching_hosts_direct() {
    let fake = Fake::start();
    let proxy = Proxy::start();
    let mut env = Env::with_fake(&fake);
    env.set("HTTP_PROXY", &proxy.url())
        .set("HTTPS_PROXY", &proxy.url());
    let out = env.get(HOST);
    assert_eq!(out.code, 1, "through the refusing proxy: {out:?}");
    assert!(
        proxy.seen()[0].contains(&format!("127.0.0.1:{}", fake.port)),
        "{:?}",
        proxy.seen()
    );
    assert_eq!(fake.calls(), 0);

    env.set("NO_PROXY", "localhost,127.0.0.1");
    let before = proxy.seen().len();
    assert!(env.get(HOST).secret().starts_with("pw-"));
    assert_eq!(
        proxy.seen().len(),
        before,
        "NO_PROXY host bypassed the proxy"
    );
    assert_eq!(fake.calls(), 1);
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI.
fn private_ca(dir: &std::path::Path) -> (std::path::PathBuf, rustls::ServerConfig) {
    let run = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            st.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=ecr-login test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("srv.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    (dir.join("ca.crt"), cfg)
}

#[test]
fn aws_ca_bundle_trusts_a_private_ca_and_nothing_else_does() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, tls) = private_ca(certs.path());
    let fake = Fake::start_tls(tls);
    let mut env = Env::with_fake(&fake);

    // Not trusted by the system store.
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 0);

    env.set("AWS_CA_BUNDLE", &ca.display().to_string());
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-1");

    let garbage = certs.path().join("garbage.pem");
    fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    env.set("AWS_ECR_DISABLE_CACHE", "1")
        .set("AWS_CA_BUNDLE", &garbage.display().to_string());
    let out = env.get(HOST);
    assert_eq!((out.code, out.stdout.as_str()), (1, NOT_FOUND));
    assert!(out.stderr.contains("AWS_CA_BUNDLE"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn doctor_says_to_set_aws_ca_bundle_when_the_certificate_is_untrusted() {
    let certs = tempfile::tempdir().unwrap();
    let (_ca, tls) = private_ca(certs.path());
    let fake = Fake::start_tls(tls);
    let env = Env::with_fake(&fake);
    let out = env.run(&["doctor", HOST], b"");
    let hint = out
        .stdout
        .lines()
        .find(|l| l.starts_with("hint"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        hint.contains("TLS failed") && hint.contains("AWS_CA_BUNDLE"),
        "{}",
        out.stdout
    );
}
