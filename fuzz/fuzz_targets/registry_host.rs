//! The registry host parser (`registry.rs`) on what a client sends on stdin: never a panic, the
//! same answer twice, a parsed host that re-parses to the same registry in every spelling Docker
//! uses, and (differentially) private ECR exactly where the Go helper's regular expression says.
#![no_main]

use std::sync::LazyLock;

use docker_credential_ecr_login::registry::{self, Registry};
use libfuzzer_sys::fuzz_target;

/// The Go helper 0.12.0's pattern (ecr-login/api/client.go), as `regex-lite` spells it.
static GO: LazyLock<regex_lite::Regex> = LazyLock::new(|| {
    regex_lite::Regex::new(
        r"^(\d{12})\.dkr([\.\-])ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9_-]*)\.(amazonaws\.com|amazonaws\.com\.cn|amazonaws\.eu|on\.aws|on\.amazonwebservices\.com\.cn|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$",
    )
    .expect("the pattern compiles")
});

fuzz_target!(|data: &[u8]| {
    // stdin that is not UTF-8 never reaches the parser (protocol::read_server_url).
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let hostport = registry::hostport_of(input);
    assert!(input.contains(hostport), "{input:?}");
    let host = registry::host_of(input);
    if let Some(h) = host {
        assert!(!h.is_empty() && hostport.starts_with(h), "{input:?}");
    }
    let parsed = Registry::parse(input);
    assert_eq!(parsed, Registry::parse(input), "deterministic: {input:?}");

    match (host, &parsed) {
        (None, p) => assert!(p.is_none(), "no host but a registry: {input:?}"),
        (Some(h), p) => {
            let public = h == "public.ecr.aws" || h == "ecr-public.aws.com";
            let go = GO.captures(h);
            match p {
                Some(Registry::Public { host }) => assert!(public && host == h, "{input:?}"),
                Some(Registry::Private {
                    host,
                    account,
                    region,
                    fips,
                    dual_stack,
                }) => {
                    let c = go.unwrap_or_else(|| panic!("Go's pattern refuses {h:?}"));
                    assert_eq!(host, h);
                    assert_eq!(account, &c[1]);
                    assert_eq!(region, &c[4]);
                    assert_eq!(*fips, c.get(3).is_some());
                    assert_eq!(*dual_stack, &c[2] == "-" || c[5].starts_with("on."));
                }
                None => assert!(
                    !public && go.is_none(),
                    "Go's pattern accepts {h:?} (from {input:?})"
                ),
            }
        }
    }

    if let Some(r) = &parsed {
        let h = r.host();
        assert_eq!(r.to_string(), h);
        assert!(input.contains(h), "{input:?}");
        assert!(!r.region().is_empty());
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
        for spelling in [
            h.to_owned(),
            format!("https://{h}"),
            format!("{h}:443"),
            format!("https://{h}/v2/"),
            format!("https://AWS@{h}:5000/v2/repo/manifests/latest?x=1#f"),
        ] {
            assert_eq!(
                Registry::parse(&spelling).as_ref(),
                Some(r),
                "{spelling:?} from {input:?}"
            );
        }
    }
});
