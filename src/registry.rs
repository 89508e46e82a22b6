//! Which hosts are Amazon ECR registries (docs/contract.md §4), as a pure function of the input
//! string.
//!
//! This module owns the parse from "what Docker sent on stdin" to a [`Registry`]. It must stay
//! pure: no environment, no clock, no I/O. The rules are the Go helper 0.12.0's, kept so that both
//! helpers agree on every input; the regular expression is written out by hand because the `regex`
//! crate would add ~1 MB to a binary whose size is a goal.

use std::fmt;

/// An ECR registry host, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// A private registry `ACCOUNT.dkr.ecr[-fips].REGION.SUFFIX` (or a dual-stack name).
    Private {
        /// The host exactly as it appeared (no port, no scheme).
        host: String,
        account: String,
        region: String,
        fips: bool,
        dual_stack: bool,
    },
    /// ECR Public (`public.ecr.aws`, `ecr-public.aws.com`); its API lives in us-east-1.
    Public { host: String },
}

/// The API region of ECR Public.
pub const PUBLIC_REGION: &str = "us-east-1";

/// DNS suffixes of the AWS partitions ECR runs in (the alternation at the end of Go's pattern).
const SUFFIXES: &[&str] = &[
    "amazonaws.com",
    "amazonaws.com.cn",
    "amazonaws.eu",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "sc2s.sgov.gov",
    "c2s.ic.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

impl Registry {
    /// Parses what a client sent (`https://HOST[:PORT][/path]`, or a bare host) into a registry.
    /// `None` means "not ECR": the caller answers not-found and makes no AWS call.
    pub fn parse(input: &str) -> Option<Registry> {
        let host = host_of(input)?;
        if host == "public.ecr.aws" || host == "ecr-public.aws.com" {
            return Some(Registry::Public {
                host: host.to_owned(),
            });
        }
        parse_private(host)
    }

    /// The bare host name (no scheme, no port).
    pub fn host(&self) -> &str {
        match self {
            Registry::Private { host, .. } | Registry::Public { host } => host,
        }
    }

    /// The region whose API issues this registry's tokens.
    pub fn region(&self) -> &str {
        match self {
            Registry::Private { region, .. } => region,
            Registry::Public { .. } => PUBLIC_REGION,
        }
    }

    /// The scope of this registry's tokens: every registry of the same partition, region and
    /// endpoint flavour (FIPS, dual-stack) takes a private token, whatever the account (ECR: a
    /// token "can be used to access any Amazon ECR registry that the IAM principal has access
    /// to"). The host with its account replaced by `*`; ECR Public: its host.
    pub fn token_scope(&self) -> String {
        match self {
            Registry::Private { host, account, .. } => {
                format!("*{}", host.get(account.len()..).unwrap_or_default())
            }
            Registry::Public { host } => host.clone(),
        }
    }

    pub fn is_fips(&self) -> bool {
        matches!(self, Registry::Private { fips: true, .. })
    }

    pub fn is_dual_stack(&self) -> bool {
        matches!(
            self,
            Registry::Private {
                dual_stack: true,
                ..
            }
        )
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.host())
    }
}

/// The host part of an https URL, as Go's `url.Parse("https://" + s).Hostname()` gives it for the
/// inputs that can possibly be ECR: one leading `https://` stripped (case-sensitively, as Go),
/// userinfo, port, path, query and fragment dropped. Returns `None` where Go's parse fails.
pub fn host_of(input: &str) -> Option<&str> {
    let hostport = hostport_of(input);
    if hostport.starts_with('[') {
        // An IPv6 literal is never ECR.
        return None;
    }
    let host = match hostport.rsplit_once(':') {
        Some((host, port)) => {
            // Go rejects a non-numeric port ("invalid port").
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            host
        }
        None => hostport,
    };
    if host.is_empty() {
        return None;
    }
    Some(host)
}

/// `host[:port]` of an https URL or bare host: one leading `https://`, userinfo, path, query and
/// fragment dropped. This is also how Docker keys `credHelpers` (host with its port).
pub fn hostport_of(input: &str) -> &str {
    let rest = input.strip_prefix("https://").unwrap_or(input);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // Userinfo ends at the last '@' of the authority (as Go's parser).
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// `^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(SUFFIXES)$`
fn parse_private(host: &str) -> Option<Registry> {
    let account = host.get(..12)?;
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = host[12..].strip_prefix(".dkr")?;
    let (dash, rest) = match rest.as_bytes().first()? {
        b'.' => (false, &rest[1..]),
        b'-' => (true, &rest[1..]),
        _ => return None,
    };
    let rest = rest.strip_prefix("ecr")?;
    let (fips, rest) = match rest.strip_prefix("-fips") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix('.')?;
    let (region, suffix) = rest.split_once('.')?;
    let mut chars = region.bytes();
    if !chars.next()?.is_ascii_alphanumeric()
        || !chars.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    if !SUFFIXES.contains(&suffix) {
        return None;
    }
    Some(Registry::Private {
        host: host.to_owned(),
        account: account.to_owned(),
        region: region.to_owned(),
        fips,
        // `dkr-ecr` and the `on.aws` family are the dual-stack (IPv4 + IPv6) names.
        dual_stack: dash || suffix.starts_with("on."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_scope_is_the_host_without_its_account() {
        let scope = |h: &str| Registry::parse(h).unwrap().token_scope();
        assert_eq!(
            scope("123456789012.dkr.ecr.us-west-2.amazonaws.com"),
            scope("210987654321.dkr.ecr.us-west-2.amazonaws.com")
        );
        assert_eq!(
            scope("123456789012.dkr.ecr.us-west-2.amazonaws.com"),
            "*.dkr.ecr.us-west-2.amazonaws.com"
        );
        for other in [
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr-fips.us-west-2.amazonaws.com",
            "123456789012.dkr-ecr.us-west-2.on.aws",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
        ] {
            assert_ne!(
                scope(other),
                scope("123456789012.dkr.ecr.us-west-2.amazonaws.com")
            );
        }
        assert_eq!(scope("public.ecr.aws"), "public.ecr.aws");
        // A scope is never a host a client could ask about.
        assert!(Registry::parse("*.dkr.ecr.us-west-2.amazonaws.com").is_none());
    }

    /// (input, expected: None for "not ECR", or (host, region, fips, dual_stack); region
    /// `us-east-1` with host public.ecr.aws / ecr-public.aws.com means ECR Public)
    type Case = (
        &'static str,
        Option<(&'static str, &'static str, bool, bool)>,
    );

    const CASES: &[Case] = &[
        // Commercial partition, every spelling clients send.
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            Some((
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "us-west-2",
                false,
                false,
            )),
        ),
        (
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
            Some((
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "us-west-2",
                false,
                false,
            )),
        ),
        (
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/",
            Some((
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "us-west-2",
                false,
                false,
            )),
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:443",
            Some((
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "us-west-2",
                false,
                false,
            )),
        ),
        (
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com:5000/v2/repo/manifests/latest",
            Some((
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "us-west-2",
                false,
                false,
            )),
        ),
        (
            "https://user:pw@123456789012.dkr.ecr.eu-central-1.amazonaws.com",
            Some((
                "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
                "eu-central-1",
                false,
                false,
            )),
        ),
        (
            "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com?x=1#frag",
            Some((
                "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com",
                "ap-southeast-2",
                false,
                false,
            )),
        ),
        // FIPS.
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            Some((
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                "us-gov-west-1",
                true,
                false,
            )),
        ),
        (
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            Some((
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                "us-east-1",
                true,
                false,
            )),
        ),
        // China.
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            Some((
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
                false,
                false,
            )),
        ),
        // European Sovereign Cloud.
        (
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
            Some((
                "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
                "eusc-de-east-1",
                false,
                false,
            )),
        ),
        // Dual-stack.
        (
            "123456789012.dkr-ecr.us-west-2.on.aws",
            Some((
                "123456789012.dkr-ecr.us-west-2.on.aws",
                "us-west-2",
                false,
                true,
            )),
        ),
        (
            "123456789012.dkr-ecr-fips.us-west-2.on.aws",
            Some((
                "123456789012.dkr-ecr-fips.us-west-2.on.aws",
                "us-west-2",
                true,
                true,
            )),
        ),
        (
            "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
            Some((
                "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
                "cn-north-1",
                false,
                true,
            )),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.on.aws",
            Some((
                "123456789012.dkr.ecr.us-east-1.on.aws",
                "us-east-1",
                false,
                true,
            )),
        ),
        // Isolated partitions.
        (
            "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
            Some((
                "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                "us-iso-east-1",
                false,
                false,
            )),
        ),
        (
            "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
            Some((
                "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                "us-isob-east-1",
                false,
                false,
            )),
        ),
        (
            "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
            Some((
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                "eu-isoe-west-1",
                false,
                false,
            )),
        ),
        (
            "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
            Some((
                "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
                "us-isof-south-1",
                false,
                false,
            )),
        ),
        // Region names the pattern allows (underscore, digits first).
        (
            "123456789012.dkr.ecr.local_test-1.amazonaws.com",
            Some((
                "123456789012.dkr.ecr.local_test-1.amazonaws.com",
                "local_test-1",
                false,
                false,
            )),
        ),
        // ECR Public.
        (
            "public.ecr.aws",
            Some(("public.ecr.aws", "us-east-1", false, false)),
        ),
        (
            "https://public.ecr.aws",
            Some(("public.ecr.aws", "us-east-1", false, false)),
        ),
        (
            "https://public.ecr.aws/v2/",
            Some(("public.ecr.aws", "us-east-1", false, false)),
        ),
        (
            "ecr-public.aws.com",
            Some(("ecr-public.aws.com", "us-east-1", false, false)),
        ),
        (
            "public.ecr.aws:443",
            Some(("public.ecr.aws", "us-east-1", false, false)),
        ),
        // The Go helper's own TestExtractRegistry cases (ecr-login/api/client_test.go).
        (
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/blah/blah",
            Some((
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "us-east-1",
                false,
                false,
            )),
        ),
        (
            "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/foo",
            Some((
                "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
                false,
                false,
            )),
        ),
        (".dkr.ecr.not-real.amazonaws.com", None),
        ("not.ecr.io", None),
        // Lookalikes and everything else: not ECR.
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.com",
            None,
        ),
        (
            "evil.com/123456789012.dkr.ecr.us-west-2.amazonaws.com",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com@evil.com",
            None,
        ),
        (
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.com:443",
            None,
        ),
        ("x123456789012.dkr.ecr.us-west-2.amazonaws.com", None),
        ("12345678901.dkr.ecr.us-west-2.amazonaws.com", None),
        ("1234567890123.dkr.ecr.us-west-2.amazonaws.com", None),
        ("123456789012.dkr.ecr.us-west-2.amazonaws.org", None),
        ("123456789012.dkr.ecr..amazonaws.com", None),
        ("123456789012.dkr.ecr.-us-west-2.amazonaws.com", None),
        ("123456789012.dkr.ecr.us.west.2.amazonaws.com", None),
        ("123456789012.dkr.ecr.us-west-2.amazonaws.com:abc", None),
        ("123456789012.DKR.ECR.us-west-2.amazonaws.com", None),
        ("123456789012.dkr.ecr.us-west-2.AMAZONAWS.COM", None),
        ("123456789012.dkr_ecr.us-west-2.amazonaws.com", None),
        ("123456789012.dkr.ecr-fipsx.us-west-2.amazonaws.com", None),
        (
            "vpce-0123456789abcdef-abcdefgh.dkr.ecr.us-west-2.vpce.amazonaws.com",
            None,
        ),
        ("123456789012.dkr.ecr.us-west-2.vpce.amazonaws.com", None),
        ("http://123456789012.dkr.ecr.us-west-2.amazonaws.com", None),
        ("HTTPS://123456789012.dkr.ecr.us-west-2.amazonaws.com", None),
        (
            "https://https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
            None,
        ),
        (" 123456789012.dkr.ecr.us-west-2.amazonaws.com", None),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com%2eevil.com",
            None,
        ),
        ("[::1]:5000", None),
        ("public.ecr.aws.evil.com", None),
        ("xpublic.ecr.aws", None),
        ("PUBLIC.ECR.AWS", None),
        ("index.docker.io", None),
        ("https://index.docker.io/v1/", None),
        ("registry-1.docker.io", None),
        ("localhost:5000", None),
        ("", None),
        ("https://", None),
        (":443", None),
    ];

    #[test]
    fn every_partition_fips_dual_stack_public_and_lookalike_is_classified_like_go() {
        for (input, expected) in CASES {
            let got = Registry::parse(input);
            match (expected, &got) {
                (None, None) => {}
                (Some((host, region, fips, dual)), Some(r)) => {
                    assert_eq!(r.host(), *host, "host of {input:?}");
                    assert_eq!(r.region(), *region, "region of {input:?}");
                    assert_eq!(r.is_fips(), *fips, "fips of {input:?}");
                    assert_eq!(r.is_dual_stack(), *dual, "dual-stack of {input:?}");
                    let public = *host == "public.ecr.aws" || *host == "ecr-public.aws.com";
                    assert_eq!(matches!(r, Registry::Public { .. }), public, "{input:?}");
                }
                _ => panic!("{input:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    /// Random inputs built from the characters that matter to the parse: never a panic, and
    /// whatever parses is a host taken from the input that parses again to the same registry.
    #[test]
    fn random_inputs_never_panic_and_parse_consistently() {
        const PARTS: &[&str] = &[
            "https://",
            "http://",
            "123456789012",
            "1234",
            ".dkr",
            "-ecr",
            ".ecr",
            "-fips",
            ".",
            "-",
            "_",
            "us-west-2",
            "amazonaws.com",
            "on.aws",
            ".cn",
            ":",
            "443",
            "@",
            "/",
            "?",
            "#",
            "[",
            "]",
            "public.ecr.aws",
            "é",
            "\u{0}",
            " ",
            "%2e",
            "x",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let n = next() % 10;
            let input: String = (0..n)
                .map(|_| PARTS[(next() % PARTS.len() as u64) as usize])
                .collect();
            let _ = hostport_of(&input);
            if let Some(r) = Registry::parse(&input) {
                assert!(input.contains(r.host()), "{input:?}");
                assert_eq!(Registry::parse(r.host()).as_ref(), Some(&r), "{input:?}");
            }
        }
    }

    #[test]
    fn private_registry_carries_its_account_id() {
        match Registry::parse("210987654321.dkr.ecr.eu-west-1.amazonaws.com") {
            Some(Registry::Private { account, .. }) => assert_eq!(account, "210987654321"),
            other => panic!("{other:?}"),
        }
    }
}
