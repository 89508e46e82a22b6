"""What the packaging scripts share: a file's SHA-256, Cargo.lock's packages, `cargo metadata`
and the walk along its dependency graph. Imported, not run: by auditable.py, check-sbom.py,
provenance.py, sbom.py and third-party.py, which find it beside themselves (Python puts a
script's own directory first on sys.path; those imported by another script insert it too)."""
import hashlib
import json
import subprocess
import tomllib

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def sha256_file(path):
    """The SHA-256 of the file at PATH, hex, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lock_packages(lock_path="Cargo.lock"):
    """The [[package]] tables of the Cargo.lock at LOCK_PATH, as dicts (name, version, and
    source and checksum for those from a registry)."""
    with open(lock_path, "rb") as f:
        return tomllib.load(f).get("package", [])


def cargo_metadata(target=None, cwd=None):
    """`cargo metadata --format-version 1 --locked`, for TARGET's platform when given, parsed."""
    cmd = ["cargo", "metadata", "--format-version", "1", "--locked"]
    if target is not None:
        cmd += ["--filter-platform", target]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd).stdout)


def reachable(meta, kinds, skip=()):
    """The ids of the packages reached in META's resolved graph from its root along the
    dependencies of KINDS (None for normal ones, "build", "dev"), the root included, never
    entering a package of SKIP."""
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    seen, todo = set(), [meta["resolve"]["root"]]
    while todo:
        pid = todo.pop()
        if pid in seen or pid in skip:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] in kinds for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    return seen
