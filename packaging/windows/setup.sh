#!/usr/bin/env bash
# make windows-setup (run by `make windows` and what builds on it): what the x86_64 Windows build
# and its tests under Wine need, from Debian's packages alone (../shared/TESTING.md, "Other
# platforms"; docs/windows.md): Debian's rustc-web 1.96 with rust-web-src (the standard library's
# source: rustup here has no Windows standard library, so it is built with -Zbuild-std), the
# mingw-w64 linker, and Wine 8 to run the result. Idempotent: a second run installs nothing.
# Then builds the test-only bcryptprimitives.dll shim (packaging/windows/bcryptprimitives-shim.c)
# and the fallback tests' fake credential store (packaging/windows/fake-store.c) into $WIN_SHIM_DIR
# when missing or older than their source, and links mingw-w64's libraries into $WIN_LIBDIR.
set -euo pipefail
: "${WIN_SHIM_DIR:?WIN_SHIM_DIR is not set (run through make)}"

packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64-posix wine64)
missing=()
for p in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "windows-setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# mingw-w64's libraries, linked into $WIN_LIBDIR (the Makefile says why: a reproducible import table).
if [ -n "${WIN_LIBDIR:-}" ]; then
    mkdir -p "$WIN_LIBDIR"
    for lib in /usr/x86_64-w64-mingw32/lib/*.a; do
        ln -sfn "$lib" "$WIN_LIBDIR/${lib##*/}"
    done
fi

src=packaging/windows/bcryptprimitives-shim.c
dll=$WIN_SHIM_DIR/bcryptprimitives.dll
if [ ! -f "$dll" ] || [ "$src" -nt "$dll" ]; then
    mkdir -p "$WIN_SHIM_DIR"
    x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$src" -ladvapi32
fi
# The fake Docker credential store of the fallback tests (test-only too; test.sh names it).
src=packaging/windows/fake-store.c
store=$WIN_SHIM_DIR/docker-credential-fake.exe
if [ ! -f "$store" ] || [ "$src" -nt "$store" ]; then
    mkdir -p "$WIN_SHIM_DIR"
    x86_64-w64-mingw32-gcc -O2 -s -Wall -Werror -o "$store" "$src"
fi
echo "windows-setup: ready (rustc $(/usr/bin/rustc --version | cut -d' ' -f2), $(/usr/lib/wine/wine64 --version 2>/dev/null || echo 'no wine'))"
