#!/usr/bin/env bash
# make deb: dist/<bin>_<version>-<rev>_<amd64|arm64>.deb from the static binary (ARCH), with dpkg-deb.
#
# Why dpkg-deb on a tree we lay out ourselves, not cargo-deb or dpkg-buildpackage: the package
# holds one prebuilt static binary (the same bytes as the tarball and the image), so there is
# nothing for debhelper to build or to compute (no shared-library Depends); dpkg-deb is on every
# Debian machine, whereas cargo-deb would be compiled from crates.io on each CI run and
# dpkg-buildpackage would need debhelper, a source package and a build in the parent directory.
# Everything a policy-conformant package needs is done here: gzipped man page and changelogs,
# DEP-5 copyright, md5sums, Installed-Size, root ownership, and mtimes at SOURCE_DATE_EPOCH.
set -euo pipefail
cd "$(dirname "$0")/../.."
. packaging/common.sh

REVISION=${DEB_REVISION:-1}
PKG=$BIN
DEB=$DIST/${PKG}_${VERSION}-${REVISION}_${DEB_ARCH}.deb

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/$PKG
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" "$doc" \
    "$root/usr/share/lintian/overrides"

install -m 0755 "$STATIC_BIN" "$root/usr/bin/$BIN"
gzip -9n <"docs/$BIN.1" >"$root/usr/share/man/man1/$BIN.1.gz"
install -m 0644 packaging/deb/copyright "$doc/copyright"
install -m 0644 README.md "$doc/README.md"
install -m 0644 docs/migrating-from-go.md "$doc/migrating-from-go.md"
install -m 0644 docs/kubelet.md "$doc/kubelet.md"
install -d "$root/$KUBELET_DIR"
ln -s "$KUBELET_LINK_TARGET" "$root/$KUBELET_DIR/$KUBELET_PROVIDER"
python3 packaging/third-party.py >"$doc/THIRD-PARTY.txt"
gzip -9n <CHANGELOG.md >"$doc/changelog.gz"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/$PKG"
{
    echo "$PKG ($VERSION-$REVISION) unstable; urgency=medium"
    echo
    echo "  * Upstream release $VERSION${COMMIT:+ (commit $COMMIT)}; see changelog.gz."
    echo
    echo " -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"
chmod 0644 "$doc"/*.gz "$doc/THIRD-PARTY.txt" "$root/usr/share/man/man1/$BIN.1.gz"

# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, plus one per directory.
installed_size=$(find "$root" -path "$root/DEBIAN" -prune -o \( -type f -printf '%s\n' \) -o \
    \( -type d -printf '1024\n' \) | awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
# The static binary contains glibc: say which one (Debian policy 7.8, Built-Using). The arm64 one
# links the sysroot's libc6-dev:arm64 (packaging/cross-setup.sh), which records its source version.
if [ "$DEB_ARCH" = arm64 ]; then
    libc=$(cat "${CROSS_SYSROOT:?}/built-using")
else
    libc=$(dpkg-query -W -f='${source:Package} (= ${source:Version})' libc6-dev 2>/dev/null || true)
fi

{
    echo "Package: $PKG"
    echo "Version: $VERSION-$REVISION"
    echo "Architecture: $DEB_ARCH"
    echo "Maintainer: $MAINTAINER"
    echo "Installed-Size: $installed_size"
    [ -n "$libc" ] && echo "Built-Using: $libc"
    # The Go helper's Debian/Ubuntu package ships the same /usr/bin path: replace it cleanly.
    echo "Conflicts: amazon-ecr-credential-helper"
    echo "Replaces: amazon-ecr-credential-helper"
    echo "Provides: amazon-ecr-credential-helper"
    echo "Section: admin"
    echo "Priority: optional"
    [ -n "$HOMEPAGE" ] && echo "Homepage: $HOMEPAGE"
    echo "Description: $SUMMARY"
    printf '%s\n' "$DESCRIPTION" | sed 's/^/ /'
} >"$root/DEBIAN/control"
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

clamp_mtimes "$root"
mkdir -p "$DIST"
dpkg-deb --root-owner-group -Zxz --build "$root" "$DEB" >/dev/null
python3 packaging/sbom.py "$DEB" "$ARCH-unknown-linux-gnu=$STATIC_BIN" # its CycloneDX SBOM
echo "$DEB"
