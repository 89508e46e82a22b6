#!/usr/bin/env bash
# Signatures of a release (docs/security.md, "Signatures and provenance"), with minisign.
#   packaging/sign.sh sign          make sign: signs $DIST/SHA256SUMS and the provenance statement
#                                   ($PROVENANCE, written by packaging/provenance.py) with the
#                                   secret key MINISIGN_KEY (default ~/.minisign/minisign.key;
#                                   minisign asks for its password, or reads it from standard
#                                   input), into <file>.minisig; then
#                                   verifies both with MINISIGN_PUB when it is set
#   packaging/sign.sh verify PUB    make verify: what a user runs: both signatures against the
#                                   public key PUB, then sha256sum -c SHA256SUMS
#   packaging/sign.sh check         CI (check-dist, after release): a throw-away key made here
#                                   (minisign -G -W, no password), the provenance written and
#                                   checked (provenance.py check), both files signed and verified;
#                                   a tampered SHA256SUMS, a tampered statement and a signature
#                                   by another key must fail. Removes what it signed afterwards:
#                                   signatures by a throw-away key must not reach a release.
# The trusted comment (signed too) names the version and commit: `minisign -V` prints it, so an
# older release's files, served with their own valid signatures, show their version.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?VERSION is not set (run through make)}"
: "${PROVENANCE:=$DIST/$BIN-$VERSION.intoto.json}"
SUMS=$DIST/SHA256SUMS

fail() {
    echo "sign: $*" >&2
    exit 1
}
need_minisign() {
    command -v minisign >/dev/null 2>&1 && return 0
    echo "sign: installing minisign"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends minisign >/dev/null
}

# sign_files KEY FILE...: FILE.minisig for each, in one minisign run (one password prompt), with
# a trusted comment naming the release.
sign_files() {
    local key=$1
    shift
    rm -f "${@/%/.minisig}"
    minisign -S -s "$key" -t "$BIN $VERSION${COMMIT:+ commit $COMMIT}: SHA256SUMS and provenance" -m "$@" ||
        fail "minisign could not sign $* with $key"
}
verify_all() {
    local pub=$1 f
    for f in "$SUMS" "$PROVENANCE"; do
        [ -f "$f.minisig" ] || fail "no $f.minisig"
        minisign -V -q -p "$pub" -m "$f" || fail "$f: the signature does not verify with $pub"
        echo "sign: $f: signature verifies with $pub ($(sed -n 's/^trusted comment: //p' "$f.minisig"))"
    done
    (cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "a file differs from SHA256SUMS"
    echo "sign: every file SHA256SUMS lists matches it"
}

case ${1:-} in
sign)
    need_minisign
    key=${MINISIGN_KEY:-$HOME/.minisign/minisign.key}
    [ -f "$key" ] || fail "no secret key $key (set MINISIGN_KEY to the project's secret key file)"
    [ -f "$SUMS" ] || fail "no $SUMS (make release first)"
    [ -f "$PROVENANCE" ] || fail "no $PROVENANCE (make provenance)"
    sign_files "$key" "$SUMS" "$PROVENANCE"
    echo "sign: $SUMS.minisig $PROVENANCE.minisig"
    [ -z "${MINISIGN_PUB:-}" ] || verify_all "$MINISIGN_PUB"
    ;;
verify)
    need_minisign
    [ -n "${2:-}" ] || fail "usage: packaging/sign.sh verify PUBLIC-KEY-FILE (make verify MINISIGN_PUB=...)"
    verify_all "$2"
    ;;
check)
    need_minisign
    start=$(date +%s)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"; rm -f "$SUMS.minisig" "$PROVENANCE" "$PROVENANCE.minisig"' EXIT
    python3 packaging/provenance.py "$PROVENANCE"
    python3 packaging/provenance.py check "$PROVENANCE"
    minisign -G -W -p "$tmp/ci.pub" -s "$tmp/ci.key" >/dev/null
    sign_files "$tmp/ci.key" "$SUMS" "$PROVENANCE"
    echo "sign: signed with a throw-away key ($(sed -n 2p "$tmp/ci.pub"))"
    minisign -Vm "$SUMS" -p "$tmp/ci.pub"
    verify_all "$tmp/ci.pub"
    echo "ok - SHA256SUMS and the provenance statement signed; minisign -Vm verifies both"
    # Tampering: a changed line in SHA256SUMS, one more byte in the statement, another key.
    for f in "$SUMS" "$PROVENANCE"; do
        cp "$f" "$tmp/tampered"
        cp "$f.minisig" "$tmp/tampered.minisig"
        if [ "$f" = "$SUMS" ]; then
            # another digest on the first line: its first hex digit changed
            awk 'NR == 1 { $0 = (substr($0, 1, 1) == "0" ? "1" : "0") substr($0, 2) } 1' "$f" >"$tmp/tampered"
        else
            echo >>"$tmp/tampered"
        fi
        cmp -s "$f" "$tmp/tampered" && fail "the tampered copy of $f is unchanged"
        if minisign -V -q -p "$tmp/ci.pub" -m "$tmp/tampered" 2>/dev/null; then
            fail "a tampered $(basename "$f") verifies"
        fi
    done
    minisign -G -W -p "$tmp/other.pub" -s "$tmp/other.key" >/dev/null
    if minisign -V -q -p "$tmp/other.pub" -m "$SUMS" 2>/dev/null; then
        fail "SHA256SUMS verifies with a key that did not sign it"
    fi
    echo "ok - a tampered SHA256SUMS, a tampered statement and another key's public key all fail"
    echo "sign: check took $(($(date +%s) - start)) s"
    ;;
*) fail "usage: packaging/sign.sh sign|verify PUBLIC-KEY|check" ;;
esac
