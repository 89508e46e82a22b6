#!/usr/bin/env python3
"""The linker for the macOS targets (make macos): rustc runs this in place of cargo-zigbuild's
`zig cc` wrapper (CARGO_TARGET_<TARGET>_LINKER), with the arguments rustc gives a `cc`.

Zig links for macOS with its own libSystem stub but has no stubs of Apple's frameworks, and the
binary needs two: Security and CoreFoundation (rustls-native-certs reads the system trust store
through security-framework). The stubs are made here, from the link itself, so no hand-kept symbol
list can drift from what the code imports:

1. a first link with every `-framework` left out and `-undefined dynamic_lookup`: it resolves all
   it can (our objects, the static libraries, libSystem, libiconv) and leaves as dynamic lookups
   exactly the symbols nothing given to it defines;
2. each of those is given to the framework whose prefix it has (Apple's naming: Sec and kSec for
   Security, CF, kCF and __CF for CoreFoundation), among the frameworks rustc asked for; a symbol
   that fits none fails the link with its name;
3. a text stub (TAPI .tbd) for each framework, with its real install name under
   /System/Library/Frameworks and those symbols, in a directory beside the output, and the real
   link with that directory as a framework search path (-F).

The real link writes <stub directory>/<program name> (MACOS_SIGN_IDENTIFIER, else rustc's output
name less its hash: the code signature's identifier is the file's name) with -s, so no object
path gets into it (Zig would write them into a debug map and derive LC_UUID from them), and the
bytes do not depend on where the tree is built; it is moved to rustc's output at the end.
Then the output gets an ad-hoc code signature if it has none (Zig signs arm64 output itself, as
Apple's linker does; x86_64 output is signed with `rcodesign sign`, ad-hoc without a key), and is
stripped (llvm-strip: the release profile's `strip = true`, which rustc cannot do here), which
renews the signature as a linker writes it: both architectures end ad-hoc and linker-signed. The C compiler wrapper is cargo-zigbuild's, from CC_<target> in the environment.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import macho  # noqa: E402

FRAMEWORK_PREFIXES = {
    "Security": ("_Sec", "_kSec"),
    "CoreFoundation": ("_CF", "_kCF", "___CF", "__CF"),
}
ARCH_TARGETS = {"arm64": ("aarch64_apple_darwin", "arm64-macos"), "x86_64": ("x86_64_apple_darwin", "x86_64-macos")}


def die(msg):
    print(f"macos link: {msg}", file=sys.stderr)
    sys.exit(1)


def read_args(argv):
    """rustc's arguments, with an @file (rustc uses one when the command line is long) read in.
    rustc writes one argument per line, escaping backslashes and newlines with a backslash."""
    out = []
    for a in argv:
        if a.startswith("@") and os.path.isfile(a[1:]):
            text = open(a[1:], encoding="utf-8").read()
            for line in text.split("\n"):
                if line:
                    out.append(line.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\"))
        else:
            out.append(a)
    return out


def min_version_arg(args):
    """rustc gives the x86_64 target's minimum as ld's `-platform_version macos MIN SDK`, which
    `zig cc` does not take; the arm64 target's as the driver's -mmacosx-version-min=MIN. The
    first is rewritten as the second."""
    out = []
    i = 0
    while i < len(args):
        if args[i] == "-platform_version" and i + 3 < len(args) and args[i + 1] == "macos":
            out.append(f"-mmacosx-version-min={args[i + 2]}")
            i += 4
            continue
        out.append(args[i])
        i += 1
    return out


def split_frameworks(args):
    """(args without any -framework NAME, the framework names in order)."""
    rest, names = [], []
    i = 0
    while i < len(args):
        if args[i] == "-framework" and i + 1 < len(args):
            names.append(args[i + 1])
            i += 2
            continue
        if args[i].startswith("-Wl,-framework,"):
            names.append(args[i].split(",", 2)[2])
            i += 1
            continue
        rest.append(args[i])
        i += 1
    return rest, names


def output_path(args):
    for i, a in enumerate(args):
        if a == "-o" and i + 1 < len(args):
            return i + 1, args[i + 1]
    die("no -o in the linker arguments")


def tbd(name, arch_target, symbols):
    """A TAPI v4 text stub for the framework NAME exporting SYMBOLS."""
    lines = [
        "--- !tapi-tbd",
        "tbd-version:     4",
        f"targets:         [ {arch_target} ]",
        f"install-name:    '/System/Library/Frameworks/{name}.framework/Versions/A/{name}'",
    ]
    if symbols:
        lines += [
            "exports:",
            f"  - targets:         [ {arch_target} ]",
            "    symbols:         [ " + ", ".join(f"'{s}'" for s in symbols) + " ]",
        ]
    return "\n".join(lines) + "\n...\n"


def main():
    args = min_version_arg(read_args(sys.argv[1:]))
    try:
        arch = args[args.index("-arch") + 1]
    except (ValueError, IndexError):
        die("no -arch in the linker arguments")
    if arch not in ARCH_TARGETS:
        die(f"unknown -arch {arch}")
    env_target, arch_target = ARCH_TARGETS[arch]
    cc = os.environ.get(f"CC_{env_target}")
    if not cc:
        die(f"CC_{env_target} is not set (build with cargo-zigbuild: make macos)")
    out_index, out = output_path(args)
    base_args, frameworks = split_frameworks(args)
    for name in frameworks:
        if name not in FRAMEWORK_PREFIXES:
            die(f"rustc asks for the framework {name}, which this build has no symbol rule for")

    stub_dir = os.path.abspath(out) + ".frameworks"
    shutil.rmtree(stub_dir, ignore_errors=True)
    os.makedirs(stub_dir)
    # 1. The first link: what is left undefined is what the frameworks must provide.
    probe = os.path.join(stub_dir, "probe")
    probe_args = list(base_args)
    probe_args[probe_args.index("-o") + 1] = probe
    r = subprocess.run([cc, *probe_args, "-Wl,-undefined,dynamic_lookup"], stdout=sys.stdout, stderr=sys.stderr)
    if r.returncode != 0:
        sys.exit(r.returncode)
    _, (image,) = macho.slices(open(probe, "rb").read())
    n_dylibs = len(image.dylibs())
    unresolved = sorted({n for n, ordinal in image.undefined_symbols() if ordinal == 0 or ordinal > n_dylibs})
    os.unlink(probe)
    # 2. Each symbol to its framework.
    by_framework = {name: [] for name in frameworks}
    stray = []
    for sym in unresolved:
        owner = [n for n in frameworks if sym.startswith(FRAMEWORK_PREFIXES[n])]
        if len(owner) == 1:
            by_framework[owner[0]].append(sym)
        else:
            stray.append(sym)
    if stray:
        die(f"undefined symbols no requested framework provides: {' '.join(stray)}")
    # 3. The stubs, and the real link.
    for name, syms in by_framework.items():
        d = os.path.join(stub_dir, f"{name}.framework")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{name}.tbd"), "w", encoding="utf-8") as f:
            f.write(tbd(name, arch_target, syms))
    # Linked to a file named as the program (the code signature's identifier is the file's name;
    # rustc's output is deps/<crate>-<hash>, and the hash follows RUSTFLAGS, whose remapped paths
    # differ between build trees), and with -s: without it Zig writes the objects' paths into the
    # symbol table (debug map) and derives LC_UUID from them, and a build elsewhere would differ.
    name = os.environ.get("MACOS_SIGN_IDENTIFIER") or re.sub(r"-[0-9a-f]{16}$", "", os.path.basename(out))
    linked = os.path.join(stub_dir, name)
    final = list(args)
    final[out_index] = linked
    r = subprocess.run([cc, *final, f"-F{stub_dir}", "-s"], stdout=sys.stdout, stderr=sys.stderr)
    if r.returncode != 0:
        sys.exit(r.returncode)
    # A code signature where the linker made none (x86_64): `rcodesign sign`, ad-hoc without a key.
    _, (image,) = macho.slices(open(linked, "rb").read())
    if image.code_signature() is None:
        rcodesign = os.environ.get("RCODESIGN") or shutil.which("rcodesign")
        if not rcodesign:
            die("the output has no code signature and rcodesign is not installed (make macos-setup)")
        r = subprocess.run([rcodesign, "sign", linked], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            die(f"rcodesign sign {linked}: {r.stderr.strip()}")
    # Stripped, as the release profile's `strip = true` asks: rustc would run rust-objcopy, which
    # Debian's Rust lacks (so make macos turns rustc's strip off). llvm-objcopy renews the code
    # signature of what it strips as a linker would write it (ad-hoc, linker-signed: a code
    # directory alone), so both architectures end with the same kind of signature.
    strip = shutil.which("llvm-strip")
    if not strip:
        die("llvm-strip is not installed (make macos-setup)")
    r = subprocess.run([strip, linked], stdout=sys.stdout, stderr=sys.stderr)
    if r.returncode != 0:
        sys.exit(r.returncode)
    os.replace(linked, out)


if __name__ == "__main__":
    main()
