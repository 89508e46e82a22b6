# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file
# Shared plumbing for tests/e2e/run.sh and tests/e2e/demo.sh: dependencies, a temp world
# (certificates, moto, registries, /etc/hosts lines), and a cleanup that leaves nothing behind.
# Everything listens on 127.0.0.0/8; no test reaches the internet or AWS.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
PY=$(command -v python3 || true)
HOSTS_MARK="docker-credential-ecr-login-e2e-$$"
ACCOUNT=123456789012
MOTO_PASSWORD="$ACCOUNT-auth-token"
PUBLIC_PASSWORD="public-auth-token"
REG_NAME="$ACCOUNT.dkr.ecr.us-east-1.amazonaws.com"     # ECR-looking, served by the main registry
WRONG_ACCOUNT=210987654321
WRONG_NAME="$WRONG_ACCOUNT.dkr.ecr.us-west-2.amazonaws.com" # ECR-looking, registry with another password
PUBLIC_NAME="public.ecr.aws"                              # ECR Public, served by a third registry
OPEN_NAME="open.registry.e2e.test"                        # not ECR, anonymous registry
PRIVATE_NAME="private.registry.e2e.test"                  # not ECR, htpasswd user e2euser (fallback store)
API_NAME="api.ecr.e2e.test"                               # TLS fake of the ECR API (proxy / CA cases)
E2E_PIDS=()
E2E_ADDED_IP=""
T=""

e2e_log() { printf '%s\n' "e2e: $*" >&2; }
e2e_die() { printf '%s\n' "e2e: setup failed: $*" >&2; exit 1; }

# ---------------------------------------------------------------- dependencies
# e2e_need CMD:PACKAGE...: apt-get install the packages whose command is missing (nothing when
# all are there); exits (e2e_die) if the install fails.
e2e_need() {
    local need=() c
    for c in "$@"; do
        command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
    done
    e2e_apt_install "${need[@]}"
}

# e2e_apt_install PACKAGE...: apt-get install (none given: nothing to do).
e2e_apt_install() {
    [ $# -gt 0 ] || return 0
    e2e_log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    # Packages such as docker-registry, tinyproxy and docker.io start their service on install
    # where they can; forbid that for the install (policy-rc.d, unless the machine has one).
    local policy="" rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
    fi
    { apt-get update -qq && apt-get install -y -qq "$@"; } >&2 || rc=$?
    [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
    [ $rc -eq 0 ] || e2e_die "apt-get install $*"
    PY=$(command -v python3)
}

e2e_install_deps() {
    local need=() c
    for c in skopeo:skopeo podman:podman docker-registry:docker-registry htpasswd:apache2-utils \
        tinyproxy:tinyproxy openssl:openssl ip:iproute2 curl:curl tar:tar \
        docker-credential-pass:golang-docker-credential-helpers pass:pass gpg:gnupg; do
        command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
    done
    command -v docker >/dev/null 2>&1 || need+=(docker.io)
    # A real engine (tests/e2e/engine.sh): dockerd, containerd and ctr; a static busybox to run.
    command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
    dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
    # More clients (tests/e2e/clients.sh).
    command -v buildah >/dev/null 2>&1 || need+=(buildah)
    command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
    [ -n "$PY" ] || need+=(python3 python3-pip)
    e2e_apt_install "${need[@]}"
    if ! "$PY" -c 'import moto.server, werkzeug' 2>/dev/null; then
        e2e_log "installing moto[server]"
        "$PY" -m pip install --quiet 'moto[server]' >&2 ||
            "$PY" -m pip install --quiet --break-system-packages 'moto[server]' >&2 ||
            e2e_die "pip install moto[server]"
    fi
    if declare -F clients_install >/dev/null; then clients_install; fi
}

# One line naming the versions the suite runs against.
e2e_versions() {
    local sk pm dk rg mt tp
    sk=$(skopeo --version 2>/dev/null | awk '{print $3}')
    pm=$(podman --version 2>/dev/null | awk '{print $3}')
    dk=$(docker --version 2>/dev/null | awk '{print $3}' | tr -d ,)
    rg=$(docker-registry --version 2>/dev/null | awk '{print $3}')
    mt=$("$PY" -c 'import moto; print(moto.__version__)' 2>/dev/null)
    tp=$(tinyproxy -v 2>/dev/null | awk '{print $2}')
    echo "skopeo $sk, podman $pm, docker CLI $dk, docker-registry $rg, moto $mt, tinyproxy $tp"
}

e2e_build() {
    local locked=()
    [ -f "$ROOT/Cargo.lock" ] && locked=(--locked)
    (cd "$ROOT" && "${CARGO:-cargo}" build --quiet "${locked[@]}") >&2 || e2e_die "cargo build"
    [ -x "$ROOT/target/debug/docker-credential-ecr-login" ] || e2e_die "no target/debug/docker-credential-ecr-login"
}

# ---------------------------------------------------------------- temp world and cleanup
e2e_cleanup() {
    local pid i
    # The real engine first (tests/e2e/engine.sh): by its PID, with what it left outside $T.
    if declare -F engine_stop >/dev/null; then engine_stop; fi
    for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${E2E_PIDS[i]}
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${E2E_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    E2E_PIDS=()
    e2e_hosts_remove
    if [ -n "$E2E_ADDED_IP" ]; then
        ip addr del "$E2E_ADDED_IP" dev lo 2>/dev/null || true
        E2E_ADDED_IP=""
    fi
    if [ -n "$T" ] && [ -d "$T" ]; then
        rm -rf "$T" 2>/dev/null || { chmod -R u+w "$T" 2>/dev/null; rm -rf "$T" 2>/dev/null; } || true
    fi
}

# e2e_init: the temp world $T; $T/bin, first on CLIENT_PATH, holds docker-credential-ecr-login:
# a link to E2E_HELPER (default target/debug's binary; cross-smoke.sh: the aarch64 one).
e2e_init() {
    T=$(mktemp -d /tmp/ecr-login-e2e.XXXXXX) || e2e_die "mktemp"
    chmod 755 "$T"
    mkdir -p "$T/bin" "$T/logs" "$T/certs" "$T/cases"
    ln -s "${E2E_HELPER:-$ROOT/target/debug/docker-credential-ecr-login}" "$T/bin/docker-credential-ecr-login"
    CLIENT_PATH="$T/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

# /etc/hosts may be a bind mount: never replace the file, rewrite its content.
e2e_hosts_add() {
    local name
    for name in "$@"; do
        printf '127.0.0.1 %s # %s\n' "$name" "$HOSTS_MARK" >>/etc/hosts || e2e_die "cannot write /etc/hosts (run as root)"
    done
}

e2e_hosts_remove() {
    grep -qF "# $HOSTS_MARK" /etc/hosts 2>/dev/null || return 0
    local kept
    kept=$(grep -vF "# $HOSTS_MARK" /etc/hosts)
    printf '%s\n' "$kept" >/etc/hosts
}

# e2e_bg NAME CMD...: start a background process, remember its pid, log to $T/logs/NAME.log.
e2e_bg() {
    local name=$1
    shift
    "$@" >"$T/logs/$name.log" 2>&1 &
    E2E_PIDS+=($!)
}

e2e_free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# e2e_wait_port PORT [HOST]: until something accepts TCP connections there (10 s).
e2e_wait_port() {
    local port=$1 host=${2:-127.0.0.1}
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- certificates
e2e_certs() {
    local d=$T/certs
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ecr-login e2e CA" \
            -keyout "$d/ca.key" -out "$d/ca.crt" &&
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ecr-login e2e rogue CA" \
                -keyout "$d/rogue.key" -out "$d/rogue.crt" &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=$REG_NAME" -keyout "$d/server.key" -out "$d/server.csr" &&
            printf 'subjectAltName=DNS:%s,DNS:%s,DNS:%s,DNS:%s,DNS:%s,DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
                "$REG_NAME" "$WRONG_NAME" "$PUBLIC_NAME" "$OPEN_NAME" "$API_NAME" "$PRIVATE_NAME" >"$d/ext.cnf" &&
            openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
                -days 2 -extfile "$d/ext.cnf" -out "$d/server.crt"
    } >"$T/logs/openssl.log" 2>&1 || e2e_die "openssl (see $T/logs/openssl.log)"
    # skopeo/podman --cert-dir wants DIR/ca.crt (and no stray keys).
    mkdir -p "$T/certdir" && cp "$d/ca.crt" "$T/certdir/ca.crt"
}

# ---------------------------------------------------------------- services
e2e_start_moto() {
    MOTO_PORT=$(e2e_free_port)
    MOTO_REC="$T/logs/moto-recording.jsonl"
    : >"$MOTO_REC"
    e2e_bg moto env MOTO_ENABLE_RECORDING=True MOTO_RECORDER_FILEPATH="$MOTO_REC" \
        "$PY" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
    for _ in $(seq 150); do
        curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null && break
        sleep 0.2
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" || e2e_die "moto did not start (see $T/logs/moto.log)"
    MOTO_URL="http://127.0.0.1:$MOTO_PORT"
}

# e2e_start_registry NAME PASSWORD|"" [USER]: a TLS docker-registry with htpasswd user USER
# (default AWS); empty password = anonymous access. Its port is left in LAST_PORT.
e2e_start_registry() {
    local name=$1 password=$2 user=${3:-AWS} port dir
    port=$(e2e_free_port)
    dir="$T/registry-$name"
    mkdir -p "$dir/data"
    {
        printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n'
        printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$dir/data"
        printf 'http:\n  addr: 127.0.0.1:%s\n  tls:\n    certificate: %s\n    key: %s\n' \
            "$port" "$T/certs/server.crt" "$T/certs/server.key"
        if [ -n "$password" ]; then
            htpasswd -Bbn "$user" "$password" >"$dir/htpasswd" 2>/dev/null || e2e_die "htpasswd"
            printf 'auth:\n  htpasswd:\n    realm: ecr-e2e\n    path: %s\n' "$dir/htpasswd"
        fi
    } >"$dir/config.yml"
    e2e_bg "registry-$name" docker-registry serve "$dir/config.yml"
    e2e_wait_port "$port" || e2e_die "registry $name did not start (see $T/logs/registry-$name.log)"
    LAST_PORT=$port
}

# e2e_start_fake NAME [fake_aws.py options]: port in LAST_PORT, request log in $T/logs/fake-NAME.jsonl.
e2e_start_fake() {
    local name=$1 port
    shift
    rm -f "$T/fake-$name.port"
    e2e_bg "fake-$name" "$PY" "$ROOT/tests/fake_aws.py" --port-file "$T/fake-$name.port" \
        --log "$T/logs/fake-$name.jsonl" "$@"
    for _ in $(seq 100); do [ -s "$T/fake-$name.port" ] && break; sleep 0.1; done
    [ -s "$T/fake-$name.port" ] || e2e_die "fake $name did not start (see $T/logs/fake-$name.log)"
    port=$(cat "$T/fake-$name.port")
    : >>"$T/logs/fake-$name.jsonl"
    LAST_PORT=$port
}

fake_count() { # fake_count NAME REGEX: lines of the fake's request log matching REGEX
    grep -cE -- "$2" "$T/logs/fake-$1.jsonl" 2>/dev/null || true
}

# e2e_image DIR TAG CONTENT: an OCI layout built by hand; prints the manifest digest.
e2e_image() {
    "$PY" "$E2E_DIR/mkimage.py" "$@"
}

# e2e_layer_has DIR CONTENT: does some layer blob of the OCI/dir copy in DIR hold hello.txt = CONTENT?
e2e_layer_has() {
    local dir=$1 want=$2 f got
    while IFS= read -r -d '' f; do
        got=$(tar -xzOf "$f" hello.txt 2>/dev/null) || continue
        [ "$got" = "$want" ] && return 0
    done < <(find "$dir" -type f -size -2048k -print0)
    return 1
}

# Redact the secret in a helper answer for display.
e2e_redact() {
    sed -E 's/("Secret":")[^"]*"/\1<redacted>"/'
}
