#!/usr/bin/env bash
# CI (check-dist, after release, deb and rpm): the apt and dnf repositories of `make repo`, as
# users meet them, served over HTTP on loopback (python3 -m http.server, 127.0.0.1, a port the
# kernel picks). Root: it installs and removes packages on this machine (apt) and so refuses to run
# when either package is installed here already; everything else lives in a temporary directory.
#   key      a throw-away GPG signing key (gpg --quick-gen-key, no passphrase), in its own GNUPGHOME
#   apt      a sources file and keyring of their own (Dir::Etc::sourcelist, sourceparts=-,
#            Dir::State::Lists and Dir::Cache under the temporary directory: the system's lists
#            are not read or changed). A keyring of another key makes `apt-get update` fail. Then:
#            the Go helper's package installed first (a stand-in: see below), `apt-get install
#            docker-credential-ecr-login` replaces it (Conflicts/Replaces/Provides), an upgrade to
#            a newer revision built in this run (`apt-get upgrade`), and the way back: `apt-get
#            install amazon-ecr-credential-helper` removes ours and brings back its binary.
#   dnf      `dnf --installroot` with only the repository's own .repo file (reposdir of its own,
#            gpgcheck and repo_gpgcheck on): install, run, `dnf upgrade` to the newer release; a
#            key that did not sign repomd.xml makes it fail.
# Debian's amazon-ecr-credential-helper is only in Debian's online archive, and CI's apt test must
# read this repository alone: so a stand-in .deb of the same name and version, shipping the same
# /usr/bin/docker-credential-ecr-login (a script), is built here and served as a second, flat,
# repository. GO_HELPER_DEB=path/to/amazon-ecr-credential-helper_*.deb uses a real one instead
# (`apt-get download amazon-ecr-credential-helper`).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?VERSION is not set (run through make)}"
: "${ARCHES:=x86_64}"
export BIN VERSION
MAKE=${MAKE:-make}
GO_PKG=amazon-ecr-credential-helper
start=$(date +%s) step_start=$(date +%s)
fail() {
    echo "check-repo: FAIL: $*" >&2
    exit 1
}
ok() {
    echo "ok - $* ($(($(date +%s) - step_start)) s)"
    step_start=$(date +%s)
}
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

missing=()
for tool in apt-ftparchive:apt-utils createrepo_c:createrepo-c gpg:gpg dnf:dnf rpmsign:rpm; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "check-repo: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "$BIN" "$GO_PKG"; do
    installed "$p" && fail "$p is installed on this machine; this check installs and removes it: remove it first"
done
[ -e "/usr/bin/$BIN" ] && fail "/usr/bin/$BIN exists on this machine (not from a package); this check installs one there"

tmp=$(mktemp -d /tmp/check-repo.XXXXXX)
chmod 0755 "$tmp" # apt's download sandbox (_apt) reads and writes below it
export GNUPGHOME=$tmp/gnupg
server_pid=""
cleanup() {
    local rc=$?
    for p in "$BIN" "$GO_PKG"; do
        if installed "$p" || [ -n "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | tr -d ' ')" ]; then
            dpkg --purge "$p" >/dev/null 2>&1 || echo "check-repo: could not purge $p" >&2
        fi
    done
    [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
    # Our key's gpg-agent, and those librepo starts for dnf's key rings in its cache.
    gpgconf --kill gpg-agent 2>/dev/null || true
    find "$tmp" -type d -name pubring 2>/dev/null | while read -r d; do
        gpgconf --homedir "$d" --kill gpg-agent 2>/dev/null || true
    done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

# ---- keys, server, packages ----
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "$BIN CI repository key (throw-away) <ci@$BIN.invalid>" rsa3072 sign 1d 2>/dev/null
key=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
other_home=$tmp/gnupg-other
mkdir -m 0700 "$other_home"
GNUPGHOME=$other_home gpg --batch --quiet --passphrase '' --quick-gen-key "other key <other@$BIN.invalid>" rsa3072 sign 1d 2>/dev/null
GNUPGHOME=$other_home gpg --batch --export >"$tmp/other.gpg"
GNUPGHOME=$other_home gpg --batch --armor --export >"$tmp/other.asc"
GNUPGHOME=$other_home gpgconf --kill gpg-agent 2>/dev/null || true
ok "throw-away GPG keys (signing key $key)"

www=$tmp/www
mkdir -p "$www"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$www" >"$tmp/http.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$tmp/http.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "http.server did not start: $(cat "$tmp/http.log")"
url=http://127.0.0.1:$port
echo "check-repo: serving $www at $url"

# The newer version, packaged again from the same x86_64 binary (what this machine installs):
# the next Debian revision and RPM release.
next=$tmp/next
: "${STATIC_BIN:?STATIC_BIN is not set (run through make)}"
DEB_REVISION=2 DIST=$next ARCH=x86_64 packaging/deb/build.sh >/dev/null
RPM_RELEASE=2 DIST=$next ARCH=x86_64 packaging/rpm/build.sh >/dev/null
ls "$next/${BIN}_$VERSION-2_amd64.deb" "$next/$BIN-$VERSION-2.x86_64.rpm" >/dev/null
# The Go helper's Debian package, or a stand-in of its name, version and file.
debian=$www/debian
mkdir -p "$debian"
if [ -n "${GO_HELPER_DEB:-}" ]; then
    cp "$GO_HELPER_DEB" "$debian/"
    go_marker=""
else
    sroot=$tmp/standin
    install -d "$sroot/DEBIAN" "$sroot/usr/bin"
    printf '#!/bin/sh\necho "%s stand-in (the Go helper)"\n' "$GO_PKG" >"$sroot/usr/bin/$BIN"
    chmod 0755 "$sroot/usr/bin/$BIN"
    printf '%s\n' "Package: $GO_PKG" "Version: 0.6.0-1+b2" "Architecture: amd64" \
        "Maintainer: check-repo <ci@$BIN.invalid>" "Description: stand-in for Debian's $GO_PKG" \
        " Ships /usr/bin/$BIN, as the real package does." >"$sroot/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$sroot" "$debian/${GO_PKG}_0.6.0-1+b2_amd64.deb" >/dev/null
    go_marker="$GO_PKG stand-in"
fi
(cd "$debian" && apt-ftparchive packages . >Packages)
ok "newer revision built ($VERSION-2), $GO_PKG served as a flat repository"

# ---- make repo ----
repo_build() {
    $MAKE --no-print-directory -s repo DIST="$DIST" ARCHES="$ARCHES" REPO="$www/ecr" REPO_URL="$url/ecr" \
        REPO_GPG_KEY="$key" "$@"
}
repo_build
grep -q '^-----BEGIN PGP SIGNED MESSAGE-----' "$www/ecr/apt/dists/stable/InRelease" || fail "InRelease is not clearsigned"
gpgv --keyring "$www/ecr/apt/$BIN.gpg" "$www/ecr/apt/dists/stable/InRelease" 2>/dev/null || fail "InRelease does not verify"
for a in amd64 arm64; do
    grep -qx "Package: $BIN" "$www/ecr/apt/dists/stable/main/binary-$a/Packages" || fail "no $a package in the apt repository"
done
ok "make repo: apt (amd64, arm64; InRelease verifies with gpgv) and dnf repositories"

# ---- apt ----
aptdir=$tmp/apt
mkdir -p "$aptdir/sources.list.d" "$aptdir/keyrings" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
cp "$www/ecr/apt/$BIN.gpg" "$aptdir/keyrings/$BIN.gpg"
sources=$aptdir/sources.list.d/$BIN.sources
# The sources entry users write (the one make repo publishes), with our keyring's path.
sed "s|^Signed-By: .*|Signed-By: $aptdir/keyrings/$BIN.gpg|" "$www/ecr/apt/$BIN.sources" >"$sources"
printf '\nTypes: deb\nURIs: %s/debian\nSuites: ./\nTrusted: yes\n' "$url" >>"$sources"
apt_opts=(-o "Dir::Etc::sourcelist=$sources" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache" -o APT::Get::List-Cleanup=0 -o Acquire::Languages=none)
# apt-get reads a deb822 file only by its name's .sources ending, also as Dir::Etc::sourcelist.
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -q "${apt_opts[@]}" "$@"; }

# Signed by a key the keyring does not hold: apt-get update refuses the repository.
sed "s|^Signed-By: .*|Signed-By: $tmp/other.gpg|" "$www/ecr/apt/$BIN.sources" >"$aptdir/wrong.sources"
if DEBIAN_FRONTEND=noninteractive apt-get -q "${apt_opts[@]}" -o "Dir::Etc::sourcelist=$aptdir/wrong.sources" update >"$tmp/wrong.log" 2>&1; then
    cat "$tmp/wrong.log"
    fail "apt-get update accepted a repository signed by a key not in its signed-by keyring"
fi
grep -q 'NO_PUBKEY\|not signed' "$tmp/wrong.log" || { cat "$tmp/wrong.log"; fail "apt-get update failed, but not on the signature"; }
ok "apt-get update refuses InRelease with another key's keyring ($(grep -o 'NO_PUBKEY [0-9A-F]*\|is not signed' "$tmp/wrong.log" | head -n 1))"

apt_get update >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log"; fail "apt-get update"; }
grep -q '^W:' "$tmp/update.log" && { cat "$tmp/update.log"; fail "apt-get update warned"; }
apt_get install -y --no-install-recommends "$GO_PKG" >"$tmp/go.log" 2>&1 || { cat "$tmp/go.log"; fail "apt-get install $GO_PKG"; }
installed "$GO_PKG" || fail "$GO_PKG is not installed"
[ "$(dpkg -S "/usr/bin/$BIN" | cut -d: -f1)" = "$GO_PKG" ] || fail "/usr/bin/$BIN belongs to $(dpkg -S "/usr/bin/$BIN")"
[ -z "$go_marker" ] || [ "$("/usr/bin/$BIN")" = "$go_marker (the Go helper)" ] || fail "/usr/bin/$BIN is not the Go helper's"
ok "apt-get install $GO_PKG: /usr/bin/$BIN is the Go helper's"

apt_get install -y "$BIN" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "apt-get install $BIN"; }
grep -A3 'will be REMOVED' "$tmp/install.log" | grep -qw "$GO_PKG" || { cat "$tmp/install.log"; fail "apt-get did not say it removes $GO_PKG"; }
installed "$BIN" || fail "$BIN is not installed"
installed "$GO_PKG" && fail "$GO_PKG is still installed beside $BIN"
[ "$(dpkg-query -W -f='${Version}' "$BIN")" = "$VERSION-1" ] || fail "installed $(dpkg-query -W -f='${Version}' "$BIN"), want $VERSION-1"
[ "$(dpkg -S "/usr/bin/$BIN" | cut -d: -f1)" = "$BIN" ] || fail "/usr/bin/$BIN belongs to $(dpkg -S "/usr/bin/$BIN")"
"/usr/bin/$BIN" version | grep -q "^$BIN $VERSION" || fail "/usr/bin/$BIN version: $("/usr/bin/$BIN" version 2>&1)"
ok "apt-get install $BIN $VERSION-1 from the signed repository replaces $GO_PKG (removed; /usr/bin/$BIN is ours and runs)"

# A newer version published: apt-get upgrade, as with the rest of the system.
repo_build REPO_FROM="$DIST $next"
apt_get update >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log"; fail "apt-get update (newer version)"; }
apt_get upgrade -y >"$tmp/upgrade.log" 2>&1 || { cat "$tmp/upgrade.log"; fail "apt-get upgrade"; }
grep -q '^1 upgraded, 0 newly installed, 0 to remove' "$tmp/upgrade.log" || { cat "$tmp/upgrade.log"; fail "apt-get upgrade did not upgrade exactly one package"; }
[ "$(dpkg-query -W -f='${Version}' "$BIN")" = "$VERSION-2" ] || fail "after upgrade: $(dpkg-query -W -f='${Version}' "$BIN"), want $VERSION-2"
"/usr/bin/$BIN" version | grep -q "^$BIN $VERSION" || fail "/usr/bin/$BIN does not run after the upgrade"
ok "apt-get upgrade: $VERSION-1 -> $VERSION-2"

# The way back: the Go helper's package again.
apt_get install -y --no-install-recommends "$GO_PKG" >"$tmp/back.log" 2>&1 || { cat "$tmp/back.log"; fail "apt-get install $GO_PKG (the way back)"; }
installed "$GO_PKG" || fail "$GO_PKG is not installed after the way back"
installed "$BIN" && fail "$BIN is still installed after apt-get install $GO_PKG"
[ "$(dpkg -S "/usr/bin/$BIN" | cut -d: -f1)" = "$GO_PKG" ] || fail "/usr/bin/$BIN belongs to $(dpkg -S "/usr/bin/$BIN")"
[ -z "$go_marker" ] || [ "$("/usr/bin/$BIN")" = "$go_marker (the Go helper)" ] || fail "/usr/bin/$BIN is not the Go helper's after the way back"
dpkg --purge "$GO_PKG" >/dev/null
[ -e "/usr/bin/$BIN" ] && fail "/usr/bin/$BIN left after purging both packages"
ok "the way back: apt-get install $GO_PKG removes $BIN and restores its /usr/bin/$BIN; purged, nothing left"

# ---- dnf ----
# Only the repository's own .repo file (baseurl and gpgkey under $url), in a reposdir of its own.
dnf_run() {
    local root=$1 reposdir=$2
    shift 2
    dnf -y -q --installroot="$root" --releasever=1 --setopt=reposdir="$reposdir" \
        --setopt=cachedir="$root.cache" --setopt=install_weak_deps=0 --setopt=skip_if_unavailable=0 "$@"
}
mkdir -p "$tmp/repos.d" "$tmp/repos-wrong.d"
cp "$www/ecr/rpm/$BIN.repo" "$tmp/repos.d/"
{ grep -qx 'gpgcheck=1' "$tmp/repos.d/$BIN.repo" && grep -qx 'repo_gpgcheck=1' "$tmp/repos.d/$BIN.repo"; } || fail "the .repo file does not check signatures"
cp "$tmp/other.asc" "$www/other.asc"
sed "s|^gpgkey=.*|gpgkey=$url/other.asc|" "$www/ecr/rpm/$BIN.repo" >"$tmp/repos-wrong.d/$BIN.repo"
if dnf_run "$tmp/dnfroot-wrong" "$tmp/repos-wrong.d" install "$BIN" >"$tmp/dnf-wrong.log" 2>&1; then
    cat "$tmp/dnf-wrong.log"
    fail "dnf installed from a repository whose repomd.xml another key signed"
fi
grep -q 'repomd.xml GPG signature verification error' "$tmp/dnf-wrong.log" || { cat "$tmp/dnf-wrong.log"; fail "dnf failed, but not on repomd.xml's signature"; }
ok "dnf refuses the repository when repomd.xml.asc is not by the .repo's gpgkey"

root=$tmp/dnfroot
# Published (make repo above) with the newer release too: install the older one by version first.
repo_build
dnf_run "$root" "$tmp/repos.d" install "$BIN" >"$tmp/dnf.log" 2>&1 || { cat "$tmp/dnf.log"; fail "dnf --installroot install $BIN"; }
[ "$(rpm --root "$root" -q --qf '%{VERSION}-%{RELEASE}' "$BIN")" = "$VERSION-1" ] || fail "dnf installed $(rpm --root "$root" -q "$BIN")"
"$root/usr/bin/$BIN" version | grep -q "^$BIN $VERSION" || fail "the binary dnf installed does not run"
rpm --root "$root" -q gpg-pubkey >/dev/null || fail "dnf did not import the repository key"
ok "dnf --installroot install $BIN $VERSION-1 (gpgcheck, repo_gpgcheck; key imported from the .repo's gpgkey) runs"
repo_build REPO_FROM="$DIST $next"
dnf_run "$root" "$tmp/repos.d" --refresh upgrade >"$tmp/dnf-up.log" 2>&1 || { cat "$tmp/dnf-up.log"; fail "dnf upgrade"; }
[ "$(rpm --root "$root" -q --qf '%{VERSION}-%{RELEASE}' "$BIN")" = "$VERSION-2" ] || fail "dnf upgrade: $(rpm --root "$root" -q "$BIN")"
ok "dnf upgrade: $VERSION-1 -> $VERSION-2"
echo "check-repo: passed in $(($(date +%s) - start)) s"
