#!/usr/bin/env bash
# `make demo`: the helper at work without an AWS account and without the internet.
# Starts moto (standing in for Amazon ECR) and a real registry under an ECR-looking name, points a
# temporary DOCKER_CONFIG at the helper, pushes and pulls an image with skopeo, shows what the
# helper answered (password redacted), and cleans everything up. Run as root (it adds a line to
# /etc/hosts and removes it again).
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
show() { printf '    $ %s\n' "$*"; }
indent() { sed 's/^/    /'; }

if [ "$(id -u)" != 0 ]; then
    echo "make demo needs root: it maps $REG_NAME to 127.0.0.1 in /etc/hosts for a minute." >&2
    exit 1
fi
trap 'e2e_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Preparing: tools (skopeo, docker-registry, moto) and the helper (cargo build)"
e2e_install_deps
e2e_build
e2e_init
e2e_certs
echo "    helper: $("$T/bin/docker-credential-ecr-login" version)  ($ROOT/target/debug/docker-credential-ecr-login)"

step "Starting moto, a local implementation of the ECR API (no AWS account needed)"
e2e_start_moto
echo "    moto listens on $MOTO_URL; the helper reaches it through AWS_ENDPOINT_URL"

step "Starting a real registry (docker-registry, TLS) that accepts user AWS with the ECR token's password"
e2e_hosts_add "$REG_NAME"
e2e_start_registry demo "$MOTO_PASSWORD"
REG="$REG_NAME:$LAST_PORT"
echo "    $REG_NAME -> 127.0.0.1 (a line in /etc/hosts, removed at the end)"
echo "    registry: https://$REG (an anonymous request gets $(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/certs/ca.crt" "https://$REG/v2/"))"

DEMO=$T/demo
mkdir -p "$DEMO/docker" "$DEMO/home" "$DEMO/run"
chmod 700 "$DEMO/run"
printf '{\n  "credHelpers": {\n    "%s": "ecr-login"\n  }\n}\n' "$REG" >"$DEMO/docker/config.json"
ENVV=(PATH="$CLIENT_PATH" HOME="$DEMO/home" DOCKER_CONFIG="$DEMO/docker" XDG_RUNTIME_DIR="$DEMO/run"
    AWS_ACCESS_KEY_ID=AKIDDEMO AWS_SECRET_ACCESS_KEY=demo-secret AWS_ENDPOINT_URL="$MOTO_URL"
    AWS_EC2_METADATA_DISABLED=true AWS_ECR_CACHE_DIR="$DEMO/ecr")

step "A Docker config that sends this registry to the helper (DOCKER_CONFIG=$DEMO/docker)"
indent <"$DEMO/docker/config.json"

step "What a client asks the helper, and what it answers"
show "echo $REG | docker-credential-ecr-login get"
printf '%s\n' "$REG" | env -i "${ENVV[@]}" docker-credential-ecr-login get | e2e_redact | indent
echo "    (the helper called ecr:GetAuthorizationToken in us-east-1, the region in the host name;"
echo "     moto's tokens say they expired in 2015, so here every call fetches a new one: real ECR"
echo "     tokens live 12 h and the helper answers from its cache for the first 6)"
show "echo registry.example.org | docker-credential-ecr-login get      # not ECR: clients go on anonymously"
printf '%s\n' registry.example.org | env -i "${ENVV[@]}" docker-credential-ecr-login get | indent

step "Building a one-file image by hand and pushing it with skopeo (credentials from the helper)"
DIGEST=$(e2e_image "$T/image" v1 "Hello from make demo: this file went through $REG") || e2e_die "mkimage"
show "skopeo copy oci:image:v1 docker://$REG/demo/hello:v1"
env -i "${ENVV[@]}" skopeo copy --dest-cert-dir "$T/certdir" "oci:$T/image:v1" "docker://$REG/demo/hello:v1" 2>&1 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || e2e_die "skopeo copy (push) failed"

step "Inspecting it in the registry"
show "skopeo inspect docker://$REG/demo/hello:v1"
env -i "${ENVV[@]}" skopeo inspect --cert-dir "$T/certdir" "docker://$REG/demo/hello:v1" 2>&1 |
    grep -E '"(Name|Digest|Architecture|Os)"' | indent
echo "    (pushed manifest: $DIGEST)"

step "Pulling it back and reading the file"
show "skopeo copy docker://$REG/demo/hello:v1 oci:pulled:v1"
env -i "${ENVV[@]}" skopeo copy --src-cert-dir "$T/certdir" "docker://$REG/demo/hello:v1" "oci:$DEMO/pulled:v1" 2>&1 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || e2e_die "skopeo copy (pull) failed"
while IFS= read -r -d '' f; do
    if content=$(tar -xzOf "$f" hello.txt 2>/dev/null); then echo "    hello.txt: $content"; fi
done < <(find "$DEMO/pulled/blobs" -type f -print0)

step "Without the helper the registry says no"
printf '{}\n' >"$DEMO/docker/config.json"
show "skopeo inspect docker://$REG/demo/hello:v1     # with an empty config.json"
env -i "${ENVV[@]}" skopeo inspect --cert-dir "$T/certdir" "docker://$REG/demo/hello:v1" 2>&1 |
    sed -E 's/.*(unauthorized[^"]*).*/\1/' | indent

step "The helper's log ($DEMO/ecr/log)"
cat "$DEMO"/ecr/log/*.log 2>/dev/null | sed -E 's/^[^ ]+ +//' | indent

step "Cleaning up: stopping moto and the registry, removing the /etc/hosts line and $T"
e2e_cleanup
trap - EXIT
echo "    done."
