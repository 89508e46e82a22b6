//! The text of `--help`: the actions, the commands for people, the settings file and
//! every environment variable (the man page must cover each one: `make check-man`).

use crate::protocol::USAGE;

/// The `configure` part of the help, also what `configure --help` prints.
pub const CONFIGURE: &str = "  configure [--store [--fallback NAME]] [--dry-run] REGISTRY...
             add credHelpers entries for REGISTRY... (and with --store set credsStore) in
             Docker's config.json, keeping everything else; the old file is kept as config.json.bak;
             --fallback NAME also sets \"fallback\" in the settings file
  configure --containers [--store] [--dry-run] [REGISTRY...]
             the same for podman, skopeo and buildah: credHelpers entries in $REGISTRY_AUTH_FILE,
             else ~/.config/containers/auth.json; --store: a registries.conf.d drop-in (as root in
             /etc/containers) with credential-helpers = [\"containers-auth.json\", \"ecr-login\"]";

/// What `-h`, `--help` and `help` print.
pub fn help() -> String {
    [
        usage_and_actions(),
        for_people(),
        SETTINGS_AND_FALLBACK.to_owned(),
        environment(),
    ]
    .join("\n\n")
}

/// The version line, the usage and Docker's actions.
fn usage_and_actions() -> String {
    format!(
        "docker-credential-ecr-login {version}: Docker credential helper for Amazon ECR and ECR Public

{USAGE}
  (the action is read from the command line, the request from stdin, the answer goes to stdout)

Actions:
  get        read a registry host or URL on stdin, print {{\"ServerURL\",\"Username\",\"Secret\"}}
  list       print the registries with a cached token usable by the current AWS identity
             (with a region from AWS_REGION, AWS_DEFAULT_REGION or the profile, also the
             caller's own registry there; at most 2 s)
  store      what `docker login` calls: for an ECR host (or a key of the settings file)
             nothing is kept, exit 0, and one stderr line names the AWS identity its tokens
             come from; another host goes to the fallback store (see below), else not implemented
  erase      what `docker logout` calls: as store
  version    print the version (also -v, --version)
  help       print this help (also -h, --help)
  kubelet [ARGS...]
             the kubelet's image credential provider: a credentialprovider.kubelet.k8s.io/v1
             CredentialProviderRequest on stdin, the response on stdout (what the binary does
             when run as ecr-credential-provider; see `kubelet --help` and docs/kubelet.md)",
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The commands for people: setup, troubleshooting, and the password for other tools.
fn for_people() -> String {
    format!(
        "Setup and troubleshooting (for people, not for Docker):
{configure}
  doctor [HOST...]
             explain, step by step, what happens for HOST (default: every ECR registry named in
             Docker's config.json): Docker routing, identity, region, cache, a real token fetch
  doctor --kubelet-config FILE [--bin-dir DIR] [IMAGE...]
             check a kubelet CredentialProviderConfig: the ecr-credential-provider entry, the
             binary directory, and which provider matchImages route each image to

For tools that cannot run a credential helper (ctr, crictl, Nomad, Kubernetes, CI systems):
  login-password [--force] HOST
             print the password for HOST (as `aws ecr get-login-password`, but from the cache):
             ctr images pull --user \"AWS:$(docker-credential-ecr-login login-password HOST)\" ...
  export [--format auth|kube-secret] [--name NAME] [--namespace NS] [-o FILE] [--force] HOST...
             the credentials of every HOST in one document: auth (default) is the
             {{\"auths\":{{...}}}} of Docker's config.json / auth.json (skopeo --authfile, oras);
             kube-secret a kubernetes.io/dockerconfigjson Secret named NAME (default ecr-registry);
             -o FILE writes it atomically{export_mode}
  Both take tokens as get does (the cache first); they last 12 hours, so run them again before.
  A secret is never printed to a terminal unless --force is given. A HOST without a token: one
  line on stderr, nothing written, exit 1.",
        configure = CONFIGURE,
        export_mode = if cfg!(windows) { "" } else { " with mode 0600" },
    )
}

/// The settings file and the fallback store.
const SETTINGS_AND_FALLBACK: &str = "Settings file (per-registry settings; $AWS_ECR_CONFIG, else config.json in the cache directory):
  {\"registries\": {\"<host>\": {\"profile\": \"prod\"},  \"<12-digit account id>\": {\"profile\": \"dev\"},
                  \"<custom host>\": {\"registry\": \"<ECR registry host>\", \"profile\": \"...\"},
                  \"*.dkr.ecr.eu-west-1.amazonaws.com\": {\"role_arn\": \"arn:aws:iam::<account>:role/<name>\"}}}
  a role takes external_id, role_session_name, duration_seconds (900..43200), region (of STS)
  and source_profile (else the default chain assumes it); a key may be a pattern whose \"*\"
  labels each match one label; exact host first, then account id, then the pattern with the
  fewest \"*\" (then the leftmost label spelled out; then byte order), then the default
  credential chain; a mapping's profile or role wins over AWS_PROFILE and environment keys
  {\"fallback\": \"pass\"} at the top level names the fallback store (AWS_ECR_FALLBACK wins)

Fallback store (for credsStore: ecr-login with docker login elsewhere):
  get, store and erase for a host that is not ECR (nor a mapped custom name) run
  docker-credential-NAME from PATH with the same stdin; its stdout and exit status are the answer,
  its stderr is ours; list merges its list with ours (ours win). ECR hosts stay ours: store and
  erase for them succeed and store nothing. A missing fallback: one stderr line and the protocol's
  error. Starting it and handing it stdin are bounded (5 s each); its own prompts are its business.
  ecr-login (a loop) is refused; an untrusted settings file names no fallback.";

/// The environment variables and Docker's config.json.
fn environment() -> String {
    format!(
        "Environment:
  AWS_ECR_CACHE_DIR             cache and log directory (default {home}{sep}.ecr, or
                                $XDG_CACHE_HOME{sep}ecr-login when {home}{sep}.ecr does not exist)
  AWS_ECR_DISABLE_CACHE         any non-empty value: never cache tokens
  AWS_ECR_BACKGROUND_REFRESH    0/false/off/no: a token past its refresh point is fetched while the
                                client waits, instead of by a detached background process
  AWS_ECR_IGNORE_CREDS_STORAGE  true/1: store and erase succeed silently for every host;
                                false/0: not implemented, even for ECR hosts (the old answer)
  AWS_ECR_LOG_LEVEL             off, error, warn, info (default), debug, trace; logs in <cache dir>/log/
  AWS_ECR_CONFIG                the settings file (default <cache dir>/config.json)
  AWS_ECR_FALLBACK              fallback store for registries that are not ECR: docker-credential-NAME
  AWS_ECR_ROLE_ARN              kubelet: the role to assume with a service account token when the
                                service account has no (or an empty) eks.amazonaws.com/ecr-role-arn
                                annotation; with neither, such a request is refused
  AWS_ECR_CREDENTIALS_TIMEOUT   seconds allowed for loading AWS credentials (credential_process,
                                SSO, STS); default 6, or 120 when run from a terminal
  DOCKER_CONFIG                 Docker's configuration directory, for configure and doctor
  REGISTRY_AUTH_FILE, XDG_CONFIG_HOME
                                where configure --containers writes credHelpers entries
  AWS_DEFAULT_PROFILE, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
  AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE,
  AWS_LOGIN_CACHE_DIRECTORY, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_USE_FIPS_ENDPOINT,
  AWS_USE_DUALSTACK_ENDPOINT, AWS_MAX_ATTEMPTS, AWS_EC2_METADATA_DISABLED
                                the standard AWS settings, as the AWS CLI reads them
  AWS_CA_BUNDLE                 PEM file of CAs to trust for the AWS APIs (replaces system roots)
  HTTPS_PROXY, NO_PROXY         proxy for the AWS APIs

The cache directory, its tokens/ and log/, and the settings file are used only when you own
them and nobody else can write them ({fix}); otherwise every get asks AWS and says why.

Docker's config.json ({home}{sep}.docker{sep}config.json):
  {{\"credsStore\": \"ecr-login\"}}  or  {{\"credHelpers\": {{\"<registry host>\": \"ecr-login\"}}}}",
        home = if cfg!(windows) { "%USERPROFILE%" } else { "~" },
        sep = std::path::MAIN_SEPARATOR,
        fix = if cfg!(windows) {
            "their access list lets only you, SYSTEM and Administrators write"
        } else {
            "chmod go-w"
        },
    )
}
