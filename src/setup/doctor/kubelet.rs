//! `doctor --kubelet-config FILE [--bin-dir DIR] [IMAGE...]`: would the kubelet route IMAGE to us?
//!
//! Reads the kubelet's `CredentialProviderConfig` (JSON, or the YAML subset such files are written
//! in: block maps and lists, flow lists, quoted or plain scalars), finds the provider named
//! `ecr-credential-provider`, checks that the binary directory holds that file and that it is this
//! program, and matches each image against every provider's `matchImages` as the kubelet does
//! (same number of DNS labels, `*` within one label, port equal if given, path prefix). It reads,
//! it never writes, and it makes no AWS call.

use std::path::{Path, PathBuf};

use crate::files;
use crate::kubelet::{API_VERSION, PROVIDER_NAME};
use crate::text::printable;

/// The directory the packages install the provider in.
pub const DEFAULT_BIN_DIR: &str =
    "/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec";
const MAX_FILE: u64 = 1 << 20;

/// One image of every ECR name form, checked when no image is given.
const SAMPLE_IMAGES: &[&str] = &[
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1",
    "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:1",
    "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1",
    "123456789012.dkr-ecr.us-west-2.on.aws/app:1",
    "123456789012.dkr-ecr-fips.us-west-2.on.aws/app:1",
    "public.ecr.aws/docker/library/alpine:3",
    "ecr-public.aws.com/docker/library/alpine:3",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub api_version: String,
    pub match_images: Vec<String>,
    pub has_token_attributes: bool,
}

/// The arguments after `doctor`, if they ask for the kubelet check.
pub fn wanted(args: &[String]) -> bool {
    args.iter().any(|a| a == "--kubelet-config")
}

/// What `doctor --kubelet-config` was asked.
struct Check {
    file: String,
    bin_dir: PathBuf,
    images: Vec<String>,
}

impl Check {
    /// `None`: no `--kubelet-config FILE` (or a `--bin-dir` without its directory).
    fn parse(args: &[String]) -> Option<Check> {
        let mut file = None;
        let mut bin_dir = PathBuf::from(DEFAULT_BIN_DIR);
        let mut images = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--kubelet-config" => file = it.next().cloned(),
                "--bin-dir" => match it.next() {
                    Some(d) => bin_dir = PathBuf::from(d),
                    None => file = None,
                },
                other => images.push(other.to_owned()),
            }
        }
        Some(Check {
            file: file?,
            bin_dir,
            images,
        })
    }
}

/// Runs the check; the lines to print and whether every image is ours.
pub fn run(args: &[String]) -> (Vec<String>, bool) {
    let Some(req) = Check::parse(args) else {
        let usage = "usage: docker-credential-ecr-login doctor --kubelet-config FILE [--bin-dir DIR] [IMAGE...]";
        return (vec![usage.to_owned()], false);
    };
    let file = &req.file;
    let providers = match read_providers(Path::new(file)) {
        Ok(p) => p,
        Err(e) => return (vec![format!("kubelet   {file}: {}", printable(&e))], false),
    };
    let mut lines = Vec::new();
    let mut ok = check_provider(file, &providers, &mut lines);
    ok &= check_bin_dir(&req.bin_dir, &mut lines);
    ok &= check_images(&providers, &req.images, &mut lines);
    (lines, ok)
}

/// The providers of the kubelet's configuration file.
fn read_providers(file: &Path) -> Result<Vec<Provider>, String> {
    files::read_regular(file, MAX_FILE, true)
        .map_err(|e| e.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_owned()))
        .and_then(|t| parse_config(&t))
}

/// Whether the file names our provider, with the API version we speak.
fn check_provider(file: &str, providers: &[Provider], lines: &mut Vec<String>) -> bool {
    let Some(p) = providers.iter().find(|p| p.name == PROVIDER_NAME) else {
        let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        lines.push(format!(
            "kubelet   {file}: no provider named {PROVIDER_NAME:?} (providers: {}); the kubelet runs the file named like the provider",
            printable(&names.join(", "))
        ));
        return false;
    };
    lines.push(format!(
        "kubelet   {file}: provider {PROVIDER_NAME:?}, {} matchImages{}",
        p.match_images.len(),
        if p.has_token_attributes {
            ", tokenAttributes (service-account tokens)"
        } else {
            ""
        }
    ));
    if p.api_version != API_VERSION {
        lines.push(format!(
            "apiVersion {:?}: must be {API_VERSION}",
            printable(&p.api_version)
        ));
        return false;
    }
    true
}

/// Whether the binary directory holds the provider, and whether it is this program.
fn check_bin_dir(bin_dir: &Path, lines: &mut Vec<String>) -> bool {
    // The kubelet finds the provider with Go's exec.LookPath(bin_dir/name): on Windows that is
    // `name.exe` (or .com, .bat, .cmd) when `name` has no extension.
    let path =
        files::find_in_dir(bin_dir, PROVIDER_NAME).unwrap_or_else(|| bin_dir.join(PROVIDER_NAME));
    let (line, good) = match bin_check(&path) {
        Ok(line) => (line, true),
        Err(line) => (line, false),
    };
    lines.push(format!("bin-dir   {line}"));
    good
}

/// Whether the kubelet routes every image (the samples when none is given) to us first.
fn check_images(providers: &[Provider], images: &[String], lines: &mut Vec<String>) -> bool {
    let samples: Vec<String>;
    let images = if images.is_empty() {
        samples = SAMPLE_IMAGES.iter().map(|s| s.to_string()).collect();
        &samples
    } else {
        images
    };
    let mut ok = true;
    for image in images {
        let first = providers
            .iter()
            .find(|p| p.match_images.iter().any(|m| url_matches(m, image)));
        let line = match first {
            Some(p) if p.name == PROVIDER_NAME => {
                let m = p
                    .match_images
                    .iter()
                    .find(|m| url_matches(m, image))
                    .map_or("", String::as_str);
                format!("image     {image}: routed to us by {m:?}")
            }
            Some(p) => {
                ok = false;
                format!(
                    "image     {image}: routed first to provider {:?}, not {PROVIDER_NAME}",
                    p.name
                )
            }
            None => {
                ok = false;
                format!(
                    "image     {image}: no matchImages entry matches: the kubelet pulls it without credentials"
                )
            }
        };
        lines.push(printable(&line));
    }
    ok
}

fn bin_check(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let executable = crate::files::executable_at(path).map_err(|e| {
        format!("{shown}: {e}; set --image-credential-provider-bin-dir to the directory that holds it (or pass --bin-dir)")
    })?;
    if !executable {
        return Err(format!("{shown}: not an executable file"));
    }
    let target = crate::files::canonical(path).map_err(|e| format!("{shown}: {e}"))?;
    // One file, not one path: a symbolic or hard link to this binary is this program.
    let me = std::env::current_exe();
    let same = match &me {
        Ok(me) => crate::files::same_file(me, path).ok(),
        Err(_) => None,
    };
    match (same, me.and_then(|p| crate::files::canonical(&p))) {
        (Some(true), _) => Ok(format!("{shown} is this program")),
        (Some(false), Ok(me)) => Err(format!(
            "{shown} is {}, not this program ({}): another provider of that name",
            target.display(),
            me.display()
        )),
        _ => Ok(format!(
            "{shown} exists (cannot tell whether it is this program)"
        )),
    }
}

/// The providers of a `CredentialProviderConfig`, JSON or YAML.
pub fn parse_config(text: &str) -> Result<Vec<Provider>, String> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => crate::setup::yaml::parse(text)?,
    };
    if value.get("kind").and_then(|k| k.as_str()) != Some("CredentialProviderConfig") {
        return Err("not a CredentialProviderConfig (kind)".into());
    }
    let providers = value
        .get("providers")
        .and_then(|p| p.as_array())
        .ok_or("no providers list")?;
    Ok(providers
        .iter()
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            Provider {
                name: s("name"),
                api_version: s("apiVersion"),
                match_images: p
                    .get("matchImages")
                    .and_then(|m| m.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                has_token_attributes: p.get("tokenAttributes").is_some_and(|t| t.is_object()),
            }
        })
        .collect())
}

/// Whether the kubelet's `matchImages` entry `pattern` matches `image` (its `URLsMatchStr`):
/// the same number of host labels, each matching (`*` within one label), the port equal when
/// the pattern has one, and the pattern's path a prefix of the image's.
pub fn url_matches(pattern: &str, image: &str) -> bool {
    let split = |s: &str| -> (String, Option<String>, String) {
        let s = s.split_once("://").map_or(s, |(_, r)| r);
        let (authority, path) = match s.find('/') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.to_owned())),
            None => (authority, None),
        };
        (host.to_ascii_lowercase(), port, path.to_owned())
    };
    let (p_host, p_port, p_path) = split(pattern);
    let (i_host, i_port, i_path) = split(image);
    let p_labels: Vec<&str> = p_host.split('.').collect();
    let i_labels: Vec<&str> = i_host.split('.').collect();
    if p_labels.len() != i_labels.len() || !p_labels.iter().zip(&i_labels).all(|(p, i)| glob(p, i))
    {
        return false;
    }
    if p_port.is_some() && p_port != i_port {
        return false;
    }
    i_path.starts_with(&p_path)
}

/// `*` matches any run of characters (within one label: labels have no `.`).
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  # ours
  - name: ecr-credential-provider
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "*.dkr-ecr.*.on.aws"
      - public.ecr.aws
    defaultCacheDuration: "12h"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: []
    tokenAttributes:
      serviceAccountTokenAudience: sts.amazonaws.com
      requireServiceAccount: false
  - name: other
    matchImages: ["gcr.io", "*.example.com:5000/team"]
    apiVersion: credentialprovider.kubelet.k8s.io/v1
"#;

    #[test]
    fn yaml_and_json_configs_give_the_same_providers() {
        let p = parse_config(YAML).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, PROVIDER_NAME);
        assert_eq!(p[0].api_version, API_VERSION);
        assert_eq!(
            p[0].match_images,
            [
                "*.dkr.ecr.*.amazonaws.com",
                "*.dkr-ecr.*.on.aws",
                "public.ecr.aws"
            ]
        );
        assert!(p[0].has_token_attributes);
        assert_eq!(p[1].match_images, ["gcr.io", "*.example.com:5000/team"]);
        let json = r#"{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{"name":"ecr-credential-provider","apiVersion":"credentialprovider.kubelet.k8s.io/v1","matchImages":["public.ecr.aws"],"defaultCacheDuration":"1h"}]}"#;
        let j = parse_config(json).unwrap();
        assert_eq!(j[0].match_images, ["public.ecr.aws"]);
        assert!(parse_config("kind: Other\n").is_err());
    }

    #[test]
    fn match_images_match_as_the_kubelet_matches() {
        let m = url_matches;
        assert!(m(
            "*.dkr.ecr.*.amazonaws.com",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1"
        ));
        assert!(!m(
            "*.dkr.ecr.*.amazonaws.com",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app"
        ));
        assert!(!m(
            "*.amazonaws.com",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/app"
        ));
        assert!(m(
            "public.ecr.aws",
            "public.ecr.aws/docker/library/alpine:3"
        ));
        assert!(m("*.example.com:5000/team", "r.example.com:5000/team/app"));
        assert!(!m("*.example.com:5000/team", "r.example.com:5001/team/app"));
        assert!(!m(
            "*.example.com:5000/team",
            "r.example.com:5000/other/app"
        ));
        assert!(m("app*.k8s.io", "apps.k8s.io/x"));
        assert!(m("registry.io", "registry.io:8080/path"));
    }
}
