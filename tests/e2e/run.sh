#!/usr/bin/env bash
# End-to-end suite: real clients (skopeo, podman, the docker CLI) get images from a real registry
# (Debian's docker-registry, TLS, htpasswd user AWS) through target/debug/docker-credential-ecr-login,
# with tokens from moto (ECR, STS) and a local fake (ECR Public, IMDS, container credentials, SSO),
# directly, through tinyproxy, and over TLS with a private CA. Everything stays on 127.0.0.0/8 (plus
# 169.254.170.2 on the loopback device for the ECS relative-URI case).
#
# Usage: tests/e2e/run.sh [FILTER]   (run as root; FILTER = substring of case names to run)
# Prints PASS/FAIL per case and "N passed, N failed"; exit status 1 if any case failed.
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/e2e/engine.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine.sh"
# shellcheck source=tests/e2e/clients.sh
source "$(dirname "${BASH_SOURCE[0]}")/clients.sh"

FILTER=${1:-}
PASSED=0
FAILED=0
SKIPPED=0
WHY=""
CASE_FAILED=0
C=""
NONCE="hello from the ecr-login e2e suite $$ $RANDOM"
STARTED=$(date +%s)

# ---------------------------------------------------------------- case plumbing
# fail WHY: marks the running case failed; the first reason is the one reported.
fail() {
    [ -n "$WHY" ] || WHY=$*
    CASE_FAILED=1
    return 1
}

# run_case NAME FUNCTION: prints PASS/FAIL. A case fails if it called `fail` or returned non-zero.
run_case() {
    local name=$1 fn=$2
    if [ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]]; then return 0; fi
    WHY=""
    CASE_FAILED=0
    C=""
    local start=$SECONDS
    "$fn" || CASE_FAILED=1
    # Each case's duration in whole seconds, so a slow run shows where its time went.
    if [ "$CASE_FAILED" -eq 0 ]; then
        PASSED=$((PASSED + 1))
        printf 'PASS: %s [%d s]\n' "$name" $((SECONDS - start))
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL: %s (%s) [%d s]\n' "$name" "${WHY:-no reason given}" $((SECONDS - start))
        if [ -n "${C:-}" ] && [ -f "$C/err" ]; then
            sed 's/^/    stderr: /' "$C/err" | tail -n 8
        fi
    fi
}

skip_case() {
    if [ -n "$FILTER" ] && [[ $1 != *"$FILTER"* ]]; then return 0; fi
    SKIPPED=$((SKIPPED + 1))
    printf 'SKIP: %s (%s)\n' "$1" "$2"
}

# ctx NAME [bare]: a fresh case directory (HOME, DOCKER_CONFIG, cache), and CENV, the whole
# environment clients run with (env -i: nothing leaks in from this machine, e.g. AWS_CA_BUNDLE).
# Without "bare", static keys and moto as the AWS endpoint.
ctx() {
    C="$T/cases/$1"
    mkdir -p "$C/home" "$C/docker" "$C/run"
    chmod 700 "$C/run"
    : >"$C/out"
    : >"$C/err"
    CENV=(PATH="$CLIENT_PATH" HOME="$C/home" DOCKER_CONFIG="$C/docker" XDG_RUNTIME_DIR="$C/run"
        AWS_ECR_CACHE_DIR="$C/ecr" AWS_ECR_LOG_LEVEL=debug AWS_EC2_METADATA_DISABLED=true
        AWS_ENDPOINT_URL="$MOTO_URL")
    if [ "${2:-}" != bare ]; then
        CENV+=(AWS_ACCESS_KEY_ID=AKIDE2ESTATIC AWS_SECRET_ACCESS_KEY=e2e-static-secret)
    fi
    helpers_for "$REG"
}

helpers_for() {
    local h json="" sep=""
    for h in "$@"; do
        json+="$sep\"$h\":\"ecr-login\""
        sep=","
    done
    printf '{"credHelpers":{%s}}\n' "$json" >"$C/docker/config.json"
}
creds_store() { printf '{"credsStore":"ecr-login"}\n' >"$C/docker/config.json"; }
no_helper() { printf '{}\n' >"$C/docker/config.json"; }

# crun CMD...: run a client (or the helper) in the case environment; stdout/stderr in $C/out, $C/err.
crun() {
    env -i "${CENV[@]}" "$@" >"$C/out" 2>"$C/err" </dev/null
}
# crun_in INPUT CMD...: same, with INPUT on stdin.
crun_in() {
    local input=$1
    shift
    printf '%s\n' "$input" | env -i "${CENV[@]}" "$@" >"$C/out" 2>"$C/err"
}

skopeo_inspect() { crun skopeo inspect --cert-dir "$T/certdir" "docker://$1"; }
# podman: storage in the case's own short directory (podman refuses a runroot over 50 characters).
podman_() {
    local p
    p="$T/p/$(basename "$C")"
    mkdir -p "$p"
    crun podman --root "$p/r" --runroot "$p/rr" --storage-driver vfs \
        --events-backend file --cgroup-manager cgroupfs "$@"
}
docker_() { crun env DOCKER_HOST="unix://$ENGINE_SOCK" docker "$@"; }

# Did our helper (not some other docker-credential-ecr-login) serve a `get` in this case?
ours_ran() {
    grep -qsE ': get: ' "$C"/ecr/log/ecr-login.*.log || fail "our helper's log in $C/ecr/log shows no get (another helper ran, or none)"
}
helper_err_says() { # helper_err_says HOST TEXT: the helper's one stderr line, as the client relayed it
    grep -F "docker-credential-ecr-login: $1" "$C/err" | grep -qiF -- "$2"
}
unauthorized() { grep -qiE 'unauthorized|authentication required|401' "$C/err"; }
digest_is() { grep -qF "\"Digest\": \"$1\"" "$C/out"; }

count_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
rec_mark() { MARK=$(count_lines "$MOTO_REC"); }

# moto_calls: "TARGET_OR_ACTION KEYID" for each AWS call moto saw since rec_mark.
moto_calls() {
    tail -n +"$((MARK + 1))" "$MOTO_REC" | "$PY" -c '
import base64, json, re, sys, urllib.parse
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    h = d.get("headers", {})
    m = re.search(r"Credential=([^/]+)/", h.get("Authorization", ""))
    key = m.group(1) if m else "-"
    what = h.get("X-Amz-Target")
    if not what:
        body = d.get("body") or ""
        if d.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        what = urllib.parse.parse_qs(body).get("Action", ["-"])[0]
    print(what.split(".")[-1], key)
'
}
# ecr_key_is KEY|PREFIX*: the ECR GetAuthorizationToken moto saw was signed with that access key.
ecr_key_is() {
    local keys
    keys=$(moto_calls | awk '$1 == "GetAuthorizationToken" {print $2}')
    [ -n "$keys" ] || fail "moto saw no GetAuthorizationToken"
    # shellcheck disable=SC2053
    [[ $(tail -n1 <<<"$keys") == $1 ]] || fail "GetAuthorizationToken signed with $(tail -n1 <<<"$keys"), expected $1"
}

# ---------------------------------------------------------------- setup
setup() {
    e2e_install_deps
    e2e_build
    e2e_init
    e2e_certs
    e2e_hosts_add "$REG_NAME" "$WRONG_NAME" "$PUBLIC_NAME" "$OPEN_NAME" "$API_NAME" "$PRIVATE_NAME" \
        "${ENGINE_EXTRA_NAMES[@]}" "${CLIENTS_EXTRA_NAMES[@]}"
    e2e_start_moto
    e2e_start_registry main "$MOTO_PASSWORD"
    REG="$REG_NAME:$LAST_PORT"
    e2e_start_registry wrong "not-the-token-password"
    WRONG="$WRONG_NAME:$LAST_PORT"
    e2e_start_registry public "$PUBLIC_PASSWORD"
    PUBLIC="$PUBLIC_NAME:$LAST_PORT"
    e2e_start_registry open ""
    OPEN="$OPEN_NAME:$LAST_PORT"
    PRIVATE_PASSWORD="e2e-private-$RANDOM$RANDOM"
    e2e_start_registry private "$PRIVATE_PASSWORD" e2euser
    PRIVATE="$PRIVATE_NAME:$LAST_PORT"
    e2e_start_fake plain --container-token "Bearer e2e-container-token"
    FAKEPORT_plain=$LAST_PORT
    e2e_start_fake deny --deny
    FAKEPORT_deny=$LAST_PORT
    e2e_start_fake tls --tls --tls-cert "$T/certs/server.crt" --tls-key "$T/certs/server.key"
    FAKEPORT_tls=$LAST_PORT
    FAKE_URL="http://127.0.0.1:$FAKEPORT_plain"
    API_URL="https://$API_NAME:$FAKEPORT_tls"
    DEAD_PORT=$(e2e_free_port) # nothing listens here

    # ECS task role endpoint: 169.254.170.2:80 on the loopback device, if this machine lets us.
    ECS_OK=""
    if ip -4 addr show dev lo 2>/dev/null | grep -q ' 169\.254\.170\.2/'; then
        ECS_WHY="169.254.170.2 is already on lo (another run?): not touching it"
    elif ip addr add 169.254.170.2/32 dev lo 2>"$T/logs/ip.log"; then
        E2E_ADDED_IP=169.254.170.2/32
        e2e_bg fake-ecs "$PY" "$ROOT/tests/fake_aws.py" --host 169.254.170.2 --port 80 \
            --log "$T/logs/fake-ecs.jsonl" --container-token "Bearer e2e-container-token"
        if e2e_wait_port 80 169.254.170.2; then ECS_OK=1; else ECS_WHY="cannot listen on 169.254.170.2:80"; fi
    else
        ECS_WHY="cannot add 169.254.170.2 to lo: $(head -c 200 "$T/logs/ip.log")"
    fi

    # tinyproxy, allowed to reach loopback names only.
    PROXY_PORT=$(e2e_free_port)
    mkdir -p "$T/proxy"
    chmod 755 "$T/proxy"
    # Loopback only: the names the suite maps to 127.0.0.1, nothing else.
    printf '%s\n' '^127\.0\.0\.1$' '^localhost$' '\.e2e\.test$' "^${REG_NAME//./\\.}\$" >"$T/proxy/filter"
    cat >"$T/proxy/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port $PROXY_PORT
Listen 127.0.0.1
Timeout 30
LogLevel Connect
MaxClients 50
Allow 127.0.0.1
Filter "$T/proxy/filter"
FilterExtended Yes
FilterDefaultDeny Yes
EOF
    e2e_bg tinyproxy tinyproxy -d -c "$T/proxy/tinyproxy.conf"
    e2e_wait_port "$PROXY_PORT" || e2e_die "tinyproxy did not start (see $T/logs/tinyproxy.log)"
    PROXY_URL="http://127.0.0.1:$PROXY_PORT"

    ENGINE_SOCK="$T/engine.sock"
    e2e_bg engine "$PY" "$E2E_DIR/fake_engine.py" --socket "$ENGINE_SOCK" --log "$T/logs/engine.jsonl" \
        --ca "$T/certs/ca.crt"
    for _ in $(seq 50); do [ -S "$ENGINE_SOCK" ] && break; sleep 0.1; done
    [ -S "$ENGINE_SOCK" ] || e2e_die "fake engine did not start"

    IMAGE_DIGEST=$(e2e_image "$T/image" v1 "$NONCE") || e2e_die "mkimage"
    # The anonymous registry gets the image without any helper (setup, not a case).
    C="$T/cases/setup"
    CENV=(PATH="$CLIENT_PATH" HOME="$C" XDG_RUNTIME_DIR="$C/run" DOCKER_CONFIG="$C/docker")
    mkdir -p "$C/run" "$C/docker"
    chmod 700 "$C/run"
    crun skopeo copy --dest-cert-dir "$T/certdir" "oci:$T/image:v1" "docker://$OPEN/e2e/hello:v1" ||
        e2e_die "push to the anonymous registry: $(cat "$C/err")"
    crun skopeo copy --dest-cert-dir "$T/certdir" --dest-creds "e2euser:$PRIVATE_PASSWORD" \
        "oci:$T/image:v1" "docker://$PRIVATE/e2e/hello:v1" ||
        e2e_die "push to the private non-ECR registry: $(cat "$C/err")"
    C=""
}

# ---------------------------------------------------------------- cases: skopeo and the registry
c_helper_is_ours() {
    local path out
    path=$(env -i PATH="$CLIENT_PATH" bash -c 'command -v docker-credential-ecr-login')
    [ "$path" = "$T/bin/docker-credential-ecr-login" ] || fail "PATH finds $path"
    local want
    want="docker-credential-ecr-login $(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
    out=$(env -i PATH="$CLIENT_PATH" docker-credential-ecr-login version)
    [[ $out == "$want "* || $out == "$want" ]] || fail "version says: $out (want $want)"
}

c_skopeo_push() {
    ctx skopeo-push
    crun skopeo copy --dest-cert-dir "$T/certdir" "oci:$T/image:v1" "docker://$REG/e2e/hello:v1" ||
        fail "skopeo copy to the registry failed"
    ours_ran
}

c_skopeo_inspect() {
    ctx skopeo-inspect
    skopeo_inspect "$REG/e2e/hello:v1" || fail "skopeo inspect failed"
    digest_is "$IMAGE_DIGEST" || fail "digest is not $IMAGE_DIGEST"
    ours_ran
}

c_skopeo_pull_content() {
    ctx skopeo-pull
    crun skopeo copy --src-cert-dir "$T/certdir" "docker://$REG/e2e/hello:v1" "oci:$C/pulled:v1" ||
        fail "skopeo copy from the registry failed"
    e2e_layer_has "$C/pulled" "$NONCE" || fail "pulled layer does not hold the pushed hello.txt"
    ours_ran
}

c_control_no_helper() {
    ctx control-no-helper
    no_helper
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "the registry let an anonymous client in"; fi
    unauthorized || fail "no 401 from the registry"
}

# skopeo and podman (containers/image) read credHelpers but not credsStore (containers/image#111):
# credsStore is covered with the docker CLI.
c_non_ecr_anonymous() {
    ctx non-ecr
    helpers_for "$OPEN"
    skopeo_inspect "$OPEN/e2e/hello:v1" || fail "skopeo inspect of a non-ECR registry failed"
    digest_is "$IMAGE_DIGEST" || fail "wrong digest"
    ! grep -q 'docker-credential-ecr-login' "$C/err" || fail "helper wrote to stderr for a non-ECR host"
    grep -qsF ': get: not an ECR host' "$C"/ecr/log/ecr-login.*.log || fail "the helper was not asked about $OPEN"
    crun_in "$OPEN" docker-credential-ecr-login get && fail "helper get succeeded for a non-ECR host"
    [ "$(cat "$C/out")" = "credentials not found in native keychain" ] || fail "stdout: $(cat "$C/out")"
    [ ! -s "$C/err" ] || fail "stderr not empty: $(cat "$C/err")"
}

c_api_down() {
    ctx api-down
    CENV+=(AWS_ENDPOINT_URL="http://127.0.0.1:$DEAD_PORT")
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded with the API down"; fi
    unauthorized || fail "the client did not go on anonymously to a 401"
    ! grep -qi 'error getting credentials' "$C/err" || fail "the helper's answer aborted the client"
    helper_err_says "$REG_NAME" "refused" || fail "no stderr line naming the refused connection"
}

c_access_denied() {
    ctx access-denied
    CENV+=(AWS_ENDPOINT_URL="http://127.0.0.1:$FAKEPORT_deny")
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded although ECR denied the token"; fi
    unauthorized || fail "no 401"
    helper_err_says "$REG_NAME" "AccessDeniedException" || fail "no stderr line with AccessDeniedException"
}

c_wrong_password() {
    ctx wrong-password
    helpers_for "$WRONG"
    crun_in "$WRONG" docker-credential-ecr-login get || fail "helper get for $WRONG failed"
    # GetAuthorizationToken carries registryIds (as Go sends it): moto keys the token on it.
    grep -qF "\"Secret\":\"$WRONG_ACCOUNT-auth-token\"" "$C/out" || fail "helper did not answer moto's token for $WRONG_ACCOUNT"
    if skopeo_inspect "$WRONG/e2e/hello:v1"; then fail "a registry with another password accepted the token"; fi
    unauthorized || fail "no 401 from the registry"
}

c_ecr_public() {
    ctx ecr-public
    helpers_for "$PUBLIC"
    CENV+=(AWS_ENDPOINT_URL_ECR_PUBLIC="$FAKE_URL")
    local before
    before=$(fake_count plain 'SpencerFrontendService.GetAuthorizationToken.*"region": "us-east-1"')
    crun skopeo copy --dest-cert-dir "$T/certdir" "oci:$T/image:v1" "docker://$PUBLIC/e2e/hello:v1" ||
        fail "push to the ECR Public registry failed"
    skopeo_inspect "$PUBLIC/e2e/hello:v1" || fail "inspect on the ECR Public registry failed"
    digest_is "$IMAGE_DIGEST" || fail "wrong digest"
    [ "$(fake_count plain 'SpencerFrontendService.GetAuthorizationToken.*"region": "us-east-1"')" -gt "$before" ] ||
        fail "no ecr-public GetAuthorizationToken in us-east-1"
    ours_ran
}

c_cache_hit() {
    ctx cache-hit
    CENV+=(AWS_ENDPOINT_URL="$FAKE_URL") # the fake issues tokens that expire in 12 h
    local n0 n1 n2
    n0=$(fake_count plain 'AmazonEC2ContainerRegistry')
    skopeo_inspect "$REG/e2e/hello:v1" || fail "first inspect failed"
    n1=$(fake_count plain 'AmazonEC2ContainerRegistry')
    skopeo_inspect "$REG/e2e/hello:v1" || fail "second inspect failed"
    n2=$(fake_count plain 'AmazonEC2ContainerRegistry')
    [ "$n1" -gt "$n0" ] || fail "no API call on the cold pull"
    [ "$n2" -eq "$n1" ] || fail "the warm pull called the API again ($((n2 - n1)) calls)"
    [ -n "$(ls -A "$C/ecr/tokens" 2>/dev/null)" ] || fail "nothing in $C/ecr/tokens"
}

# ---------------------------------------------------------------- podman
c_podman_pull() {
    ctx podman-pull
    podman_ pull --cert-dir "$T/certdir" "$REG/e2e/hello:v1" || fail "podman pull failed"
    ours_ran || return 1
    podman_ image mount "$REG/e2e/hello:v1" || fail "podman image mount failed"
    local mnt
    mnt=$(tail -n1 "$C/out")
    [ "$(cat "$mnt/hello.txt" 2>/dev/null)" = "$NONCE" ] || fail "pulled image does not hold hello.txt"
    podman_ image unmount "$REG/e2e/hello:v1" || true
}

c_podman_push() {
    ctx podman-push
    podman_ pull --cert-dir "$T/certdir" "$REG/e2e/hello:v1" || fail "podman pull failed"
    podman_ push --cert-dir "$T/certdir" "$REG/e2e/hello:v1" "$REG/e2e/podman:v1" || fail "podman push failed"
    skopeo_inspect "$REG/e2e/podman:v1" || fail "the pushed image is not in the registry"
    ours_ran
}

c_podman_api_down() {
    ctx podman-api-down
    CENV+=(AWS_ENDPOINT_URL="http://127.0.0.1:$DEAD_PORT")
    if podman_ pull --cert-dir "$T/certdir" "$REG/e2e/hello:v1"; then fail "pull succeeded with the API down"; fi
    unauthorized || fail "no 401 from the registry"
    helper_err_says "$REG_NAME" "refused" || fail "no stderr line naming the cause"
}

# ---------------------------------------------------------------- docker CLI (fake engine)
# engine_last FIELD: a field of the fake engine's last logged request (pull/push/login).
engine_last() {
    tail -n1 "$T/logs/engine.jsonl" | "$PY" -c '
import json, sys
d = json.loads(sys.stdin.read() or "{}")
v = d
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1"
}
engine_auth_ok() {
    [ "$(engine_last auth.username)" = AWS ] || fail "X-Registry-Auth username: $(engine_last auth.username)"
    [ "$(engine_last auth.password)" = "$MOTO_PASSWORD" ] || fail "X-Registry-Auth password is not the token's"
    [ "$(engine_last auth.serveraddress)" = "$1" ] || fail "serveraddress: $(engine_last auth.serveraddress)"
    [ "$(engine_last registry_status)" = 200 ] || fail "registry answered $(engine_last registry_status)"
}

c_docker_pull() {
    ctx docker-pull
    docker_ pull "$REG/e2e/hello:v1" || fail "docker pull failed"
    [ "$(engine_last action)" = pull ] || fail "the engine saw no pull"
    engine_auth_ok "$REG" || return 1
    ours_ran
}

c_docker_push() {
    ctx docker-push
    creds_store
    docker_ push "$REG/e2e/hello:v1" || fail "docker push failed"
    [ "$(engine_last action)" = push ] || fail "the engine saw no push"
    engine_auth_ok "$REG" || return 1
    ours_ran
}

c_docker_non_ecr() {
    ctx docker-non-ecr
    creds_store
    docker_ pull "$OPEN/e2e/hello:v1" || fail "anonymous docker pull failed"
    [ "$(engine_last action)" = pull ] || fail "the engine saw no pull"
    [ -z "$(engine_last auth.password)" ] || fail "credentials were sent for a non-ECR host"
    ! grep -q 'docker-credential-ecr-login' "$C/err" || fail "helper wrote to stderr"
}

c_docker_api_down() {
    ctx docker-api-down
    CENV+=(AWS_ENDPOINT_URL="http://127.0.0.1:$DEAD_PORT")
    if docker_ pull "$REG/e2e/hello:v1"; then fail "docker pull succeeded with the API down"; fi
    [ "$(engine_last registry_status)" = 401 ] || fail "the registry did not answer 401"
    helper_err_says "$REG_NAME" "refused" || fail "docker did not show the helper's stderr line"
}

# docker login to an ECR host succeeds and keeps nothing; the helper's one line names the identity
# (docs/contract.md §2.3). AWS_ECR_IGNORE_CREDS_STORAGE=false keeps the old not-implemented answer.
c_docker_login_default() {
    ctx docker-login
    reg_image || return 1
    creds_store
    printf '%s\n' "$MOTO_PASSWORD" | env -i "${CENV[@]}" DOCKER_HOST="unix://$ENGINE_SOCK" \
        docker login -u AWS --password-stdin "$REG" >"$C/out" 2>"$C/err" || fail "docker login -u AWS failed"
    grep -q 'Login Succeeded' "$C/out" || fail "no 'Login Succeeded'"
    helper_err_says "$REG_NAME" "the password was not kept" || fail "docker did not show the helper's line: $(cat "$C/err")"
    helper_err_says "$REG_NAME" "(environment keys)" || fail "the line names no identity: $(cat "$C/err")"
    ! grep -qF "$MOTO_PASSWORD" "$C/docker/config.json" "$C/err" || fail "the password landed in config.json or stderr"
    [ ! -d "$C/ecr/tokens" ] || [ -z "$(ls -A "$C/ecr/tokens")" ] || fail "store kept something"
    docker_ pull "$REG/e2e/hello:v1" || fail "docker pull after docker login failed"
    engine_auth_ok "$REG" || return 1
    ours_ran
}

c_docker_login_refused() {
    ctx docker-login-false
    creds_store
    CENV+=(AWS_ECR_IGNORE_CREDS_STORAGE=false)
    printf '%s\n' "$MOTO_PASSWORD" | env -i "${CENV[@]}" DOCKER_HOST="unix://$ENGINE_SOCK" \
        docker login -u AWS --password-stdin "$REG" >"$C/out" 2>"$C/err" &&
        fail "docker login succeeded with AWS_ECR_IGNORE_CREDS_STORAGE=false"
    grep -qi 'not implemented' "$C/out" "$C/err" || fail "docker did not show the helper's 'not implemented'"
    ! grep -qF "$MOTO_PASSWORD" "$C/docker/config.json" || fail "the password landed in config.json"
}

c_docker_login_ignore() {
    ctx docker-login-ignore
    creds_store
    CENV+=(AWS_ECR_IGNORE_CREDS_STORAGE=true)
    printf '%s\n' "$MOTO_PASSWORD" | env -i "${CENV[@]}" DOCKER_HOST="unix://$ENGINE_SOCK" \
        docker login -u AWS --password-stdin "$REG" >"$C/out" 2>"$C/err" || fail "docker login -u AWS failed"
    grep -q 'Login Succeeded' "$C/out" || fail "no 'Login Succeeded'"
    ! grep -q 'docker-credential-ecr-login' "$C/err" || fail "the helper was not silent: $(cat "$C/err")"
    docker_ login "$REG" || fail "docker login (credentials from the helper) failed"
    grep -q 'Login Succeeded' "$C/out" || fail "no 'Login Succeeded' (helper credentials)"
    [ "$(engine_last auth.password)" = "$MOTO_PASSWORD" ] || fail "the engine got no token password"
    ! grep -qF "$MOTO_PASSWORD" "$C/docker/config.json" || fail "the password landed in config.json"
    ! grep -qs ' store .*ignored=false' "$C"/ecr/log/ecr-login.*.log || fail "store was not ignored"
}

c_docker_logout() {
    ctx docker-logout
    creds_store
    docker_ logout "$REG" || fail "docker logout failed"
    grep -qs ' erase ' "$C"/ecr/log/ecr-login.*.log || fail "docker logout did not call erase"
    ! grep -qi 'not implemented\|could not erase' "$C/err" || fail "erase refused: $(cat "$C/err")"
    helper_err_says "$REG_NAME" "nothing to erase" || fail "docker did not show the helper's line: $(cat "$C/err")"
    CENV+=(AWS_ECR_IGNORE_CREDS_STORAGE=true)
    docker_ logout "$REG" || fail "docker logout failed with AWS_ECR_IGNORE_CREDS_STORAGE=true"
    ! grep -qi 'not implemented\|could not erase\|docker-credential-ecr-login' "$C/err" || fail "erase not silent: $(cat "$C/err")"
    grep -qs ' erase .*ignored=true' "$C"/ecr/log/ecr-login.*.log || fail "erase not ignored"
    # =false: the old answer (docker logout may not show a failed erase: ask the helper itself).
    CENV+=(AWS_ECR_IGNORE_CREDS_STORAGE=false)
    crun_in "$REG" docker-credential-ecr-login erase
    grep -q '^not implemented' "$C/out" || fail "erase was not refused with =false: $(cat "$C/out")"
}

# ---------------------------------------------------------------- the fallback store (pass)
# A real store: docker-credential-pass (Debian's golang-docker-credential-helpers) over pass, with a
# GnuPG key made here (batch mode, no passphrase) in the case's own GNUPGHOME.
fallback_pass_ctx() {
    ctx "$1"
    local g="$C/gnupg"
    mkdir -p "$g"
    chmod 700 "$g"
    CENV+=(GNUPGHOME="$g" PASSWORD_STORE_DIR="$C/password-store" AWS_ECR_FALLBACK=pass)
    crun gpg --batch --pinentry-mode loopback --passphrase '' \
        --quick-generate-key "ecr-login e2e <e2e@e2e.test>" default default never ||
        { fail "gpg key generation failed: $(tail -n 2 "$C/err")"; return 1; }
    crun pass init e2e@e2e.test || { fail "pass init failed: $(tail -n 2 "$C/err")"; return 1; }
}
# The case's gpg-agent (started by gpg and pass) must not outlive it.
fallback_pass_done() {
    env -i "${CENV[@]}" gpgconf --kill all >/dev/null 2>&1 || true
}
# pass_get HOST: what docker-credential-pass itself answers (the JSON, or its error) in $C/out.
pass_get() { crun_in "$1" docker-credential-pass get; }

c_fallback_docker_login_pull_logout() {
    fallback_pass_ctx fallback-docker || { fallback_pass_done; return 1; }
    creds_store
    printf '%s\n' "$PRIVATE_PASSWORD" | env -i "${CENV[@]}" DOCKER_HOST="unix://$ENGINE_SOCK" \
        docker login -u e2euser --password-stdin "$PRIVATE" >"$C/out" 2>"$C/err" ||
        fail "docker login to $PRIVATE through the fallback failed"
    grep -q 'Login Succeeded' "$C/out" || fail "no 'Login Succeeded'"
    ! grep -qF "$PRIVATE_PASSWORD" "$C/docker/config.json" || fail "the password landed in config.json"
    grep -qs ' store ' "$C"/ecr/log/ecr-login.*.log || fail "our helper's log shows no store"
    ! grep -qsF "$PRIVATE_PASSWORD" "$C"/ecr/log/ecr-login.*.log || fail "the password is in our log"
    pass_get "$PRIVATE" || fail "docker-credential-pass has no entry for $PRIVATE"
    grep -qF "\"Secret\":\"$PRIVATE_PASSWORD\"" "$C/out" || fail "pass holds another password"
    [ -n "$(find "$C/password-store" -name '*.gpg' 2>/dev/null)" ] || fail "nothing encrypted in the password store"

    docker_ pull "$PRIVATE/e2e/hello:v1" || fail "docker pull from $PRIVATE failed"
    [ "$(engine_last action)" = pull ] || fail "the engine saw no pull"
    [ "$(engine_last auth.username)" = e2euser ] || fail "X-Registry-Auth username: $(engine_last auth.username)"
    [ "$(engine_last auth.password)" = "$PRIVATE_PASSWORD" ] || fail "X-Registry-Auth password is not the one from pass"
    [ "$(engine_last registry_status)" = 200 ] || fail "registry answered $(engine_last registry_status)"

    # An ECR pull in the same config: still ours, with the token's password.
    docker_ pull "$REG/e2e/hello:v1" || fail "ECR docker pull failed"
    engine_auth_ok "$REG" || true
    ours_ran

    # moto's tokens arrive expired, so none is cached: with AWS_REGION, list asks ECR for the
    # caller's own registry there (docs/contract.md §2.2), which is $REG_NAME.
    crun env AWS_REGION=us-east-1 docker-credential-ecr-login list || fail "list failed"
    grep -qF "\"https://$REG_NAME\":\"AWS\"" "$C/out" || fail "list lacks our ECR registry: $(cat "$C/out")"
    grep -qF "\"$PRIVATE\":\"e2euser\"" "$C/out" || grep -qF "\"https://$PRIVATE\":\"e2euser\"" "$C/out" ||
        fail "list lacks the fallback's registry: $(cat "$C/out")"

    docker_ logout "$PRIVATE" || fail "docker logout failed"
    grep -qs ' erase ' "$C"/ecr/log/ecr-login.*.log || fail "docker logout did not call our erase"
    ! grep -qi 'could not erase\|not implemented' "$C/err" || fail "erase refused: $(cat "$C/err")"
    # (docker-credential-pass 0.6.4 answers a missing entry with exit 0 and an empty Secret.)
    pass_get "$PRIVATE"
    ! grep -qF "$PRIVATE_PASSWORD" "$C/out" || fail "docker logout left the password in pass"
    [ -z "$(find "$C/password-store" -name '*.gpg' 2>/dev/null)" ] || fail "docker logout left an entry in the password store"
    crun docker-credential-ecr-login list || fail "list after logout failed"
    ! grep -qF "$PRIVATE" "$C/out" || fail "list still shows $PRIVATE after logout: $(cat "$C/out")"
    fallback_pass_done
}

c_fallback_skopeo_credhelpers() {
    # skopeo reads credHelpers, not credsStore (containers/image#111): route the private host to
    # ecr-login there, and let the fallback answer for it.
    fallback_pass_ctx fallback-skopeo || { fallback_pass_done; return 1; }
    helpers_for "$REG" "$PRIVATE"
    printf '{"ServerURL":"%s","Username":"e2euser","Secret":"%s"}' "$PRIVATE" "$PRIVATE_PASSWORD" |
        env -i "${CENV[@]}" docker-credential-ecr-login store >"$C/out" 2>"$C/err" || fail "store through the fallback failed"
    skopeo_inspect "$PRIVATE/e2e/hello:v1" || fail "skopeo inspect of $PRIVATE failed"
    digest_is "$IMAGE_DIGEST" || fail "wrong digest from $PRIVATE"
    skopeo_inspect "$REG/e2e/hello:v1" || fail "skopeo inspect of the ECR registry failed"
    digest_is "$IMAGE_DIGEST" || fail "wrong digest from $REG"
    ours_ran
    fallback_pass_done
}

# ---------------------------------------------------------------- credential sources
# src_pull: skopeo inspect through credHelpers with the case environment, then the signing key check.
src_pull() {
    rec_mark
    skopeo_inspect "$REG/e2e/hello:v1" || fail "skopeo inspect failed"
    digest_is "$IMAGE_DIGEST" || fail "wrong digest"
    ours_ran
}

c_src_env_keys() {
    ctx src-env-keys
    src_pull || return 1
    ecr_key_is AKIDE2ESTATIC
}

c_src_profile() {
    ctx src-profile bare
    mkdir -p "$C/home/.aws"
    printf '[dev]\naws_access_key_id = AKIDE2EPROFILE\naws_secret_access_key = profile-secret\n' \
        >"$C/home/.aws/credentials"
    CENV+=(AWS_PROFILE=dev)
    src_pull || return 1
    ecr_key_is AKIDE2EPROFILE
}

c_src_assume_role() {
    ctx src-assume-role bare
    mkdir -p "$C/home/.aws"
    printf '[base]\naws_access_key_id = AKIDE2EBASE\naws_secret_access_key = base-secret\n' >"$C/home/.aws/credentials"
    printf '[profile pull]\nrole_arn = arn:aws:iam::%s:role/ecr-pull\nsource_profile = base\nregion = us-east-1\n' \
        "$ACCOUNT" >"$C/home/.aws/config"
    CENV+=(AWS_PROFILE=pull)
    src_pull || return 1
    grep -q '^AssumeRole AKIDE2EBASE$' <<<"$(moto_calls)" || fail "no AssumeRole signed with the source profile's key"
    ecr_key_is 'ASIA*'
}

c_src_web_identity_env() {
    ctx src-web-identity-env bare
    printf 'e2e-oidc-token' >"$C/home/token"
    CENV+=(AWS_WEB_IDENTITY_TOKEN_FILE="$C/home/token" AWS_ROLE_ARN="arn:aws:iam::$ACCOUNT:role/irsa"
        AWS_ROLE_SESSION_NAME=e2e)
    src_pull || return 1
    grep -q '^AssumeRoleWithWebIdentity ' <<<"$(moto_calls)" || fail "no AssumeRoleWithWebIdentity"
    ecr_key_is 'ASIA*'
}

c_src_web_identity_profile() {
    ctx src-web-identity-profile bare
    mkdir -p "$C/home/.aws"
    printf 'e2e-oidc-token' >"$C/home/token"
    printf '[profile irsa]\nrole_arn = arn:aws:iam::%s:role/irsa\nweb_identity_token_file = %s\nregion = us-east-1\n' \
        "$ACCOUNT" "$C/home/token" >"$C/home/.aws/config"
    CENV+=(AWS_PROFILE=irsa)
    src_pull || return 1
    grep -q '^AssumeRoleWithWebIdentity ' <<<"$(moto_calls)" || fail "no AssumeRoleWithWebIdentity"
    ecr_key_is 'ASIA*'
}

c_src_credential_process() {
    ctx src-credential-process bare
    mkdir -p "$C/home/.aws"
    cat >"$C/home/creds.sh" <<'EOF'
#!/bin/sh
echo ran >>"$HOME/process.ran"
printf '{"Version":1,"AccessKeyId":"AKIDE2EPROCESS","SecretAccessKey":"process-secret"}\n'
EOF
    chmod +x "$C/home/creds.sh"
    printf '[profile proc]\ncredential_process = %s\n' "$C/home/creds.sh" >"$C/home/.aws/config"
    CENV+=(AWS_PROFILE=proc)
    src_pull || return 1
    [ -s "$C/home/process.ran" ] || fail "credential_process did not run"
    ecr_key_is AKIDE2EPROCESS
}

c_src_ecs_relative() {
    ctx src-ecs-relative bare
    CENV+=(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/e2e-task
        AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer e2e-container-token")
    src_pull || return 1
    grep -q '"path": "/v2/credentials/e2e-task".*"status": 200' "$T/logs/fake-ecs.jsonl" ||
        fail "169.254.170.2 served no credentials"
    ecr_key_is AKIDE2ECONTAINER
}

c_src_ecs_full() {
    ctx src-ecs-full bare
    CENV+=(AWS_CONTAINER_CREDENTIALS_FULL_URI="$FAKE_URL/creds/pod-identity"
        AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer e2e-container-token")
    src_pull || return 1
    ecr_key_is AKIDE2ECONTAINER
}

c_src_ecs_bad_token() {
    ctx src-ecs-bad-token bare
    CENV+=(AWS_CONTAINER_CREDENTIALS_FULL_URI="$FAKE_URL/creds/pod-identity"
        AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer wrong")
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded with a rejected container token"; fi
    unauthorized || fail "no 401"
    helper_err_says "$REG_NAME" "401" || fail "no stderr line naming the endpoint's 401"
}

c_src_imds() {
    ctx src-imds bare
    local i
    for i in "${!CENV[@]}"; do [[ ${CENV[i]} == AWS_EC2_METADATA_DISABLED=* ]] && unset 'CENV[i]'; done
    CENV+=(AWS_EC2_METADATA_SERVICE_ENDPOINT="$FAKE_URL")
    local n0
    n0=$(fake_count plain '"path": "/latest/api/token".*"status": 200')
    src_pull || return 1
    [ "$(fake_count plain '"path": "/latest/api/token".*"status": 200')" -gt "$n0" ] || fail "no IMDSv2 session token"
    ecr_key_is AKIDE2EIMDSROLE
}

# sso_setup: a profile using an sso-session and one with the legacy sso_start_url, and the token
# cache files `aws sso login` leaves, valid for another 2 hours (or EXPIRES).
sso_setup() {
    local exp=${1:-$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)} token=${2:-e2e-sso-access-token} f1 f2
    mkdir -p "$C/home/.aws/sso/cache"
    cat >"$C/home/.aws/config" <<'EOF'
[profile sso]
sso_session = e2e
sso_account_id = 111122223333
sso_role_name = ECRPull
region = us-east-1
[sso-session e2e]
sso_start_url = https://e2e.awsapps.com/start
sso_region = us-east-1
sso_registration_scopes = sso:account:access
[profile legacy]
sso_start_url = https://legacy-e2e.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = ECRPull
region = us-east-1
EOF
    f1=$(printf %s e2e | sha1sum | cut -d' ' -f1)
    f2=$(printf %s https://legacy-e2e.awsapps.com/start | sha1sum | cut -d' ' -f1)
    printf '{"startUrl":"https://e2e.awsapps.com/start","region":"us-east-1","accessToken":"%s","expiresAt":"%s","clientId":"e2e-client","clientSecret":"e2e-client-secret","registrationExpiresAt":"%s","refreshToken":"e2e-refresh"}\n' \
        "$token" "$exp" "$exp" >"$C/home/.aws/sso/cache/$f1.json"
    printf '{"startUrl":"https://legacy-e2e.awsapps.com/start","region":"us-east-1","accessToken":"%s","expiresAt":"%s"}\n' \
        "$token" "$exp" >"$C/home/.aws/sso/cache/$f2.json"
    CENV+=(AWS_ENDPOINT_URL_SSO="$FAKE_URL" AWS_ENDPOINT_URL_SSO_OIDC="http://127.0.0.1:$DEAD_PORT")
}

sso_case() {
    local n0
    n0=$(fake_count plain '"path": "/federation/credentials.*"sso_token": "e2e-sso-access-token".*"status": 200')
    src_pull || return 1
    [ "$(fake_count plain '"path": "/federation/credentials.*"sso_token": "e2e-sso-access-token".*"status": 200')" -gt "$n0" ] ||
        fail "no GetRoleCredentials with the cached token"
    ecr_key_is AKIDE2ESSOROLE
}

c_src_sso_session() {
    ctx src-sso-session bare
    sso_setup
    CENV+=(AWS_PROFILE=sso)
    sso_case
}

c_src_sso_legacy() {
    ctx src-sso-legacy bare
    sso_setup
    CENV+=(AWS_PROFILE=legacy)
    sso_case
}

# An expired session: the sso-session form finds the token expired and cannot refresh it (the
# OIDC endpoint is down); the legacy form sends it and the portal answers 401, as the real one does
# for an expired token (the fake knows only the valid token).
sso_expired_case() {
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded with an expired SSO session"; fi
    unauthorized || fail "no 401"
    grep -F "docker-credential-ecr-login: $REG_NAME" "$C/err" | grep -qiE 'sso' ||
        fail "no stderr line about the SSO session"
}

c_src_sso_expired() {
    ctx src-sso-expired bare
    sso_setup "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" e2e-sso-expired-token
    CENV+=(AWS_PROFILE=sso)
    sso_expired_case
}

c_src_sso_legacy_expired() {
    ctx src-sso-legacy-expired bare
    sso_setup "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" e2e-sso-expired-token
    CENV+=(AWS_PROFILE=legacy)
    sso_expired_case
}

# ---------------------------------------------------------------- networks
proxy_connects() { grep -c "CONNECT $1 " "$T/logs/tinyproxy.log" 2>/dev/null || true; }

c_net_proxy() {
    ctx net-proxy
    CENV+=(AWS_ENDPOINT_URL="$API_URL" AWS_CA_BUNDLE="$T/certs/ca.crt" HTTPS_PROXY="$PROXY_URL" AWS_ECR_DISABLE_CACHE=1)
    # Everything goes through the proxy: skopeo to the registry, the helper to the API.
    local p0 r0 f0
    p0=$(proxy_connects "$API_NAME:$FAKEPORT_tls")
    r0=$(proxy_connects "$REG")
    f0=$(fake_count tls 'AmazonEC2ContainerRegistry')
    skopeo_inspect "$REG/e2e/hello:v1" || fail "inspect through the proxy failed"
    [ "$(proxy_connects "$API_NAME:$FAKEPORT_tls")" -gt "$p0" ] || fail "tinyproxy saw no CONNECT to $API_NAME"
    [ "$(proxy_connects "$REG")" -gt "$r0" ] || fail "tinyproxy saw no CONNECT to the registry"
    [ "$(fake_count tls 'AmazonEC2ContainerRegistry')" -gt "$f0" ] || fail "the TLS API got no call"
}

c_net_proxy_loopback_only() {
    # Control on the test rig itself: the proxy refuses anything but loopback names.
    C=""
    local code
    code=$(env -i PATH="$CLIENT_PATH" curl -s -o /dev/null -w '%{http_code}' -x "$PROXY_URL" https://example.com/ 2>/dev/null)
    [ "$code" = 000 ] || [ "$code" = 403 ] || fail "proxy answered $code for example.com"
    grep -q 'refused on filtered domain "example.com"' "$T/logs/tinyproxy.log" || fail "tinyproxy did not refuse example.com"
}

c_net_no_proxy() {
    ctx net-no-proxy
    CENV+=(AWS_ENDPOINT_URL="$API_URL" AWS_CA_BUNDLE="$T/certs/ca.crt" AWS_ECR_DISABLE_CACHE=1
        HTTPS_PROXY="http://127.0.0.1:$DEAD_PORT" NO_PROXY="$REG_NAME,$API_NAME")
    skopeo_inspect "$REG/e2e/hello:v1" || fail "NO_PROXY was not honoured"
}

c_net_proxy_down() {
    ctx net-proxy-down
    CENV+=(AWS_ENDPOINT_URL="$API_URL" AWS_CA_BUNDLE="$T/certs/ca.crt" HTTPS_PROXY="http://127.0.0.1:$DEAD_PORT"
        NO_PROXY="$REG_NAME") # the client still reaches the registry
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded with the proxy down (proxy ignored?)"; fi
    unauthorized || fail "no 401"
    helper_err_says "$REG_NAME" "refused" || fail "no stderr line naming the proxy failure"
}

c_net_ca_bundle() {
    ctx net-ca-bundle
    CENV+=(AWS_ENDPOINT_URL="$API_URL" AWS_CA_BUNDLE="$T/certs/ca.crt")
    local f0
    f0=$(fake_count tls 'AmazonEC2ContainerRegistry')
    skopeo_inspect "$REG/e2e/hello:v1" || fail "inspect with AWS_CA_BUNDLE failed"
    [ "$(fake_count tls 'AmazonEC2ContainerRegistry')" -gt "$f0" ] || fail "the TLS API got no call"
}

c_net_untrusted_ca() {
    ctx net-untrusted-ca
    CENV+=(AWS_ENDPOINT_URL="$API_URL" AWS_CA_BUNDLE="$T/certs/rogue.crt")
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "a server from an untrusted CA was accepted"; fi
    unauthorized || fail "no 401"
    grep -F "docker-credential-ecr-login: $REG_NAME" "$C/err" | grep -qiE 'certificate|UnknownIssuer' ||
        fail "no stderr line about the certificate"
    # And with no AWS_CA_BUNDLE at all: the system store does not know the suite's CA either.
    local i
    for i in "${!CENV[@]}"; do [[ ${CENV[i]} == AWS_CA_BUNDLE=* ]] && unset 'CENV[i]'; done
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "the system trust store accepted the suite's CA"; fi
    grep -F "docker-credential-ecr-login: $REG_NAME" "$C/err" | grep -qiE 'certificate|UnknownIssuer' ||
        fail "no stderr line about the certificate (system store)"
}

# ---------------------------------------------------------------- login-password and export
c_export_skopeo_authfile() {
    ctx export-authfile
    no_helper
    local f="$C/home/auth.json"
    crun docker-credential-ecr-login export -o "$f" "$REG" || { fail "export -o failed: $(cat "$C/err")"; return 1; }
    [ "$(stat -c %a "$f")" = 600 ] || fail "mode $(stat -c %a "$f"), not 600"
    ! grep -qF "$MOTO_PASSWORD" "$C/out" "$C/err" || fail "the password reached stdout or stderr"
    crun skopeo inspect --cert-dir "$T/certdir" --authfile "$f" "docker://$REG/e2e/hello:v1" ||
        { fail "skopeo --authfile with the exported file failed"; return 1; }
    digest_is "$IMAGE_DIGEST" || fail "wrong digest"
    # The file alone did it: without it, the registry says 401.
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded without the file"; fi
    unauthorized || fail "no 401 without the file"
}

# ---------------------------------------------------------------- configure --containers
# podman and skopeo with nothing configured but what `configure --containers` writes
# (docs/contract.md §2.5): no Docker config.json, no REGISTRY_AUTH_FILE, no --authfile.
# reg_image: $REG/e2e/hello:v1 pushed with explicit credentials (a filtered run has not pushed it).
reg_image() {
    crun skopeo copy --dest-cert-dir "$T/certdir" --dest-creds "AWS:$MOTO_PASSWORD" \
        "oci:$T/image:v1" "docker://$REG/e2e/hello:v1" || { fail "push with --dest-creds failed: $(tail -n 1 "$C/err")"; return 1; }
}
containers_ctx() {
    ctx "$1"
    no_helper # an empty Docker config.json (podman insists on DOCKER_CONFIG's file when set)
    reg_image || return 1
    # The control: nothing configured, the registry says 401.
    if skopeo_inspect "$REG/e2e/hello:v1"; then fail "inspect succeeded with nothing configured"; return 1; fi
    unauthorized || { fail "no 401 with nothing configured"; return 1; }
}

c_containers_cred_helpers() {
    containers_ctx ctr-ch || return 1
    crun docker-credential-ecr-login configure --containers "$REG" || { fail "configure --containers failed: $(cat "$C/out")"; return 1; }
    local auth="$C/home/.config/containers/auth.json"
    grep -qF "\"$REG\": \"ecr-login\"" "$auth" || { fail "no credHelpers entry in $auth"; return 1; }
    skopeo_inspect "$REG/e2e/hello:v1" || { fail "skopeo inspect failed: $(tail -n 1 "$C/err")"; return 1; }
    digest_is "$IMAGE_DIGEST" || fail "wrong digest"
    ours_ran || return 1
    podman_ pull --cert-dir "$T/certdir" "$REG/e2e/hello:v1" || { fail "podman pull failed: $(tail -n 1 "$C/err")"; return 1; }
    podman_ image mount "$REG/e2e/hello:v1" || { fail "podman image mount failed"; return 1; }
    local mnt
    mnt=$(tail -n1 "$C/out")
    [ "$(cat "$mnt/hello.txt" 2>/dev/null)" = "$NONCE" ] || fail "pulled image does not hold hello.txt"
    podman_ image unmount "$REG/e2e/hello:v1" || true
}

# As root, --store writes the system-wide drop-in; the case removes it again.
CONTAINERS_DROP_IN=/etc/containers/registries.conf.d/50-ecr-login.conf
c_containers_store() {
    [ ! -e "$CONTAINERS_DROP_IN" ] || { fail "$CONTAINERS_DROP_IN exists before the case"; return 1; }
    containers_ctx ctr-st || return 1
    containers_store_steps
    rm -f "$CONTAINERS_DROP_IN" "$(dirname "$CONTAINERS_DROP_IN")/.$(basename "$CONTAINERS_DROP_IN").lock"
}
containers_store_steps() {
    crun docker-credential-ecr-login configure --containers --store || { fail "configure --containers --store failed: $(cat "$C/out")"; return 1; }
    grep -qxF 'credential-helpers = ["containers-auth.json", "ecr-login"]' "$CONTAINERS_DROP_IN" ||
        { fail "no credential-helpers line in $CONTAINERS_DROP_IN"; return 1; }
    [ "$(stat -c %a "$CONTAINERS_DROP_IN")" = 644 ] || fail "drop-in mode $(stat -c %a "$CONTAINERS_DROP_IN")"
    [ ! -e "$C/home/.config/containers/auth.json" ] || fail "--store alone wrote an auth file"
    skopeo_inspect "$REG/e2e/hello:v1" || { fail "skopeo inspect through the global helper failed: $(tail -n 1 "$C/err")"; return 1; }
    digest_is "$IMAGE_DIGEST" || fail "wrong digest"
    ours_ran || return 1
    podman_ pull --cert-dir "$T/certdir" "$REG/e2e/hello:v1" || { fail "podman pull failed: $(tail -n 1 "$C/err")"; return 1; }
    # Not ECR: the helper says not found, and the client goes on anonymously.
    skopeo_inspect "$OPEN/e2e/hello:v1" || fail "anonymous inspect of $OPEN failed: $(tail -n 1 "$C/err")"
    # Run again: nothing changes.
    crun docker-credential-ecr-login configure --containers --store || fail "second configure failed"
    grep -q 'already set' "$C/out" || fail "second configure changed the drop-in: $(cat "$C/out")"
}

# ---------------------------------------------------------------- main
main() {
    if [ "$(id -u)" != 0 ]; then
        echo "e2e: skipped: needs root (adds /etc/hosts lines, binds 169.254.170.2:80, apt-get)"
        exit 0
    fi
    # `run.sh deps`: install what the suite needs and stop (.ci/run installs everything first).
    if [ "${1:-}" = deps ]; then
        e2e_install_deps
        exit 0
    fi
    trap 'e2e_cleanup' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    setup
    echo "e2e: against $(e2e_versions) [set up in $(($(date +%s) - STARTED)) s]"

    run_case "helper on PATH is ours (target/debug, Cargo.toml version)" c_helper_is_ours
    run_case "skopeo copy (push) with credHelpers" c_skopeo_push
    run_case "skopeo inspect with credHelpers" c_skopeo_inspect
    run_case "skopeo copy (pull) with credHelpers, content matches" c_skopeo_pull_content
    run_case "control: no helper configured -> registry 401" c_control_no_helper
    run_case "non-ECR host in credHelpers: anonymous, no stderr" c_non_ecr_anonymous
    run_case "API down: client goes anonymous, 401, stderr names the cause" c_api_down
    run_case "AccessDeniedException: 401, stderr names it" c_access_denied
    run_case "registry rejects the token password -> 401" c_wrong_password
    run_case "ECR Public (fake API): skopeo push + inspect, us-east-1" c_ecr_public
    run_case "cache: second pull makes no API call" c_cache_hit
    run_case "podman pull with credHelpers, content matches" c_podman_pull
    run_case "podman push with credHelpers" c_podman_push
    run_case "podman pull, API down: 401, stderr names the cause" c_podman_api_down
    run_case "docker pull with credHelpers: X-Registry-Auth checked" c_docker_pull
    run_case "docker push with credsStore: X-Registry-Auth checked" c_docker_push
    run_case "docker pull of a non-ECR host with credsStore: anonymous" c_docker_non_ecr
    run_case "docker pull, API down: fails, stderr names the cause" c_docker_api_down
    run_case "docker login: nothing kept, one line naming the identity, then pull" c_docker_login_default
    run_case "docker login with AWS_ECR_IGNORE_CREDS_STORAGE=false: not implemented" c_docker_login_refused
    run_case "docker login with AWS_ECR_IGNORE_CREDS_STORAGE=true" c_docker_login_ignore
    run_case "docker logout: by default, with =true and with =false" c_docker_logout
    run_case "fallback pass: docker login, pull, ECR pull, list, logout with credsStore" c_fallback_docker_login_pull_logout
    run_case "fallback pass: skopeo through credHelpers" c_fallback_skopeo_credhelpers
    run_case "credentials: static environment keys" c_src_env_keys
    run_case "credentials: profile in ~/.aws/credentials" c_src_profile
    run_case "credentials: role_arn + source_profile (STS AssumeRole)" c_src_assume_role
    run_case "credentials: web identity from the environment" c_src_web_identity_env
    run_case "credentials: web identity from a profile" c_src_web_identity_profile
    run_case "credentials: credential_process" c_src_credential_process
    if [ -n "$ECS_OK" ]; then
        run_case "credentials: ECS relative URI (169.254.170.2) + authorization token" c_src_ecs_relative
    else
        skip_case "credentials: ECS relative URI (169.254.170.2) + authorization token" "$ECS_WHY"
    fi
    run_case "credentials: container full URI + authorization token" c_src_ecs_full
    run_case "credentials: container endpoint rejects the token -> 401, stderr" c_src_ecs_bad_token
    run_case "credentials: EC2 instance role via IMDSv2" c_src_imds
    run_case "credentials: SSO (sso-session, cached token, GetRoleCredentials)" c_src_sso_session
    run_case "credentials: SSO (legacy sso_start_url)" c_src_sso_legacy
    run_case "credentials: SSO (sso-session) token expired -> 401, stderr says so" c_src_sso_expired
    run_case "credentials: SSO (legacy) token expired -> 401, stderr says so" c_src_sso_legacy_expired
    run_case "network: API through tinyproxy (HTTPS_PROXY) with AWS_CA_BUNDLE" c_net_proxy
    run_case "network: control: the proxy reaches loopback names only" c_net_proxy_loopback_only
    run_case "network: NO_PROXY bypasses a dead proxy" c_net_no_proxy
    run_case "network: dead proxy -> 401, stderr names it" c_net_proxy_down
    run_case "network: private CA trusted through AWS_CA_BUNDLE" c_net_ca_bundle
    run_case "network: untrusted CA refused, stderr names the certificate" c_net_untrusted_ca
    run_case "export -o FILE (0600) read by skopeo --authfile, no helper configured" c_export_skopeo_authfile
    run_case "containers: configure --containers HOST: skopeo + podman, nothing else configured" c_containers_cred_helpers
    run_case "containers: configure --containers --store: registries.conf.d drop-in, skopeo + podman" c_containers_store
    # ---- a real Docker engine (tests/e2e/engine.sh)
    # FILTER "clients": the engine cases (whose image the clients use), then the clients.
    [[ $FILTER != clients* ]] || FILTER=""
    if [ -z "$FILTER" ] || [[ $FILTER == engine* ]]; then
        engine_cases
    fi
    # ---- more clients (tests/e2e/clients.sh)
    [ -n "$FILTER" ] || clients_cases

    [ "$SKIPPED" -eq 0 ] || echo "$SKIPPED skipped"
    echo "e2e: $(($(date +%s) - STARTED)) s"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

main "$@"
