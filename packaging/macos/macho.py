"""Mach-O reading for the macOS build and its checks (packaging/macos/link.py, check.py).

Only what those need, from the format as <mach-o/loader.h>, <mach-o/fat.h>, <mach-o/nlist.h> and
Apple's code signing blobs (<kern/cs_blobs.h>) define it: the fat (universal) header, a 64-bit
slice's header and load commands, its symbol table, and its code signature.
"""

import hashlib
import struct

CPU_TYPES = {0x01000007: "x86_64", 0x0100000C: "arm64"}
MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGIC = 0xCAFEBABE
MH_EXECUTE = 2

LC_SYMTAB = 0x2
LC_LOAD_DYLIB = 0xC
LC_LOAD_DYLINKER = 0xE
LC_CODE_SIGNATURE = 0x1D
LC_VERSION_MIN_MACOSX = 0x24
LC_BUILD_VERSION = 0x32
LC_LOAD_WEAK_DYLIB = 0x80000018
LC_RPATH = 0x8000001C
LC_REEXPORT_DYLIB = 0x8000001F
LC_LAZY_LOAD_DYLIB = 0x20
LC_LOAD_UPWARD_DYLIB = 0x80000023
DYLIB_COMMANDS = {LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB}
PLATFORM_MACOS = 1

# Symbol library ordinals (two-level namespace, <mach-o/nlist.h>).
DYNAMIC_LOOKUP_ORDINAL = 0xFE

# Code signing (big-endian blobs).
CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_REQUIREMENTS = 0xFADE0C01
CSMAGIC_BLOBWRAPPER = 0xFADE0B01
CSSLOT_CODEDIRECTORY = 0
CSSLOT_SIGNATURESLOT = 0x10000
CS_ADHOC = 0x2
CS_HASHTYPE_SHA256 = 2


class MachOError(Exception):
    pass


def _version(v):
    """A packed xxxx.yy.zz version as text (11.0, 13.4.1)."""
    major, minor, patch = v >> 16, (v >> 8) & 0xFF, v & 0xFF
    return f"{major}.{minor}" + (f".{patch}" if patch else "")


class Slice:
    """One 64-bit little-endian Mach-O image: data is the whole file, off its start in it."""

    def __init__(self, data, off=0, size=None):
        self.data = data
        self.off = off
        self.size = len(data) - off if size is None else size
        magic, cpu, _sub, self.filetype, ncmds, sizeofcmds, self.flags, _ = struct.unpack_from("<8I", data, off)
        if magic != MH_MAGIC_64:
            raise MachOError(f"not a 64-bit little-endian Mach-O image (magic {magic:#x})")
        if cpu not in CPU_TYPES:
            raise MachOError(f"unknown CPU type {cpu:#x}")
        self.arch = CPU_TYPES[cpu]
        self.commands = []  # (cmd, offset of the command in data, cmdsize)
        p = off + 32
        end = p + sizeofcmds
        for _ in range(ncmds):
            cmd, size = struct.unpack_from("<II", data, p)
            if size < 8 or p + size > end:
                raise MachOError("load command runs past the load commands")
            self.commands.append((cmd, p, size))
            p += size

    def _cstr(self, cmd_off, name_off, cmd_size):
        raw = self.data[cmd_off + name_off : cmd_off + cmd_size]
        return raw.split(b"\0", 1)[0].decode()

    def dylibs(self):
        """(kind, path) of every library load command."""
        out = []
        for cmd, p, size in self.commands:
            if cmd in DYLIB_COMMANDS:
                (name_off,) = struct.unpack_from("<I", self.data, p + 8)
                out.append((cmd, self._cstr(p, name_off, size)))
        return out

    def dylinker(self):
        for cmd, p, size in self.commands:
            if cmd == LC_LOAD_DYLINKER:
                (name_off,) = struct.unpack_from("<I", self.data, p + 8)
                return self._cstr(p, name_off, size)
        return None

    def rpaths(self):
        out = []
        for cmd, p, size in self.commands:
            if cmd == LC_RPATH:
                (path_off,) = struct.unpack_from("<I", self.data, p + 8)
                out.append(self._cstr(p, path_off, size))
        return out

    def min_macos(self):
        """The minimum macOS version (LC_BUILD_VERSION's minos, or LC_VERSION_MIN_MACOSX)."""
        for cmd, p, _ in self.commands:
            if cmd == LC_BUILD_VERSION:
                platform, minos = struct.unpack_from("<II", self.data, p + 8)
                if platform != PLATFORM_MACOS:
                    raise MachOError(f"LC_BUILD_VERSION platform {platform}, not macOS")
                return _version(minos)
            if cmd == LC_VERSION_MIN_MACOSX:
                (minos,) = struct.unpack_from("<I", self.data, p + 8)
                return _version(minos)
        return None

    def undefined_symbols(self):
        """(name, library ordinal) of every undefined external symbol in the symbol table."""
        for cmd, p, _ in self.commands:
            if cmd == LC_SYMTAB:
                symoff, nsyms, stroff, _strsize = struct.unpack_from("<4I", self.data, p + 8)
                break
        else:
            return []
        out = []
        base = self.off
        for i in range(nsyms):
            strx, ntype, _sect, desc, _value = struct.unpack_from("<IBBHQ", self.data, base + symoff + 16 * i)
            if ntype & 0xE0:  # a debugging (stab) entry
                continue
            if (ntype & 0x0E) == 0 and (ntype & 0x01):  # N_UNDF, N_EXT
                name = self.data[base + stroff + strx :].split(b"\0", 1)[0].decode()
                out.append((name, (desc >> 8) & 0xFF))
        return out

    def code_signature(self):
        """(dataoff, datasize) of LC_CODE_SIGNATURE, or None."""
        for cmd, p, _ in self.commands:
            if cmd == LC_CODE_SIGNATURE:
                return struct.unpack_from("<II", self.data, p + 8)
        return None

    def verify_adhoc_signature(self):
        """Check the embedded signature as the kernel checks an ad-hoc one, and return its identifier.

        The superblob's code directory must be ad-hoc with SHA-256 hashes, cover the image up to the
        signature itself (codeLimit), and every page hash and special-slot hash (the blobs present
        beside it: requirements, entitlements) must match the bytes they hash. Raises MachOError.
        """
        sig = self.code_signature()
        if sig is None:
            raise MachOError("no LC_CODE_SIGNATURE")
        dataoff, datasize = sig
        base = self.off
        blob = self.data[base + dataoff : base + dataoff + datasize]
        magic, length, count = struct.unpack_from(">III", blob, 0)
        if magic != CSMAGIC_EMBEDDED_SIGNATURE or length > datasize:
            raise MachOError(f"signature superblob magic {magic:#x}, length {length}")
        index = {}
        for i in range(count):
            typ, off = struct.unpack_from(">II", blob, 12 + 8 * i)
            bmagic, blen = struct.unpack_from(">II", blob, off)
            index[typ] = (bmagic, blob[off : off + blen])
        if CSSLOT_CODEDIRECTORY not in index or index[CSSLOT_CODEDIRECTORY][0] != CSMAGIC_CODEDIRECTORY:
            raise MachOError("no code directory in the signature")
        cd = index[CSSLOT_CODEDIRECTORY][1]
        (
            _magic,
            _len,
            _version,
            flags,
            hash_off,
            ident_off,
            n_special,
            n_code,
            code_limit,
            hash_size,
            hash_type,
            _platform,
            page_log2,
        ) = struct.unpack_from(">IIIIIIIIIBBBB", cd, 0)
        if not flags & CS_ADHOC:
            raise MachOError(f"code directory flags {flags:#x}: not ad-hoc")
        if hash_type != CS_HASHTYPE_SHA256 or hash_size != 32:
            raise MachOError(f"hash type {hash_type} size {hash_size}, not SHA-256")
        if code_limit != dataoff:
            raise MachOError(f"signature covers {code_limit} bytes, not all {dataoff} before it")
        page = 1 << page_log2 if page_log2 else code_limit
        want_pages = (code_limit + page - 1) // page
        if n_code != want_pages:
            raise MachOError(f"{n_code} page hashes for {want_pages} pages")
        image = self.data[base : base + code_limit]
        for i in range(n_code):
            want = cd[hash_off + 32 * i : hash_off + 32 * (i + 1)]
            got = hashlib.sha256(image[i * page : min((i + 1) * page, code_limit)]).digest()
            if got != want:
                raise MachOError(f"page {i} (bytes {i * page}-) does not match its hash")
        # Special slots: slot k's hash is at hash_off - 32 * k; a blob of type k beside the code
        # directory must match it, and a slot with no blob must be zero.
        for k in range(1, n_special + 1):
            want = cd[hash_off - 32 * k : hash_off - 32 * (k - 1)]
            if k in index:
                if hashlib.sha256(index[k][1]).digest() != want:
                    raise MachOError(f"special slot {k} does not match its blob")
            elif want != bytes(32):
                raise MachOError(f"special slot {k} has a hash but no blob")
        cms = index.get(CSSLOT_SIGNATURESLOT)
        if cms is not None and (cms[0] != CSMAGIC_BLOBWRAPPER or len(cms[1]) != 8):
            raise MachOError("a CMS signature blob in an ad-hoc signature")
        return cd[ident_off:].split(b"\0", 1)[0].decode()


def slices(data):
    """The Mach-O images in a file: one for a thin file, one per architecture for a universal one.
    Returns (is_universal, [Slice])."""
    (magic,) = struct.unpack_from(">I", data, 0)
    if magic == FAT_MAGIC:
        (n,) = struct.unpack_from(">I", data, 4)
        out = []
        for i in range(n):
            cpu, _sub, off, size, _align = struct.unpack_from(">5I", data, 8 + 20 * i)
            s = Slice(data, off, size)
            if CPU_TYPES.get(cpu) != s.arch:
                raise MachOError(f"fat entry {i} says CPU {cpu:#x}, its image is {s.arch}")
            out.append(s)
        return True, out
    return False, [Slice(data)]
