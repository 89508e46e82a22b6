#!/usr/bin/env bash
# `make fuzz`: builds the cargo-fuzz targets, runs each for FUZZ_SECONDS (default 60) and prints
# executions and crashes per target. Seeds are read from fuzz/corpus/<target>/ (committed, never
# written); what a run discovers goes to fuzz/target/corpus/<target>/, crashes to
# fuzz/artifacts/<target>/. Exits 1 if any target crashed.
#   FUZZ_SECONDS=300 make fuzz            longer runs
#   FUZZ_TARGETS="stdin settings" make fuzz  some targets only
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER=${FUZZ_SECONDS:-60}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
ALL=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v docker-credential-ecr-login-fuzz)
TARGETS=${FUZZ_TARGETS:-$ALL}

cargo +"$TOOLCHAIN" fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo +"$TOOLCHAIN" fuzz build

mkdir -p target/fuzz-logs
declare -A EXECS CRASHES
failed=0
for t in $TARGETS; do
    mkdir -p "target/corpus/$t" "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log="target/fuzz-logs/$t.log"
    echo "== $t: ${SECONDS_PER}s"
    set +e
    cargo +"$TOOLCHAIN" fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER" -timeout=10 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    after=$(find "artifacts/$t" -type f | wc -l)
    EXECS[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    CRASHES[$t]=$((after - before))
    if [ "$rc" -ne 0 ] || [ "${CRASHES[$t]}" -ne 0 ]; then
        failed=1
        [ "${CRASHES[$t]}" -eq 0 ] && CRASHES[$t]="? (exit $rc)"
        grep -E "panicked|ERROR: libFuzzer|SUMMARY|Test unit written" "$log" | head -n 8 || true
    fi
done

printf '\n%-16s %14s %8s\n' target executions crashes
for t in $TARGETS; do
    printf '%-16s %14s %8s\n' "$t" "${EXECS[$t]:-?}" "${CRASHES[$t]}"
done
printf '(%ss per target; logs in fuzz/target/fuzz-logs/, crashes in fuzz/artifacts/)\n' "$SECONDS_PER"
exit "$failed"
