#!/usr/bin/env bash
# Smoke e2e of the linux/arm64 helper (issue 13): skopeo pulls an image from a real registry
# (Debian's docker-registry, TLS, htpasswd user AWS with the fake's token password) whose only
# credentials come from the aarch64 static binary, which skopeo finds on PATH and the kernel hands
# to qemu-user through binfmt_misc. Tokens come from the local fake ECR (tests/fake_aws.py: 12 h
# tokens, so a second pull is served from the helper's cache). Built on tests/e2e/lib.sh (the same
# certificates, registry, fake, /etc/hosts lines and cleanup as run.sh); everything listens on
# 127.0.0.1.
#
# Run it through `make smoke-cross` (packaging/cross-test.sh smoke), which enables qemu-aarch64 in
# binfmt_misc for the run and undoes that afterwards; it never builds: HELPER (default
# target/aarch64-unknown-linux-gnu/release/docker-credential-ecr-login, from
# `make static TARGET=aarch64-unknown-linux-gnu`) is used as it is.
# Checks: the registry refuses a client without the helper (401); the helper on PATH is an aarch64
# ELF; skopeo copy pulls the image and its content through it; every helper process that logged
# a `get` was emulated by qemu-aarch64 (qemu's own per-process log, QEMU_LOG=page, named by the
# pid the helper logs); the cold pull made the API call and wrote the cache entry; a second pull
# (skopeo inspect) ran the helper under qemu again and made no API call.
# Prints ok/not ok per check and "N passed, N failed"; exit status 1 if any check failed.
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELPER=${HELPER:-$ROOT/target/aarch64-unknown-linux-gnu/release/docker-credential-ecr-login}
BINFMT=/proc/sys/fs/binfmt_misc/qemu-aarch64
NONCE="hello from the ecr-login arm64 smoke test $$ $RANDOM"
PASSED=0
FAILED=0
STARTED=$(date +%s)

check() { # check DESCRIPTION CMD...: one ok / not ok line
    local what=$1
    shift
    if "$@"; then
        PASSED=$((PASSED + 1))
        echo "ok - $what"
    else
        FAILED=$((FAILED + 1))
        echo "not ok - $what"
        [ ! -s "$C/err" ] || sed 's/^/    stderr: /' "$C/err" | tail -n 8
    fi
}

# crun CMD...: a client in the case's environment only (env -i), output in $C/out and $C/err.
# QEMU_LOG / QEMU_LOG_FILENAME reach qemu-aarch64 through skopeo's environment: every emulated
# process writes $T/qemu/PID.log.
crun() {
    env -i PATH="$CLIENT_PATH" HOME="$C/home" DOCKER_CONFIG="$C/docker" XDG_RUNTIME_DIR="$C/run" \
        AWS_ECR_CACHE_DIR="$C/ecr" AWS_ECR_LOG_LEVEL=debug AWS_EC2_METADATA_DISABLED=true \
        AWS_ACCESS_KEY_ID=AKIDARM64SMOKE AWS_SECRET_ACCESS_KEY=arm64-smoke-secret \
        AWS_ENDPOINT_URL="http://127.0.0.1:$FAKE_PORT" QEMU_LOG=page QEMU_LOG_FILENAME="$T/qemu/%d.log" \
        "$@" >"$C/out" 2>"$C/err" </dev/null
}

api_calls() { fake_count ecr 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken'; }
# The pids of the helper processes that logged a `get` (tracing span run{pid=N}).
get_pids() { grep -hs ': get: ' "$C"/ecr/log/ecr-login.*.log | sed -n 's/.*run{pid=\([0-9]*\)}.*/\1/p'; }
gets() { get_pids | wc -l; }
qemu_runs() { find "$T/qemu" -name '*.log' | wc -l; }

# ---------------------------------------------------------------- checks
inspect() { crun skopeo inspect --cert-dir "$T/certdir" "docker://$REG/smoke/hello:v1"; }

refused_without_helper() {
    ! inspect && grep -qiE 'unauthorized|authentication required|401' "$C/err"
}

path_helper_is_aarch64() {
    local path desc
    path=$(env -i PATH="$CLIENT_PATH" bash -c 'command -v docker-credential-ecr-login')
    [ "$path" = "$T/bin/docker-credential-ecr-login" ] || { echo "    PATH finds $path" >&2; return 1; }
    desc=$(file -bL "$path")
    echo "    $path -> $(readlink "$path"): $desc"
    [[ $desc == *"ARM aarch64"* ]]
}

pull() { crun skopeo copy --src-cert-dir "$T/certdir" "docker://$REG/smoke/hello:v1" "oci:$C/pulled:v1"; }

# Every helper process that answered a `get` ran under qemu-aarch64, and there was at least one.
gets_emulated() {
    local pids pid
    pids=$(get_pids)
    [ -n "$pids" ] || { echo "    the helper logged no get" >&2; return 1; }
    for pid in $pids; do
        [ -s "$T/qemu/$pid.log" ] || { echo "    helper pid $pid has no qemu log: not emulated" >&2; return 1; }
    done
}

cache_written() { [ -n "$(find "$C/ecr/tokens" -name '*.json' 2>/dev/null)" ]; }

inspect_digest_is() { inspect && grep -qF "\"Digest\": \"$1\"" "$C/out"; }

# ran_again GETS RUNS: more gets and more emulated processes than before, all of them emulated.
ran_again() { [ "$(gets)" -gt "$1" ] && [ "$(qemu_runs)" -gt "$2" ] && gets_emulated; }

main() {
    if [ "$(id -u)" != 0 ]; then
        echo "cross-smoke: needs root (adds /etc/hosts lines, binfmt_misc, apt-get)" >&2
        exit 1
    fi
    [ -x "$HELPER" ] || e2e_die "no $HELPER: make static TARGET=aarch64-unknown-linux-gnu first"
    [ "$(head -n 1 "$BINFMT" 2>/dev/null)" = enabled ] ||
        e2e_die "qemu-aarch64 is not enabled in binfmt_misc: run through packaging/cross-test.sh smoke"
    trap 'e2e_cleanup' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    e2e_need skopeo:skopeo docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl file:file
    [ -n "$PY" ] || e2e_die "no python3"
    E2E_HELPER=$HELPER
    e2e_init
    mkdir -p "$T/qemu"
    e2e_certs
    e2e_hosts_add "$REG_NAME"
    PASSWORD="arm64-smoke-$RANDOM$RANDOM"
    e2e_start_fake ecr --ecr-password "$PASSWORD"
    FAKE_PORT=$LAST_PORT
    e2e_start_registry main "$PASSWORD"
    REG="$REG_NAME:$LAST_PORT"
    echo "cross-smoke: $HELPER under $(sed -n 's/^interpreter //p' "$BINFMT"), skopeo $(skopeo --version | awk '{print $3}'), docker-registry $(docker-registry --version | awk '{print $3}'), registry $REG"

    # Setup: the image pushed with the token password given directly, no helper configured.
    C="$T/cases/setup"
    mkdir -p "$C/home" "$C/docker" "$C/run" && chmod 700 "$C/run"
    printf '{}\n' >"$C/docker/config.json"
    local digest
    digest=$(e2e_image "$T/image" v1 "$NONCE") || e2e_die "mkimage"
    crun skopeo copy --dest-cert-dir "$T/certdir" --dest-creds "AWS:$PASSWORD" \
        "oci:$T/image:v1" "docker://$REG/smoke/hello:v1" || e2e_die "push: $(cat "$C/err")"

    # Control: with no helper configured the registry answers 401.
    check "control: without the helper the registry refuses the pull (401)" refused_without_helper

    C="$T/cases/pull"
    mkdir -p "$C/home" "$C/docker" "$C/run" && chmod 700 "$C/run"
    printf '{"credHelpers":{"%s":"ecr-login"}}\n' "$REG" >"$C/docker/config.json"
    check "the docker-credential-ecr-login on skopeo's PATH is the aarch64 binary" path_helper_is_aarch64

    local n0 n1 q1 g1 t0
    n0=$(api_calls)
    t0=$(date +%s%N)
    check "skopeo copy (pull) with credHelpers through the arm64 helper" pull
    echo "    cold pull: $((($(date +%s%N) - t0) / 1000000)) ms"
    check "the pulled layer holds the pushed content" e2e_layer_has "$C/pulled" "$NONCE"
    n1=$(api_calls) q1=$(qemu_runs) g1=$(gets)
    check "every helper that answered a get ran under qemu-aarch64 ($g1 gets, $q1 emulated processes)" gets_emulated
    check "the cold pull made the API call (fake ECR: $((n1 - n0)) GetAuthorizationToken)" test "$n1" -gt "$n0"
    check "the emulated helper wrote the cache entry" cache_written

    t0=$(date +%s%N)
    check "second pull (skopeo inspect) succeeds, digest $digest" inspect_digest_is "$digest"
    echo "    warm pull: $((($(date +%s%N) - t0) / 1000000)) ms; gets $g1 -> $(gets), emulated processes $q1 -> $(qemu_runs), API calls $n1 -> $(api_calls)"
    check "the second pull ran the helper under qemu again" ran_again "$g1" "$q1"
    check "the second pull was served from the cache (no API call)" test "$(api_calls)" -eq "$n1"

    echo "cross-smoke: $(($(date +%s) - STARTED)) s"
    echo "cross-smoke: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

main "$@"
