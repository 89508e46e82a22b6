#!/usr/bin/env bash
# make check-image (and a step of make check-dist): the container image built for real and
# checked as a user would use it.
#
# The Dockerfile's runtime stage, exactly as written, is built offline by a real dockerd (the one
# tests/e2e/engine.sh starts: vfs, no bridge, its own data root, stopped by PID) from the static
# binary `make static` made: its build stage, which needs a Rust base image and crates.io, is
# replaced by a FROM scratch stage holding what the build stage would have left in /out (the binary
# and the files the Dockerfile's own `RUN install ... /out/etc` makes, run here on the host). Then:
# `version`; USER 65532:65532 (and the cache it writes is owned by 65532); no shell; `get` through
# `docker run -i` with ~/.aws mounted read-only, against tests/fake_aws.py; the same with
# --read-only (no cache, still an answer); the OCI labels; the size; the binary byte-identical to
# the release tarball's.
#
# The full multi-stage build (`make image`) needs the Rust base image (RUST_IMAGE) in the engine;
# README.md ("The container image") says how to make one without the internet.
#
# Usage: packaging/check-image.sh   (root; BIN, VERSION, COMMIT, STATIC_BIN, DIST from make)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}"
: "${VERSION:=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}"
: "${STATIC_BIN:=target/x86_64-unknown-linux-gnu/release/$BIN}"
COMMIT=${COMMIT:-}
TARBALL="$DIST/$BIN-$VERSION-x86_64-linux.tar.gz"
IMAGE="ecr-login-check-image:$VERSION"

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh
# shellcheck source=tests/e2e/engine.sh
source tests/e2e/engine.sh

passed=0
ok() {
    passed=$((passed + 1))
    echo "ok - $*"
}
die() {
    echo "check-image: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (starts dockerd)"
[ -x "$STATIC_BIN" ] || die "no $STATIC_BIN: run make static"
[ -f "$TARBALL" ] || die "no $TARBALL: run make release"
if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing docker.io"
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; } >/dev/null
    rc=$?
    [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
    [ $rc -eq 0 ] || die "apt-get install docker.io"
fi

T=$(mktemp -d /tmp/ecr-login-image.XXXXXX) || die mktemp
chmod 755 "$T"
mkdir -p "$T/logs" "$T/ctx"
trap 'e2e_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the build context: /out as the Dockerfile's build stage would leave it
OUT="$T/ctx/out"
install -D -m 0755 "$STATIC_BIN" "$OUT/$BIN" || die "copy $STATIC_BIN"
# The Dockerfile's own RUN that makes the runtime's /etc, /home/nonroot and the kubelet link.
rootfs_run=$(awk '/^RUN install -d -m 0755 \/out\/etc/ {on = 1} on {print; if ($0 !~ /\\$/) exit}' Dockerfile)
[ -n "$rootfs_run" ] || die "the Dockerfile's RUN that makes /out/etc is not where this script looks"
rootfs_run=${rootfs_run#RUN }
(cd "$T" && OUTDIR="$OUT" bash -euc "${rootfs_run//\/out\//\$OUTDIR/}") || die "the Dockerfile's /out/etc RUN failed here"
ok "build context: the static binary and the Dockerfile's /out/etc, /out/home, /out/usr"

# ---- the Dockerfile with its build stage replaced (no `# syntax=`: it would resolve docker.io)
runtime_from=$(grep -n '^# Runtime stage' Dockerfile | cut -d: -f1)
build_from=$(grep -n '^FROM .* AS build$' Dockerfile | cut -d: -f1)
[ -n "$runtime_from" ] && [ -n "$build_from" ] || die "the Dockerfile's stages are not where this script looks"
{
    sed -n "2,$((build_from - 1))p" Dockerfile | grep -v '^# syntax='
    printf 'FROM scratch AS build\nCOPY out/ /out/\n\n'
    sed -n "$runtime_from,\$p" Dockerfile
} >"$T/ctx/Dockerfile"
diff <(sed -n "$runtime_from,\$p" Dockerfile) <(sed -n '/^# Runtime stage/,$p' "$T/ctx/Dockerfile") >/dev/null ||
    die "the runtime stage built is not the Dockerfile's"

# ---- a real engine
engine_start || die "$ENGINE_WHY"
dk() { env -i PATH="$PATH" HOME="$T" DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker "$@"; }
echo "engine: $(engine_versions)"
dk build -q --build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" -t "$IMAGE" "$T/ctx" \
    >"$T/logs/build.log" 2>&1 || die "docker build: $(tail -n 5 "$T/logs/build.log")"
ok "docker build of the runtime stage (FROM scratch), offline, legacy builder"

# version
v=$(dk run --rm --network=none "$IMAGE" version 2>&1) || die "docker run IMAGE version: $v"
case $v in "$BIN $VERSION"*) ;; *) die "version line: $v" ;; esac
if [ -n "$COMMIT" ]; then case $v in *"commit $COMMIT"*) ;; *) die "version lacks commit $COMMIT: $v" ;; esac; fi
ok "docker run IMAGE version: $v"

# the user, from the image and from what the process writes
user=$(dk image inspect -f '{{.Config.User}}' "$IMAGE")
[ "$user" = 65532:65532 ] || die "image user: $user"

# no shell
for sh in sh /bin/sh /bin/bash /busybox; do
    if dk run --rm --network=none --entrypoint "$sh" "$IMAGE" -c true >/dev/null 2>&1; then
        die "--entrypoint $sh ran: the image has a shell"
    fi
done
ok "no shell: --entrypoint sh, /bin/sh, /bin/bash fail"

# get through docker run -i, ~/.aws mounted read-only, the fake API on the host's loopback
PASSWORD=check-image-password
"$PY" tests/fake_aws.py --port 0 --port-file "$T/port" --log "$T/logs/fake.jsonl" --password "$PASSWORD" \
    >"$T/logs/fake.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || die "fake ECR did not start"
mkdir -p "$T/aws"
printf '[default]\naws_access_key_id = AKIDCHECKIMAGE\naws_secret_access_key = check-image-secret\n' >"$T/aws/credentials"
chown -R 65532:65532 "$T/aws" && chmod 700 "$T/aws" && chmod 600 "$T/aws/credentials"
REG=123456789012.dkr.ecr.us-west-2.amazonaws.com
want='{"ServerURL":"'$REG'","Username":"AWS","Secret":"'$PASSWORD'"}'
run_get() { # run_get NAME [docker run options]: `get` in a container; its stdout
    local name=$1
    shift
    echo "$REG" | dk run -i --name "$name" --network=host "$@" \
        -v "$T/aws:/home/nonroot/.aws:ro" \
        -e AWS_ENDPOINT_URL_ECR="http://127.0.0.1:$(cat "$T/port")" -e AWS_EC2_METADATA_DISABLED=true \
        "$IMAGE" get 2>"$T/logs/$name.err"
}
out=$(run_get ecr-login-get) || die "get in the container: $out $(cat "$T/logs/ecr-login-get.err")"
[ "$out" = "$want" ] || die "get in the container printed: $out"
grep -q 'AKIDCHECKIMAGE' "$T/logs/fake.jsonl" || die "the fake saw no call signed with ~/.aws's key"
dk cp ecr-login-get:/home/nonroot/.ecr - >"$T/cache.tar" 2>"$T/logs/cp.err" || die "docker cp: $(cat "$T/logs/cp.err")"
owners=$(tar --numeric-owner -tvf "$T/cache.tar" | awk '{print $2}' | sort -u)
[ "$owners" = 65532/65532 ] || die "the cache is owned by $owners, not 65532/65532"
# (the listing first: `tar | grep -q` under pipefail fails when grep's early exit cuts tar off)
listing=$(tar -tf "$T/cache.tar")
grep -q '^\.ecr/tokens/.' <<<"$listing" || die "no token cached in the container"
dk rm ecr-login-get >/dev/null
ok "USER 65532:65532; get via docker run -i with ~/.aws read-only: the fake's token, cached by 65532"

n0=$(grep -c GetAuthorizationToken "$T/logs/fake.jsonl")
out=$(run_get ecr-login-ro --rm --read-only) || die "get with --read-only: $out $(cat "$T/logs/ecr-login-ro.err")"
[ "$out" = "$want" ] || die "get with --read-only printed: $out"
[ "$(grep -c GetAuthorizationToken "$T/logs/fake.jsonl")" -gt "$n0" ] || die "--read-only: no API call (a cache?)"
ok "--read-only: get still answers (no cache; stderr: $(wc -l <"$T/logs/ecr-login-ro.err") lines$(
    [ -s "$T/logs/ecr-login-ro.err" ] && printf ', %s' "$(head -n 1 "$T/logs/ecr-login-ro.err" | head -c 160)"
))"

# labels
for kv in "org.opencontainers.image.title=$BIN" "org.opencontainers.image.version=$VERSION" \
    "org.opencontainers.image.revision=$COMMIT" "org.opencontainers.image.licenses=Apache-2.0"; do
    got=$(dk image inspect -f "{{index .Config.Labels \"${kv%%=*}\"}}" "$IMAGE")
    [ "$got" = "${kv#*=}" ] || die "label ${kv%%=*}: '$got', want '${kv#*=}'"
done
for k in org.opencontainers.image.description org.opencontainers.image.source; do
    got=$(dk image inspect -f "{{index .Config.Labels \"$k\"}}" "$IMAGE")
    [ -n "$got" ] || die "label $k missing"
done
ok "OCI labels: title, description, version $VERSION, revision ${COMMIT:-(none)}, source, licenses"

size=$(dk image inspect -f '{{.Size}}' "$IMAGE")
ok "image size: $size bytes ($((size / 1024)) KiB); binary $(stat -c %s "$STATIC_BIN") bytes"

# the binary inside is the release tarball's
dk create --name ecr-login-bin "$IMAGE" >/dev/null || die "docker create"
dk cp "ecr-login-bin:/$BIN" - | tar -xOf - "$BIN" >"$T/from-image" || die "docker cp of the binary"
dk rm ecr-login-bin >/dev/null
tar -xOzf "$TARBALL" "$BIN-$VERSION-x86_64-linux/$BIN" >"$T/from-tarball" || die "the tarball's binary"
a=$(sha256sum <"$T/from-image" | cut -d' ' -f1)
b=$(sha256sum <"$T/from-tarball" | cut -d' ' -f1)
[ "$a" = "$b" ] || die "the image's binary ($a) is not the tarball's ($b)"
ok "the image's /$BIN is byte-identical to the tarball's (sha256 $a)"

dk image rm -f "$IMAGE" >/dev/null 2>&1 || true
echo "check-image: $passed passed, 0 failed"
