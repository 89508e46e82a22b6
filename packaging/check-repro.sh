#!/usr/bin/env bash
# make check-repro (and check-dist): are release builds reproducible?
# The Windows .exe and zip are in SHA256SUMS too (WINDOWS=1), so they are compared as well
# (check-dist passes WINDOWS=0 for its second build: the Makefile's CHECK_REPRO_WINDOWS).
# Copies the source tree (the files git knows, as they are on disk) to a different, longer path
# under /tmp, runs `make release` there with its own target directory, the same COMMIT and
# SOURCE_DATE_EPOCH, and compares its SHA256SUMS with $DIST/SHA256SUMS from the build here.
# Different source and target paths are the usual culprits (panic locations, OUT_DIR, the order
# of the linker's inputs); the Makefile's --remap-path-prefix flags are what make them disappear.
# The second build is a whole one, every target compiled and linked again in the other tree: any
# step of a build can put a path into its output, so nothing of it can be reused from the first.
# (The aarch64 sysroot, an unpacked Debian package and no build output, is the first build's:
# CROSS_SYSROOT comes from make.)
#   check-repro.sh              both phases below, in a temporary directory (make check-repro)
#   check-repro.sh build DIR    the second build, in DIR (check-dist starts it first, in the
#                               background at the lowest CPU priority, so it fills the cores its
#                               own steps leave idle: single-threaded links, tests, I/O)
#   check-repro.sh compare DIR  its SHA256SUMS against $DIST/SHA256SUMS (after make release here)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DIST:=dist}" "${COMMIT:=}" "${SOURCE_DATE_EPOCH:?}" "${WINDOWS:=1}"

build() {
    local work=$1 copy=$1/elsewhere/docker-credential-ecr-login-src start
    mkdir -p "$copy"
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [ -e "$f" ] && printf '%s\0' "$f"
    done | tar --null -T - -cf - | tar -xf - -C "$copy"
    start=$(date +%s)
    env -u CARGO_TARGET_DIR make -C "$copy" --no-print-directory -s release \
        ${ARCHES:+ARCHES="$ARCHES"} WINDOWS="$WINDOWS" COMMIT="$COMMIT" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
        DIST="$copy/dist" >"$work/build.log" 2>&1 ||
        { tail -n 30 "$work/build.log" >&2; echo "check-repro: the second build failed" >&2; return 1; }
    echo "second build ($copy, target $copy/target): $(($(date +%s) - start)) s"
}

compare() {
    local copy=$1/elsewhere/docker-credential-ecr-login-src
    [ -f "$DIST/SHA256SUMS" ] || { echo "no $DIST/SHA256SUMS: run make release first" >&2; return 1; }
    [ -f "$copy/dist/SHA256SUMS" ] || { echo "no second build in $1" >&2; return 1; }
    echo "--- first build ($PWD/$DIST/SHA256SUMS)"
    cat "$DIST/SHA256SUMS"
    echo "--- second build"
    cat "$copy/dist/SHA256SUMS"
    # The second build makes the release only, of the Linux architectures it was given (check-dist:
    # x86_64): every file it made must be in the first build's SHA256SUMS with the same hash; the
    # first build's others (the .deb and .rpm, other architectures, their SBOMs) are named.
    local missing
    missing=$(grep -Fxv -f "$DIST/SHA256SUMS" "$copy/dist/SHA256SUMS" || true)
    if [ -s "$copy/dist/SHA256SUMS" ] && [ -z "$missing" ]; then
        echo "check-repro: reproducible: each of the second build's $(wc -l <"$copy/dist/SHA256SUMS") files is byte-identical"
        awk '{print $2}' "$copy/dist/SHA256SUMS" | grep -Fxv -f - <(awk '{print $2}' "$DIST/SHA256SUMS") |
            sed 's/^/  not rebuilt: /' || true
    else
        echo "check-repro: NOT reproducible" >&2
        for f in "$DIST"/*-linux "$DIST"/*-windows.exe "$DIST"/*-macos; do
            cmp -l "$f" "$copy/dist/${f##*/}" | head -n 20 >&2 || true
        done
        return 1
    fi
}

case ${1:-} in
build | compare) "$1" "${2:?usage: check-repro.sh $1 DIR}" ;;
"")
    [ -f "$DIST/SHA256SUMS" ] || { echo "no $DIST/SHA256SUMS: run make release first" >&2; exit 1; }
    work=$(mktemp -d /tmp/repro.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    build "$work"
    compare "$work"
    ;;
*) echo "usage: check-repro.sh [build DIR | compare DIR]" >&2; exit 1 ;;
esac
