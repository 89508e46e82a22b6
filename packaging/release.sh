#!/usr/bin/env bash
# make release: in $DIST, the static binary as <bin>-<version>-x86_64-linux, a tarball
# <bin>-<version>-x86_64-linux.tar.gz (binary, LICENSE, README, CHANGELOG, man page, migration
# notes, kubelet guide, third-party licences, the ecr-credential-provider link) and SHA256SUMS
# over both.
# The tarball is reproducible: sorted entries, root-owned, mtimes at SOURCE_DATE_EPOCH (the commit
# time), no PAX atime/ctime, gzip without name or time stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/common.sh

name=$BIN-$VERSION-x86_64-linux
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir=$stage/$name
install -d "$dir/docs"
install -m 0755 "$STATIC_BIN" "$dir/$BIN"
install -m 0644 LICENSE README.md CHANGELOG.md "$dir/"
install -m 0644 "docs/$BIN.1" docs/migrating-from-go.md docs/kubelet.md "$dir/docs/"
# The kubelet's provider name, beside the binary (docs/kubelet.md: copy both, or point
# --image-credential-provider-bin-dir at the unpacked directory).
ln -s "$BIN" "$dir/$KUBELET_PROVIDER"
python3 packaging/third-party.py >"$dir/THIRD-PARTY.txt"
chmod 0644 "$dir/THIRD-PARTY.txt"
clamp_mtimes "$dir"

mkdir -p "$DIST"
rm -f "$DIST/$name" "$DIST/$name.tar.gz" "$DIST/SHA256SUMS"
tar --create --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$stage" "$name" | gzip -9n >"$DIST/$name.tar.gz"
install -m 0755 "$STATIC_BIN" "$DIST/$name"
(cd "$DIST" && sha256sum "$name" "$name.tar.gz" >SHA256SUMS)
cat "$DIST/SHA256SUMS"
