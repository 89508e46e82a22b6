#!/usr/bin/env bash
# make test-windows (after `make windows` built $WIN_EXE): the tests of the Windows build under
# Wine, as CI runs them (docs/windows.md):
#   1. the unit tests, `cargo test --lib` for x86_64-pc-windows-gnu (release, the .exe build's
#      -Zbuild-std crate list, WIN_BUILD_STD, and the release profile's panic=abort kept with
#      -Zpanic-abort-tests, so the standard library and the dependencies are the .exe build's,
#      not compiled again), each test .exe run under Wine by wine-run.sh;
#   2. the integration tests (tests/it), a Linux program, against $WIN_EXE:
#      ECR_TESTS_WINDOWS_EXE makes support::Env::command run `wine64 <exe> ...`; tests of
#      Unix-only mechanisms skip there with a line saying so (support::unix_only); the fallback
#      tests' fake credential store is its Windows build (ECR_TESTS_WINDOWS_STORE).
# One temporary Wine prefix under $TARGET_DIR for the run, its wineserver kept alive throughout
# (the first start of a prefix takes seconds) and shut down at the end, whatever happens.
# The Makefile passes the Windows build's environment (RUSTC, RUSTFLAGS, ...); it is used for the
# Windows unit tests only: the Linux build of the integration tests gets none of it, so it reuses
# `make test`'s artifacts. Further arguments go to both test runs (e.g. `-- cache::`).
# `test.sh build` (make test-windows-build) only compiles the unit tests (cargo test --no-run):
# check-dist compiles every test before it runs any under emulation.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${WIN_EXE:?WIN_EXE is not set (run through make test-windows)}"
: "${WIN_SHIM_DIR:?WIN_SHIM_DIR is not set}" "${TARGET_DIR:=$PWD/target}" "${CARGO:=cargo}" "${LOCKED:=}"
: "${WIN_TARGET:=x86_64-pc-windows-gnu}" "${WIN_BUILD_STD:=-Zbuild-std=std,panic_abort,test}"
wine=/usr/lib/wine/wine64 wineserver=/usr/lib/wine/wineserver
[ -x "$wine" ] || { echo "test-windows: no $wine (make windows-setup)" >&2; exit 1; }
[ -f "$WIN_EXE" ] || { echo "test-windows: no $WIN_EXE (make windows)" >&2; exit 1; }
for f in bcryptprimitives.dll docker-credential-fake.exe; do
    [ -f "$WIN_SHIM_DIR/$f" ] || { echo "test-windows: no $f in $WIN_SHIM_DIR (make windows-setup)" >&2; exit 1; }
done

# The Windows build's environment, kept for step 1 and taken away from everything else.
win_vars=(RUSTC RUSTDOC RUSTC_BOOTSTRAP RUSTFLAGS ECR_LOGIN_COMMIT CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER)
win_env=()
for v in "${win_vars[@]}"; do
    if [ -n "${!v:-}" ]; then win_env+=("$v=${!v}"); fi
done
[ -n "${RUSTC_BOOTSTRAP:-}" ] || { echo "test-windows: no Windows build environment (run through make test-windows)" >&2; exit 1; }
unset "${win_vars[@]}" SOURCE_DATE_EPOCH
unit_test() {
    # shellcheck disable=SC2086 # LOCKED is empty or --locked
    env "${win_env[@]}" CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$PWD/packaging/windows/wine-run.sh" \
        $CARGO test --release $LOCKED "$WIN_BUILD_STD" -Zpanic-abort-tests \
        --target "$WIN_TARGET" --lib "$@"
}
if [ "${1:-}" = build ]; then
    unit_test --no-run
    exit
fi

work=$TARGET_DIR/wine-test
export WINEPREFIX=$work/prefix WINEDEBUG=-all WIN_SHIM_DIR
stop_wine() {
    "$wineserver" -k 2>/dev/null || true
    "$wineserver" -w 2>/dev/null || true
}
trap stop_wine EXIT
stop_wine
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)
# A persistent wineserver, then the prefix made (wineboot; without Mono and Gecko, which it would
# offer to download). Their output goes to a log, away from ours: a daemon holding our stdout
# would keep a pipe from make open.
start_wine() {
    mkdir -p "$WINEPREFIX" &&
        "$wineserver" -p </dev/null >>"$work/wine.log" 2>&1 &&
        WINEDLLOVERRIDES="mscoree,mshtml=" "$wine" wineboot --init </dev/null >>"$work/wine.log" 2>&1
}
if ! start_wine; then
    echo "test-windows: the Wine prefix did not start (see $work/wine.log); once more" >&2
    stop_wine
    rm -rf "$WINEPREFIX"
    start_wine || { echo "test-windows: the Wine prefix did not start: $work/wine.log" >&2; exit 1; }
fi
echo "test-windows: Wine prefix $WINEPREFIX ready in $(($(date +%s) - start)) s ($("$wine" --version))"
# The shim beside the .exe under test (test-only: docs/windows.md).
cp "$WIN_SHIM_DIR/bcryptprimitives.dll" "$(dirname "$WIN_EXE")/"

# counts LOG: "passed failed ignored" summed over the `test result:` lines of LOG.
counts() {
    sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$1" |
        awk '{p += $1; f += $2; i += $3} END {print p + 0, f + 0, i + 0}'
}

status=0
echo "test-windows: 1. unit tests ($WIN_TARGET, under Wine)"
t1=$(date +%s)
unit_test "$@" 2>&1 | tee "$work/unit.log" || status=1
read -r unit_pass unit_fail unit_ignored < <(counts "$work/unit.log")
unit_s=$(($(date +%s) - t1))

echo "test-windows: 2. integration tests against $WIN_EXE"
t2=$(date +%s)
# --show-output: the skip lines of passing tests (support::unix_only) are kept for the summary.
# shellcheck disable=SC2086
ECR_TESTS_WINDOWS_EXE=$WIN_EXE ECR_TESTS_WINDOWS_STORE=$WIN_SHIM_DIR/docker-credential-fake.exe ECR_TESTS_REQUIRE_MOTO=1 \
    $CARGO test $LOCKED --test it "$@" -- --show-output 2>&1 | tee "$work/it.log" || status=1
read -r it_pass it_fail it_ignored < <(counts "$work/it.log")
it_s=$(($(date +%s) - t2))

skips=$(grep -o 'skipped against the Windows .exe: .*' "$work/it.log" | sort -u || true)
skipped_tests=$(printf '%s\n' "$skips" | sed -n 's/^skipped against the Windows .exe: \([^ ]*\): .*/\1/p' | sort -u | grep -c . || true)
echo
echo "test-windows: skipped against the Windows .exe (a test may skip a part only):"
printf '%s\n' "$skips" | sed 's/^skipped against the Windows .exe: /  /'
echo "test-windows: unit tests under Wine: $unit_pass passed, $unit_fail failed, $unit_ignored ignored ($unit_s s)"
echo "test-windows: integration tests against the .exe: $it_pass passed ($skipped_tests of them skipped wholly or in part as Unix-only), $it_fail failed, $it_ignored ignored ($it_s s)"
echo "test-windows: $(($(date +%s) - start)) s in all; logs in $work/{unit,it}.log"
exit $status
