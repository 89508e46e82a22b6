# syntax=docker/dockerfile:1
# docker-credential-ecr-login as a hardened image: FROM scratch, one static binary, CA certificates,
# UID 65532, no shell, no package manager.
#
#   make image
# which runs
#   docker build --build-arg VERSION=<Cargo.toml's version> \
#       --build-arg COMMIT="$(git rev-parse --short=12 HEAD)" \
#       --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" -t docker-credential-ecr-login .
#
# Use it directly:
#   echo HOST | docker run --rm -i -v ~/.aws:/home/nonroot/.aws:ro docker-credential-ecr-login get
# or copy the binary into another image:
#   COPY --from=docker-credential-ecr-login /docker-credential-ecr-login /usr/local/bin/
# or, on a node image, as the kubelet's image credential provider (docs/kubelet.md):
#   COPY --from=docker-credential-ecr-login /docker-credential-ecr-login \
#       /usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider

# Build stage: the same `make static` as on a developer's machine (Debian 12, glibc 2.36, the
# Rust version of Cargo.toml's rust-version), so the binary matches the release tarball's.
ARG RUST_IMAGE=rust:1.95-bookworm
# The version label. Cargo.toml is the one place the version is written: `make image` passes it,
# the build stage refuses a VERSION that differs from the built binary's, and a plain
# `docker build` without it labels the image "unknown" rather than with a number that may be stale.
ARG VERSION=unknown
FROM ${RUST_IMAGE} AS build
ARG VERSION
ARG COMMIT=""
ARG SOURCE_DATE_EPOCH=0
WORKDIR /build
COPY Cargo.toml Cargo.lock Makefile ./
COPY src ./src
# make static builds with `cargo auditable build` (the crate list embedded in the binary);
# cargo-tools.sh installs cargo-auditable from crates.io first.
COPY packaging/cargo-tools.sh ./packaging/
RUN make static COMMIT="${COMMIT}" SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH}" \
    && install -D -m 0755 target/x86_64-unknown-linux-gnu/release/docker-credential-ecr-login \
        /out/docker-credential-ecr-login \
    && v="$(/out/docker-credential-ecr-login version)" && echo "$v" \
    && if [ "${VERSION}" != unknown ]; then case "$v" in \
        "docker-credential-ecr-login ${VERSION} "*) ;; \
        *) echo "VERSION=${VERSION}, but the binary says: $v" >&2; exit 1 ;; esac; fi \
    && if ldd /out/docker-credential-ecr-login >/dev/null 2>&1; then echo "not static" >&2; exit 1; fi
# The runtime's whole /etc: the CA bundle, a passwd/group naming the nonroot user (so HOME and
# the cache under ~/.ecr resolve), and an nsswitch.conf that keeps glibc on its built-in
# files and dns lookups. /home/nonroot is the only writable place the image needs.
RUN install -d -m 0755 /out/etc/ssl/certs \
    && install -m 0644 /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
        >/out/etc/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' >/out/etc/group \
    && printf 'hosts: files dns\n' >/out/etc/nsswitch.conf \
    && chmod 0644 /out/etc/passwd /out/etc/group /out/etc/nsswitch.conf \
    && install -d -m 0700 -o 65532 -g 65532 /out/home/nonroot \
    && install -d -m 0755 /out/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec \
    && ln -s /docker-credential-ecr-login \
        /out/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider

# Runtime stage: nothing but what the helper reads.
FROM scratch
ARG VERSION
ARG COMMIT=""
LABEL org.opencontainers.image.title="docker-credential-ecr-login" \
      org.opencontainers.image.description="Docker credential helper for Amazon ECR and ECR Public (static Rust build)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/example/docker-credential-ecr-login" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/etc/ /etc/
COPY --from=build --chown=65532:65532 /out/home/nonroot /home/nonroot
COPY --from=build /out/docker-credential-ecr-login /docker-credential-ecr-login
# The kubelet's provider name (docs/kubelet.md), a link to the same binary.
COPY --from=build /out/usr/ /usr/
ENV HOME=/home/nonroot
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/docker-credential-ecr-login"]
CMD ["--help"]
