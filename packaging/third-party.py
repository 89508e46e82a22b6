#!/usr/bin/env python3
"""Prints the crates linked into the release binary with their licences (THIRD-PARTY.txt).

Walks `cargo metadata` from the root package along normal dependencies only (no dev or build
dependencies), for the target given (default x86_64 Linux; x86_64-pc-windows-gnu for the .exe; an
apple-darwin one for macOS),
so the list is what the binary contains. Sorted, so
the output is the same bytes for the same Cargo.lock.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib  # noqa: E402

target = sys.argv[1] if len(sys.argv) > 1 else "x86_64-unknown-linux-gnu"
windows = "windows" in target
meta = pkglib.cargo_metadata(target)
packages = {p["id"]: p for p in meta["packages"]}
seen = pkglib.reachable(meta, {None})
seen.discard(meta["resolve"]["root"])

out = sys.stdout
if windows:
    out.write(
        "Third-party software in docker-credential-ecr-login.exe\n"
        "=======================================================\n\n"
        "Besides the Rust crates below, the .exe contains the Rust standard library (MIT OR\n"
        "Apache-2.0) and the start-up code of the mingw-w64 runtime (public domain and ZPL-2.1);\n"
        "it links only DLLs that ship with Windows. The complete corresponding source is this\n"
        "project's repository at the commit in `docker-credential-ecr-login version`, built with\n"
        "`make windows`, and the crates below from crates.io.\n\n"
    )
elif "apple-darwin" in target:
    out.write(
        "Third-party software in the docker-credential-ecr-login macOS binary\n"
        "====================================================================\n\n"
        "Besides the Rust crates below, the binary contains the Rust standard library (MIT OR\n"
        "Apache-2.0) and Zig's compiler-rt (MIT); it links only libraries that ship with macOS\n"
        "(libSystem, libiconv, the Security and CoreFoundation frameworks). The complete\n"
        "corresponding source is this project's repository at the commit in\n"
        "`docker-credential-ecr-login version`, built with `make macos`, and the crates below\n"
        "from crates.io.\n\n"
    )
else:
    out.write(
        "Third-party software in the docker-credential-ecr-login binary\n"
        "===============================================================\n\n"
        "The binary is linked statically. Besides the Rust crates below it contains the Rust\n"
        "standard library (MIT OR Apache-2.0) and the GNU C Library (LGPL-2.1-or-later); the\n"
        "complete corresponding source is this project's repository at the commit in\n"
        "`docker-credential-ecr-login version`, built with `make static`, and the crates\n"
        "below from crates.io.\n\n"
    )
rows = sorted((packages[p]["name"], packages[p]["version"], packages[p].get("license") or "see crate")
              for p in seen)
w = max(len(f"{n} {v}") for n, v, _ in rows)
for name, version, licence in rows:
    out.write(f"{name + ' ' + version:<{w}}  {licence}\n")
