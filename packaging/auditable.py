#!/usr/bin/env python3
"""The crate list `cargo auditable build` embeds in a binary, read back and checked (issue 24).

    packaging/auditable.py list BINARY [TARGET]   the embedded packages, one "name version kind" a line
                                                  (of a universal Mach-O: of TARGET's slice, or
                                                  without TARGET of all its slices)
    packaging/auditable.py check BINARY TARGET    fails (exit 1, one line on stderr) unless the
                                                  embedded list is exactly what Cargo.lock
                                                  resolves for TARGET

cargo-auditable (crates.io) writes the dependency tree as zlib-compressed JSON into a `.dep-v0`
section: ELF for Linux, PE/COFF for the Windows .exe, Mach-O for macOS (section `.dep-v0` of
segment __DATA; in a universal file, one per slice: TARGET picks the slice). This reads that
section with the standard library only (no cargo-audit to install), so the check is independent of the tool that wrote it.

`check` compares the embedded list with two things:
  - Cargo.lock: every embedded package, by name, version and source (crates.io or this
    repository), is a package of Cargo.lock;
  - the packages of Cargo.lock the build uses for TARGET: from `cargo metadata --locked
    --filter-platform TARGET`, every package reachable from this crate through normal and
    build dependencies (never dev ones). Those reached from it through normal dependencies, not
    through a proc macro, are "runtime" (linked in), the others "build" (build scripts' and proc
    macros' crates), as cargo-auditable marks them; names, versions and kinds must match one for
    one.
"""
import json
import os
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib  # noqa: E402

SECTION = b".dep-v0"


class Error(Exception):
    pass


def elf_section(data):
    if data[4] != 2 or data[5] != 1:
        raise Error("only 64-bit little-endian ELF is read")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, offset, size

    _, str_off, _ = header(shstrndx)
    for i in range(shnum):
        name, offset, size = header(i)
        end = data.index(b"\0", str_off + name)
        if data[str_off + name:end] == SECTION:
            return data[offset:offset + size]
    return None


def pe_section(data):
    pe, = struct.unpack_from("<I", data, 0x3C)
    if data[pe:pe + 4] != b"PE\0\0":
        raise Error("not a PE file")
    nsections, = struct.unpack_from("<H", data, pe + 6)
    opt_size, = struct.unpack_from("<H", data, pe + 20)
    table = pe + 24 + opt_size
    for i in range(nsections):
        name, vsize, _vaddr, raw_size, raw_ptr = struct.unpack_from("<8sIIII", data, table + 40 * i)
        if name.rstrip(b"\0") == SECTION:
            return data[raw_ptr:raw_ptr + min(vsize, raw_size)]
    return None


MACHO_64 = b"\xcf\xfa\xed\xfe"  # MH_MAGIC_64, little-endian
FAT = b"\xca\xfe\xba\xbe"  # FAT_MAGIC, big-endian (FAT_MAGIC_64: ...\xbf)
FAT_64 = b"\xca\xfe\xba\xbf"
CPU = {0x0100000C: "aarch64", 0x01000007: "x86_64"}  # CPU_TYPE_ARM64, CPU_TYPE_X86_64
LC_SEGMENT_64 = 0x19


def macho_section(data):
    """The .dep-v0 section of segment __DATA of a thin 64-bit little-endian Mach-O."""
    ncmds, = struct.unpack_from("<I", data, 16)
    at = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, at)
        if cmd == LC_SEGMENT_64:
            nsects, = struct.unpack_from("<I", data, at + 64)
            for i in range(nsects):
                sect, seg, _addr, length, offset = struct.unpack_from("<16s16sQQI", data, at + 72 + 80 * i)
                # Section names are 16 bytes, NUL-padded (a longer name would be cut to 16).
                if seg.rstrip(b"\0") == b"__DATA" and sect.rstrip(b"\0") == SECTION[:16]:
                    return data[offset:offset + length]
        at += size
    return None


def macho_slices(data):
    """{arch: bytes of the thin Mach-O} of a universal (fat) file."""
    wide = data[:4] == FAT_64
    n, = struct.unpack_from(">I", data, 4)
    out = {}
    for i in range(n):
        if wide:
            cpu, _sub, offset, size, _align, _ = struct.unpack_from(">IIQQII", data, 8 + 32 * i)
        else:
            cpu, _sub, offset, size, _align = struct.unpack_from(">IIIII", data, 8 + 20 * i)
        out[CPU.get(cpu, hex(cpu))] = data[offset:offset + size]
    return out


def is_universal(path):
    with open(path, "rb") as f:
        return f.read(4) in (FAT, FAT_64)


def embedded(path, target=None):
    """The JSON cargo-auditable embedded in the binary at PATH (dict), or Error. For a universal
    Mach-O, the slice of TARGET (aarch64-apple-darwin...); without TARGET, the list all its
    slices embed (Error unless they are the same: the dependency edges of one crate can differ
    by architecture, so name the target, or use embedded_all)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] in (FAT, FAT_64):
        slices = macho_slices(data)
        if target is not None:
            arch = target.split("-")[0]
            if arch not in slices:
                raise Error(f"universal file without a {arch} slice (has {', '.join(sorted(slices))})")
            return embedded_in(slices[arch])
        found = [embedded_in(s) for _, s in sorted(slices.items())]
        if any(f != found[0] for f in found):
            raise Error("its slices embed different lists: name the target")
        return found[0]
    return embedded_in(data)


def embedded_all(path):
    """[dict]: the list embedded in each slice of a universal Mach-O, or the one of any other binary."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] in (FAT, FAT_64):
        return [embedded_in(s) for _, s in sorted(macho_slices(data).items())]
    return [embedded_in(data)]


def embedded_in(data):
    if data[:4] == b"\x7fELF":
        raw = elf_section(data)
    elif data[:2] == b"MZ":
        raw = pe_section(data)
    elif data[:4] == MACHO_64:
        raw = macho_section(data)
    else:
        raise Error("neither ELF, PE nor 64-bit Mach-O")
    if raw is None:
        raise Error("no .dep-v0 section: not built with `cargo auditable build`")
    try:
        # decompressobj: PE sections are padded past the zlib stream's end.
        return json.loads(zlib.decompressobj().decompress(raw))
    except (zlib.error, ValueError) as e:
        raise Error(f"the .dep-v0 section does not hold zlib-compressed JSON: {e}") from None


def packages(info):
    """{(name, version): (source, kind)} of the embedded list; kind is runtime or build."""
    out = {}
    for p in info["packages"]:
        out[(p["name"], p["version"])] = (p.get("source", "crates.io"), p.get("kind", "runtime"))
    return out


def source_name(source):
    """A package's source as cargo-auditable writes it: crates.io, else Cargo's, else local."""
    return "crates.io" if source == pkglib.CRATES_IO else source or "local"


def expected(target, root_dir="."):
    """{(name, version): (source, kind)} of what Cargo.lock resolves for TARGET (see module doc)."""
    meta = pkglib.cargo_metadata(target, cwd=root_dir)
    pkgs = {p["id"]: p for p in meta["packages"]}
    # A proc macro runs in the compiler: it and what only it uses are build-time, not linked in.
    # As cargo-auditable 0.7 decides it: a package whose one target is a proc macro (a proc
    # macro crate that also lists tests or examples, displaydoc for one, stays "runtime").
    macros = {pid for pid, p in pkgs.items()
              if len(p["targets"]) == 1 and p["targets"][0]["kind"] == ["proc-macro"]}
    # Two walks: all = normal and build edges, from every package (build scripts' dependencies,
    # proc macros); runtime = normal edges from the root, not into proc macros.
    runtime = pkglib.reachable(meta, {None}, skip=macros)
    out = {}
    for pid in pkglib.reachable(meta, {None, "build"}):
        p = pkgs[pid]
        out[(p["name"], p["version"])] = (source_name(p["source"]), "runtime" if pid in runtime else "build")
    return out


def lock_packages(root_dir="."):
    return {(p["name"], p["version"], source_name(p.get("source")))
            for p in pkglib.lock_packages(f"{root_dir}/Cargo.lock")}


def check(path, target):
    got = packages(embedded(path, target))
    lock = lock_packages()
    for (name, version), (source, _) in sorted(got.items()):
        if (name, version, source) not in lock:
            raise Error(f"embeds {name} {version} ({source}), which Cargo.lock does not have")
    want = expected(target)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        raise Error(f"embedded list differs from Cargo.lock for {target}: missing "
                    f"{[' '.join(k) for k in missing]}, extra {[' '.join(k) for k in extra]}")
    for key in sorted(want):
        if got[key] != want[key]:
            raise Error(f"{' '.join(key)}: embedded as {got[key]}, Cargo.lock gives {want[key]}")
    runtime = sum(1 for _, kind in got.values() if kind == "runtime")
    return f"{len(got)} packages ({runtime} runtime, {len(got) - runtime} build), all as Cargo.lock resolves them for {target}"


def main():
    try:
        if len(sys.argv) in (3, 4) and sys.argv[1] == "list":
            infos = [embedded(sys.argv[2], sys.argv[3])] if len(sys.argv) == 4 else embedded_all(sys.argv[2])
            found = {}
            for info in infos:
                found.update(packages(info))
            for (name, version), (_, kind) in sorted(found.items()):
                print(name, version, kind)
        elif len(sys.argv) == 4 and sys.argv[1] == "check":
            print(f"{sys.argv[2]}: {check(sys.argv[2], sys.argv[3])}")
        else:
            print("\n".join(__doc__.strip().splitlines()[2:9]), file=sys.stderr)
            sys.exit(2)
    except (struct.error, IndexError) as e:
        print(f"auditable: {sys.argv[2]}: not a well-formed binary: {e}", file=sys.stderr)
        sys.exit(1)
    except (Error, OSError, subprocess.CalledProcessError) as e:
        print(f"auditable: {sys.argv[2]}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
