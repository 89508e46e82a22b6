# Package metadata shared by packaging/deb/build.sh, packaging/rpm/build.sh and packaging/release.sh.
# Sourced, not run. The Makefile passes BIN, VERSION, COMMIT, DIST, STATIC_BIN, SOURCE_DATE_EPOCH,
# and ARCH, the architecture STATIC_BIN is built for (x86_64 or aarch64; CROSS_SYSROOT for aarch64).
: "${BIN:=docker-credential-ecr-login}"
: "${VERSION:?VERSION is not set (run through make)}"
: "${STATIC_BIN:?STATIC_BIN is not set (run through make)}"
: "${DIST:=dist}"
: "${ARCH:=x86_64}"
# The architecture's name for Debian and for RPM.
case $ARCH in
x86_64) DEB_ARCH=amd64 RPM_ARCH=x86_64 ;;
aarch64) DEB_ARCH=arm64 RPM_ARCH=aarch64 ;;
*) echo "ARCH=$ARCH: not one we ship (x86_64, aarch64)" >&2; exit 1 ;;
esac
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH
# Deterministic archives: sorted names, C locale, UTC, no umask surprises.
export LC_ALL=C TZ=UTC
umask 022

# Who builds the packages. Override for your own builds: make deb MAINTAINER='Name <mail>'.
: "${MAINTAINER:=docker-credential-ecr-login maintainers <maintainers@docker-credential-ecr-login.invalid>}"
HOMEPAGE=$(sed -n 's/^repository = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SUMMARY="Amazon ECR credential helper for Docker (cached, static Rust build)"
# Debian and RPM both take this as the long description (Debian indents it).
DESCRIPTION="A drop-in replacement for the Go docker-credential-ecr-login of
amazon-ecr-credential-helper. Docker, buildx, skopeo and podman call it to get
a password for Amazon ECR and ECR Public registries: it asks ECR for a token
with the standard AWS credential chain (profiles, SSO, assumed roles, web
identity, ECS, EKS and EC2 roles), caches it per identity, and answers cache
hits without any network call. It never hangs a docker command, and says on
stderr why a token could not be had. The same binary is the kubelet's image
credential provider (ecr-credential-provider), with the same disk cache.
One static binary, no dependencies."

# The kubelet's provider (docs/kubelet.md): a relative link to the binary, named as the kubelet's
# CredentialProviderConfig names it, in the directory --image-credential-provider-bin-dir points at.
KUBELET_PROVIDER=ecr-credential-provider
KUBELET_DIR=usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec
KUBELET_LINK_TARGET=../../../../../bin/$BIN

if [ ! -x "$STATIC_BIN" ]; then
    echo "$STATIC_BIN: missing; run make static first" >&2
    exit 1
fi

# Sets every mtime under $1 to SOURCE_DATE_EPOCH, so archives do not record build times.
clamp_mtimes() {
    find "$1" -depth -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}
