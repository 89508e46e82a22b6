# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by run.sh, which sources this file
# A real Docker engine for tests/e2e/run.sh (sourced after lib.sh; uses run.sh's case plumbing).
#
# Debian's dockerd (docker.io) started by hand: vfs storage, no bridge, no iptables, its own data
# root, exec root and socket under the suite's temp dir, its own (empty) daemon.json. Stopped by its
# PID; what it writes outside the temp dir (/etc/docker/key.json, /run/docker, the registry CA in
# /etc/docker/certs.d/HOST:PORT) is removed unless it was there before. ../shared/TESTING.md has the
# recipe. Names a client may contact are mapped to 127.0.0.1 by the suite before dockerd starts.

ENGINE_PID=""
ENGINE_D=""
ENGINE_REAL_SOCK=""
ENGINE_WHY=""
ENGINE_LEFT=() # paths outside $T this suite created, removed by engine_stop

# Names BuildKit or a client might resolve even though no test needs them: mapped to 127.0.0.1
# so that nothing leaves the machine (TESTING.md: the resolver pitfall).
ENGINE_EXTRA_NAMES=(registry-1.docker.io index.docker.io auth.docker.io docker.io production.cloudflare.docker.com)

engine_remember() { # engine_remember PATH: remove PATH at the end unless it exists now
    [ -e "$1" ] || ENGINE_LEFT+=("$1")
}

# engine_start REGISTRY_HOST_PORT...: dockerd trusting the suite's CA for those registries.
engine_start() {
    command -v dockerd >/dev/null 2>&1 || { ENGINE_WHY="no dockerd (apt-get install docker.io)"; return 1; }
    ENGINE_D="$T/dockerd"
    mkdir -p "$ENGINE_D/data" "$ENGINE_D/exec"
    printf '{}\n' >"$ENGINE_D/daemon.json"
    engine_remember /etc/docker/key.json
    engine_remember /run/docker
    engine_remember /etc/docker/certs.d
    local r
    for r in "$@"; do
        engine_remember "/etc/docker/certs.d/$r"
        if ! { mkdir -p "/etc/docker/certs.d/$r" && cp "$T/certs/ca.crt" "/etc/docker/certs.d/$r/ca.crt"; }; then
            ENGINE_WHY="cannot write /etc/docker/certs.d/$r"
            return 1
        fi
    done
    ENGINE_REAL_SOCK="$ENGINE_D/docker.sock"
    # A clean environment: no proxy, no AWS variable of this machine reaches the engine.
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
        --data-root "$ENGINE_D/data" --exec-root "$ENGINE_D/exec" --pidfile "$ENGINE_D/dockerd.pid" \
        --config-file "$ENGINE_D/daemon.json" -H "unix://$ENGINE_REAL_SOCK" \
        >"$T/logs/dockerd.log" 2>&1 &
    ENGINE_PID=$!
    local i
    for i in $(seq 150); do
        env -i DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker version >/dev/null 2>&1 && return 0
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.2
    done
    ENGINE_WHY="dockerd did not answer (see $T/logs/dockerd.log: $(tail -n 2 "$T/logs/dockerd.log" | tr '\n' ' ' | head -c 300))"
    return 1
}

# Stops dockerd (and with it its containerd) by PID, unmounts what it left under $T, removes the
# paths outside $T it created. Safe to call twice; called from e2e_cleanup.
engine_stop() {
    if [ -n "$ENGINE_PID" ]; then
        local kids
        kids=$(cat "/proc/$ENGINE_PID/task/"*/children 2>/dev/null)
        kill -TERM "$ENGINE_PID" 2>/dev/null
        for _ in $(seq 150); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$ENGINE_PID" 2>/dev/null; then
            kill -9 "$ENGINE_PID" 2>/dev/null
            local k
            for k in $kids; do kill -9 "$k" 2>/dev/null; done
        fi
        wait "$ENGINE_PID" 2>/dev/null
        # Its containerd ends with it; wait for that too (by the PIDs it had).
        local k
        for k in $kids; do
            for _ in $(seq 50); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
        done
        ENGINE_PID=""
    fi
    if [ -n "$ENGINE_D" ]; then
        local m
        awk -v d="$ENGINE_D" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null
        done
    fi
    local p i
    for ((i = ${#ENGINE_LEFT[@]} - 1; i >= 0; i--)); do
        p=${ENGINE_LEFT[i]}
        case $p in
        /etc/docker/* | /run/docker) rm -rf "$p" ;;
        esac
    done
    ENGINE_LEFT=()
}

edocker() { crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker "$@"; }
# The engine's own docker CLI (Debian's 20.10, with BuildKit built in), not the newest on PATH.
edocker20() { crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" /usr/bin/docker "$@"; }
eimage_gone() { edocker image rm -f "$@" >/dev/null 2>&1 || true; }
eimage_has() { edocker image inspect "$1" >/dev/null 2>&1; }

ENGINE_IMAGE="" # $REG/e2e/engine:v1, built FROM scratch (busybox + hello.txt) and pushed

c_engine_push_credsstore() {
    ctx engine-push
    creds_store
    local b="$C/build"
    mkdir -p "$b"
    cp "$(command -v busybox)" "$b/busybox" || { fail "no busybox"; return 1; }
    printf '%s\n' "$NONCE" >"$b/hello.txt"
    printf 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello.txt /hello.txt\nENTRYPOINT ["/bin/busybox"]\n' >"$b/Dockerfile"
    ENGINE_IMAGE="$REG/e2e/engine:v1"
    crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" DOCKER_BUILDKIT=0 docker build -q -t "$ENGINE_IMAGE" "$b" ||
        { fail "docker build FROM scratch failed"; return 1; }
    edocker push "$ENGINE_IMAGE" || { fail "docker push with credsStore failed"; return 1; }
    ours_ran
    helpers_for "$REG" # skopeo reads credHelpers, not credsStore
    skopeo_inspect "$ENGINE_IMAGE" || fail "the pushed image is not in the registry"
}

# 401s the registry sent the engine (its access log: `"GET /v2/... HTTP/1.1" 401 ... "docker/..."`).
registry_401s() { grep -cE '" 401 [0-9]+ "[^"]*" "docker/' "$T/logs/registry-main.log" 2>/dev/null || true; }

c_engine_control() {
    ctx engine-control
    no_helper
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed"; return 1; }
    eimage_gone "$ENGINE_IMAGE"
    local n0 l0
    n0=$(registry_401s)
    l0=$(count_lines "$T/logs/registry-main.log")
    if edocker pull "$ENGINE_IMAGE"; then fail "dockerd pulled without credentials"; fi
    # dockerd retries a 127.0.0.0/8 registry over plain HTTP after the 401 (TESTING.md), so its
    # message names that retry; the registry's access log has the 401.
    [ "$(registry_401s)" -gt "$n0" ] || fail "the registry answered no 401 ($(tail -n 1 "$C/err"))"
    ! tail -n +"$((l0 + 1))" "$T/logs/registry-main.log" | grep -qE '/manifests/v1 HTTP/1.1" 200 [0-9]+ "[^"]*" "docker/' ||
        fail "the registry served the manifest to the engine"
    ! grep -qsE ': get: ' "$C"/ecr/log/ecr-login.*.log || fail "the helper ran although none is configured"
    ! eimage_has "$ENGINE_IMAGE" || fail "the image is there after a refused pull"
}

c_engine_pull_run_credhelpers() {
    ctx engine-pull
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed"; return 1; }
    eimage_gone "$ENGINE_IMAGE"
    edocker pull "$ENGINE_IMAGE" || { fail "docker pull with credHelpers failed"; return 1; }
    ours_ran
    edocker run --rm --network=none "$ENGINE_IMAGE" cat /hello.txt || { fail "docker run failed"; return 1; }
    [ "$(cat "$C/out")" = "$NONCE" ] || fail "the container printed: $(head -c 200 "$C/out")"
}

# engine_build NAME BUILDER...: docker build --pull of a FROM in the registry, the base removed
# first so that the build must pull it through the helper; the result run.
engine_build() {
    local name=$1 b
    shift
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed"; return 1; }
    b="$C/build"
    mkdir -p "$b"
    printf 'built by %s %s\n' "$name" "$NONCE" >"$b/built.txt"
    # No `# syntax=` line: BuildKit would resolve registry-1.docker.io for it.
    printf 'FROM %s\nCOPY built.txt /built.txt\n' "$ENGINE_IMAGE" >"$b/Dockerfile"
    eimage_gone "$ENGINE_IMAGE" "e2e/built-$name:v1"
    crun env DOCKER_HOST="unix://$ENGINE_REAL_SOCK" "$@" build --pull --network=none -t "e2e/built-$name:v1" "$b" ||
        { fail "docker build --pull ($name) failed: $(grep -iE 'error|denied|unauthorized' "$C/err" | tail -n 1)"; return 1; }
    ours_ran
    edocker run --rm --network=none "e2e/built-$name:v1" cat /built.txt /hello.txt || { fail "running the built image failed"; return 1; }
    [ "$(cat "$C/out")" = "$(printf 'built by %s %s\n%s' "$name" "$NONCE" "$NONCE")" ] ||
        fail "the built image holds: $(head -c 200 "$C/out")"
}

c_engine_build_legacy() {
    ctx engine-build-legacy
    engine_build legacy env DOCKER_BUILDKIT=0 docker
}

c_engine_build_buildkit() {
    ctx engine-build-buildkit
    engine_build buildkit env DOCKER_BUILDKIT=1 /usr/bin/docker
}

# containerd's ctr runs no helper: it gets the password from login-password (issue 12 §4).
c_engine_ctr_login_password() {
    ctx engine-ctr
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed"; return 1; }
    local sock="$ENGINE_D/exec/containerd/containerd.sock" pw
    [ -S "$sock" ] || { fail "no containerd socket at $sock"; return 1; }
    crun docker-credential-ecr-login login-password "$REG" || { fail "login-password failed"; return 1; }
    pw=$(cat "$C/out")
    [ "$pw" = "$MOTO_PASSWORD" ] || { fail "login-password printed another password"; return 1; }
    [ ! -s "$C/err" ] || fail "login-password wrote to stderr: $(cat "$C/err")"
    if crun ctr -a "$sock" -n ecr-e2e images pull --tlscacert "$T/certs/ca.crt" "$ENGINE_IMAGE"; then
        fail "ctr pulled without --user"
    fi
    crun ctr -a "$sock" -n ecr-e2e images pull --tlscacert "$T/certs/ca.crt" --user "AWS:$pw" "$ENGINE_IMAGE" ||
        { fail "ctr images pull --user AWS:\$(login-password) failed"; return 1; }
    crun ctr -a "$sock" -n ecr-e2e images ls -q
    grep -qxF "$ENGINE_IMAGE" "$C/out" || fail "ctr images ls lacks $ENGINE_IMAGE"
    crun ctr -a "$sock" -n ecr-e2e images rm "$ENGINE_IMAGE" || true
}

# docker login, as the AWS docs have it (`aws ecr get-login-password | docker login ...`), with a
# real engine: the engine checks the password with the registry, the CLI calls our store, which
# keeps nothing and says whose tokens come instead; the pull gets them; docker logout calls erase.
c_engine_login_pull_logout() {
    ctx engine-login
    creds_store
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed"; return 1; }
    eimage_gone "$ENGINE_IMAGE"
    crun docker-credential-ecr-login login-password "$REG" || { fail "login-password failed"; return 1; }
    env -i "${CENV[@]}" DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker login -u AWS --password-stdin "$REG" \
        <"$C/out" >"$C/login.out" 2>"$C/err" || { fail "docker login failed: $(tail -n 2 "$C/err")"; return 1; }
    grep -q 'Login Succeeded' "$C/login.out" || fail "no 'Login Succeeded'"
    helper_err_says "$REG_NAME" "the password was not kept" || fail "the CLI did not show the helper's line: $(cat "$C/err")"
    helper_err_says "$REG_NAME" "(environment keys)" || fail "the line names no identity"
    ! grep -qF "$MOTO_PASSWORD" "$C/docker/config.json" "$C/err" || fail "the password landed in config.json or stderr"
    grep -qs ' store ' "$C"/ecr/log/ecr-login.*.log || fail "docker login did not call our store"
    edocker pull "$ENGINE_IMAGE" || { fail "docker pull after docker login failed"; return 1; }
    ours_ran
    eimage_has "$ENGINE_IMAGE" || fail "no image after the pull"
    edocker logout "$REG" || fail "docker logout failed: $(tail -n 2 "$C/err")"
    helper_err_says "$REG_NAME" "nothing to erase" || fail "docker logout did not show the helper's line: $(cat "$C/err")"
    ! grep -qi 'could not erase\|not implemented' "$C/err" || fail "erase refused: $(cat "$C/err")"
}

# The README's CI recipes (GitHub Actions, GitLab CI, Buildkite), their shell steps as far as they
# run without the CI system (tests/e2e/ci_recipes.py): install from a local copy of the release
# (checksum checked; a wrong sum must stop the install), configure, pull, tag, push with no
# docker login, and login-password handed to a tool on stdin.
c_engine_ci_recipes() {
    ctx engine-ci
    [ -n "$ENGINE_IMAGE" ] || { fail "no image pushed"; return 1; }
    rm -f "$C/docker/config.json"
    local v a rel port name
    v=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
    a=$(uname -m)
    rel="$T/release"
    mkdir -p "$rel/v$v" "$C/bin" "$C/work"
    cp "$(readlink -f "$T/bin/docker-credential-ecr-login")" "$rel/v$v/docker-credential-ecr-login-$v-$a-linux"
    (cd "$rel/v$v" && sha256sum "docker-credential-ecr-login-$v-$a-linux" >SHA256SUMS)
    port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    e2e_bg release "$PY" -m http.server --bind 127.0.0.1 --directory "$rel" "$port"
    for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v$v/SHA256SUMS" >/dev/null 2>&1 && break; sleep 0.1; done
    "$PY" "$E2E_DIR/ci_recipes.py" "$ROOT/README.md" "$C" "http://127.0.0.1:$port" "$C/bin" "$REG" "$ENGINE_IMAGE" ||
        { fail "cannot extract the recipes from the README"; return 1; }
    grep -q "v=0.1.0" "$C/github.sh" || { fail "the recipes no longer pin v=0.1.0"; return 1; }
    for name in github gitlab buildkite; do
        sed -i "s/v=0.1.0/v=$v/" "$C/$name.sh"
        rm -f "$C/bin/docker-credential-ecr-login" "$C/docker/config.json" "$C"/work/*
        (cd "$C/work" && env -i "${CENV[@]}" PATH="$C/bin:$CLIENT_PATH" DOCKER_HOST="unix://$ENGINE_REAL_SOCK" \
            bash "$C/$name.sh") >"$C/out" 2>"$C/err" || { fail "$name recipe failed: $(tail -n 3 "$C/err" | tr '\n' ' ')"; return 1; }
        [ -x "$C/bin/docker-credential-ecr-login" ] || { fail "$name: nothing installed"; return 1; }
        grep -qF "\"$REG\": \"ecr-login\"" "$C/docker/config.json" || { fail "$name: configure wrote no credHelpers entry"; return 1; }
        grep -q 'Login Succeeded' "$C/out" || fail "$name: the password from login-password was refused"
        # GitHub's runner takes the ::add-mask:: line off the log; nothing else may show the password.
        if [ "$name" = github ]; then
            grep -qxF "::add-mask::$MOTO_PASSWORD" "$C/out" || fail "github: no ::add-mask:: line for the password"
        fi
        ! grep -vxF "::add-mask::$MOTO_PASSWORD" "$C/out" | grep -qF "$MOTO_PASSWORD" || fail "$name: the password was printed"
        ! grep -qF "$MOTO_PASSWORD" "$C/err" "$C/docker/config.json" || fail "$name: the password was printed or stored"
        edocker20 image inspect "$REG/e2e/ci-$name:e2e" >/dev/null || fail "$name: no tagged image"
        skopeo_inspect_as "$REG/e2e/ci-$name:e2e" || fail "$name: the pushed image is not in the registry"
    done
    # A wrong checksum stops the install before anything is installed.
    rm -f "$C/bin/docker-credential-ecr-login" "$C"/work/*
    printf '0%.0s' $(seq 64) >"$C/bad"
    echo "  docker-credential-ecr-login-$v-$a-linux" >>"$C/bad"
    cp "$C/bad" "$rel/v$v/SHA256SUMS"
    if (cd "$C/work" && env -i "${CENV[@]}" PATH="$C/bin:$CLIENT_PATH" DOCKER_HOST="unix://$ENGINE_REAL_SOCK" \
        bash "$C/github.sh") >"$C/out" 2>"$C/err"; then
        fail "the recipe installed a binary whose checksum is wrong"
    fi
    [ ! -e "$C/bin/docker-credential-ecr-login" ] || fail "a binary with a wrong checksum was installed"
}
# skopeo inspect with the registry's own credentials (the e2e's check, not the recipe's).
skopeo_inspect_as() { crun skopeo inspect --cert-dir "$T/certdir" --creds "AWS:$MOTO_PASSWORD" "docker://$1"; }

engine_versions() {
    local d c
    d=$(env -i DOCKER_HOST="unix://$ENGINE_REAL_SOCK" docker version --format '{{.Server.Version}}' 2>/dev/null)
    c=$(ctr --version 2>/dev/null | awk '{print $3}')
    echo "dockerd $d, containerd/ctr $c, docker CLI 20.10 for BuildKit $(/usr/bin/docker --version 2>/dev/null | awk '{print $3}' | tr -d ,)"
}

engine_cases() {
    local t0=$SECONDS
    if ! engine_start "$REG"; then
        local n
        for n in "engine: docker build FROM scratch + push with credsStore" "engine: control: no helper -> pull refused" \
            "engine: docker pull with credHelpers, the image run" "engine: docker build --pull, legacy builder" \
            "engine: docker build --pull, BuildKit --network=none" "engine: ctr images pull --user AWS:\$(login-password)" \
            "engine: docker login (nothing kept), pull, logout" "engine: the README's CI recipes (GitHub, GitLab, Buildkite)"; do
            run_case "$n" engine_unavailable
        done
        return
    fi
    echo "e2e: engine: $(engine_versions) [started in $((SECONDS - t0)) s]"
    run_case "engine: docker build FROM scratch + push with credsStore" c_engine_push_credsstore
    run_case "engine: control: no helper -> pull refused" c_engine_control
    run_case "engine: docker pull with credHelpers, the image run" c_engine_pull_run_credhelpers
    run_case "engine: docker build --pull, legacy builder" c_engine_build_legacy
    run_case "engine: docker build --pull, BuildKit --network=none" c_engine_build_buildkit
    run_case "engine: ctr images pull --user AWS:\$(login-password)" c_engine_ctr_login_password
    run_case "engine: docker login (nothing kept), pull, logout" c_engine_login_pull_logout
    run_case "engine: the README's CI recipes (GitHub, GitLab, Buildkite)" c_engine_ci_recipes
}

engine_unavailable() { fail "$ENGINE_WHY"; }
