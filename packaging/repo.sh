#!/usr/bin/env bash
# make repo: signed apt and dnf repositories in $REPO (default dist/repo) from the packages in
# $DIST (make deb rpm first), for a web server to publish as they are (README, "Install from the apt
# or dnf repository"; docs/security.md).
#   $REPO/apt/   pool/main/*.deb; dists/stable/main/binary-{amd64,arm64}/Packages(.gz), made by
#                apt-ftparchive; dists/stable/Release signed inline (InRelease) and detached
#                (Release.gpg); the public key as a keyring for `signed-by`
#                (docker-credential-ecr-login.gpg, and .asc); docker-credential-ecr-login.sources,
#                the deb822 sources entry for $REPO_URL/apt
#   $REPO/rpm/   the .rpm packages, each signed (rpmsign: gpgcheck), repodata/ by createrepo_c,
#                repodata/repomd.xml.asc (repo_gpgcheck); RPM-GPG-KEY-docker-credential-ecr-login;
#                docker-credential-ecr-login.repo, the dnf repository file for $REPO_URL/rpm
# Every .deb and .rpm of $BIN found in REPO_FROM (directories, default $DIST) goes in, so older
# versions kept there stay installable; this version's packages for every ARCHES must be there.
# The signing key: REPO_GPG_KEY, a key id or fingerprint in gpg's keyring (GNUPGHOME is honoured;
# gpg-agent asks for its passphrase). Signed copies of the .rpm files are made under $REPO: the
# packages in $DIST are left as built (reproducible, and in SHA256SUMS).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN:=docker-credential-ecr-login}" "${DIST:=dist}" "${VERSION:?VERSION is not set (run through make)}"
: "${REPO:=$DIST/repo}" "${REPO_FROM:=$DIST}" "${ARCHES:=x86_64}"
: "${REPO_URL:=https://downloads.example.invalid/$BIN}"
: "${REPO_SUITE:=stable}"
export LC_ALL=C TZ=UTC
umask 022

fail() {
    echo "repo: $*" >&2
    exit 1
}
[ -n "${REPO_GPG_KEY:-}" ] || fail "REPO_GPG_KEY is not set: the key id or fingerprint (gpg --list-secret-keys) to sign with"
missing=()
for tool in apt-ftparchive:apt-utils createrepo_c:createrepo-c gpg:gpg rpmsign:rpm; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "repo: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
gpg_sign() { gpg --batch --yes --quiet --local-user "$REPO_GPG_KEY" --digest-algo SHA512 "$@"; }
gpg --batch --list-secret-keys "$REPO_GPG_KEY" >/dev/null 2>&1 || fail "no secret key $REPO_GPG_KEY in gpg's keyring"
fingerprint=$(gpg --batch --with-colons --list-keys "$REPO_GPG_KEY" | awk -F: '$1 == "fpr" { print $10; exit }')

debs=() rpms=()
for d in $REPO_FROM; do
    for f in "$d/${BIN}"_*.deb "$d/$BIN"-*.rpm; do
        case $f in
        *'*'*) ;;
        *.deb) debs+=("$f") ;;
        *.rpm) rpms+=("$f") ;;
        esac
    done
done
for a in $ARCHES; do
    case $a in x86_64) deb_arch=amd64 ;; aarch64) deb_arch=arm64 ;; *) fail "ARCHES: $a" ;; esac
    ls "$DIST/${BIN}_${VERSION}"-*_"$deb_arch.deb" >/dev/null 2>&1 || fail "no $DIST/${BIN}_${VERSION}-*_$deb_arch.deb (make deb first)"
    ls "$DIST/$BIN-$VERSION"-*."$a.rpm" >/dev/null 2>&1 || fail "no $DIST/$BIN-$VERSION-*.$a.rpm (make rpm first)"
done

rm -rf "$REPO/apt" "$REPO/rpm"

# ---- apt ----
apt=$REPO/apt
dists=$apt/dists/$REPO_SUITE
install -d "$apt/pool/main" "$dists/main/binary-amd64" "$dists/main/binary-arm64"
cp "${debs[@]}" "$apt/pool/main/"
for arch in amd64 arm64; do
    (cd "$apt" && apt-ftparchive --arch "$arch" packages pool) >"$dists/main/binary-$arch/Packages"
    gzip -9n <"$dists/main/binary-$arch/Packages" >"$dists/main/binary-$arch/Packages.gz"
done
apt-ftparchive \
    -o APT::FTPArchive::Release::Origin="$BIN" \
    -o APT::FTPArchive::Release::Label="$BIN" \
    -o APT::FTPArchive::Release::Suite="$REPO_SUITE" \
    -o APT::FTPArchive::Release::Codename="$REPO_SUITE" \
    -o APT::FTPArchive::Release::Architectures="amd64 arm64" \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Description="$BIN packages" \
    release "$dists" >"$REPO/Release.tmp"
mv "$REPO/Release.tmp" "$dists/Release"
gpg_sign --clearsign -o "$dists/InRelease" "$dists/Release"
gpg_sign --armor --detach-sign -o "$dists/Release.gpg" "$dists/Release"
gpg --batch --export "$fingerprint" >"$apt/$BIN.gpg"
gpg --batch --armor --export "$fingerprint" >"$apt/$BIN.asc"
cat >"$apt/$BIN.sources" <<EOF
Types: deb
URIs: $REPO_URL/apt
Suites: $REPO_SUITE
Components: main
Signed-By: /etc/apt/keyrings/$BIN.gpg
EOF
echo "repo: $apt: ${#debs[@]} .deb, InRelease signed by $fingerprint"

# ---- dnf ----
rpmdir=$REPO/rpm
install -d "$rpmdir"
cp "${rpms[@]}" "$rpmdir/"
# Debian's rpm names /usr/bin/gpg2, which Debian's gnupg does not ship: the gpg on PATH.
rpmsign --addsign --define "__gpg $(command -v gpg)" --define "_gpg_name $fingerprint" \
    ${GNUPGHOME:+--define "_gpg_path $GNUPGHOME"} \
    --define "_gpg_sign_cmd_extra_args --batch" "$rpmdir"/*.rpm \
    2> >(grep -v 'Could not set GPG_TTY' >&2) >/dev/null ||
    fail "rpmsign could not sign the packages with $fingerprint"
gpg --batch --armor --export "$fingerprint" >"$rpmdir/RPM-GPG-KEY-$BIN"
createrepo_c --quiet --general-compress-type=gz "$rpmdir" >/dev/null
gpg_sign --armor --detach-sign -o "$rpmdir/repodata/repomd.xml.asc" "$rpmdir/repodata/repomd.xml"
cat >"$rpmdir/$BIN.repo" <<EOF
[$BIN]
name=$BIN
baseurl=$REPO_URL/rpm
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=$REPO_URL/rpm/RPM-GPG-KEY-$BIN
EOF
echo "repo: $rpmdir: ${#rpms[@]} .rpm (signed), repomd.xml.asc signed by $fingerprint"
