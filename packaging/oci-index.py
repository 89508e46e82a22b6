#!/usr/bin/env python3
"""make image-index: the FROM scratch image for linux/amd64 and linux/arm64 as one OCI image index.

    packaging/oci-index.py OUT_DIR VERSION COMMIT SOURCE_DATE_EPOCH amd64=BIN arm64=BIN

Writes an OCI image layout in OUT_DIR (index.json -> an image index with one manifest per
platform), assembled offline from the static binaries `make static-all` built: no daemon, no
emulated build stage, standard library only. Each image holds what the Dockerfile's runtime stage
holds, with the same config (USER 65532:65532, HOME, WORKDIR, ENTRYPOINT, CMD, the OCI labels):
the binary, the CA bundle (this machine's /etc/ssl/certs/ca-certificates.crt, Debian's, as in the
Dockerfile's bookworm build stage), passwd/group naming nonroot, nsswitch.conf, /home/nonroot
(0700, 65532) and the kubelet provider's link. Layers are reproducible: sorted entries, owners
numeric, mtimes at SOURCE_DATE_EPOCH, gzip without name or time. `skopeo copy --all
oci:OUT_DIR:VERSION docker://...` pushes the index (packaging/check-image-index.sh does, to a local
registry, and pulls each platform back)."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

BIN = "docker-credential-ecr-login"
KUBELET = "usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec"
OCI = "application/vnd.oci.image."


def blob(root, data, media_type, **extra):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return dict({"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}, **extra)


def layer_tar(binary, mtime):
    ca = open("/etc/ssl/certs/ca-certificates.crt", "rb").read()
    files = {
        "etc/passwd": b"root:x:0:0:root:/root:/sbin/nologin\n"
        b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        "etc/group": b"root:x:0:\nnonroot:x:65532:\n",
        "etc/nsswitch.conf": b"hosts: files dns\n",
        "etc/ssl/certs/ca-certificates.crt": ca,
    }
    entries = []  # (name, type, mode, uid, data or link target)
    for d in ("etc", "etc/ssl", "etc/ssl/certs", "usr", "usr/libexec", "usr/libexec/kubernetes",
              "usr/libexec/kubernetes/kubelet-plugins",
              "usr/libexec/kubernetes/kubelet-plugins/credential-provider", KUBELET, "home"):
        entries.append((d, tarfile.DIRTYPE, 0o755, 0, None))
    entries.append(("home/nonroot", tarfile.DIRTYPE, 0o700, 65532, None))
    for name, data in files.items():
        entries.append((name, tarfile.REGTYPE, 0o644, 0, data))
    entries.append((BIN, tarfile.REGTYPE, 0o755, 0, open(binary, "rb").read()))
    entries.append((KUBELET + "/ecr-credential-provider", tarfile.SYMTYPE, 0o777, 0, "/" + BIN))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, mode, uid, data in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, mtime
            info.uid = info.gid = uid
            info.uname = info.gname = ""
            if kind == tarfile.SYMTYPE:
                info.linkname = data
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return raw.getvalue()


def main():
    out, version, commit, epoch = sys.argv[1:5]
    bins = dict(a.split("=", 1) for a in sys.argv[5:])
    mtime = int(epoch)
    created = __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(mtime))
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for arch in ("amd64", "arm64"):
        if arch not in bins:
            continue
        tar_bytes = layer_tar(bins[arch], mtime)
        gz = io.BytesIO()
        with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="") as g:
            g.write(tar_bytes)
        layer = blob(out, gz.getvalue(), OCI + "layer.v1.tar+gzip")
        config = {
            "created": created,
            "architecture": arch,
            "os": "linux",
            "config": {
                "User": "65532:65532",
                "Env": ["HOME=/home/nonroot"],
                "WorkingDir": "/home/nonroot",
                "Entrypoint": ["/" + BIN],
                "Cmd": ["--help"],
                "Labels": {
                    "org.opencontainers.image.title": BIN,
                    "org.opencontainers.image.description":
                        "Docker credential helper for Amazon ECR and ECR Public (static Rust build)",
                    "org.opencontainers.image.version": version,
                    "org.opencontainers.image.revision": commit,
                    "org.opencontainers.image.source":
                        "https://github.com/example/docker-credential-ecr-login",
                    "org.opencontainers.image.licenses": "Apache-2.0",
                },
            },
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
            "history": [{"created": created, "created_by": "packaging/oci-index.py " + arch}],
        }
        if arch == "arm64":
            config["variant"] = "v8"
        cfg = blob(out, json.dumps(config, sort_keys=True).encode(), OCI + "config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": OCI + "manifest.v1+json", "config": cfg,
                    "layers": [layer]}
        platform = {"architecture": arch, "os": "linux"}
        if arch == "arm64":
            platform["variant"] = "v8"
        manifests.append(blob(out, json.dumps(manifest, sort_keys=True).encode(),
                              OCI + "manifest.v1+json", platform=platform))
    index = {"schemaVersion": 2, "mediaType": OCI + "index.v1+json", "manifests": manifests}
    idx = blob(out, json.dumps(index, sort_keys=True).encode(), OCI + "index.v1+json",
               annotations={"org.opencontainers.image.ref.name": version})
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": OCI + "index.v1+json", "manifests": [idx]}, f)
    print(idx["digest"])


if __name__ == "__main__":
    main()
