#!/usr/bin/env python3
"""make provenance: an in-toto Statement v1 with a SLSA provenance v1 predicate for dist/.

Usage: packaging/provenance.py OUT        write it (run through make: it passes the build's settings in the
environment: DIST, BIN, VERSION, ARCHES, WINDOWS, SOURCE_DATE_EPOCH, CROSS_SYSROOT, BUILD_COMMAND,
and optionally BUILDER_ID).
       packaging/provenance.py check FILE   check one against DIST and the tree (CI,
packaging/sign.sh check): its types, every subject's digest against the file, every file
SHA256SUMS lists among the subjects, the commit against HEAD, Cargo.lock's digest and its crates,
a toolchain entry for each architecture built.

What it records (docs/security.md, "Signatures and provenance"):
  subject            every file SHA256SUMS lists (its sha256, recomputed and compared with the
                     line), SHA256SUMS itself, and this version's .deb and .rpm packages in DIST
  externalParameters the source (repository, commit, the tree the build read), the build command,
                     the version, architectures, SOURCE_DATE_EPOCH
  resolvedDependencies  the source tree (git commit and tree hash), Cargo.lock (sha256), every
                     crate it pins (its registry checksum), the rustup toolchain of the x86_64
                     build (rustc, cargo and rust-std archives' sha256 from rustup's channel
                     manifest), and the Debian packages of the aarch64 and Windows toolchains and
                     of the glibc the static binaries link (version, and the .deb's sha256 from
                     apt's index), the arm64 sysroot's libc6-dev included
  builder.version    rustc -Vv and cargo -V of both Rust toolchains, the cross linkers' versions
Nothing here is secret: no environment is dumped, only the variables named above.
"""
import datetime
import json
import os
import subprocess
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib  # noqa: E402


def run(*cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"provenance: {' '.join(cmd)} failed: {p.stderr.strip()}")
    return p.stdout.strip() if p.returncode == 0 else None


def first_line(*cmd):
    out = run(*cmd, check=False)
    return out.splitlines()[0] if out else None


def source_tree():
    """The commit, its tree, and the tree of the files the build actually read (the work tree,
    untracked files included, ignored ones not): equal to the commit's tree when it is clean."""
    commit = run("git", "rev-parse", "HEAD")
    tree = run("git", "rev-parse", "HEAD^{tree}")
    index = os.path.join(run("git", "rev-parse", "--absolute-git-dir"), "provenance-index")
    env = dict(os.environ, GIT_INDEX_FILE=index)
    try:
        for cmd in (["git", "read-tree", "HEAD"], ["git", "add", "-A"]):
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        work = subprocess.run(["git", "write-tree"], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)
    return commit, tree, work


def crates(lock_path):
    out = []
    for p in pkglib.lock_packages(lock_path):
        if "checksum" not in p:
            continue  # the workspace's own crate: part of the source tree
        out.append({
            "uri": f"pkg:cargo/{p['name']}@{p['version']}",
            "digest": {"sha256": p["checksum"]},
            "annotations": {"source": p.get("source", "")},
        })
    return out


def rustup_components(rustc):
    """rustc, cargo and rust-std of the toolchain `rustc` belongs to, with the sha256 of the
    archives rustup installed them from (its channel manifest)."""
    sysroot = run(rustc, "--print", "sysroot", check=False)
    host = (run(rustc, "-vV", check=False) or "").split("host: ")[-1].split("\n")[0]
    manifest = os.path.join(sysroot or "", "lib", "rustlib", "multirust-channel-manifest.toml")
    if not sysroot or not os.path.isfile(manifest):
        return []
    with open(manifest, "rb") as f:
        m = tomllib.load(f)
    out = []
    for comp in ("rustc", "cargo", "rust-std"):
        pkg = m.get("pkg", {}).get(comp, {})
        t = pkg.get("target", {}).get(host, {})
        if t.get("hash"):
            out.append({
                "uri": t.get("url", f"rustup:{comp}"),
                "name": f"rustup {comp} {pkg.get('version', '')}".strip(),
                "digest": {"sha256": t["hash"]},
            })
    return out


def deb_package(spec):
    """An installed Debian package (name or name:arch): its descriptor, digest still to add."""
    fields = run("dpkg-query", "-W", "-f=${Package} ${Architecture} ${Version} ${db:Status-Status}",
                 spec, check=False)
    if not fields or not fields.endswith(" installed"):
        return None
    name, arch, version, _ = fields.split(" ")
    return deb_descriptor(name, arch, version, "installed")


def deb_descriptor(name, arch, version, how):
    return {"uri": f"pkg:deb/debian/{name}@{version}?arch={arch}", "name": f"{name}:{arch}",
            "annotations": {"version": version, "how": how}}


def add_deb_digests(descriptors):
    """The sha256 of each package's .deb, from apt's index (one apt-cache call for all)."""
    want = [f"{d['name']}={d['annotations']['version']}" for d in descriptors]
    show = subprocess.run(["apt-cache", "show", *want], capture_output=True, text=True).stdout
    digests = {}
    for record in show.split("\n\n"):
        f = dict(line.split(": ", 1) for line in record.splitlines() if ": " in line and not line.startswith(" "))
        if "SHA256" in f:
            digests.setdefault((f.get("Package"), f.get("Architecture"), f.get("Version")), f["SHA256"])
    for d in descriptors:
        name, arch = d["name"].split(":")
        sha = digests.get((name, arch, d["annotations"]["version"]))
        if sha:
            d["digest"] = {"sha256": sha}
        else:
            d["annotations"]["digest"] = "not in apt's index (apt-get update, or the version is gone)"


def check(path):
    dist = os.environ.get("DIST", "dist")
    arches = os.environ.get("ARCHES", "x86_64").split()
    windows = os.environ.get("WINDOWS", "1") == "1"
    with open(path) as f:
        st = json.load(f)
    problems = []
    if st.get("_type") != "https://in-toto.io/Statement/v1":
        problems.append(f"_type is {st.get('_type')!r}")
    if st.get("predicateType") != "https://slsa.dev/provenance/v1":
        problems.append(f"predicateType is {st.get('predicateType')!r}")
    subjects = {s["name"]: s["digest"]["sha256"] for s in st.get("subject", [])}
    for name, digest in subjects.items():
        p = os.path.join(dist, name)
        if not os.path.isfile(p) or pkglib.sha256_file(p) != digest:
            problems.append(f"subject {name}: digest does not match {p}")
    with open(os.path.join(dist, "SHA256SUMS")) as f:
        for line in f:
            name = line.rstrip("\n").split("  ", 1)[1]
            if name not in subjects:
                problems.append(f"{name} (in SHA256SUMS) is not a subject")
    bd = st.get("predicate", {}).get("buildDefinition", {})
    deps = bd.get("resolvedDependencies", [])
    src = next((d for d in deps if d.get("name") == "source"), {})
    if src.get("digest", {}).get("gitCommit") != run("git", "rev-parse", "HEAD"):
        problems.append("source gitCommit is not HEAD")
    if not src.get("digest", {}).get("gitTree"):
        problems.append("no source tree hash")
    lock = next((d for d in deps if d.get("name") == "Cargo.lock"), {})
    if lock.get("digest", {}).get("sha256") != pkglib.sha256_file("Cargo.lock"):
        problems.append("Cargo.lock digest")
    want = {c["uri"]: c["digest"]["sha256"] for c in crates("Cargo.lock")}
    got = {d["uri"]: d.get("digest", {}).get("sha256") for d in deps if d.get("uri", "").startswith("pkg:cargo/")}
    if want != got:
        problems.append(f"crates differ from Cargo.lock: {sorted(set(want.items()) ^ set(got.items()))[:5]}")
    toolchains = bd.get("internalParameters", {}).get("toolchains", {})
    for t in [f"{a}-unknown-linux-gnu" for a in arches] + (["x86_64-pc-windows-gnu"] if windows else []):
        if not (toolchains.get(t, {}).get("rustc") or "").startswith("rustc "):
            problems.append(f"no rustc -vV for {t}")
    if not bd.get("externalParameters", {}).get("command"):
        problems.append("no build command")
    if problems:
        sys.exit("provenance check: " + "; ".join(problems))
    debs = [d["name"] for d in deps if d.get("uri", "").startswith("pkg:deb/")]
    print(f"provenance check: {len(subjects)} subjects match their files, commit is HEAD, "
          f"{len(got)} crates as Cargo.lock pins, toolchains {', '.join(toolchains)}, "
          f"{len(debs)} Debian packages ({sum(1 for d in deps if d.get('uri', '').startswith('pkg:deb/') and 'digest' in d)} with the .deb's sha256)")


def main():
    if sys.argv[1] == "check":
        return check(sys.argv[2])
    out_path = sys.argv[1]
    dist = os.environ.get("DIST", "dist")
    binname = os.environ.get("BIN", "docker-credential-ecr-login")
    version = os.environ["VERSION"]
    arches = os.environ.get("ARCHES", "x86_64").split()
    windows = os.environ.get("WINDOWS", "1") == "1"
    sde = os.environ.get("SOURCE_DATE_EPOCH", "")
    command = os.environ.get("BUILD_COMMAND", "make release deb rpm")

    # Subjects: SHA256SUMS's files (checked against it), SHA256SUMS, this version's packages.
    sums_path = os.path.join(dist, "SHA256SUMS")
    if not os.path.isfile(sums_path):
        sys.exit(f"provenance: no {sums_path} (make release first)")
    subjects = []
    with open(sums_path) as f:
        for line in f:
            want, name = line.rstrip("\n").split("  ", 1)
            got = pkglib.sha256_file(os.path.join(dist, name))
            if got != want:
                sys.exit(f"provenance: {dist}/{name} does not match SHA256SUMS")
            subjects.append({"name": name, "digest": {"sha256": got}})
    extra = ["SHA256SUMS"] + sorted(
        n for n in os.listdir(dist)
        if (n.startswith(f"{binname}_{version}-") and n.endswith(".deb"))
        or (n.startswith(f"{binname}-{version}-") and n.endswith(".rpm")))
    for name in extra:
        subjects.append({"name": name, "digest": {"sha256": pkglib.sha256_file(os.path.join(dist, name))}})

    commit, tree, work_tree = source_tree()
    repo = ""
    with open("Cargo.toml", "rb") as f:
        repo = tomllib.load(f).get("package", {}).get("repository", "")

    deps = [{
        "uri": f"git+{repo}@{commit}",
        "digest": {"gitCommit": commit, "gitTree": work_tree},
        "name": "source",
        "annotations": {"commitTree": tree, "uncommittedChanges": work_tree != tree},
    }, {
        "uri": "Cargo.lock", "name": "Cargo.lock", "digest": {"sha256": pkglib.sha256_file("Cargo.lock")},
    }]
    deps += crates("Cargo.lock")

    # The x86_64 binary: the rustup toolchain `cargo` runs (rust-toolchain or the default); the
    # aarch64 and Windows ones: Debian's rustc-web (/usr/bin/rustc), as the Makefile sets.
    rustup_rustc = run("rustup", "which", "rustc", check=False) or "rustc"
    toolchains = {"x86_64-unknown-linux-gnu": {
        "rustc": run(rustup_rustc, "-vV", check=False),
        "cargo": run("cargo", "-V", check=False),
        "linker": first_line("cc", "--version"),
    }}
    deps += rustup_components(rustup_rustc)
    debs = ["libc6-dev", "gcc", "binutils"]
    if "aarch64" in arches:
        toolchains["aarch64-unknown-linux-gnu"] = {
            "rustc": run("/usr/bin/rustc", "-vV", check=False),
            "cargo": run("cargo", "-V", check=False),
            "linker": first_line("aarch64-linux-gnu-gcc", "--version"),
        }
        debs += ["rustc-web", "libstd-rust-web-dev:arm64", "gcc-aarch64-linux-gnu",
                 "binutils-aarch64-linux-gnu"]
    if windows:
        toolchains["x86_64-pc-windows-gnu"] = {
            "rustc": run("/usr/bin/rustc", "-vV", check=False),
            "cargo": run("cargo", "-V", check=False),
            "build-std": "std, panic_abort, test from rust-web-src",
            "linker": first_line("x86_64-w64-mingw32-gcc", "--version"),
        }
        debs += ["rustc-web", "rust-web-src", "gcc-mingw-w64-x86-64-posix", "mingw-w64-x86-64-dev",
                 "binutils-mingw-w64-x86-64"]
    packages = [d for d in (deb_package(spec) for spec in dict.fromkeys(debs)) if d]
    # The arm64 sysroot the aarch64 binary links (packaging/cross-setup.sh): libc6-dev:arm64 of the
    # version its built-using file records, unpacked there, not installed.
    sysroot = os.environ.get("CROSS_SYSROOT", "")
    bu = os.path.join(sysroot, "built-using")
    if "aarch64" in arches and sysroot and os.path.isfile(bu):
        with open(bu) as f:
            v = f.read().strip().split("(= ", 1)[-1].rstrip(")")
        packages.append(deb_descriptor("libc6-dev", "arm64", v, f"unpacked into the sysroot {sysroot}"))
    add_deb_digests(packages)
    deps += packages

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    builder_id = os.environ.get("BUILDER_ID") or (
        f"{repo}/blob/{commit}/.ci/run" if os.environ.get("CI") == "true"
        else "urn:docker-credential-ecr-login:builder:maintainer")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": f"{repo}/blob/main/docs/security.md#signatures-and-provenance",
                "externalParameters": {
                    "source": {"uri": f"git+{repo}", "digest": {"gitCommit": commit}},
                    "command": command,
                    "version": version,
                    "arches": arches,
                    "windows": windows,
                    "SOURCE_DATE_EPOCH": sde,
                },
                "internalParameters": {"toolchains": toolchains},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": builder_id, "version": {
                    k: v["rustc"].splitlines()[0] for k, v in toolchains.items() if v.get("rustc")}},
                "metadata": {"finishedOn": now},
            },
        },
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(statement, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, out_path)
    print(f"{out_path}: {len(subjects)} subjects, {len(deps)} inputs")


if __name__ == "__main__":
    main()
