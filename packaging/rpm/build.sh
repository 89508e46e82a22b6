#!/usr/bin/env bash
# make rpm: dist/<bin>-<version>-<rel>.<x86_64|aarch64>.rpm from the static binary (ARCH), with rpmbuild and the
# spec beside this script. Why a spec file and not cargo-generate-rpm: rpmbuild comes with the
# `rpm` package (Debian has it), while cargo-generate-rpm would be compiled from crates.io on
# every CI run; the spec is also what RPM distributions' packagers read and reuse.
set -euo pipefail
cd "$(dirname "$0")/../.."
. packaging/common.sh

RELEASE=${RPM_RELEASE:-1}
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
build=$top/BUILD
mkdir -p "$build" "$DIST"

install -m 0755 "$STATIC_BIN" "$build/$BIN"
gzip -9n <"docs/$BIN.1" >"$build/$BIN.1.gz"
install -m 0644 LICENSE README.md CHANGELOG.md docs/migrating-from-go.md docs/kubelet.md "$build/"
python3 packaging/third-party.py >"$build/THIRD-PARTY.txt"
printf '%s\n' "$DESCRIPTION" >"$build/DESCRIPTION"
clamp_mtimes "$build"

rpmbuild -bb --quiet --target "$RPM_ARCH-linux" \
    --define "_topdir $top" \
    --define "_builddir $build" \
    --define "_rpmdir $top/RPMS" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "pkg_version $VERSION" \
    --define "pkg_release $RELEASE" \
    --define "pkg_summary $SUMMARY" \
    --define "pkg_url ${HOMEPAGE:-https://example.invalid}" \
    --define "pkg_packager $MAINTAINER" \
    packaging/rpm/$BIN.spec
rpm_file=$BIN-$VERSION-$RELEASE.$RPM_ARCH.rpm
mv "$top/RPMS/$rpm_file" "$DIST/$rpm_file"
python3 packaging/sbom.py "$DIST/$rpm_file" "$ARCH-unknown-linux-gnu=$STATIC_BIN" # its CycloneDX SBOM
echo "$DIST/$rpm_file"
