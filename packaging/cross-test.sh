#!/usr/bin/env bash
# make test-cross: `cargo test --release --target $TARGET` (unit and integration tests) for the
# aarch64 build, run under qemu-user. The Makefile passes the cross toolchain's environment, the
# static RUSTFLAGS (sysroot glibc) and CARGO_TARGET_..._RUNNER=qemu-aarch64-static, which runs the
# test binaries; the integration tests also start the aarch64 helper binary themselves, which only
# the kernel's binfmt_misc can hand to qemu. So this registers qemu-aarch64 there for the run, and
# afterwards undoes exactly what it changed (binfmt_misc is the host kernel's, shared by every
# container on it): disables the entry it enabled, unmounts what it mounted.
# Do not set QEMU_LD_PREFIX: with it a test binary spun at 100% CPU forever (TESTING.md).
# Further arguments go to cargo test (e.g. `-- cache::` to run some tests only).
# `cross-test.sh build` only compiles the tests (cargo test --no-run): check-dist does that while
# its reproducibility build runs, and runs the tests on an otherwise idle machine afterwards (the
# concurrency tests' time bounds do not survive emulation plus a busy CPU).
# `cross-test.sh smoke` runs tests/e2e/cross-smoke.sh instead of cargo test, with the same
# binfmt_misc registration: skopeo pulls from a local registry through the already built aarch64
# static binary (HELPER), which the kernel hands to qemu (make smoke-cross; builds nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TARGET:=aarch64-unknown-linux-gnu}" "${CARGO:=cargo}" "${LOCKED:=}"
unset QEMU_LD_PREFIX
if [ "${1:-}" = build ]; then
    # shellcheck disable=SC2086 # LOCKED is empty or --locked
    exec $CARGO test --release $LOCKED --target "$TARGET" --no-run
fi

binfmt=/proc/sys/fs/binfmt_misc
mounted="" enabled=""
undo() {
    if [ -n "$enabled" ]; then
        update-binfmts --disable qemu-aarch64 >/dev/null 2>&1 || echo "cross-test: could not disable qemu-aarch64 in binfmt_misc" >&2
    fi
    if [ -n "$mounted" ]; then
        umount "$binfmt" 2>/dev/null || echo "cross-test: could not unmount $binfmt" >&2
    fi
}
trap undo EXIT
if [ ! -e "$binfmt/status" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" || { echo "cross-test: cannot mount $binfmt (root? a privileged container?)" >&2; exit 1; }
    mounted=1
fi
if [ "$(head -n 1 "$binfmt/qemu-aarch64" 2>/dev/null)" != enabled ]; then
    update-binfmts --enable qemu-aarch64
    enabled=1
fi
[ "$(head -n 1 "$binfmt/qemu-aarch64")" = enabled ] || { echo "cross-test: qemu-aarch64 is not enabled in binfmt_misc" >&2; exit 1; }
echo "cross-test: binfmt_misc qemu-aarch64 enabled${enabled:+ (by this run)}: $(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64")"

start=$(date +%s)
if [ "${1:-}" = smoke ]; then
    shift
    bash tests/e2e/cross-smoke.sh "$@"
    echo "cross-test: smoke e2e of the $TARGET helper under qemu: $(($(date +%s) - start)) s"
    exit 0
fi
# shellcheck disable=SC2086 # LOCKED is empty or --locked
if [ $# -gt 0 ]; then
    $CARGO test --release $LOCKED --target "$TARGET" "$@"
else
    # The two tests of many concurrent helpers (20 and 30 emulated processes) exceed their time
    # bounds when another test runs beside them under emulation on 2 cores (each passes alone):
    # everything else first, two at a time, then those two alone.
    # Seen on 2 cores busy with another build (2026-12-02, ~65 runs of the pair): 3 times the twenty
    # gets' test failed with one get killed by its 60 s watchdog (code -1). Not the helper: a child
    # the emulated test harness forked deadlocked in qemu-user on a futex before its exec, holding
    # CLOEXEC copies of its siblings' stdin pipes, whose helpers waited for EOF on stdin until the
    # watchdog killed it. Once (load ~5) the thirty registries' test counted 31 API calls, not 30.
    serial=(cache::twenty_concurrent_cold_gets_of_one_registry_make_one_api_call
        cache::thirty_registries_fetched_concurrently_are_all_cached_afterwards)
    # shellcheck disable=SC2086
    $CARGO test --release $LOCKED --target "$TARGET" -- "${serial[@]/#/--skip=}"
    # shellcheck disable=SC2086
    $CARGO test --release $LOCKED --target "$TARGET" --test it -- --exact --test-threads=1 "${serial[@]}"
fi
echo "cross-test: $TARGET tests under qemu: $(($(date +%s) - start)) s"
