#!/usr/bin/env python3
"""Checks the CycloneDX SBOMs packaging/sbom.py wrote (issue 24; check-dist's supply-chain step).

    packaging/check-sbom.py DIST                 every SBOM of DIST/SHA256SUMS
    packaging/check-sbom.py --image SBOM INDEX_JSON BINARY...   the image index's SBOM

For DIST: every file SHA256SUMS lists has its SBOM (<file>.cdx.json) listed there too; each SBOM
is valid against the CycloneDX 1.5 JSON schema (cyclonedx-python-lib's copy, installed from
PyPI when missing), its subject (metadata.component) is that file by name and SHA-256, the
binary it describes is the one shipped for that architecture (by SHA-256), and its crates with
scope "required" are exactly the crates embedded in that binary (packaging/auditable.py; in
every slice of the universal macOS binary), each
with a licence and a purl; every dependency reference resolves.
For --image: the same schema check, the subject is the index (by digest), and each BINARY is a
component with its SHA-256.
Prints one line per SBOM; exits 1 with one line on stderr at the first failure.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import auditable  # noqa: E402
import pkglib  # noqa: E402


class Fail(Exception):
    pass


def validator():
    """A validator of CycloneDX 1.5 JSON: the schema and the SPDX, JSF and cryptography schemas it
    refers to, from cyclonedx-python-lib (installed from PyPI when missing), with jsonschema's
    Draft 7 format checks. Not the library's own validator: its iri-reference check (rfc3987's
    regular expression) takes about 40 ms a value, 8 s an SBOM; here an iri-reference is checked
    to be a URI reference without white space (urllib)."""
    try:
        import cyclonedx.schema
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "cyclonedx-python-lib[json-validation]"], check=True)
        import cyclonedx.schema
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry
    from referencing.jsonschema import DRAFT7
    res = os.path.join(os.path.dirname(cyclonedx.schema.__file__), "_res")

    def schema(name):
        with open(os.path.join(res, name)) as f:
            return json.load(f)
    registry = Registry().with_resources(
        (f"http://cyclonedx.org/schema/{name}", DRAFT7.create_resource(schema(name)))
        for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json",
                     "cryptography-defs.SNAPSHOT.schema.json"))
    formats = FormatChecker(formats=[f for f in Draft7Validator.FORMAT_CHECKER.checkers
                                     if f != "iri-reference"])

    @formats.checks("iri-reference")
    def iri_reference(value):
        import urllib.parse
        return not isinstance(value, str) or (
            not any(c.isspace() for c in value) and urllib.parse.urlsplit(value) is not None)
    v = Draft7Validator(schema("bom-1.5.SNAPSHOT.schema.json"), registry=registry,
                        format_checker=formats)

    class Schema:
        @staticmethod
        def validate_str(text):
            error = next(iter(v.iter_errors(json.loads(text))), None)
            return None if error is None else f"{error.json_path}: {error.message[:300]}"
    return Schema()


def load(path, schema):
    with open(path) as f:
        text = f.read()
    error = schema.validate_str(text)
    if error is not None:
        raise Fail(f"{path}: not valid CycloneDX 1.5: {error}")
    bom = json.loads(text)
    refs = {c["bom-ref"] for c in bom.get("components", [])} | {bom["metadata"]["component"]["bom-ref"]}
    for d in bom.get("dependencies", []):
        for r in [d["ref"]] + d.get("dependsOn", []):
            if r not in refs:
                raise Fail(f"{path}: dependency reference {r} names no component")
    return bom


def digest_of(component):
    return next((h["content"] for h in component.get("hashes", []) if h["alg"] == "SHA-256"), None)


def check_artefact(dist, name, schema):
    path = os.path.join(dist, name)
    bom = load(path + ".cdx.json", schema)
    subject = bom["metadata"]["component"]
    if subject["name"] != name or digest_of(subject) != pkglib.sha256_file(path):
        raise Fail(f"{name}.cdx.json: its subject is {subject['name']} {digest_of(subject)}, not {name} {pkglib.sha256_file(path)}")
    # The binary shipped for this artefact's architecture.
    m = re.match(r".*-(x86_64|aarch64)-linux(\.tar\.gz)?$", name) or \
        re.match(r".*_(amd64|arm64)\.deb$", name) or re.match(r".*\.(x86_64|aarch64)\.rpm$", name)
    if m:
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(m.group(1), m.group(1))
        binary = next(f for f in os.listdir(dist) if f.endswith(f"-{arch}-linux"))
    elif "-windows." in name:
        binary = next(f for f in os.listdir(dist) if f.endswith("-windows.exe"))
    elif m := re.match(r".*-(x86_64|aarch64|universal)-macos(\.tar\.gz)?$", name):
        binary = next(f for f in os.listdir(dist) if f.endswith(f"-{m.group(1)}-macos"))
    else:
        raise Fail(f"{name}: which binary it holds is unknown")
    binary = os.path.join(dist, binary)
    apps = [c for c in [subject] + bom.get("components", []) if c["type"] == "application"
            and digest_of(c) == pkglib.sha256_file(binary)]
    if not apps:
        raise Fail(f"{name}.cdx.json: no component is the shipped binary {binary}")
    # The crates linked in: runtime ones, but this crate itself (the binary component); of every
    # slice of a universal macOS binary.
    want = {(p["name"], p["version"]) for info in auditable.embedded_all(binary) for p in info["packages"]
            if p.get("kind", "runtime") == "runtime" and not p.get("root")}
    crates = [c for c in bom["components"] if c.get("purl", "").startswith("pkg:cargo/")]
    got = {(c["name"], c["version"]) for c in crates if c.get("scope") == "required"}
    if got != want:
        raise Fail(f"{name}.cdx.json: crates differ from the binary's embedded list: "
                   f"missing {sorted(want - got)}, extra {sorted(got - want)}")
    for c in crates:
        if not c.get("licenses"):
            raise Fail(f"{name}.cdx.json: {c['name']} {c['version']} has no licence")
    return f"{len(got)} crates, as embedded in {os.path.basename(binary)}"


def main():
    args = sys.argv[1:]
    try:
        schema = validator()
        if args[:1] == ["--image"] and len(args) >= 4:
            bom = load(args[1], schema)
            subject = bom["metadata"]["component"]
            index = pkglib.sha256_file(args[2])
            if digest_of(subject) != index or subject["type"] != "container":
                raise Fail(f"{args[1]}: its subject is {subject.get('purl')}, not the index sha256:{index}")
            digests = {digest_of(c) for c in bom["components"] if c["type"] == "application"}
            for b in args[3:]:
                if pkglib.sha256_file(b) not in digests:
                    raise Fail(f"{args[1]}: {b} is not a component")
            print(f"ok - image SBOM: CycloneDX 1.5, subject the index sha256:{index[:12]}..., "
                  f"{len(bom['components'])} components, both binaries")
        elif len(args) == 1:
            dist = args[0]
            with open(os.path.join(dist, "SHA256SUMS")) as f:
                listed = [line.split(None, 1)[1].strip() for line in f if line.strip()]
            artefacts = [n for n in listed if not n.endswith(".cdx.json")]
            for name in artefacts:
                if name + ".cdx.json" not in listed:
                    raise Fail(f"SHA256SUMS lists {name} but not its SBOM {name}.cdx.json")
                print(f"ok - {name}.cdx.json: CycloneDX 1.5, subject {name}, {check_artefact(dist, name, schema)}")
            if len(listed) != 2 * len(artefacts):
                raise Fail(f"SHA256SUMS lists SBOMs of files it does not list: {listed}")
        else:
            print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
            sys.exit(2)
    except (Fail, auditable.Error, OSError, KeyError, StopIteration, subprocess.CalledProcessError) as e:
        print(f"check-sbom: FAIL: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
