#!/usr/bin/env python3
"""Prints the crates linked into the release binary with their licences (THIRD-PARTY.txt).

Walks `cargo metadata` from the root package along normal dependencies only (no dev or build
dependencies), for the x86_64 Linux target, so the list is what the binary contains. Sorted, so
the output is the same bytes for the same Cargo.lock.
"""
import json
import subprocess
import sys

meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked",
         "--filter-platform", "x86_64-unknown-linux-gnu"],
        check=True, capture_output=True, text=True,
    ).stdout
)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = meta["resolve"]["root"]
seen, todo = set(), [root]
while todo:
    pid = todo.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        if any(k["kind"] is None for k in dep["dep_kinds"]):
            todo.append(dep["pkg"])
seen.discard(root)

out = sys.stdout
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
