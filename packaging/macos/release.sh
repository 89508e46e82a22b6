#!/usr/bin/env bash
# The macOS release files in $DIST (make macos, make release with MACOS=1):
#   <bin>-<version>-<arch>-macos         each thin binary built (MAC_ARCHES: aarch64, x86_64)
#   <bin>-<version>-universal-macos      both in one universal file (llvm-lipo), when both are built
#   <bin>-<version>-<what>-macos.tar.gz  <bin>-<version>-<what>-macos/ with the universal binary (or
#                                        the one thin binary) as <bin>, README, CHANGELOG, LICENSE,
#                                        the man page and THIRD-PARTY.txt
#   <file>.cdx.json                      each of those files' CycloneDX SBOM (packaging/sbom.py, from
#                                        the crate list cargo auditable embedded in each slice)
# The tarball is made as the Linux ones are, reproducible (packaging/tarball.sh).
# `release.sh names` prints those file names (for SHA256SUMS: packaging/release.sh sums).
set -euo pipefail
cd "$(dirname "$0")/../.."
. packaging/tarball.sh
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?}" "${MAC_ARCHES:=aarch64 x86_64}"
: "${TARGET_DIR:=$PWD/target}"
export LC_ALL=C TZ=UTC
umask 022
read -r -a arches <<<"$MAC_ARCHES"
what=${arches[0]}
[ ${#arches[@]} -eq 1 ] || what=universal
name=$BIN-$VERSION-$what-macos

if [ "${1:-}" = names ]; then
    for a in "${arches[@]}"; do echo "$BIN-$VERSION-$a-macos"; done
    [ "$what" != universal ] || echo "$name"
    echo "$name.tar.gz"
    exit 0
fi
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

mkdir -p "$DIST"
rm -f "$DIST/$BIN-$VERSION-"*-macos*.cdx.json
thin=()
specs=()
for a in "${arches[@]}"; do
    bin=$TARGET_DIR/$a-apple-darwin/release/$BIN
    [ -f "$bin" ] || { echo "no $bin (make macos)" >&2; exit 1; }
    install -m 0755 "$bin" "$DIST/$BIN-$VERSION-$a-macos"
    thin+=("$bin")
    specs+=("$a-apple-darwin=$DIST/$BIN-$VERSION-$a-macos")
done
if [ "$what" = universal ]; then
    lipo=$(command -v llvm-lipo || compgen -c llvm-lipo- | sort -V | tail -n 1)
    [ -n "$lipo" ] || { echo "no llvm-lipo (make macos-setup)" >&2; exit 1; }
    rm -f "$DIST/$name"
    "$lipo" -create -output "$DIST/$name" "${thin[@]}"
    chmod 0755 "$DIST/$name"
    main=$DIST/$name
    specs=()
    for a in "${arches[@]}"; do specs+=("$a-apple-darwin=$main"); done
else
    main=$DIST/$BIN-$VERSION-$what-macos
fi

rm -f "$DIST/$name.tar.gz"
release_tarball "$DIST/$name.tar.gz" "$name" "$main" "${arches[0]}-apple-darwin" "docs/$BIN.1"
# The CycloneDX SBOMs: of each thin binary, of the universal one (one component per slice) and of
# the tarball. Mach-O records no rustc version: SBOM_RUSTC is make macos's rustc (Makefile MAC_ENV).
for a in "${arches[@]}"; do
    SBOM_RUSTC=/usr/bin/rustc python3 packaging/sbom.py "$DIST/$BIN-$VERSION-$a-macos" \
        "$a-apple-darwin=$DIST/$BIN-$VERSION-$a-macos"
done
[ "$what" != universal ] || SBOM_RUSTC=/usr/bin/rustc python3 packaging/sbom.py "$main" "${specs[@]}"
SBOM_RUSTC=/usr/bin/rustc python3 packaging/sbom.py "$DIST/$name.tar.gz" "${specs[@]}"
echo "$DIST/$name.tar.gz"
