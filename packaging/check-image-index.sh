#!/usr/bin/env bash
# make check-image-index (and check-dist's "image-index" step): the OCI image index for
# linux/amd64 + linux/arm64, assembled offline by packaging/oci-index.py from the static binaries,
# pushed with `skopeo copy --all` to a local registry (Debian's docker-registry on 127.0.0.1, plain
# HTTP, its storage in a temporary directory), then pulled back per platform (--override-arch) and
# checked: the index lists both platforms, each pulled image's binary is that architecture's
# static binary byte for byte and runs (the arm64 one under qemu-aarch64-static), the config has
# the Dockerfile's user, entrypoint and version label; then the image's SBOM is attached to the
# index as an OCI 1.1 artifact and read back (below). Stops the registry and removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${VERSION:?}" "${COMMIT:=}" "${SOURCE_DATE_EPOCH:?}" "${TARGET_DIR:=$PWD/target}"
fail() { echo "check-image-index: FAIL: $*" >&2; exit 1; }
for cmd in skopeo docker-registry jq; do
    command -v $cmd >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo docker-registry jq >/dev/null
        break
    }
done
tmp=$(mktemp -d)
reg_pid=""
trap '[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

amd64=$TARGET_DIR/x86_64-unknown-linux-gnu/release/$BIN
arm64=$TARGET_DIR/aarch64-unknown-linux-gnu/release/$BIN
index=$(python3 packaging/oci-index.py "$tmp/oci" "$VERSION" "$COMMIT" "$SOURCE_DATE_EPOCH" amd64="$amd64" arm64="$arm64")
echo "image index $index (oci:$tmp/oci:$VERSION)"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$tmp/registry" "$port" >"$tmp/registry.yml"
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
ref=docker://127.0.0.1:$port/$BIN:$VERSION
skopeo copy --quiet --all --dest-tls-verify=false "oci:$tmp/oci:$VERSION" "$ref"
skopeo inspect --raw --tls-verify=false "$ref" >"$tmp/index.json"
[ "$(jq -r .mediaType "$tmp/index.json")" = application/vnd.oci.image.index.v1+json ] ||
    fail "the registry does not hold an image index: $(cat "$tmp/index.json")"
[ "$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | sort | join(" ")' "$tmp/index.json")" = "linux/amd64 linux/arm64" ] ||
    fail "index platforms: $(jq -c '[.manifests[].platform]' "$tmp/index.json")"
[ "sha256:$(sha256sum <"$tmp/index.json" | cut -d' ' -f1)" = "$index" ] || fail "the pushed index is not the one assembled"
echo "ok - pushed $ref: an OCI image index for linux/amd64 and linux/arm64 ($index)"

for arch in amd64 arm64; do
    want=$amd64 runner="" machine=x86-64
    [ $arch = arm64 ] && want=$arm64 runner=qemu-aarch64-static machine="ARM aarch64"
    skopeo copy --quiet --override-os linux --override-arch $arch --src-tls-verify=false "$ref" "dir:$tmp/pull-$arch"
    cfg=$(jq -r .config.digest "$tmp/pull-$arch/manifest.json")
    cfg=$tmp/pull-$arch/${cfg#sha256:}
    [ "$(jq -r .architecture "$cfg")" = $arch ] || fail "$arch pull got a $(jq -r .architecture "$cfg") image"
    [ "$(jq -r '.config.User + " " + (.config.Entrypoint | join(" ")) + " " + .config.Labels["org.opencontainers.image.version"]' "$cfg")" = "65532:65532 /$BIN $VERSION" ] ||
        fail "$arch config: $(jq -c .config "$cfg")"
    layer=$(jq -r '.layers[0].digest' "$tmp/pull-$arch/manifest.json")
    mkdir -p "$tmp/root-$arch"
    tar -xzf "$tmp/pull-$arch/${layer#sha256:}" -C "$tmp/root-$arch"
    file -b "$tmp/root-$arch/$BIN" | grep -q "$machine.*statically linked" || fail "$arch image binary: $(file -b "$tmp/root-$arch/$BIN")"
    cmp -s "$tmp/root-$arch/$BIN" "$want" || fail "$arch image binary is not $want"
    v=$($runner "$tmp/root-$arch/$BIN" version) || fail "$arch image binary does not run"
    # The listing first, then grep: `tar | grep -q` under pipefail fails when grep's early exit
    # cuts tar off (SIGPIPE).
    listing=$(tar -tvzf "$tmp/pull-$arch/${layer#sha256:}")
    grep -q '^drwx------ 65532/65532 .* home/nonroot/\?$' <<<"$listing" || fail "$arch image: /home/nonroot"
    [ "$(readlink "$tmp/root-$arch/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider")" = "/$BIN" ] ||
        fail "$arch image: kubelet provider link"
    echo "ok - pulled linux/$arch: $(jq -r .architecture "$cfg") config, user 65532, the $arch static binary ($v${runner:+ under $runner})"
done

# The image's SBOM (issue 24): packaging/sbom.py --image, attached to the index as an OCI 1.1
# artifact (subject = the index; the referrers tag sha256-<hex> where the registry has no
# referrers API: Debian's docker-registry has none), then found again from the index digest as a
# client finds it (packaging/oci-sbom.py), byte for byte, and checked (packaging/check-sbom.py).
python3 packaging/sbom.py --image "$tmp/image.cdx.json" "$tmp/index.json" \
    x86_64-unknown-linux-gnu="$amd64" aarch64-unknown-linux-gnu="$arm64"
python3 packaging/oci-sbom.py push "127.0.0.1:$port" "$BIN" "$tmp/index.json" "$tmp/image.cdx.json"
python3 packaging/oci-sbom.py pull "127.0.0.1:$port" "$BIN" "$tmp/index.json" "$tmp/image-pulled.cdx.json"
cmp -s "$tmp/image.cdx.json" "$tmp/image-pulled.cdx.json" || fail "the SBOM read back is not the one pushed"
python3 packaging/check-sbom.py --image "$tmp/image-pulled.cdx.json" "$tmp/index.json" "$amd64" "$arm64" ||
    fail "image SBOM"
echo "ok - the image's SBOM: an OCI artifact whose subject is the index $index, pushed and read back"
# The other path of oci-sbom.py, a registry with the referrers API (an in-memory one).
python3 packaging/test-oci-sbom.py
