#!/usr/bin/env python3
"""Builds a one-layer OCI image layout by hand: mkimage.py DIR TAG CONTENT

The layer holds /hello.txt with CONTENT, so a pulled copy can be checked byte for byte.
No network, no daemon, standard library only."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(root, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def main():
    root, tag, content = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(tar_bytes)
    layer = blob(root, gz.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip")

    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "tests/e2e/mkimage.py"}],
    }
    cfg = blob(root, json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    man = blob(root, json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
    man["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(root, "index.json"), "w", encoding="utf-8") as f:
        json.dump({"schemaVersion": 2, "manifests": [man]}, f)
    with open(os.path.join(root, "oci-layout"), "w", encoding="utf-8") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(man["digest"])


if __name__ == "__main__":
    main()
