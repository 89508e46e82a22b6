#!/usr/bin/env bash
# make test-cross: the tests of the aarch64 build, under qemu-user.
#   1. The unit tests: `cargo test --release -Zpanic-abort-tests --target $TARGET --lib --bins`,
#      the aarch64 test binaries run by qemu-aarch64-static (the Makefile passes the static build's
#      environment: cross toolchain, RUSTFLAGS (sysroot glibc), RUSTC_BOOTSTRAP=1, and
#      CARGO_TARGET_..._RUNNER). -Zpanic-abort-tests keeps the release profile's panic=abort, so
#      the tests link the dependency artefacts `make static` built rather than a second,
#      panic=unwind copy of every crate (as test-windows does); each test then runs in a child
#      process of its harness, which binfmt_misc hands to qemu as well. One test at a time: the
#      harness forks a child per test, and concurrent forks from a multithreaded program under
#      qemu-user are what deadlocked (below).
#   2. The integration tests (tests/it) against the aarch64 static binary HELPER (make static
#      built it; the one packaged and shipped), which the kernel's binfmt_misc hands to qemu: the
#      harness is the native Linux program `make test` built (ECR_TESTS_HELPER names the helper
#      to start), as for the Windows .exe. Not an emulated harness: a multithreaded program under
#      qemu-user that forks many helpers at once can deadlock inside qemu-user before the exec
#      (seen in CI, 2026-12-02: a forked child stuck on a futex, holding CLOEXEC copies of its
#      siblings' stdin pipes, so their helpers waited for EOF until the watchdog killed one).
# So this registers qemu-aarch64 with binfmt_misc for the run, and afterwards undoes exactly what it
# changed (binfmt_misc is the host kernel's, shared by every container on it): disables the entry
# it enabled, unmounts what it mounted.
# Do not set QEMU_LD_PREFIX: with it a test binary spun at 100% CPU forever (TESTING.md).
# Further arguments go to both cargo test runs (e.g. `-- cache::` to run some tests only).
# `cross-test.sh build` only compiles the unit tests (cargo test --no-run): check-dist compiles
# every test before it runs any under emulation.
# `cross-test.sh smoke` runs tests/e2e/cross-smoke.sh instead of cargo test, with the same
# binfmt_misc registration: skopeo pulls from a local registry through the already built aarch64
# static binary (HELPER), which the kernel hands to qemu (make smoke-cross; builds nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TARGET:=aarch64-unknown-linux-gnu}" "${CARGO:=cargo}" "${LOCKED:=}"
unset QEMU_LD_PREFIX
unit_test() {
    # shellcheck disable=SC2086 # LOCKED is empty or --locked
    $CARGO test --release $LOCKED -Zpanic-abort-tests --target "$TARGET" --lib --bins "$@"
}
if [ "${1:-}" = build ]; then
    unit_test --no-run
    exit
fi
: "${HELPER:?HELPER is not set (the aarch64 static binary: run through make test-cross)}"
[ -x "$HELPER" ] || { echo "cross-test: no $HELPER (make static TARGET=$TARGET)" >&2; exit 1; }
# An ELF file (\x7fELF) for machine 183 (EM_AARCH64, little-endian 0xb7 0x00 at offset 18).
[ "$(od -An -tx1 -N4 "$HELPER" | tr -d ' \n')$(od -An -tx1 -j18 -N2 "$HELPER" | tr -d ' \n')" = 7f454c46b700 ] ||
    { echo "cross-test: $HELPER is not an aarch64 ELF program" >&2; exit 1; }

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
# The cross build's environment is for step 1 only: the native harness of step 2 is `make test`'s
# build, which it reuses as it is.
cross_vars=(RUSTC RUSTDOC RUSTC_BOOTSTRAP RUSTFLAGS ECR_LOGIN_COMMIT CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER
    CC_aarch64_unknown_linux_gnu AR_aarch64_unknown_linux_gnu)
native() { env "${cross_vars[@]/#/-u}" "$@"; }
echo "cross-test: 1. unit tests ($TARGET, under qemu)"
RUST_TEST_THREADS=1 unit_test "$@"
unit_s=$(($(date +%s) - start))
echo "cross-test: 2. integration tests against $HELPER (under qemu through binfmt_misc)"
t2=$(date +%s)
export ECR_TESTS_HELPER=$HELPER
# The credential chain's differential test against botocore (tests/it/chain.rs) runs the first 80
# of the 320 generated cases here, the same seed, so the same configurations as `make test`'s
# first 80: the chain is this crate's own code, which `make test` checks on all 320 natively; under
# qemu the 320 took 71 s of the run's 137 (issue 21, CI time), 80 take about a quarter of that.
export ECR_TESTS_CHAIN_CASES=${ECR_TESTS_CHAIN_CASES:-80}
if [ $# -gt 0 ]; then
    # shellcheck disable=SC2086
    native $CARGO test $LOCKED --test it "$@"
else
    # The tests of many concurrent helpers (20 and 30 emulated processes at once) would exceed
    # their bounds with other tests' helpers beside them under emulation on 2 cores (each passes
    # alone): everything else first, two at a time, then those alone.
    serial=(cache::twenty_concurrent_cold_gets_of_one_registry_make_one_api_call
        cache::thirty_registries_fetched_concurrently_are_all_cached_afterwards
        hardening::twenty_failing_cold_gets_share_one_api_call_and_its_cause)
    # shellcheck disable=SC2086
    native $CARGO test $LOCKED --test it -- "${serial[@]/#/--skip=}"
    # shellcheck disable=SC2086
    native $CARGO test $LOCKED --test it -- --exact --test-threads=1 "${serial[@]}"
fi
echo "cross-test: $TARGET unit tests under qemu: $unit_s s; integration tests against the $TARGET helper: $(($(date +%s) - t2)) s"
