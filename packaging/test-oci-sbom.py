#!/usr/bin/env python3
"""packaging/oci-sbom.py against a registry WITH the OCI referrers API (issue 24).

Debian's docker-registry (distribution 2.8), which packaging/check-image-index.sh pushes to, has
no referrers API, so there oci-sbom.py takes the referrers-tag path. This runs the other path
against a small in-memory registry on 127.0.0.1 (an ephemeral port) that implements the OCI
distribution spec 1.1 parts oci-sbom.py uses: blob upload, manifest PUT answering OCI-Subject
for a manifest with a subject, GET /v2/<name>/referrers/<digest> (with the artifactType
filter). Checks: push uses the referrers API and writes no sha256-<hex> tag; pull finds the SBOM
through the API, byte for byte; an artifact of another type is not taken for the SBOM; a pull
with nothing referring to the index fails with one line. Standard library only; about 1 s.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
INDEX = "application/vnd.oci.image.index.v1+json"


class Registry(BaseHTTPRequestHandler):
    blobs, manifests, tags = {}, {}, {}

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        parts = url.path.split("/")  # ['', 'v2', name, kind, ref]
        kind, ref = parts[3], parts[4]
        if kind == "blobs":
            return self.reply(200, self.blobs[ref]) if ref in self.blobs else self.reply(404)
        if kind == "manifests":
            digest = self.tags.get(ref, ref)
            if digest not in self.manifests:
                return self.reply(404)
            body, media = self.manifests[digest]
            return self.reply(200, body, [("Content-Type", media)])
        if kind == "referrers":
            want = parse_qs(url.query).get("artifactType", [None])[0]
            found = []
            for digest, (body, media) in sorted(self.manifests.items()):
                m = json.loads(body)
                if m.get("subject", {}).get("digest") == ref and want in (None, m.get("artifactType")):
                    found.append({"mediaType": media, "digest": digest, "size": len(body),
                                  "artifactType": m.get("artifactType")})
            body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": found}).encode()
            return self.reply(200, body, [("Content-Type", INDEX)])
        self.reply(404)

    def do_POST(self):
        self.reply(202, headers=[("Location", "/v2/upload/blobs/uploads/1")])

    def do_PUT(self):
        url = urlsplit(self.path)
        data = self.rfile.read(int(self.headers["Content-Length"]))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if "/blobs/uploads/" in url.path:
            assert parse_qs(url.query)["digest"][0] == digest
            self.blobs[digest] = data
            return self.reply(201)
        ref = url.path.split("/")[4]
        self.manifests[digest] = (data, self.headers["Content-Type"])
        if not ref.startswith("sha256:"):
            self.tags[ref] = digest
        subject = json.loads(data).get("subject")
        self.reply(201, headers=[("OCI-Subject", subject["digest"])] if subject else [])


def run(*args):
    return subprocess.run([sys.executable, os.path.join(HERE, "oci-sbom.py"), *args],
                          capture_output=True, text=True)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_port}"
    with tempfile.TemporaryDirectory() as tmp:
        index = os.path.join(tmp, "index.json")
        with open(index, "wb") as f:
            f.write(json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": []}).encode())
        digest = "sha256:" + hashlib.sha256(open(index, "rb").read()).hexdigest()
        sbom = os.path.join(tmp, "sbom.json")
        with open(sbom, "w") as f:
            f.write('{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1}\n')
        out = os.path.join(tmp, "out.json")

        r = run("pull", host, "name", index, out)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "refer" in r.stderr, r
        # Another artifact on the same subject, of another type: not the SBOM.
        other = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "artifactType": "application/vnd.example.signature",
                            "config": {}, "layers": [],
                            "subject": {"mediaType": INDEX, "digest": digest, "size": 1}}).encode()
        Registry.manifests["sha256:" + hashlib.sha256(other).hexdigest()] = (
            other, "application/vnd.oci.image.manifest.v1+json")
        r = run("push", host, "name", index, sbom)
        assert r.returncode == 0 and "referrers API" in r.stdout, r
        assert not any(t.startswith("sha256-") for t in Registry.tags), Registry.tags
        r = run("pull", host, "name", index, out)
        assert r.returncode == 0 and "via the referrers API" in r.stdout, r
        assert open(out, "rb").read() == open(sbom, "rb").read()
    server.shutdown()
    print("ok - oci-sbom.py with a referrers API: pushed without the fallback tag, found through "
          "the API (not the other artifact), byte for byte; nothing referring: one error line")


if __name__ == "__main__":
    main()
