#!/usr/bin/env bash
# packaging/macos/check.sh runs this first: do the macOS linker and checks do what they claim, on
# small C programs linked here with Zig (seconds)?
# - link.py links a program that calls CoreFoundation and Security functions with no stub given,
#   writes stubs exporting exactly the symbols it calls, and the result loads both frameworks
#   by their real install names and passes check.py; a call no framework's prefix fits fails the
#   link, naming the symbol.
# - x86_64 (which Zig leaves unsigned) gets a signature that verifies, and the same objects
#   linked in two directories give the same bytes.
# - check.py fails on each kind of bad binary: wrong architecture, a library outside /usr/lib and
#   /System/Library/Frameworks, minimum macOS 12.0, no signature, a byte changed after signing,
#   missing version text.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "macos selftest: FAIL: $*" >&2
    exit 1
}
printf '#!/bin/sh\nexec python3 -m ziglang cc -target aarch64-macos.11.0 "$@"\n' >"$tmp/cc"
chmod +x "$tmp/cc"
cat >"$tmp/main.c" <<'EOF'
typedef const void *CFTypeRef;
extern CFTypeRef kCFAllocatorDefault;
extern void CFRelease(CFTypeRef);
extern int SecTrustSettingsCopyCertificates(int, CFTypeRef *);
const char *version = "docker-credential-ecr-login 9.9.9 (rust, commit 0123456789ab";
int main(void) {
    CFTypeRef certs = 0;
    if (SecTrustSettingsCopyCertificates(0, &certs) == 0) CFRelease(certs);
    return kCFAllocatorDefault == 0;
}
EOF
python3 -m ziglang cc -target aarch64-macos.11.0 -c "$tmp/main.c" -o "$tmp/main.o"
link() { CC_aarch64_apple_darwin=$tmp/cc ./link.py "$1" -framework Security -framework CoreFoundation -lSystem -arch arm64 -o "$2"; }
bin=$tmp/prog-0123456789abcdef
link "$tmp/main.o" "$bin" || fail "link.py could not link main.c"
exports() { sed -n 's/^ *symbols: *\[ \(.*\) \]$/\1/p' "$1" | tr -d "' "; }
got="$(exports "$bin.frameworks/Security.framework/Security.tbd") $(exports "$bin.frameworks/CoreFoundation.framework/CoreFoundation.tbd")"
[ "$got" = "_SecTrustSettingsCopyCertificates _CFRelease,_kCFAllocatorDefault" ] ||
    fail "stubs export $got, not the three symbols main.c uses"
python3 check.py --version 9.9.9 --commit 0123456789ab "aarch64=$bin" >/dev/null ||
    fail "check.py refuses the program link.py made"
for fw in CoreFoundation Security; do
    python3 -c "import sys, macho; _, (i,) = macho.slices(open(sys.argv[1], 'rb').read()); sys.exit(0 if '/System/Library/Frameworks/$fw.framework/Versions/A/$fw' in [p for _, p in i.dylibs()] else 1)" "$bin" ||
        fail "the program does not load $fw by its install name"
done
echo "ok - link.py: stubs from the link's undefined symbols (Security: 1, CoreFoundation: 2); the program passes check.py"

# x86_64, which Zig leaves unsigned: rcodesign signs it, llvm-strip renews the signature; built
# twice in two directories, the bytes must be the same (the link is reproducible).
printf '#!/bin/sh\nexec python3 -m ziglang cc -target x86_64-macos.11.0 "$@"\n' >"$tmp/cc-x86"
chmod +x "$tmp/cc-x86"
for d in a b/deeper; do
    mkdir -p "$tmp/$d"
    python3 -m ziglang cc -target x86_64-macos.11.0 -g -c "$tmp/main.c" -o "$tmp/$d/main.o"
    CC_x86_64_apple_darwin=$tmp/cc-x86 ./link.py "$tmp/$d/main.o" -framework Security -framework CoreFoundation \
        -lSystem -arch x86_64 -platform_version macos 11.0.0 11.0.0 -o "$tmp/$d/prog-0123456789abcdef" ||
        fail "link.py could not link main.c for x86_64"
done
cmp -s "$tmp/a/prog-0123456789abcdef" "$tmp/b/deeper/prog-0123456789abcdef" ||
    fail "x86_64: the same objects linked in two directories differ"
python3 check.py --version 9.9.9 --commit 0123456789ab "x86_64=$tmp/a/prog-0123456789abcdef" >/dev/null ||
    fail "check.py refuses the x86_64 program link.py made"
echo "ok - link.py: x86_64 signed (rcodesign, then renewed by llvm-strip), passes check.py; linked in two directories, the same bytes"

printf 'extern int UnknownThing(void);\nint main(void) { return UnknownThing(); }\n' >"$tmp/stray.c"
python3 -m ziglang cc -target aarch64-macos.11.0 -c "$tmp/stray.c" -o "$tmp/stray.o"
if out=$(link "$tmp/stray.o" "$tmp/stray" 2>&1); then fail "link.py linked a call to a symbol no framework provides"; fi
case $out in *"undefined symbols no requested framework provides: _UnknownThing"*) ;; *) fail "link.py said: $out" ;; esac
echo "ok - link.py: a symbol no framework's prefix fits fails the link, named"

refuse() {
    local what=$1
    shift
    if python3 check.py --version 9.9.9 --commit 0123456789ab "$@" >"$tmp/out" 2>&1; then
        fail "check.py accepted $what"
    fi
    echo "ok - check.py refuses $what: $(cat "$tmp/out")"
}
refuse "a program for the other architecture" "x86_64=$bin"
refuse "another version" --version 9.9.8 "aarch64=$bin"
python3 - "$bin" "$tmp/flipped" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[0x4000] ^= 1
open(sys.argv[2], "wb").write(d)
EOF
refuse "a byte changed after signing" "aarch64=$tmp/flipped"
printf -- "--- !tapi-tbd\ntbd-version: 4\ntargets: [ arm64-macos ]\ninstall-name: '/opt/homebrew/lib/libfoo.dylib'\nexports:\n  - targets: [ arm64-macos ]\n    symbols: [ '_UnknownThing' ]\n...\n" >"$tmp/libfoo.tbd"
python3 -m ziglang cc -target aarch64-macos.11.0 "$tmp/stray.c" -L"$tmp" -lfoo -o "$tmp/foreign" -Wl,-undefined,dynamic_lookup
refuse "a library under /opt" "aarch64=$tmp/foreign"
python3 -m ziglang cc -target aarch64-macos.12.0 "$tmp/stray.c" -Wl,-undefined,dynamic_lookup -o "$tmp/newer"
refuse "minimum macOS 12.0" "aarch64=$tmp/newer"
python3 -m ziglang cc -target x86_64-macos.11.0 "$tmp/stray.c" -Wl,-undefined,dynamic_lookup -o "$tmp/unsigned"
refuse "no code signature" "x86_64=$tmp/unsigned"
