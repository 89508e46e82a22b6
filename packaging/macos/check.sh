#!/usr/bin/env bash
# make check-macos (check-dist's macos step, after make release): packaging/macos/selftest.sh (the
# linker's stubs and every check below refusing a bad binary, on small C programs), then what
# Linux can check of the macOS release files that packaging/macos/release.sh made for MAC_ARCHES,
# without running them:
# - packaging/macos/check.py: each thin binary is a Mach-O executable for its architecture; the
#   universal one (both built) holds exactly those; each loads only /usr/lib and
#   /System/Library/Frameworks libraries, says minimum macOS 11.0, has an ad-hoc signature whose
#   every hash matches, and carries the version and commit the Linux binary's `version` prints;
# - `rcodesign verify` (the apple-codesign crate, an independent implementation of Apple's code
#   signing) on every binary;
# - the tarball's files, the binary in it is the one built; SHA256SUMS lists every file (MACOS=1);
# - the Homebrew formula (packaging/homebrew/) parses: `ruby -c`.
# What it needs and lacks (rcodesign, ruby) comes from packaging/macos/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?}" "${MAC_ARCHES:=aarch64 x86_64}"
: "${TARGET_DIR:=$PWD/target}"
export MAC_ARCHES
fail() {
    echo "check-macos: FAIL: $*" >&2
    exit 1
}

command -v rcodesign >/dev/null && command -v ruby >/dev/null || packaging/macos/setup.sh
# First, that the linker and the checks below do what they claim (small C programs; seconds).
packaging/macos/selftest.sh

names=$(packaging/macos/release.sh names)
specs=()
for f in $names; do
    case $f in
    *.tar.gz) tarball=$f ;;
    *-universal-macos) specs+=("universal=$DIST/$f") ;;
    *) a=${f%-macos} a=${a##*-} specs+=("$a=$DIST/$f") ;;
    esac
    [ -f "$DIST/$f" ] || fail "no $DIST/$f (make macos)"
done
linux=${STATIC_BIN:-$TARGET_DIR/x86_64-unknown-linux-gnu/release/$BIN}
python3 packaging/macos/check.py --version "$VERSION" ${COMMIT:+--commit "$COMMIT"} \
    $([ -x "$linux" ] && echo --linux-bin "$linux") "${specs[@]}"

# rcodesign verify reports every problem on a line of its own and exits 1 if there is any; an
# ad-hoc signature always has one, "no cryptographic signature present" ("@N: ..." for slice N of a
# universal file; no CMS blob: that is what
# ad-hoc means, and macOS accepts it), so that one is expected and any other line fails.
for s in "${specs[@]}"; do
    problems=$(rcodesign verify "${s#*=}" 2>&1 | grep -v -x -E -e '(@[0-9]+: )?no cryptographic signature present' \
        -e 'Error: problems reported during verification' -e '\(the verify command is known to be buggy.*' || true)
    [ -z "$problems" ] || fail "rcodesign verify ${s#*=}: $problems"
    rcodesign print-signature-info "${s#*=}" | grep -q 'flags: CodeSignatureFlags(ADHOC' ||
        fail "rcodesign print-signature-info ${s#*=}: not an ad-hoc signature"
    echo "ok - rcodesign verify ${s#*=}: every digest matches (ad-hoc: no CMS signature, as expected)"
done

dir=${tarball%.tar.gz}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -tvzf "$DIST/$tarball" | tee "$tmp/list"
for f in "$BIN" LICENSE README.md CHANGELOG.md THIRD-PARTY.txt "docs/$BIN.1"; do
    grep -q " $dir/$f\$" "$tmp/list" || fail "$tarball lacks $f"
done
grep -q "^-rwxr-xr-x 0/0 .* $dir/$BIN\$" "$tmp/list" || fail "binary mode/owner in $tarball"
tar -xzf "$DIST/$tarball" -C "$tmp" "$dir/$BIN"
main=$(echo "$names" | grep -v '\.tar\.gz$' | tail -n 1)
cmp -s "$tmp/$dir/$BIN" "$DIST/$main" || fail "the binary in $tarball is not $main"
echo "ok - $tarball: $(stat -c %s "$DIST/$tarball") bytes, $main as $BIN, docs, licences"
if [ "${MACOS:-1}" = 1 ] && [ -f "$DIST/SHA256SUMS" ]; then
    for f in $names; do
        grep -q "  $f\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS lacks $f"
    done
    echo "ok - SHA256SUMS lists $(echo $names)"
fi

ruby -c packaging/homebrew/$BIN.rb >/dev/null || fail "ruby -c packaging/homebrew/$BIN.rb"
echo "ok - ruby -c packaging/homebrew/$BIN.rb: syntax OK"
