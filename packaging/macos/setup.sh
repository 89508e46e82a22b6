#!/usr/bin/env bash
# make macos-setup (run by `make macos`): what the macOS build (README, "macOS") needs on Linux,
# installed only when missing, so a second run installs nothing:
# - Debian's rustc-web 1.96 with rust-web-src: rustup here has no macOS standard library, so it is
#   built from that source with -Zbuild-std (as for Windows);
# - Zig as the C compiler and linker, through cargo-zigbuild (both from PyPI, pinned: Zig ships
#   macOS's libSystem stub and links Mach-O; packaging/macos/link.py adds the framework stubs);
# - llvm-strip and llvm-lipo (Debian's llvm): stripping, and the universal binary; ruby for the formula's syntax check;
# - rcodesign (the apple-codesign crate, without its notarisation features): the ad-hoc code
#   signature of the x86_64 binary (Zig signs arm64 output itself) and `rcodesign verify` in the
#   checks. Built from source once per machine (cargo install; its time is printed).
set -euo pipefail
ZIGLANG_VERSION=0.17.0
CARGO_ZIGBUILD_VERSION=0.24.0
APPLE_CODESIGN_VERSION=0.29.0

packages=(rustc-web cargo-web rust-web-src)
# ruby: `ruby -c` of the Homebrew formula in the checks (packaging/macos/check.sh).
command -v ruby >/dev/null || packages+=(ruby)
{ command -v llvm-strip && { command -v llvm-lipo || compgen -c llvm-lipo-; }; } >/dev/null || packages+=(llvm)
missing=()
for p in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "macos-setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Makefile runs cargo-zigbuild from Python's scripts directory (not always on PATH).
zigbuild=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/cargo-zigbuild
if [ "$(python3 -m ziglang version 2>/dev/null)" != "$ZIGLANG_VERSION" ] ||
    [ "$("$zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]; then
    echo "macos-setup: pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
    python3 -m pip install --quiet "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
fi

if ! command -v rcodesign >/dev/null; then
    echo "macos-setup: cargo install apple-codesign $APPLE_CODESIGN_VERSION (rcodesign; once per machine)"
    start=$(date +%s)
    # Outside any worktree, so the cargo wrapper's per-worktree target directory does not apply.
    (cd / && env -u CARGO_TARGET_DIR -u RUSTC -u RUSTFLAGS -u RUSTC_BOOTSTRAP \
        cargo install --quiet --locked --no-default-features apple-codesign --version "$APPLE_CODESIGN_VERSION")
    echo "macos-setup: rcodesign built in $(($(date +%s) - start)) s"
fi
echo "macos-setup: ready (rustc $(/usr/bin/rustc --version | cut -d' ' -f2), zig $(python3 -m ziglang version)," \
    "$("$zigbuild" --version), $(rcodesign --version 2>/dev/null | head -n 1))"
