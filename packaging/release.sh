#!/usr/bin/env bash
# make release: in $DIST, the static binary as <bin>-<version>-<arch>-linux, a tarball
# <bin>-<version>-<arch>-linux.tar.gz (binary, LICENSE, README, CHANGELOG, man page, migration
# notes, kubelet guide, third-party licences, the ecr-credential-provider link), for the ARCH
# given (x86_64 or aarch64); `release.sh sums` then writes one SHA256SUMS over those of every
# architecture in ARCHES, the Windows zip (`release.sh windows`; WINDOWS=0 leaves it out), the
# .deb and .rpm packages when they are in $DIST, each of those files' CycloneDX SBOM
# (<file>.cdx.json, packaging/sbom.py; docs/security.md), and the macOS files with theirs
# (packaging/macos/release.sh; MACOS=1).
# The tarball is reproducible (packaging/tarball.sh, which makes the macOS one too).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = sums ]; then
    : "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?}" "${ARCHES:=x86_64}"
    export LC_ALL=C
    files=()
    for a in $ARCHES; do
        files+=("$BIN-$VERSION-$a-linux" "$BIN-$VERSION-$a-linux.tar.gz")
    done
    if [ "${WINDOWS:-1}" = 1 ]; then
        files+=("$BIN-$VERSION-x86_64-windows.exe" "$BIN-$VERSION-x86_64-windows.zip")
    fi
    # The .deb and .rpm of each architecture too, when make deb / make rpm made them (make
    # release alone does not; a package without its SBOM is from before SBOMs, and left out),
    # and every artefact's CycloneDX SBOM (packaging/sbom.py).
    for a in $ARCHES; do
        case $a in x86_64) d=amd64 ;; *) d=arm64 ;; esac
        for f in "$DIST/${BIN}_$VERSION-"*"_$d.deb" "$DIST/$BIN-$VERSION-"*".$a.rpm"; do
            [ -f "$f" ] || continue
            if [ -f "$f.cdx.json" ]; then files+=("${f##*/}"); else echo "release: $f has no SBOM: not listed" >&2; fi
        done
    done
    if [ "${MACOS:-0}" = 1 ]; then
        mapfile -t -O ${#files[@]} files < <(packaging/macos/release.sh names)
    fi
    for f in "${files[@]}"; do
        [ -f "$DIST/$f.cdx.json" ] || { echo "release: no SBOM $DIST/$f.cdx.json" >&2; exit 1; }
        files+=("$f.cdx.json")
    done
    (cd "$DIST" && sha256sum "${files[@]}" >SHA256SUMS)
    cat "$DIST/SHA256SUMS"
    exit 0
fi
if [ "${1:-}" = windows ]; then
    # The Windows zip (docs/windows.md): <bin>-<version>-x86_64-windows.zip holding
    # <bin>-<version>-x86_64-windows/ with the .exe, README, LICENSE, the Windows notes and the
    # third-party licences; and the .exe alone beside it. Reproducible (packaging/windows/zip.py).
    : "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?}" "${WIN_EXE:?}"
    : "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
    export LC_ALL=C TZ=UTC
    name=$BIN-$VERSION-x86_64-windows
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/$name"
    cp "$WIN_EXE" "$stage/$name/$BIN.exe"
    cp LICENSE README.md "$stage/$name/"
    cp docs/windows.md "$stage/$name/WINDOWS.md"
    python3 packaging/third-party.py x86_64-pc-windows-gnu >"$stage/$name/THIRD-PARTY.txt"
    mkdir -p "$DIST"
    rm -f "$DIST/$name.zip" "$DIST/$name.exe" "$DIST/$name".*.cdx.json "$DIST/SHA256SUMS"
    python3 packaging/windows/zip.py "$DIST/$name.zip" "$SOURCE_DATE_EPOCH" "$stage/$name"
    install -m 0755 "$WIN_EXE" "$DIST/$name.exe"
    # The .exe records no rustc version: the SBOMs take make windows's rustc's (Makefile WIN_ENV).
    SBOM_RUSTC=/usr/bin/rustc python3 packaging/sbom.py "$DIST/$name.zip" "x86_64-pc-windows-gnu=$WIN_EXE"
    SBOM_RUSTC=/usr/bin/rustc python3 packaging/sbom.py "$DIST/$name.exe" "x86_64-pc-windows-gnu=$WIN_EXE"
    exit 0
fi
. packaging/common.sh
. packaging/tarball.sh

name=$BIN-$VERSION-$ARCH-linux
mkdir -p "$DIST"
rm -f "$DIST/$name" "$DIST/$name.tar.gz" "$DIST/$name"*.cdx.json "$DIST/SHA256SUMS"
# The kubelet's provider name, beside the binary (docs/kubelet.md: copy both, or point
# --image-credential-provider-bin-dir at the unpacked directory).
release_tarball --link "$KUBELET_PROVIDER" "$DIST/$name.tar.gz" "$name" "$STATIC_BIN" "$ARCH-unknown-linux-gnu" \
    "docs/$BIN.1" docs/migrating-from-go.md docs/kubelet.md
install -m 0755 "$STATIC_BIN" "$DIST/$name"
# The CycloneDX SBOMs of the tarball and of the binary (packaging/sbom.py).
python3 packaging/sbom.py "$DIST/$name.tar.gz" "$ARCH-unknown-linux-gnu=$STATIC_BIN"
python3 packaging/sbom.py "$DIST/$name" "$ARCH-unknown-linux-gnu=$STATIC_BIN"
echo "$DIST/$name.tar.gz"
