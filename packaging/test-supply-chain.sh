#!/usr/bin/env bash
# The supply-chain checks catch what they are for (issue 24): each case below is a release or a
# tree that must FAIL a check, and the check is run on it. Part of packaging/check-supply-chain.sh
# (after the checks passed on the real release); about 10 s.
#   auditable  a binary without the embedded list (not built with cargo auditable); a binary
#              whose embedded list names a version Cargo.lock does not have; the Linux binary's
#              list checked against another target's resolution (Windows); with a macOS binary
#              in $DIST (MACOS=1), its Mach-O list checked against the Linux resolution
#   sbom       an SBOM with one crate fewer than the binary embeds; a release whose SHA256SUMS
#              lists a file without its SBOM, a Linux one and (MACOS=1) a macOS one
#   audit      a licence outside the allow-list; a second copy of a crate we allow once (one the
#              tree has two of, banned from having two); an
#              advisory that hits a crate we use, with no exception; an exception without a date;
#              and the same advisory with a dated exception passes
# Needs $DIST from make release (one Linux binary and its SBOM).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?}" "${TARGET_DIR:=$PWD/target}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
# must_fail NAME WANT COMMAND...: COMMAND fails, and its stderr says WANT.
must_fail() {
    local name=$1 want=$2
    shift 2
    if "$@" >"$tmp/out" 2>&1; then
        echo "test-supply-chain: FAIL: $name: passed, should have failed" >&2
        tail -n 5 "$tmp/out" >&2
        exit 1
    fi
    grep -q -- "$want" "$tmp/out" || {
        echo "test-supply-chain: FAIL: $name: failed without saying \"$want\":" >&2
        tail -n 5 "$tmp/out" >&2
        exit 1
    }
    passed=$((passed + 1))
    echo "ok - fails as it should: $name"
}

bin=$DIST/$BIN-$VERSION-x86_64-linux
[ -f "$bin" ] && [ -f "$bin.cdx.json" ] || { echo "test-supply-chain: no $bin or its SBOM (make release)" >&2; exit 1; }

# ---- auditable
must_fail "binary without an embedded list" "no .dep-v0 section" \
    python3 packaging/auditable.py check /bin/true x86_64-unknown-linux-gnu
# The embedded list with one crate's version changed (zlib stream rewritten in place, padded).
python3 - "$bin" "$tmp/tampered" <<'PY'
import sys, zlib
sys.path.insert(0, "packaging")
import auditable
data = bytearray(open(sys.argv[1], "rb").read())
raw = auditable.elf_section(bytes(data))
at = bytes(data).find(raw)
info = auditable.embedded(sys.argv[1])
p = next(p for p in info["packages"] if p["name"] == "base64")
p["version"] = "0.0.1"
import json
new = zlib.compress(json.dumps(info, separators=(",", ":")).encode(), 9)
assert len(new) <= len(raw), (len(new), len(raw))
data[at:at + len(raw)] = new + bytes(len(raw) - len(new))
open(sys.argv[2], "wb").write(data)
PY
must_fail "embedded list naming a version Cargo.lock does not have" "embeds base64 0.0.1" \
    python3 packaging/auditable.py check "$tmp/tampered" x86_64-unknown-linux-gnu
must_fail "Linux binary's list against the Windows resolution" "differs from Cargo.lock for x86_64-pc-windows-gnu" \
    python3 packaging/auditable.py check "$bin" x86_64-pc-windows-gnu

# ---- sbom: a one-binary release in $tmp/dist
mkdir -p "$tmp/dist"
cp "$bin" "$tmp/dist/"
python3 - "$bin.cdx.json" "$tmp/dist/${bin##*/}.cdx.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
gone = next(c["bom-ref"] for c in b["components"] if c.get("scope") == "required")
b["components"] = [c for c in b["components"] if c["bom-ref"] != gone]
b["dependencies"] = [dict(d, dependsOn=[r for r in d["dependsOn"] if r != gone])
                     for d in b["dependencies"] if d["ref"] != gone]
json.dump(b, open(sys.argv[2], "w"))
PY
(cd "$tmp/dist" && sha256sum -- * >SHA256SUMS)
must_fail "SBOM missing a crate the binary embeds" "crates differ from the binary's embedded list" \
    python3 packaging/check-sbom.py "$tmp/dist"
(cd "$tmp/dist" && sha256sum "${bin##*/}" >SHA256SUMS)
must_fail "SHA256SUMS listing a file without its SBOM" "but not its SBOM" \
    python3 packaging/check-sbom.py "$tmp/dist"
# A macOS binary is no exception (its SBOM is made from the list cargo auditable embeds in it).
mac=$(find "$DIST" -maxdepth 1 -name "$BIN-$VERSION-*-macos" ! -name '*-universal-macos' | sort | head -n 1)
if [ "${MACOS:-0}" = 1 ] && [ -n "$mac" ]; then
    a=${mac%-macos} a=${a##*-}
    must_fail "macOS binary's list against the Linux resolution" "differs from Cargo.lock for $a-unknown-linux-gnu" \
        python3 packaging/auditable.py check "$mac" "$a-unknown-linux-gnu"
    rm -f "$tmp/dist/"*
    cp "$mac" "$tmp/dist/"
    (cd "$tmp/dist" && sha256sum "${mac##*/}" >SHA256SUMS)
    must_fail "SHA256SUMS listing a macOS binary without its SBOM" "but not its SBOM" \
        python3 packaging/check-sbom.py "$tmp/dist"
fi

# ---- audit: policies and a database that must fail
export TARGET_DIR
sed 's/^    "MIT",$//' deny.toml >"$tmp/deny-no-mit.toml"
must_fail "licence outside the allow-list (MIT taken out)" "rejected" \
    env DENY_CONFIG="$tmp/deny-no-mit.toml" AUDIT_CHECKS=licenses packaging/audit.sh
# A crate the x86_64 binary's build has two versions of (sha2 0.10 beside 0.11 today), banned
# from having two.
dup=$(python3 -c '
import collections, sys
sys.path.insert(0, "packaging")
import auditable
names = collections.Counter(name for name, _ in auditable.expected("x86_64-unknown-linux-gnu"))
print(min((n for n, c in names.items() if c > 1), default=""))')
if [ -n "$dup" ]; then
    sed "s/^deny = \[\$/deny = [\n    { crate = \"$dup\", deny-multiple-versions = true, reason = \"test\" },/" deny.toml >"$tmp/deny-one.toml"
    must_fail "second copy of a crate allowed once ($dup)" "duplicate entries for crate '$dup'" \
        env DENY_CONFIG="$tmp/deny-one.toml" AUDIT_CHECKS=bans packaging/audit.sh
else
    echo "skip - no crate with two versions in the tree to ban a second copy of"
fi
# The snapshot with one more advisory, on the base64 we use, in its own throw-away repository.
snapshot_copy=$tmp/advisory-db
mkdir -p "$snapshot_copy"
ADVISORY_DB="" packaging/audit.sh --print-snapshot >"$tmp/snapshot-path"
cp -a "$(cat "$tmp/snapshot-path")/." "$snapshot_copy/"
base64=$(sed -n '/^name = "base64"$/{n;s/^version = "\(.*\)"$/\1/p}' Cargo.lock | head -n 1)
cat >"$snapshot_copy/crates/base64/RUSTSEC-2099-0001.md" <<EOF
\`\`\`toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "base64"
date = "2026-08-20"
url = "https://example.invalid/test-supply-chain"

[versions]
patched = [">= 99.0.0"]
\`\`\`

# A test advisory on base64 $base64

Added by packaging/test-supply-chain.sh to a copy of the snapshot: cargo deny must fail on it.
EOF
must_fail "advisory on a crate we use (base64 $base64), no exception" "RUSTSEC-2099-0001" \
    env ADVISORY_DB="$snapshot_copy" ECR_ADVISORY_DBS="$tmp/dbs" AUDIT_CHECKS=advisories packaging/audit.sh
sed 's/^ignore = \[\]$/ignore = [{ id = "RUSTSEC-2099-0001", reason = "no date" }]/' deny.toml >"$tmp/deny-undated.toml"
must_fail "exception without a date" "YYYY-MM-DD" \
    env DENY_CONFIG="$tmp/deny-undated.toml" ADVISORY_DB="$snapshot_copy" ECR_ADVISORY_DBS="$tmp/dbs" \
    AUDIT_CHECKS=advisories packaging/audit.sh
sed 's/^ignore = \[\]$/ignore = [{ id = "RUSTSEC-2099-0001", reason = "2026-12-06: a test exception" }]/' deny.toml >"$tmp/deny-dated.toml"
env DENY_CONFIG="$tmp/deny-dated.toml" ADVISORY_DB="$snapshot_copy" ECR_ADVISORY_DBS="$tmp/dbs" \
    AUDIT_CHECKS=advisories packaging/audit.sh >"$tmp/out" 2>&1 || {
    echo "test-supply-chain: FAIL: a dated exception did not let the advisory pass:" >&2
    tail -n 5 "$tmp/out" >&2
    exit 1
}
passed=$((passed + 1))
echo "ok - passes as it should: the same advisory with a written, dated exception"
echo "test-supply-chain: $passed cases as expected"
