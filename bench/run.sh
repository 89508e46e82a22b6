#!/usr/bin/env bash
# Benchmark of docker-credential-ecr-login (what `make bench` runs).
#
# Prints: warm `get` latency of ours vs Debian's Go helper 0.6.0 vs `cat` (interleaved), the
# ratios ours/go and ours/cat, peak RSS of a warm `get`, the release binary size, and a cold
# `get` against a local fake ECR, failing `get` wall times (bounds.py), and the burst figures of
# docs/contract.md §10, shared failures (burst.py: 20 / 200 concurrent failing cold gets, ours vs
# Go), and the kubelet provider (kubelet.py: warm disk cache vs none, as cloud-provider-aws's
# provider runs), and background refresh and one token per region (refresh.py, section 9).
# Everything stays on 127.0.0.1; nothing contacts AWS.
#
# Needs: cargo (`make build`: the static release binary that make install, the packages and the
# image ship), python3 (standard library), cc (builds the small
# RSS launcher; without it the RSS figures are skipped), and, for the Go comparison, Debian's
# amazon-ecr-credential-helper (installed here with apt-get when missing and running as root);
# the openssl CLI for the Go helper's third burst row (skipped without it).
#
# Knobs (environment): BENCH_ROUNDS (300), BENCH_WARMUP (30), BENCH_RSS_ROUNDS (30),
# BENCH_COLD_RUNS (10), BENCH_JSON (a path: also write the results as JSON there),
# BENCH_NO_BUILD=1 (use the existing binary as is), BENCH_DYNAMIC (auto, 1, 0: see below),
# BENCH_BURST=0 (skip the burst section, ~1.5 min with the Go helper), BENCH_BURST_JSON (a path:
# the burst results as JSON), BENCH_KUBELET=0 (skip section 7, the kubelet provider),
# BENCH_KUBELET_ROUNDS (100), BENCH_KUBELET_JSON, BENCH_ARM64 (auto, 1, 0: section 8, the arm64
# binary under qemu; auto runs it when that binary is built, 1 builds it), BENCH_REFRESH=0 (skip
# section 9, background refresh and one token per region), BENCH_REFRESH_ROUNDS (100),
# BENCH_REFRESH_JSON, BENCH_BASELINE (a path: a build of the previous commit, whose warm hit
# section 9 times beside ours, goal within 5%, and whose cold API calls it counts). The burst
# section alone: python3 bench/burst.py --ours BIN [--go BIN]; the kubelet one:
# python3 bench/kubelet.py --ours BIN; the refresh one: python3 bench/refresh.py --ours BIN
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
# What users run: `make build` / `make install` / packages / image all ship this one binary.
ours="$target_dir/x86_64-unknown-linux-gnu/release/docker-credential-ecr-login"
# Debian's Go helper; always called by absolute path (ours has the same name).
go_bin=/usr/bin/docker-credential-ecr-login

say() { printf 'bench: %s\n' "$*" >&2; }

# ---- our release binary
if [[ "${BENCH_NO_BUILD:-}" != 1 ]]; then
    say "make build"
    make -C "$root" build >&2
fi
[[ -x "$ours" ]] || { say "missing $ours"; exit 1; }

# ---- the Go helper (Debian 12: amazon-ecr-credential-helper 0.6.0)
if [[ ! -x "$go_bin" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing Debian's amazon-ecr-credential-helper (the Go helper) for comparison"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y --no-install-recommends amazon-ecr-credential-helper >&2; then
            apt-get update >&2 || true
            apt-get install -y --no-install-recommends amazon-ecr-credential-helper >&2 || true
        fi
    fi
fi
# Our own .deb (Conflicts/Replaces amazon-ecr-credential-helper) installs the same path, and
# installing it removes the Go package: make sure that what is there really is the Go helper.
if [[ -x "$go_bin" ]] && ! grep -q -a 'amazon-ecr-credential-helper/ecr-login/cache' "$go_bin"; then
    owner="$(dpkg-query -S "$go_bin" 2>/dev/null | cut -d: -f1 || true)"
    say "$go_bin is not the Go helper (package: ${owner:-none}); the Go comparison is skipped."
    say "To compare, reinstall it: apt-get install amazon-ecr-credential-helper (replaces that package)"
    go_bin=""
elif [[ -x "$go_bin" ]]; then
    go_ver="$(dpkg-query -W -f='${Version}' amazon-ecr-credential-helper 2>/dev/null || echo '?')"
    say "Go helper: $go_bin (Debian package version $go_ver)"
else
    say "Go helper not available: the Go comparison is skipped"
    go_bin=""
fi

# ---- scratch space, cleaned up on any exit
work="$(mktemp -d "${TMPDIR:-/tmp}/ecr-bench.XXXXXX")"
cleanup() {
    local pid_file pid
    for pid_file in "$work/fake/pid" "$work/burst/fake.pid" "$work/refresh/fake.pid"; do  # bench.py's, burst.py's, refresh.py's fake
        if [[ -f "$pid_file" ]]; then
            pid="$(cat "$pid_file" 2>/dev/null || true)"
            if [[ "$pid" =~ ^[0-9]+$ ]]; then
                kill "$pid" 2>/dev/null || true
            fi
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the RSS launcher (see rss_spawn.c for why it exists)
rss_spawn=""
if command -v cc >/dev/null; then
    if cc -O2 -static -o "$work/rss_spawn" "$here/rss_spawn.c" 2>/dev/null \
        || cc -O2 -o "$work/rss_spawn" "$here/rss_spawn.c" >&2; then
        rss_spawn="$work/rss_spawn"
    fi
fi
[[ -n "$rss_spawn" ]] || say "no C compiler: peak RSS is not measured"

args=(--ours "$ours" --go "$go_bin" --cat "$(command -v cat)" --rss-spawn "$rss_spawn"
      --work "$work" --rounds "${BENCH_ROUNDS:-300}" --warmup "${BENCH_WARMUP:-30}"
      --rss-rounds "${BENCH_RSS_ROUNDS:-30}" --cold-runs "${BENCH_COLD_RUNS:-10}")
[[ -n "${BENCH_JSON:-}" ]] && args+=(--json "$BENCH_JSON")

# The plain `cargo build --release` binary (dynamic, PIE) is timed alongside as an extra,
# informational row: BENCH_DYNAMIC=1 builds it first, 0 leaves it out, auto (default) includes it
# only when it is already built.
dynamic_bin="$target_dir/release/docker-credential-ecr-login"
case "${BENCH_DYNAMIC:-auto}" in
    1) say "cargo build --release"; cargo build --release >&2; args+=(--extra "ours-dynamic-pie=$dynamic_bin") ;;
    0) ;;
    *) if [[ -x "$dynamic_bin" ]]; then
           args+=(--extra "ours-dynamic-pie=$dynamic_bin")
       fi ;;
esac

python3 "$here/bench.py" "${args[@]}"

echo
python3 "$here/bounds.py" "$ours"

# ---- 6. burst of failing cold gets (docs/contract.md §10), ours and the Go helper
if [[ "${BENCH_BURST:-1}" != 0 ]]; then
    echo
    burst_args=(--ours "$ours" --work "$work/burst" --section 6)
    [[ -n "$go_bin" ]] && burst_args+=(--go "$go_bin")
    [[ -n "${BENCH_BURST_JSON:-}" ]] && burst_args+=(--json "$BENCH_BURST_JSON")
    python3 "$here/burst.py" "${burst_args[@]}"
fi

# ---- 7. the kubelet's provider (docs/kubelet.md): warm disk cache vs no disk cache (the reference)
if [[ "${BENCH_KUBELET:-1}" != 0 ]]; then
    echo
    kubelet_args=(--ours "$ours" --rounds "${BENCH_KUBELET_ROUNDS:-100}")
    [[ -n "${BENCH_KUBELET_JSON:-}" ]] && kubelet_args+=(--json "$BENCH_KUBELET_JSON")
    python3 "$here/kubelet.py" "${kubelet_args[@]}"
fi

# ---- 8. the linux/arm64 binary under qemu-user: size and warm `get` (informational)
arm64_bin="$target_dir/aarch64-unknown-linux-gnu/release/docker-credential-ecr-login"
case "${BENCH_ARM64:-auto}" in
    1) say "make static TARGET=aarch64-unknown-linux-gnu"; make -C "$root" static TARGET=aarch64-unknown-linux-gnu >&2 ;;
esac
if [[ "${BENCH_ARM64:-auto}" != 0 && -x "$arm64_bin" ]]; then
    echo
    python3 "$here/cross.py" --arm64 "$arm64_bin" --native "$ours"
fi

# ---- 9. background refresh (a stale hit at warm-hit speed, the refreshed entry's time to disk, a
# simulated day) and one token per region (five accounts in two regions, cold: API calls)
if [[ "${BENCH_REFRESH:-1}" != 0 ]]; then
    echo
    refresh_args=(--ours "$ours" --rounds "${BENCH_REFRESH_ROUNDS:-100}" --work "$work/refresh")
    [[ -n "$go_bin" ]] && refresh_args+=(--go "$go_bin")
    [[ -n "${BENCH_BASELINE:-}" ]] && refresh_args+=(--baseline "$BENCH_BASELINE")
    [[ -n "${BENCH_REFRESH_JSON:-}" ]] && refresh_args+=(--json "$BENCH_REFRESH_JSON")
    python3 "$here/refresh.py" "${refresh_args[@]}"
fi
