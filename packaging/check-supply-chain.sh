#!/usr/bin/env bash
# check-dist's supply-chain step (issue 24; make check-supply-chain), after `make release` (and
# make deb / make rpm) filled $DIST: builds nothing.
#   auditable  every shipped binary (each architecture's static Linux binary, the Windows .exe,
#              with MACOS=1 each macOS binary of MAC_ARCHES and each slice of the universal one)
#              carries the crate list `cargo auditable build` embeds, and it is exactly what
#              Cargo.lock resolves for that binary's target (packaging/auditable.py)
#   sbom       every file in SHA256SUMS has its CycloneDX SBOM there, valid, naming that file and
#              the crates embedded in its binary (packaging/check-sbom.py)
#   audit      cargo deny: licences, bans, sources, advisories, offline (packaging/audit.sh)
#   self-test  each of those checks fails on a release or a policy made to fail it
#              (packaging/test-supply-chain.sh)
# Prints each part's duration. The image's SBOM (an OCI artifact referring to the image index)
# is checked by packaging/check-image-index.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?}" "${ARCHES:=x86_64}" "${WINDOWS:=1}"
fail() { echo "check-supply-chain: FAIL: $*" >&2; exit 1; }
times=()
timed() {
    local name=$1 start
    start=$(date +%s)
    shift
    "$@"
    times+=("$(printf '%-36s %4d s' "$name" $(($(date +%s) - start)))")
}

auditable_check() {
    local a f
    for a in $ARCHES; do
        f=$DIST/$BIN-$VERSION-$a-linux
        [ -f "$f" ] || fail "no $f (make release)"
        python3 packaging/auditable.py check "$f" "$a-unknown-linux-gnu" || fail "$f: embedded crate list"
        echo "ok - $f: crate list embedded (cargo auditable) = Cargo.lock"
    done
    if [ "$WINDOWS" = 1 ]; then
        f=$DIST/$BIN-$VERSION-x86_64-windows.exe
        [ -f "$f" ] || fail "no $f (make release)"
        python3 packaging/auditable.py check "$f" x86_64-pc-windows-gnu || fail "$f: embedded crate list"
        echo "ok - $f: crate list embedded (cargo auditable) = Cargo.lock"
    fi
    if [ "${MACOS:-0}" = 1 ]; then
        for a in ${MAC_ARCHES:-aarch64 x86_64}; do
            for f in "$DIST/$BIN-$VERSION-$a-macos" "$DIST/$BIN-$VERSION-universal-macos"; do
                case $f in *-universal-macos) [ "$(echo $MAC_ARCHES | wc -w)" -gt 1 ] || continue ;; esac
                [ -f "$f" ] || fail "no $f (make macos)"
                python3 packaging/auditable.py check "$f" "$a-apple-darwin" || fail "$f: embedded crate list"
                echo "ok - $f ($a): crate list embedded (cargo auditable) = Cargo.lock"
            done
        done
    fi
}

timed "auditable: embedded lists = Cargo.lock" auditable_check
timed "sbom: every artefact's SBOM" python3 packaging/check-sbom.py "$DIST"
timed "audit: cargo deny (offline)" packaging/audit.sh
timed "self-test: bad inputs fail the checks" packaging/test-supply-chain.sh
echo "check-supply-chain: duration of each part"
printf '  %s\n' "${times[@]}"
