//! Every environment variable this program reads, read once and named once (docs/contract.md §12).
//!
//! `Config::from_lookup` takes a lookup function so tests build a configuration without touching
//! the process environment. The AWS SDK reads its own standard variables (`AWS_REGION`,
//! `AWS_ENDPOINT_URL*`, `AWS_MAX_ATTEMPTS`, ...) when a token is fetched; the ones named here are
//! those this program itself acts on, or that decide whose token a cached entry is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::secret::Secret;

/// Cache directory override. A leading `~` or `~/` expands to the home directory.
pub const CACHE_DIR: &str = "AWS_ECR_CACHE_DIR";
/// The XDG base directory for caches: with no `~/.ecr`, the cache is `$XDG_CACHE_HOME/ecr-login`
/// (only an absolute value counts, as the XDG Base Directory specification says).
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// The directory under `XDG_CACHE_HOME` that is ours.
pub const XDG_CACHE_NAME: &str = "ecr-login";
/// Any non-empty value disables the cache (as Go: even `false`).
pub const DISABLE_CACHE: &str = "AWS_ECR_DISABLE_CACHE";
/// `true` (any case) or `1`: `store`/`erase` succeed silently without storing anything, for
/// every host; `false` (any case) or `0`: they answer not-implemented, even for ECR hosts (the
/// behaviour before `store` of an ECR host succeeded by default).
pub const IGNORE_CREDS_STORAGE: &str = "AWS_ECR_IGNORE_CREDS_STORAGE";
/// Log level: `off`, `error`, `warn`, `info` (default), `debug`, `trace`.
pub const LOG_LEVEL: &str = "AWS_ECR_LOG_LEVEL";
/// A PEM bundle of CAs to trust instead of the system store (the AWS CLI's meaning).
pub const CA_BUNDLE: &str = "AWS_CA_BUNDLE";
/// The per-registry settings file (default `config.json` in the cache directory).
pub const SETTINGS_FILE: &str = "AWS_ECR_CONFIG";
/// Seconds allowed for resolving AWS credentials (default 6, or 120 with a terminal).
pub const CREDENTIALS_TIMEOUT: &str = "AWS_ECR_CREDENTIALS_TIMEOUT";
/// The role the kubelet's service-account mode assumes when the service account has no
/// `eks.amazonaws.com/ecr-role-arn` annotation (cloud-provider-aws's variable; `kubelet.rs`).
pub const ECR_ROLE_ARN: &str = "AWS_ECR_ROLE_ARN";
/// The auth file podman, skopeo and buildah use instead of their default (containers-auth.json(5)):
/// `configure --containers` writes its `credHelpers` there.
pub const REGISTRY_AUTH_FILE: &str = "REGISTRY_AUTH_FILE";
/// The XDG base directory for configuration (default `~/.config`): containers-auth.json(5) reads
/// `$XDG_CONFIG_HOME/containers/auth.json`.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// Docker's configuration directory (default `~/.docker`), as the docker CLI reads it.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// The credential store for every registry that is not ECR: `docker-credential-<name>` on
/// `PATH` (`fallback.rs`). Wins over the settings file's `"fallback"`.
pub const FALLBACK: &str = "AWS_ECR_FALLBACK";
/// Set by this helper for the fallback store it runs (to the store's path), and so inherited by
/// anything the store starts: a run that finds it set does not hand a host to a fallback again
/// (a store that calls this helper would be a loop; `fallback.rs`). Not for users to set.
pub const IN_FALLBACK: &str = "AWS_ECR_IN_FALLBACK";

/// `0`, `false`, `off` or `no` (any case): a `get` that finds a token past its refresh point
/// fetches the new one itself while the client waits, instead of answering from the cache and
/// refreshing in a detached process (`helper.rs`). The settings file's `"backgroundRefresh":
/// false` does the same.
pub const BACKGROUND_REFRESH: &str = "AWS_ECR_BACKGROUND_REFRESH";

/// Standard AWS variables this program reads itself (the SDK reads them too).
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const PROFILE: &str = "AWS_PROFILE";
/// Read by botocore (and so the AWS CLI) before `AWS_PROFILE`; the SDKs ignore it.
pub const DEFAULT_PROFILE: &str = "AWS_DEFAULT_PROFILE";
pub const CONFIG_FILE: &str = "AWS_CONFIG_FILE";
pub const SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
pub const ROLE_ARN: &str = "AWS_ROLE_ARN";
pub const ROLE_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
pub const WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
pub const CONTAINER_CREDENTIALS_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
pub const CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// Where `aws login` keeps its sessions (default `~/.aws/login/cache`).
pub const LOGIN_CACHE_DIRECTORY: &str = "AWS_LOGIN_CACHE_DIRECTORY";
pub const ENDPOINT_URL_ECR: &str = "AWS_ENDPOINT_URL_ECR";
pub const ENDPOINT_URL_ECR_PUBLIC: &str = "AWS_ENDPOINT_URL_ECR_PUBLIC";
pub const REGION: &str = "AWS_REGION";
pub const DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
pub const HOME: &str = "HOME";
pub const PATH: &str = "PATH";

/// The environment variables that select AWS credentials, and so whose token a cache entry holds.
/// (`identity.rs` hashes their values; none of them is resolved into credentials on a cache hit.)
pub const IDENTITY_VARS: &[&str] = &[
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    PROFILE,
    DEFAULT_PROFILE,
    CONFIG_FILE,
    SHARED_CREDENTIALS_FILE,
    ROLE_ARN,
    ROLE_SESSION_NAME,
    WEB_IDENTITY_TOKEN_FILE,
    CONTAINER_CREDENTIALS_RELATIVE_URI,
    CONTAINER_CREDENTIALS_FULL_URI,
    LOGIN_CACHE_DIRECTORY,
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    // A token is only good at the API that issued it: keep tokens from other endpoints apart.
    "AWS_ENDPOINT_URL",
    ENDPOINT_URL_ECR,
    ENDPOINT_URL_ECR_PUBLIC,
];

/// Variables that change how a fetch goes without changing whose token it is: a failure recorded
/// under other values of these is not shared (a user who fixes a proxy or CA bundle and retries
/// must not be answered with the failure that the fix was for).
pub const FETCH_CONTEXT_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "AWS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    REGION,
    DEFAULT_REGION,
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    CREDENTIALS_TIMEOUT,
];

/// Variables whose values are secrets: hashed into the identity, never logged.
pub const SECRET_VARS: &[&str] = &[SECRET_ACCESS_KEY, SESSION_TOKEN];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "0" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `None` when there is neither `AWS_ECR_CACHE_DIR` nor a home directory.
    pub cache_dir: Option<PathBuf>,
    pub cache_disabled: bool,
    pub ignore_creds_storage: bool,
    /// [`IGNORE_CREDS_STORAGE`] is `false` (any case) or `0`: the old not-implemented answers.
    pub refuse_creds_storage: bool,
    pub log_level: LogLevel,
    pub ca_bundle: Option<PathBuf>,
    /// `AWS_CONFIG_FILE` or `~/.aws/config`.
    pub aws_config_file: Option<PathBuf>,
    /// `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
    pub aws_credentials_file: Option<PathBuf>,
    /// `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE` (botocore's order), if set and non-empty.
    pub profile: Option<String>,
    /// The variable [`Config::profile`] came from (for messages).
    pub profile_var: &'static str,
    /// `(name, value)` of every set variable of [`IDENTITY_VARS`], in that order; secrets wrapped.
    pub identity_env: Vec<(&'static str, Secret<String>)>,
    /// `AWS_ECR_CONFIG`, else `config.json` in the cache directory.
    pub settings_file: Option<PathBuf>,
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub docker_config_file: Option<PathBuf>,
    /// Where `configure --containers` writes `credHelpers` (docs/contract.md §2.5):
    /// `$REGISTRY_AUTH_FILE`, else `$XDG_CONFIG_HOME/containers/auth.json` (an absolute one),
    /// else `~/.config/containers/auth.json`.
    pub containers_auth_file: Option<PathBuf>,
    /// The user's registries.conf drop-in directory, `~/.config/containers/registries.conf.d`.
    pub containers_user_conf_d: Option<PathBuf>,
    /// Whether the process runs as root (`configure --containers --store` then writes the
    /// system-wide drop-in): set by `main`, false in tests.
    pub root: bool,
    /// `PATH`, to tell whether Docker can find this helper.
    pub path: Option<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION` (the selected profile's `region` comes after
    /// them: `identity::default_region`).
    pub region: Option<String>,
    /// `AWS_ECR_CREDENTIALS_TIMEOUT`, if set to a positive number of seconds.
    pub credentials_timeout: Option<Duration>,
    /// The values of [`FETCH_CONTEXT_VARS`], one `NAME=value` line each (not secret).
    pub fetch_context: String,
    /// Whether the process has a controlling terminal (someone may answer a prompt): set by
    /// `main`, false in tests unless they say so.
    pub interactive: bool,
    /// Whether stdout is a terminal (`login-password` and `export` refuse to print a secret
    /// there unless forced): set by `main`, false in tests.
    pub stdout_terminal: bool,
    /// [`ECR_ROLE_ARN`], if set and non-empty (the kubelet's service-account mode).
    pub kubelet_role_arn: Option<String>,
    /// [`FALLBACK`], if set and non-empty: the fallback credential store's name.
    pub fallback: Option<String>,
    /// [`IN_FALLBACK`], if set and non-empty: this run was started by that fallback store.
    pub in_fallback: Option<String>,
    /// [`BACKGROUND_REFRESH`] is not set to turn background refresh off.
    pub background_refresh: bool,
    /// Whether a background refresh may start this program's executable (set by `main`; false
    /// in tests unless they say so, and then every refresh is done in the foreground).
    pub can_spawn_refresher: bool,
}

/// How long credentials may take without a terminal: a `credential_process` that hangs, an
/// unreachable STS or SSO, must not hang a `docker` command.
pub const CREDENTIALS_BOUND: Duration = Duration::from_secs(6);
/// ... and with one: an MFA prompt on the terminal or a browser login (aws-vault, granted,
/// aws-sso-util) needs a person, and people take longer.
pub const INTERACTIVE_CREDENTIALS_BOUND: Duration = Duration::from_secs(120);

impl Config {
    /// Builds the configuration from `lookup` (the process environment in `main`) and the
    /// user's home directory (in `main`, the `directories` crate's answer: `HOME`, else the
    /// password database).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, home: Option<PathBuf>) -> Config {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let cache_dir = match get(CACHE_DIR) {
            Some(dir) => expand_tilde(&dir, home.as_deref()),
            None => default_cache_dir(home.as_deref(), get(XDG_CACHE_HOME).as_deref()),
        };
        let ignore =
            get(IGNORE_CREDS_STORAGE).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let refuse =
            get(IGNORE_CREDS_STORAGE).is_some_and(|v| v.eq_ignore_ascii_case("false") || v == "0");
        let log_level = get(LOG_LEVEL)
            .and_then(|v| LogLevel::parse(&v))
            .unwrap_or(LogLevel::Info);
        let aws_file = |var: &str, name: &str| match get(var) {
            Some(p) => expand_tilde(&p, home.as_deref()),
            None => home.as_ref().map(|h| h.join(".aws").join(name)),
        };
        let settings_file = match get(SETTINGS_FILE) {
            Some(p) => expand_tilde(&p, home.as_deref()),
            None => cache_dir.as_ref().map(|d| d.join("config.json")),
        };
        let docker_config_file = match get(DOCKER_CONFIG) {
            Some(d) => expand_tilde(&d, home.as_deref()).map(|d| d.join("config.json")),
            None => home.as_ref().map(|h| h.join(".docker").join("config.json")),
        };
        let containers_auth_file = containers_auth_file(
            get(REGISTRY_AUTH_FILE),
            get(XDG_CONFIG_HOME),
            home.as_deref(),
        );
        let containers_user_conf_d = home
            .as_ref()
            .map(|h| h.join(".config/containers/registries.conf.d"));
        let credentials_timeout = get(CREDENTIALS_TIMEOUT).and_then(|v| seconds(&v));
        let fetch_context = FETCH_CONTEXT_VARS
            .iter()
            .filter_map(|&n| get(n).map(|v| format!("{n}={v}\n")))
            .collect();
        Config {
            fetch_context,
            credentials_timeout,
            interactive: false,
            stdout_terminal: false,
            kubelet_role_arn: get(ECR_ROLE_ARN),
            fallback: get(FALLBACK),
            in_fallback: get(IN_FALLBACK),
            background_refresh: !get(BACKGROUND_REFRESH).is_some_and(|v| is_off(&v)),
            can_spawn_refresher: false,
            settings_file,
            docker_config_file,
            containers_auth_file,
            containers_user_conf_d,
            root: false,
            path: get(PATH),
            region: get(REGION).or_else(|| get(DEFAULT_REGION)),
            cache_dir,
            cache_disabled: get(DISABLE_CACHE).is_some(),
            ignore_creds_storage: ignore,
            refuse_creds_storage: refuse,
            log_level,
            ca_bundle: get(CA_BUNDLE).and_then(|p| expand_tilde(&p, home.as_deref())),
            aws_config_file: aws_file(CONFIG_FILE, "config"),
            aws_credentials_file: aws_file(SHARED_CREDENTIALS_FILE, "credentials"),
            profile: get(DEFAULT_PROFILE).or_else(|| get(PROFILE)),
            profile_var: if get(DEFAULT_PROFILE).is_some() {
                DEFAULT_PROFILE
            } else {
                PROFILE
            },
            identity_env: IDENTITY_VARS
                .iter()
                .filter_map(|&name| get(name).map(|v| (name, Secret::new(v))))
                .collect(),
        }
    }

    /// A configuration from `name=value` pairs alone, the home directory being the `HOME` pair
    /// (tests and fuzzing: no process environment, no password database).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Config {
        let lookup = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let home = lookup(HOME).filter(|h| !h.is_empty()).map(PathBuf::from);
        Config::from_lookup(lookup, home)
    }

    /// The value of one of [`IDENTITY_VARS`] (a non-secret one: callers must not log secrets).
    pub fn identity_var(&self, name: &str) -> Option<&str> {
        self.identity_env
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.expose().as_str())
    }

    /// The bound on resolving credentials: the variable, else 6 s, or 120 s with a terminal.
    pub fn credentials_bound(&self) -> Duration {
        self.credentials_timeout.unwrap_or(if self.interactive {
            INTERACTIVE_CREDENTIALS_BOUND
        } else {
            CREDENTIALS_BOUND
        })
    }

    /// The directory that holds the token cache and the log directory.
    pub fn log_dir(&self) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|d| d.join("log"))
    }
}

/// The cache directory without `AWS_ECR_CACHE_DIR` (docs/contract.md §8.1): `~/.ecr` when it is
/// there (the Go helper's, and ours before XDG), else `$XDG_CACHE_HOME/ecr-login` when that
/// variable is an absolute path, else `~/.ecr` (created when first needed).
fn default_cache_dir(home: Option<&Path>, xdg_cache_home: Option<&str>) -> Option<PathBuf> {
    let dot_ecr = home.map(|h| h.join(".ecr"));
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join(XDG_CACHE_NAME));
    match (dot_ecr, xdg) {
        (Some(d), Some(x)) if !crate::files::is_there(&d) => Some(x),
        (Some(d), _) => Some(d),
        (None, x) => x,
    }
}

/// `REGISTRY_AUTH_FILE`, else `$XDG_CONFIG_HOME/containers/auth.json` (an absolute
/// `XDG_CONFIG_HOME` only), else `~/.config/containers/auth.json`: where podman looks.
fn containers_auth_file(
    auth_file: Option<String>,
    xdg_config_home: Option<String>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let config_home = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    match auth_file {
        Some(p) => expand_tilde(&p, home),
        None => config_home.map(|c| c.join("containers").join("auth.json")),
    }
}

/// A positive number of seconds (fractions allowed), at most an hour.
fn seconds(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// `0`, `false`, `off` or `no`, in any case.
fn is_off(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    matches!(v.as_str(), "0" | "false" | "off" | "no")
}

/// `~` and `~/x` expand to the home directory (`AWS_ECR_CACHE_DIR=~/.ecr` is common in docs).
fn expand_tilde(path: &str, home: Option<&Path>) -> Option<PathBuf> {
    if path == "~" {
        return home.map(Path::to_path_buf);
    }
    match path.strip_prefix("~/") {
        Some(rest) => home.map(|h| h.join(rest)),
        None => Some(PathBuf::from(path)),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests set their files up with std::fs
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars)
    }

    #[test]
    fn cache_dir_defaults_to_dot_ecr_and_expands_tilde() {
        assert_eq!(
            config(&[("HOME", "/h")]).cache_dir,
            Some(PathBuf::from("/h/.ecr"))
        );
        assert_eq!(
            config(&[("HOME", "/h"), (CACHE_DIR, "~/c")]).cache_dir,
            Some(PathBuf::from("/h/c"))
        );
        assert_eq!(
            config(&[("HOME", "/h"), (CACHE_DIR, "~")]).cache_dir,
            Some(PathBuf::from("/h"))
        );
        assert_eq!(
            config(&[("HOME", "/h"), (CACHE_DIR, "/x")]).cache_dir,
            Some(PathBuf::from("/x"))
        );
        assert_eq!(
            config(&[("HOME", "/h"), (CACHE_DIR, "")]).cache_dir,
            Some(PathBuf::from("/h/.ecr"))
        );
        assert_eq!(config(&[]).cache_dir, None);
    }

    #[cfg(unix)]
    #[test]
    fn xdg_cache_home_is_used_only_without_dot_ecr_and_never_over_the_variable() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let xdg = tempfile::tempdir().unwrap();
        let x = xdg.path().to_str().unwrap();
        let ours = xdg.path().join("ecr-login");
        // No ~/.ecr: the XDG directory (not created by merely reading the configuration).
        let cfg = config(&[("HOME", h), (XDG_CACHE_HOME, x)]);
        assert_eq!(cfg.cache_dir.as_deref(), Some(ours.as_path()));
        assert_eq!(cfg.settings_file, Some(ours.join("config.json")));
        assert_eq!(cfg.log_dir(), Some(ours.join("log")));
        assert!(!ours.exists());
        // Relative or empty: ignored, as the XDG specification says.
        for bad in ["relative/cache", ""] {
            assert_eq!(
                config(&[("HOME", h), (XDG_CACHE_HOME, bad)]).cache_dir,
                Some(home.path().join(".ecr")),
                "{bad}"
            );
        }
        // No home at all: the XDG directory still is one.
        assert_eq!(
            config(&[(XDG_CACHE_HOME, x)]).cache_dir.as_deref(),
            Some(ours.as_path())
        );
        // AWS_ECR_CACHE_DIR wins over both.
        assert_eq!(
            config(&[("HOME", h), (XDG_CACHE_HOME, x), (CACHE_DIR, "/c")]).cache_dir,
            Some(PathBuf::from("/c"))
        );
        // An existing ~/.ecr (even a dangling link) keeps being used.
        std::os::unix::fs::symlink("/nonexistent/ecr", home.path().join(".ecr")).unwrap();
        assert_eq!(
            config(&[("HOME", h), (XDG_CACHE_HOME, x)]).cache_dir,
            Some(home.path().join(".ecr"))
        );
        std::fs::remove_file(home.path().join(".ecr")).unwrap();
        std::fs::create_dir(home.path().join(".ecr")).unwrap();
        assert_eq!(
            config(&[("HOME", h), (XDG_CACHE_HOME, x)]).cache_dir,
            Some(home.path().join(".ecr"))
        );
    }

    #[test]
    fn disable_cache_is_any_non_empty_value_like_go() {
        assert!(config(&[(DISABLE_CACHE, "false")]).cache_disabled);
        assert!(config(&[(DISABLE_CACHE, "1")]).cache_disabled);
        assert!(!config(&[(DISABLE_CACHE, "")]).cache_disabled);
        assert!(!config(&[]).cache_disabled);
    }

    #[test]
    fn ignore_creds_storage_accepts_true_in_any_case_and_1() {
        for v in ["true", "TRUE", "True", "1"] {
            assert!(
                config(&[(IGNORE_CREDS_STORAGE, v)]).ignore_creds_storage,
                "{v}"
            );
        }
        for v in ["false", "yes", "", "0"] {
            assert!(
                !config(&[(IGNORE_CREDS_STORAGE, v)]).ignore_creds_storage,
                "{v}"
            );
        }
        for (v, refuse) in [
            ("false", true),
            ("FALSE", true),
            ("0", true),
            ("yes", false),
            ("", false),
            ("true", false),
        ] {
            assert_eq!(
                config(&[(IGNORE_CREDS_STORAGE, v)]).refuse_creds_storage,
                refuse,
                "{v}"
            );
        }
    }

    #[test]
    fn credentials_bound_is_the_variable_else_longer_with_a_terminal() {
        assert_eq!(config(&[]).credentials_bound(), CREDENTIALS_BOUND);
        let mut tty = config(&[]);
        tty.interactive = true;
        assert_eq!(tty.credentials_bound(), INTERACTIVE_CREDENTIALS_BOUND);
        let mut set = config(&[(CREDENTIALS_TIMEOUT, "1.5")]);
        set.interactive = true;
        assert_eq!(set.credentials_bound(), Duration::from_millis(1500));
        for bad in ["0", "-1", "x", "NaN", "inf"] {
            assert_eq!(
                config(&[(CREDENTIALS_TIMEOUT, bad)]).credentials_bound(),
                CREDENTIALS_BOUND,
                "{bad}"
            );
        }
    }

    #[test]
    fn aws_default_profile_wins_over_aws_profile_as_with_botocore() {
        let both = config(&[(PROFILE, "a"), (DEFAULT_PROFILE, "b")]);
        assert_eq!(
            (both.profile.as_deref(), both.profile_var),
            (Some("b"), DEFAULT_PROFILE)
        );
        let one = config(&[(PROFILE, "a"), (DEFAULT_PROFILE, "")]);
        assert_eq!(
            (one.profile.as_deref(), one.profile_var),
            (Some("a"), PROFILE)
        );
        assert_eq!(config(&[]).profile, None);
    }

    #[test]
    fn log_level_defaults_to_info_and_ignores_garbage() {
        assert_eq!(config(&[]).log_level, LogLevel::Info);
        assert_eq!(config(&[(LOG_LEVEL, "DEBUG")]).log_level, LogLevel::Debug);
        assert_eq!(config(&[(LOG_LEVEL, "off")]).log_level, LogLevel::Off);
        assert_eq!(config(&[(LOG_LEVEL, "loud")]).log_level, LogLevel::Info);
    }
}
