#!/usr/bin/env python3
"""The image's SBOM as an OCI 1.1 artifact whose subject is the image index (issue 24).

    packaging/oci-sbom.py push REGISTRY REPOSITORY INDEX_JSON SBOM
    packaging/oci-sbom.py pull REGISTRY REPOSITORY INDEX_JSON OUT

REGISTRY is host:port of a plain-HTTP registry (the local test registry of
packaging/check-image-index.sh); INDEX_JSON the image index's bytes as the registry holds them
(their SHA-256 is its digest).

push: uploads the SBOM (application/vnd.cyclonedx+json) and the empty config, then an image
manifest with artifactType application/vnd.cyclonedx+json, that layer, and `subject` = the index
(the OCI distribution spec 1.1 "artifact" form). A registry with the referrers API says so with an
OCI-Subject header on that PUT; one without it (Debian's docker-registry, distribution 2.8) gets
the referrers tag schema: an image index tagged sha256-<hex of the index digest> listing the
artifact, updated (not replaced) if it exists. Prints the artifact's digest and which way was used.

pull: finds the SBOM from the index digest as a client does: GET /v2/<repo>/referrers/<digest>
(artifactType filter), and if the registry has no referrers API (404), the sha256-<hex> tag; then
checks the artifact's subject is the index and every digest, and writes the SBOM to OUT.
Standard library only.
"""
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

OCI = "application/vnd.oci."
INDEX = OCI + "image.index.v1+json"
MANIFEST = OCI + "image.manifest.v1+json"
EMPTY = OCI + "empty.v1+json"
CYCLONEDX = "application/vnd.cyclonedx+json"


class Error(Exception):
    pass


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, host, repo):
        self.base = f"http://{host}/v2/{repo}"

    def request(self, method, path, data=None, headers=None, ok=(200, 201, 202)):
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return e.code, e.headers, e.read()
            raise Error(f"{method} {url}: HTTP {e.code} {e.read()[:300]!r}") from None

    def blob(self, data):
        digest = digest_of(data)
        status, _, _ = self.request("HEAD", f"/blobs/{digest}", ok=(200, 404))
        if status != 200:
            _, headers, _ = self.request("POST", "/blobs/uploads/")
            location = headers["Location"]
            if location.startswith("/"):
                location = self.base.split("/v2/")[0] + location
            sep = "&" if "?" in location else "?"
            self.request("PUT", f"{location}{sep}digest={digest}", data=data,
                         headers={"Content-Type": "application/octet-stream"})
        return digest

    def put_manifest(self, ref, data, media_type):
        _, headers, _ = self.request("PUT", f"/manifests/{ref}", data=data,
                                     headers={"Content-Type": media_type})
        return headers

    def get(self, path, accept):
        status, headers, body = self.request("GET", path, headers={"Accept": accept}, ok=(200, 404))
        return (body, headers) if status == 200 else (None, headers)


def descriptor(media_type, data, **extra):
    return dict({"mediaType": media_type, "digest": digest_of(data), "size": len(data)}, **extra)


def push(reg, index, sbom):
    subject = descriptor(INDEX, index)
    reg.blob(b"{}")
    reg.blob(sbom)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": CYCLONEDX,
        "config": {"mediaType": EMPTY, "digest": digest_of(b"{}"), "size": 2, "data": "e30="},
        "layers": [descriptor(CYCLONEDX, sbom, annotations={
            "org.opencontainers.image.title": "sbom.cdx.json"})],
        "subject": subject,
        "annotations": {"org.opencontainers.image.description": "CycloneDX SBOM of the image index"},
    }, sort_keys=True).encode()
    headers = reg.put_manifest(digest_of(manifest), manifest, MANIFEST)
    art = descriptor(MANIFEST, manifest, artifactType=CYCLONEDX,
                     annotations={"org.opencontainers.image.description": "CycloneDX SBOM of the image index"})
    if headers.get("OCI-Subject") == subject["digest"]:
        return art["digest"], "referrers API (the registry indexed the subject)"
    # The referrers tag schema: sha256-<hex>, an index of the artifacts that refer to the digest.
    tag = subject["digest"].replace(":", "-")
    body, _ = reg.get(f"/manifests/{tag}", INDEX)
    listing = json.loads(body) if body else {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    if listing.get("mediaType") != INDEX:
        raise Error(f"tag {tag} exists and is not an image index")
    listing["manifests"] = [m for m in listing["manifests"] if m["digest"] != art["digest"]] + [art]
    reg.put_manifest(tag, json.dumps(listing, sort_keys=True).encode(), INDEX)
    return art["digest"], f"referrers tag {tag} (the registry has no referrers API)"


def pull(reg, index):
    subject = digest_of(index)
    # Quoted: a bare "+" in a query string is a space.
    body, _ = reg.get(f"/referrers/{subject}?artifactType={urllib.parse.quote(CYCLONEDX, safe='')}", INDEX)
    how = "referrers API"
    if body is None:
        tag = subject.replace(":", "-")
        body, _ = reg.get(f"/manifests/{tag}", INDEX)
        how = f"referrers tag {tag}"
        if body is None:
            raise Error(f"no referrers API and no {tag} tag: nothing refers to {subject}")
    found = [m for m in json.loads(body)["manifests"] if m.get("artifactType") == CYCLONEDX]
    if len(found) != 1:
        raise Error(f"{how}: {len(found)} CycloneDX artifacts refer to {subject}, want 1")
    manifest, _ = reg.get(f"/manifests/{found[0]['digest']}", MANIFEST)
    if manifest is None or digest_of(manifest) != found[0]["digest"]:
        raise Error(f"artifact manifest {found[0]['digest']}: missing or not those bytes")
    m = json.loads(manifest)
    if m.get("subject", {}).get("digest") != subject or m.get("artifactType") != CYCLONEDX:
        raise Error(f"artifact {found[0]['digest']}: subject {m.get('subject')}, artifactType {m.get('artifactType')}")
    layer = m["layers"][0]
    status, _, sbom = reg.request("GET", f"/blobs/{layer['digest']}")
    if digest_of(sbom) != layer["digest"]:
        raise Error(f"SBOM blob is not {layer['digest']}")
    return sbom, found[0]["digest"], how


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("push", "pull"):
        print("usage: oci-sbom.py push|pull REGISTRY REPOSITORY INDEX_JSON SBOM|OUT", file=sys.stderr)
        sys.exit(2)
    cmd, host, repo, index_json, path = sys.argv[1:]
    try:
        reg = Registry(host, repo)
        with open(index_json, "rb") as f:
            index = f.read()
        if cmd == "push":
            with open(path, "rb") as f:
                digest, how = push(reg, index, f.read())
            print(f"SBOM artifact {digest} -> subject {digest_of(index)} via the {how}")
        else:
            sbom, digest, how = pull(reg, index)
            with open(path, "wb") as f:
                f.write(sbom)
            print(f"SBOM artifact {digest} of {digest_of(index)} read back via the {how}")
    except (Error, OSError, ValueError, KeyError) as e:
        print(f"oci-sbom: {cmd}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
