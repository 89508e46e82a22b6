#!/usr/bin/env bash
# make cross-setup (run by `make static TARGET=aarch64-unknown-linux-gnu` and everything built on
# it): what the linux/arm64 build needs, from Debian's packages alone (rustup here has only the
# x86_64 standard library; ../shared/TESTING.md "Other platforms"). Idempotent: a second run
# installs nothing and downloads nothing.
#   - arm64 as a dpkg foreign architecture; rustc-web/cargo-web (Debian's Rust 1.96, whose
#     libstd-rust-web-dev:arm64 is the arm64 standard library), the aarch64 cross gcc, and
#     qemu-user-static to run the result (binfmt-support for the tests, packaging/cross-test.sh).
#   - A sysroot $CROSS_SYSROOT holding libc6-dev:arm64 of exactly the amd64 libc6-dev version:
#     the cross package libc6-dev-arm64-cross lags behind (2.36-8, no deb12u security releases),
#     and installing libc6-dev:arm64 itself would upgrade openssl and more on this system. The
#     static arm64 binary links this glibc (-B/-L in the Makefile), the same security release as
#     the amd64 one; $CROSS_SYSROOT/built-using records it for the .deb's Built-Using.
# Needs root for the packages (apt-get); the sysroot is a plain directory.
set -euo pipefail
: "${CROSS_SYSROOT:?CROSS_SYSROOT is not set (run through make)}"

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    qemu-user-static binfmt-support)
missing=()
for p in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "cross-setup: installing ${missing[*]}"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq
    # libc6-dev too: the arm64 sysroot below takes the amd64 libc6-dev's version, so bring that
    # to the archive's current security release first (the foreign libc6:arm64 that the arm64
    # standard library pulls in must match the amd64 libc6 anyway).
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libc6-dev "${missing[@]}" >/dev/null
fi

version=$(dpkg-query -W -f='${Version}' libc6-dev)
if [ "$(cat "$CROSS_SYSROOT/built-using" 2>/dev/null)" != "glibc (= $version)" ]; then
    echo "cross-setup: sysroot $CROSS_SYSROOT with libc6-dev:arm64 $version"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    chmod 0755 "$tmp" && chown _apt "$tmp" 2>/dev/null || true # apt's download sandbox
    (cd "$tmp" && apt-get download -qq "libc6-dev:arm64=$version") || {
        apt-get update -qq
        (cd "$tmp" && apt-get download -qq "libc6-dev:arm64=$version")
    } || {
        echo "cross-setup: libc6-dev:arm64 $version is not in the archive; upgrade libc6-dev (apt-get install libc6-dev) and rerun" >&2
        exit 1
    }
    deb=$(ls "$tmp"/libc6-dev_*_arm64.deb)
    [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || { echo "cross-setup: $deb is not $version" >&2; exit 1; }
    rm -rf "$CROSS_SYSROOT"
    mkdir -p "$CROSS_SYSROOT"
    dpkg-deb -x "$deb" "$CROSS_SYSROOT"
    [ -f "$CROSS_SYSROOT/usr/lib/aarch64-linux-gnu/libc.a" ] || { echo "cross-setup: no libc.a in $deb" >&2; exit 1; }
    src=$(dpkg-deb -f "$deb" Source)
    echo "${src%% *} (= $version)" >"$CROSS_SYSROOT/built-using"
fi
echo "cross-setup: ready (rustc $(/usr/bin/rustc --version | cut -d' ' -f2), glibc $version for arm64)"
