#!/usr/bin/env python3
"""What Linux can check of the macOS binaries without running them (check-dist, make check-macos).

Usage: check.py --version V [--commit C] [--linux-bin PATH] ARCH=PATH... [universal=PATH]
  ARCH is aarch64 or x86_64. Each file must be a 64-bit Mach-O executable for its architecture;
  a universal file must hold exactly the thin ones given, byte for byte. Every image must load
  only libraries under /usr/lib and /System/Library/Frameworks (through /usr/lib/dyld, with no
  run path), say minimum macOS 11.0, carry an ad-hoc code signature that verifies (every page and
  special-slot hash: packaging/macos/macho.py), and carry the version and commit the Linux binary
  says (its `version` line, checked against the strings of each image).
Prints one line per check; exits 1 with the reason at the first failure.
"""

import argparse
import re
import subprocess
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import macho  # noqa: E402

ARCHES = {"aarch64": "arm64", "x86_64": "x86_64"}
MIN_MACOS = "11.0"
ALLOWED = ("/usr/lib/", "/System/Library/Frameworks/")


def fail(msg):
    print(f"check-macos: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check_image(label, image, want_arch, version, commit):
    if image.arch != want_arch:
        fail(f"{label}: built for {image.arch}, not {want_arch}")
    if image.filetype != macho.MH_EXECUTE:
        fail(f"{label}: Mach-O file type {image.filetype}, not an executable")
    libs = [p for _, p in image.dylibs()]
    bad = [p for p in libs if not p.startswith(ALLOWED)]
    if bad:
        fail(f"{label}: loads {' '.join(bad)} (only /usr/lib and /System/Library/Frameworks may be named)")
    if image.dylinker() != "/usr/lib/dyld":
        fail(f"{label}: dynamic linker {image.dylinker()}")
    if image.rpaths():
        fail(f"{label}: run paths {image.rpaths()}")
    minos = image.min_macos()
    if minos != MIN_MACOS:
        fail(f"{label}: minimum macOS {minos}, not {MIN_MACOS}")
    try:
        ident = image.verify_adhoc_signature()
    except macho.MachOError as e:
        fail(f"{label}: code signature: {e}")
    # The version line's text as compiled in: the literal with the version folded in, and the
    # commit (a separate string the formatting inserts).
    data = image.data[image.off : image.off + image.size]
    line = f"docker-credential-ecr-login {version} (rust" + (", commit " if commit else ")")
    for s in (line, commit):
        if s and s.encode() not in data:
            fail(f"{label}: does not carry {s!r}")
    print(f"ok - {label}: {image.arch} executable, minimum macOS {minos}, ad-hoc signature verifies (identifier {ident})")
    print(f"ok - {label}: loads only {' '.join(libs)}")
    print(f"ok - {label}: carries version {version}{' and commit ' + commit if commit else ''}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--commit", default="")
    ap.add_argument("--linux-bin", help="the Linux binary whose `version` line the images must match")
    ap.add_argument("files", nargs="+", metavar="ARCH=PATH")
    a = ap.parse_args()
    if a.linux_bin:
        line = subprocess.run([a.linux_bin, "version"], capture_output=True, text=True, check=True).stdout.strip()
        m = re.fullmatch(r"docker-credential-ecr-login (\S+) \(rust(?:, commit ([0-9a-f]+))?\)", line)
        if not m or m.group(1) != a.version or (m.group(2) or "") != a.commit:
            fail(f"the Linux binary says {line!r}, not version {a.version} commit {a.commit or '(none)'}")
        print(f"ok - the Linux binary says: {line}")
    thin = {}
    universal = None
    for spec in a.files:
        name, _, path = spec.partition("=")
        if name == "universal":
            universal = path
        elif name in ARCHES:
            thin[name] = path
        else:
            fail(f"unknown architecture {name} (aarch64, x86_64, universal)")
    for name, path in thin.items():
        data = open(path, "rb").read()
        is_fat, images = macho.slices(data)
        if is_fat:
            fail(f"{path}: a universal file, not a thin {name} one")
        check_image(os.path.basename(path), images[0], ARCHES[name], a.version, a.commit)
    if universal:
        data = open(universal, "rb").read()
        is_fat, images = macho.slices(data)
        if not is_fat:
            fail(f"{universal}: not a universal file")
        got = sorted(i.arch for i in images)
        if got != sorted(ARCHES[n] for n in thin):
            fail(f"{universal} holds {got}, want {sorted(ARCHES[n] for n in thin)}")
        by_arch = {ARCHES[n]: p for n, p in thin.items()}
        for image in images:
            if data[image.off : image.off + image.size] != open(by_arch[image.arch], "rb").read():
                fail(f"{universal}: its {image.arch} slice is not {by_arch[image.arch]}")
            check_image(f"{os.path.basename(universal)} [{image.arch}]", image, image.arch, a.version, a.commit)
        print(f"ok - {os.path.basename(universal)}: universal, holds {' and '.join(got)}, each the thin binary byte for byte")


if __name__ == "__main__":
    main()
