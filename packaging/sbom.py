#!/usr/bin/env python3
"""CycloneDX SBOMs (JSON, spec 1.5) of what we ship (issue 24).

    packaging/sbom.py ARTEFACT TARGET=BINARY [TARGET=BINARY ...]
        writes ARTEFACT.cdx.json: the SBOM of one file in dist/ (the binary, the tarball, the
        Windows .exe or zip, a .deb or .rpm, a macOS binary or tarball), holding the binary built
        for TARGET; a universal macOS binary is named once per slice (TARGET picks the slice)
    packaging/sbom.py --image OUT INDEX_JSON TARGET=BINARY [TARGET=BINARY ...]
        writes OUT: the SBOM of the OCI image index INDEX_JSON (its bytes: the subject's digest),
        one image per binary, each with the CA bundle and the files packaging/oci-index.py adds

Environment: VERSION, COMMIT, SOURCE_DATE_EPOCH (as make passes them).

What each SBOM lists, and from where:
  - the crates linked into each binary: the list `cargo auditable build` embedded in it, read back
    (packaging/auditable.py), so the SBOM says what the binary holds, not what a build should
    have held; with each crate's licence (cargo metadata) and the SHA-256 of its .crate file
    (Cargo.lock), as purl pkg:cargo/NAME@VERSION, and the dependency graph between them. Build
    dependencies (build scripts, proc macros) are listed with scope "excluded": they ran during
    the build, and are not in the binary;
  - what else is in it: the Rust standard library (the version of the rustc that built it, read
    from the binary's .comment section; for the .exe and Mach-O files, which have none,
    `$SBOM_RUSTC -V`), glibc for the static Linux binaries (linked in
    statically; the Debian source version the build linked, as Built-Using says), Debian's
    ca-certificates for the image;
  - the artefact itself (metadata.component), with its SHA-256, and the binary in it.
Reproducible (the SBOMs are in SHA256SUMS, which check-repro compares byte for byte): no
wall-clock time (metadata.timestamp is SOURCE_DATE_EPOCH, the commit time), the serial number is
a name-based UUID of the artefact's name and digest, keys and lists sorted.
"""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import auditable  # noqa: E402
import pkglib  # noqa: E402

BIN = "docker-credential-ecr-login"
REPOSITORY = "https://github.com/example/docker-credential-ecr-login"


def cargo_facts():
    """{(name, version): (licence, .crate checksum)} for every package of Cargo.lock."""
    meta = pkglib.cargo_metadata()
    lock = {(p["name"], p["version"]): p.get("checksum") for p in pkglib.lock_packages()}
    return {(p["name"], p["version"]): (p.get("license"), lock.get((p["name"], p["version"])))
            for p in meta["packages"]}


def rustc_version(binary):
    """The rustc version recorded in the binary ("rustc version 1.95.0 (...)"), or None."""
    with open(binary, "rb") as f:
        data = f.read()
    at = data.find(b"rustc version ")
    if at < 0:
        return None
    return data[at + 14:data.index(b" ", at + 14)].decode()


def debian_source_version(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${source:Package} ${source:Version}", package],
                         capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 and out.stdout else None


def debian_id():
    with open("/etc/os-release") as f:
        rel = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    return f"debian-{rel.get('VERSION_ID', '').strip(chr(34))}"


def deb_component(package, arch):
    found = debian_source_version(package)
    if not found:
        return None
    name, version = found
    purl = f"pkg:deb/debian/{name}@{version}?arch={arch}&distro={debian_id()}"
    return {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl,
            "supplier": {"name": "Debian"}}


class Bom:
    def __init__(self):
        self.facts = cargo_facts()
        self.components = {}  # bom-ref -> component
        self.depends = {}  # bom-ref -> set of bom-refs

    def add(self, component):
        self.components.setdefault(component["bom-ref"], component)
        return component["bom-ref"]

    def binary(self, target, path, name):
        """The binary at PATH, built for TARGET, shipped as NAME; its crates and libraries."""
        info = auditable.embedded(path, target)
        pkgs = info["packages"]
        refs = []
        root_ref = None
        version = os.environ["VERSION"]
        digest = pkglib.sha256_file(path)
        bin_ref = f"file:{name}@sha256:{digest}"
        if auditable.is_universal(path):
            # A universal Mach-O: one component per slice (its crates, read from that slice).
            bin_ref += f"#{target}"
        for p in pkgs:
            if p.get("root"):
                refs.append(bin_ref)
                root_ref = bin_ref
                continue
            ref = f"pkg:cargo/{p['name']}@{p['version']}"
            refs.append(ref)
            if ref in self.components:
                continue
            licence, checksum = self.facts.get((p["name"], p["version"]), (None, None))
            c = {"type": "library", "bom-ref": ref, "name": p["name"], "version": p["version"],
                 "purl": ref, "scope": "excluded" if p.get("kind") == "build" else "required"}
            if licence:
                # Cargo's old "/" separator is "OR" in SPDX.
                c["licenses"] = [{"expression": " OR ".join(x.strip() for x in licence.split("/"))}]
            if checksum:
                c["hashes"] = [{"alg": "SHA-256", "content": checksum}]
            c["externalReferences"] = [{"type": "distribution",
                                        "url": f"https://crates.io/api/v1/crates/{p['name']}/{p['version']}/download"}]
            self.add(c)
        if root_ref is None:
            raise auditable.Error(f"{path}: the embedded list has no root package")
        props = [{"name": "cdx:rust:target", "value": target}]
        if os.environ.get("COMMIT"):
            props.append({"name": "vcs:commit", "value": os.environ["COMMIT"]})
        self.add({"type": "application", "bom-ref": bin_ref, "name": name, "version": version,
                  "description": f"{BIN} built for {target} with `cargo auditable build`",
                  "hashes": [{"alg": "SHA-256", "content": digest}],
                  "licenses": [{"license": {"id": "Apache-2.0"}}],
                  "externalReferences": [{"type": "vcs", "url": REPOSITORY}],
                  "properties": props})
        for p, ref in zip(pkgs, refs):
            self.depends.setdefault(ref, set()).update(refs[i] for i in p.get("dependencies", []))
        # Linked in, but not crates.
        rust = rustc_version(path)
        if not rust and os.environ.get("SBOM_RUSTC"):
            # The .exe and the Mach-O files record no rustc version (no .comment section): the
            # version of the rustc that built them, SBOM_RUSTC (release.sh windows and
            # macos/release.sh: make windows's and make macos's /usr/bin/rustc).
            out = subprocess.run([os.environ["SBOM_RUSTC"], "-V"], capture_output=True, text=True)
            rust = out.stdout.split()[1] if out.returncode == 0 and out.stdout.startswith("rustc ") else None
        if rust:
            ref = f"pkg:generic/rust-std@{rust}?target={target}"
            self.add({"type": "library", "bom-ref": ref, "name": "rust-std", "version": rust,
                      "purl": ref, "licenses": [{"expression": "MIT OR Apache-2.0"}],
                      "description": "the Rust standard library, linked in"})
            self.depends[bin_ref].add(ref)
        if "linux" in target:
            arch = {"x86_64": "amd64", "aarch64": "arm64"}[target.split("-")[0]]
            glibc = deb_component("libc6-dev", arch)
            if glibc:
                glibc["description"] = "the GNU C Library, linked in statically"
                glibc["licenses"] = [{"expression": "LGPL-2.1-or-later"}]
                self.depends[bin_ref].add(self.add(glibc))
        return bin_ref

    def write(self, out, subject, serial_seed):
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
        deps = [{"ref": ref, "dependsOn": sorted(self.depends.get(ref, ()))}
                for ref in sorted(set(self.components) | set(self.depends) | {subject["bom-ref"]})]
        bom = {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, serial_seed)),
            "version": 1,
            "metadata": {
                "timestamp": ts,
                "tools": {"components": [{"type": "application", "name": "packaging/sbom.py",
                                          "version": os.environ["VERSION"]}]},
                "component": subject,
                "properties": [{"name": "cdx:reproducible", "value": "true"}],
            },
            "components": [self.components[k] for k in sorted(self.components)],
            "dependencies": deps,
        }
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(bom, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, out)


def binaries(args):
    out = []
    for a in args:
        target, _, path = a.partition("=")
        if not path:
            raise SystemExit(f"sbom: {a}: want TARGET=BINARY")
        out.append((target, path))
    return out


def main():
    args = sys.argv[1:]
    if not os.environ.get("VERSION"):
        print("sbom: VERSION is not set (run through make)", file=sys.stderr)
        sys.exit(2)
    try:
        if args[:1] == ["--image"] and len(args) >= 4:
            out, index_json = args[1], args[2]
            bom = Bom()
            refs = []
            for target, path in binaries(args[3:]):
                refs.append(bom.binary(target, path, f"/{BIN} ({target})"))
            arch = {"x86_64": "amd64", "aarch64": "arm64"}
            # The CA bundle in every image: this machine's, Debian's (packaging/oci-index.py).
            cas = [bom.add(c) for c in [deb_component("ca-certificates", "all")] if c]
            digest = pkglib.sha256_file(index_json)
            purl = f"pkg:oci/{BIN}@sha256:{digest}"
            subject = {"type": "container", "bom-ref": purl, "name": BIN,
                       "version": os.environ["VERSION"], "purl": purl,
                       "hashes": [{"alg": "SHA-256", "content": digest}],
                       "description": "the FROM scratch image index: " +
                                      ", ".join(f"linux/{arch[t.split('-')[0]]}" for t, _ in binaries(args[3:]))}
            bom.depends[purl] = set(refs) | set(cas)
            bom.write(out, subject, f"{BIN}:image:sha256:{digest}")
        elif len(args) >= 2:
            artefact = args[0]
            bom = Bom()
            name = os.path.basename(artefact)
            refs = []
            for target, path in binaries(args[1:]):
                exe = BIN + (".exe" if "windows" in target else "")
                if name.endswith((".exe", "-linux", "-macos")):
                    # The artefact is the binary itself.
                    exe = name
                refs.append(bom.binary(target, path, exe))
            digest = pkglib.sha256_file(artefact)
            ref = f"file:{name}@sha256:{digest}"
            if len(refs) == 1 and refs[0] == ref:
                subject = dict(bom.components.pop(ref))
            else:
                subject = {"type": "application", "bom-ref": ref, "name": name,
                           "version": os.environ["VERSION"],
                           "hashes": [{"alg": "SHA-256", "content": digest}],
                           "licenses": [{"license": {"id": "Apache-2.0"}}]}
                bom.depends[ref] = set(refs)
            bom.write(artefact + ".cdx.json", subject, f"{name}:sha256:{digest}")
        else:
            print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
            sys.exit(2)
    except (auditable.Error, OSError, KeyError, subprocess.CalledProcessError) as e:
        print(f"sbom: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
