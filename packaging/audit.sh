#!/usr/bin/env bash
# make audit (and check-dist's supply-chain step): cargo deny check (licences, bans, sources,
# advisories) against deny.toml, offline, with the RustSec advisory database snapshot.
#
# The snapshot is a plain folder (no .git), found as the first of:
#   $ADVISORY_DB                       if set (any copy or clone of rustsec/advisory-db)
#   <tree>/../shared/advisory-db       beside this work tree
#   <main>/../shared/advisory-db       beside the tree this one is a git worktree of, or a local
#                                      clone of (CI's clean clone in /tmp: its origin's path)
# cargo deny wants a git repository at <db-path>/advisory-db-<hash>, so a throw-away one is made
# there from the snapshot, under the target directory ($ECR_ADVISORY_DBS, default
# $TARGET_DIR/advisory-dbs), committed with the snapshot's own date (its SNAPSHOT.md, else its
# newest file), so cargo deny's staleness check sees the real age. It is made again only when the
# snapshot changes (a second run costs nothing). cargo-deny is installed once per machine
# (packaging/cargo-tools.sh); every crate of Cargo.lock must be in cargo's cache for an offline
# run, so `cargo fetch --locked` runs first (a no-op when they are).
# Prints each phase's duration.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TARGET_DIR:=${CARGO_TARGET_DIR:-$PWD/target}}"
fail() { echo "audit: FAIL: $*" >&2; exit 1; }
t0=$(date +%s)
phase() { echo "audit: $1 ($(($(date +%s) - t0)) s)"; t0=$(date +%s); }

snapshot=""
candidates=()
[ -n "${ADVISORY_DB:-}" ] && candidates+=("$ADVISORY_DB")
candidates+=("$PWD/../shared/advisory-db")
common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
[ -n "$common" ] && candidates+=("$(dirname "$common")/../shared/advisory-db")
origin=$(git remote get-url origin 2>/dev/null || true)
case $origin in /* | file://*) candidates+=("${origin#file://}/../shared/advisory-db") ;; esac
for c in "${candidates[@]}"; do
    if [ -d "$c/crates" ]; then
        snapshot=$(cd "$c" && pwd)
        break
    fi
done
[ -n "$snapshot" ] || fail "no RustSec advisory database snapshot (looked in: ${candidates[*]}); set ADVISORY_DB to a copy of rustsec/advisory-db"
if [ -n "${ADVISORY_DB:-}" ] && [ "$snapshot" != "$(cd "$ADVISORY_DB" 2>/dev/null && pwd)" ]; then
    fail "ADVISORY_DB=$ADVISORY_DB holds no advisory database (no crates/ folder)"
fi

# audit.sh --print-snapshot: where the snapshot is (packaging/test-supply-chain.sh copies it).
[ "${1:-}" = --print-snapshot ] && { echo "$snapshot"; exit 0; }

packaging/cargo-tools.sh deny
phase "cargo-deny $(cargo-deny --version | awk '{ print $2 }') ready"

# The snapshot's date: "taken at commit <sha> (<YYYY-MM-DD>)" in its SNAPSHOT.md, else the
# newest advisory file's.
date=$(sed -n 's/.*taken at commit [0-9a-f]* (\([0-9-]*\)).*/\1/p' "$snapshot/SNAPSHOT.md" 2>/dev/null | head -n 1)
[ -n "$date" ] || date=$(find "$snapshot/crates" -type f -printf '%TY-%Tm-%Td\n' | sort | tail -n 1)
age=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "audit: advisory database $snapshot, snapshot of $date ($age days old)"

# cargo-deny 0.20's folder name for the default db-url (deny.toml's db-urls).
export ECR_ADVISORY_DBS=${ECR_ADVISORY_DBS:-$TARGET_DIR/advisory-dbs}
repo=$ECR_ADVISORY_DBS/advisory-db-3157b0e258782691
# The snapshot's identity: every file's path, size and modification time.
id=$( (cd "$snapshot" && find . -type f ! -path './.git/*' -printf '%p %s %T@\n' | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$ECR_ADVISORY_DBS/snapshot-id" 2>/dev/null)" != "$id" ] || [ ! -d "$repo/.git" ]; then
    rm -rf "$repo"
    mkdir -p "$repo"
    cp -a "$snapshot/." "$repo/"
    rm -rf "$repo/.git"
    (cd "$repo" && git init -q && git add -A &&
        GIT_AUTHOR_DATE="$date 00:00:00 +0000" GIT_COMMITTER_DATE="$date 00:00:00 +0000" \
            git -c user.name=audit -c user.email=audit@localhost commit -q -m "snapshot of $date")
    echo "$id" >"$ECR_ADVISORY_DBS/snapshot-id"
    phase "throw-away git repository of the snapshot made in $repo"
else
    phase "git repository of the snapshot reused ($repo)"
fi

# Every advisory exception is written and dated: { id = "RUSTSEC-...", reason = "YYYY-MM-DD: why" }.
python3 - "${DENY_CONFIG:-deny.toml}" <<'PY' || fail "deny.toml: an advisory exception without an id and a dated reason"
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    ignore = tomllib.load(f).get("advisories", {}).get("ignore", [])
bad = [e for e in ignore if not isinstance(e, dict) or "id" not in e
       or not re.match(r"\d{4}-\d{2}-\d{2}: \S", e.get("reason", ""))]
for e in bad:
    print(f"audit: exception {e!r}: write it as {{ id = \"RUSTSEC-...\", reason = \"YYYY-MM-DD: why\" }}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY

cargo fetch --locked --quiet
phase "crates of Cargo.lock in cargo's cache (cargo fetch --locked)"

# AUDIT_CHECKS: a subset, e.g. AUDIT_CHECKS=licenses (word-split on purpose); DENY_CONFIG: another
# policy file (packaging/test-supply-chain.sh uses both). The inclusion graphs are left out: each
# diagnostic names the crate, and `cargo tree -i CRATE` shows who pulls it in.
# shellcheck disable=SC2086
cargo deny --offline --locked --config "${DENY_CONFIG:-deny.toml}" check --show-stats --hide-inclusion-graph \
    ${AUDIT_CHECKS:-licenses bans sources advisories} ||
    fail "cargo deny: see above (deny.toml says what is allowed, and how to write an exception)"
phase "cargo deny check: licences, bans, sources, advisories passed"
