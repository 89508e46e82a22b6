# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by run.sh, which sources this file
# More real clients for tests/e2e/run.sh (sourced after lib.sh and engine.sh): buildah (Debian),
# docker-compose (Debian), the Docker SDK for Python (PyPI docker) and oras-py (PyPI oras), each
# against the suite's registry with our helper as the only source of credentials. The engine cases
# (engine.sh) run first: the compose and SDK cases go through that dockerd and pull the image
# c_engine_push_credsstore pushed.

clients_install() { # the Python clients, into the suite's Python (pip, PyPI)
    "$PY" -c 'import docker, oras' 2>/dev/null && return 0
    e2e_log "installing docker (the Docker SDK for Python) and oras (oras-py)"
    "$PY" -m pip install --quiet 'docker>=7,<8' 'oras>=0.2,<0.3' >&2 ||
        "$PY" -m pip install --quiet --break-system-packages 'docker>=7,<8' 'oras>=0.2,<0.3' >&2 ||
        e2e_log "pip install docker oras failed: those cases will fail"
}

# The basic-auth realm of the suite's registries: a client that resolves it stays on loopback
# (TESTING.md: oras-py resolved its auth realm).
CLIENTS_EXTRA_NAMES=(ecr-e2e)

# The interpreter itself (a pyenv shim needs the real HOME, which clients do not get).
CPY=""
clients_python() { CPY=$("$PY" -c 'import sys; print(sys.executable)' 2>/dev/null); }

clients_versions() {
    local b dc sdk op
    b=$(buildah --version 2>/dev/null | awk '{print $3}')
    dc=$(docker-compose version --short 2>/dev/null)
    sdk=$("$PY" -c 'import docker; print(docker.__version__)' 2>/dev/null)
    op=$("$PY" -c 'import oras; print(oras.__version__)' 2>/dev/null)
    echo "buildah $b, docker-compose $dc, Docker SDK for Python $sdk, oras-py $op"
}

buildah_() {
    local p
    p="$T/b/$(basename "$C")"
    mkdir -p "$p"
    crun buildah --root "$p/r" --runroot "$p/rr" --storage-driver vfs "$@"
}

c_buildah_pull_push() {
    ctx buildah
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed by the engine cases"; return 1; }
    buildah_ pull --cert-dir "$T/certdir" "$ENGINE_IMAGE" || { fail "buildah pull failed"; return 1; }
    ours_ran || return 1
    buildah_ push --cert-dir "$T/certdir" "$ENGINE_IMAGE" "docker://$REG/e2e/buildah:v1" ||
        { fail "buildah push failed"; return 1; }
    skopeo_inspect "$REG/e2e/buildah:v1" || fail "the pushed image is not in the registry"
}

c_compose_pull_build_push() {
    ctx compose
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed by the engine cases"; return 1; }
    local d="$C/compose"
    mkdir -p "$d/ctx"
    printf 'FROM %s\nCOPY built.txt /built.txt\n' "$ENGINE_IMAGE" >"$d/ctx/Dockerfile"
    printf 'built by compose %s\n' "$NONCE" >"$d/ctx/built.txt"
    cat >"$d/docker-compose.yml" <<EOF
version: "3"
services:
  app:
    image: $ENGINE_IMAGE
    network_mode: none
  built:
    build: ./ctx
    image: $REG/e2e/compose:v1
    network_mode: none
EOF
    eimage_gone "$ENGINE_IMAGE" "$REG/e2e/compose:v1"
    crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker-compose -f "$d/docker-compose.yml" pull app ||
        { fail "docker-compose pull failed"; return 1; }
    eimage_has "$ENGINE_IMAGE" || { fail "the pulled image is not in the engine"; return 1; }
    ours_ran || return 1
    eimage_gone "$ENGINE_IMAGE"
    crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker-compose -f "$d/docker-compose.yml" build --pull built ||
        { fail "docker-compose build --pull failed"; return 1; }
    crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker-compose -f "$d/docker-compose.yml" push built ||
        { fail "docker-compose push failed"; return 1; }
    skopeo_inspect "$REG/e2e/compose:v1" || fail "the pushed image is not in the registry"
}

c_docker_sdk_pull_push() {
    ctx docker-sdk
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed by the engine cases"; return 1; }
    eimage_gone "$ENGINE_IMAGE"
    cat >"$C/sdk.py" <<'EOF'
import sys, docker
url, repo, tag, dest = sys.argv[1:5]
c = docker.DockerClient(base_url=url)
img = c.images.pull(repo, tag=tag)
img.tag(dest, tag=tag)
for line in c.images.push(dest, tag=tag, stream=True, decode=True):
    if "error" in line or "errorDetail" in line:
        sys.exit("push: %s" % line.get("error") or line)
print(img.id)
EOF
    crun "$CPY" "$C/sdk.py" "unix://$ENGINE_REAL_SOCK" "$REG/e2e/engine" v1 "$REG/e2e/sdk" ||
        { fail "Docker SDK: $(tail -n 1 "$C/err")"; return 1; }
    ours_ran || return 1
    skopeo_inspect "$REG/e2e/sdk:v1" || fail "the pushed image is not in the registry"
}

c_oras_py_push_pull() {
    ctx oras-py
    # oras-py reads only ~/.docker/config.json (not DOCKER_CONFIG).
    mkdir -p "$C/home/.docker" "$C/oras/in" "$C/oras/out"
    cp "$C/docker/config.json" "$C/home/.docker/config.json"
    printf '%s\n' "$NONCE" >"$C/oras/in/artifact.txt"
    CENV+=(REQUESTS_CA_BUNDLE="$T/certs/ca.crt")
    cat >"$C/oras_case.py" <<'EOF'
import sys, oras.client
reg, target, outdir = sys.argv[1:4]
oras.client.OrasClient(hostname=reg, auth_backend="basic").push(files=["artifact.txt"], target=target)
print(oras.client.OrasClient(hostname=reg, auth_backend="basic").pull(target=target, outdir=outdir))
EOF
    (cd "$C/oras/in" && crun "$CPY" "$C/oras_case.py" "$REG" "$REG/e2e/oras:v1" "$C/oras/out") ||
        { fail "oras-py: $(tail -n 1 "$C/err")"; return 1; }
    ours_ran || return 1
    [ "$(cat "$C/oras/out/artifact.txt" 2>/dev/null)" = "$NONCE" ] || fail "the pulled artifact differs"
}

clients_cases() {
    local t0=$SECONDS
    clients_python
    echo "e2e: clients: $(clients_versions) [ready in $((SECONDS - t0)) s]"
    run_case "buildah pull + push with credHelpers" c_buildah_pull_push
    run_case "docker-compose pull, build --pull FROM the registry, push (real engine)" c_compose_pull_build_push
    run_case "Docker SDK for Python: images.pull + push through the engine" c_docker_sdk_pull_push
    run_case "oras-py: push + pull an artifact (basic auth backend)" c_oras_py_push_pull
}
