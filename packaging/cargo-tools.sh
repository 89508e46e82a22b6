#!/usr/bin/env bash
# The cargo subcommands the release and CI use (issue 24), installed from crates.io once per
# machine, only when missing, and reused by every later build and run:
#   cargo-tools.sh auditable   cargo-auditable: `cargo auditable build` embeds the crate list in
#                              every shipped binary (make static, make windows)
#   cargo-tools.sh deny        cargo-deny: licences, bans, sources, advisories (make audit)
# Each install is `cargo install --locked` (the tool's own Cargo.lock) of the version pinned
# here, so every machine runs the same tool; the time it took is printed. A newer pin here
# installs over an older one.
set -euo pipefail
AUDITABLE_VERSION=0.7.7
DENY_VERSION=0.20.2
need() {
    local crate=$1 version=$2 cmd=$3 have start
    # The installed version, from cargo's own install list (cargo-auditable has no --version).
    have=$(cargo install --list 2>/dev/null | sed -n "s/^$crate v\([^:]*\):\$/\1/p")
    [ "$have" = "$version" ] && command -v "$cmd" >/dev/null && return 0
    echo "cargo-tools: installing $crate $version (have: ${have:-none})"
    start=$(date +%s)
    # Built outside any work tree, in a temporary target directory (the cargo wrapper of a work
    # tree would otherwise send it to the tree's target directory).
    (cd / && CARGO_TARGET_DIR=$(mktemp -d) && export CARGO_TARGET_DIR &&
        nice -n 10 cargo install --quiet --locked --version "$version" "$crate" &&
        rm -rf "$CARGO_TARGET_DIR")
    echo "cargo-tools: $crate $version installed in $(($(date +%s) - start)) s"
}
for tool in "$@"; do
    case $tool in
    auditable) need cargo-auditable "$AUDITABLE_VERSION" cargo-auditable ;;
    deny) need cargo-deny "$DENY_VERSION" cargo-deny ;;
    *) echo "cargo-tools.sh: unknown tool $tool (auditable, deny)" >&2; exit 2 ;;
    esac
done
