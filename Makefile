# docker-credential-ecr-login — build, install, test, benchmark.
#   make install            build the release binary and install it to $(DESTDIR)$(PREFIX)/bin,
#                           with the kubelet's ecr-credential-provider link in $(PREFIX)/libexec/...
#   make test               install missing test dependencies, then fmt, clippy and every test
#   make bench              warm/cold latency, peak RSS and size, against the Go helper
#   make fuzz               cargo-fuzz targets, FUZZ_SECONDS (default 60) each; not part of test
#   make static             fully static release binary (the one in the tarball, packages and image);
#                           TARGET=aarch64-unknown-linux-gnu for linux/arm64 (sets itself up: cross-setup)
#   make deb / make rpm     Debian / RPM packages of the static binary, into dist/, for each of ARCHES
#   make release            dist/: tarballs (binary, LICENSE, README, man page, CHANGELOG) for each
#                           of ARCHES (default x86_64 aarch64), the Windows zip + one SHA256SUMS
#   make test-cross         unit and integration tests of the aarch64 build under qemu-user
#   make windows            docker-credential-ecr-login.exe (x86_64-pc-windows-gnu; sets itself up)
#   make macos              arm64 + x86_64 + universal macOS binaries and tarball (sets itself up)
#   make smoke-cross        skopeo pulls from a local registry through the built arm64 helper (qemu)
#   make test-windows       its unit and integration tests under Wine
#   make image             the FROM scratch container image (Dockerfile), labelled with VERSION
#   make sign               dist/'s provenance statement, then minisign signatures of it and of
#                           SHA256SUMS (MINISIGN_KEY: the secret key); make verify MINISIGN_PUB=key
#   make repo               signed apt and dnf repositories in dist/repo from dist/'s packages
#                           (REPO_GPG_KEY: the gpg key to sign with; REPO_URL: where they are served)
#   make check-dist         CI checks of all of the above (installs lintian, rpm, ... when missing)
#   make audit              cargo deny (deny.toml) offline against the RustSec snapshot; release
#                           binaries carry their crate list (cargo auditable), dist/ holds SBOMs

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
# The kubelet's provider (docs/kubelet.md): `ecr-credential-provider`, a link to the one binary, in a
# directory for --image-credential-provider-bin-dir (beside the kubelet's own plugin directory,
# /usr/libexec/kubernetes/kubelet-plugins/volume/exec; libexec: programs run by other programs).
# The link is relative, so it stays right under DESTDIR and in packages.
KUBELET_PROVIDER := ecr-credential-provider
KUBELET_SUBDIR := libexec/kubernetes/kubelet-plugins/credential-provider/exec
KUBELET_DIR := $(DESTDIR)$(PREFIX)/$(KUBELET_SUBDIR)
BIN := docker-credential-ecr-login
CARGO ?= cargo
LOCKED := $(if $(wildcard Cargo.lock),--locked,)
# The git commit goes into `docker-credential-ecr-login version` (read by protocol::version()).
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)

.PHONY: all build install uninstall test test-deps lint bench clean

all: build

# The binary we build, install, package and measure is the static one (see `static` below).
build: static

install: build
	install -d $(BINDIR)
	install -m 0755 $(STATIC_BIN) $(BINDIR)/$(BIN)
	install -d $(MANDIR)
	install -m 0644 docs/$(BIN).1 $(MANDIR)/$(BIN).1
	install -d $(KUBELET_DIR)
	ln -sfn ../../../../../bin/$(BIN) $(KUBELET_DIR)/$(KUBELET_PROVIDER)

uninstall:
	rm -f $(BINDIR)/$(BIN) $(MANDIR)/$(BIN).1 $(KUBELET_DIR)/$(KUBELET_PROVIDER)

# What the tests need beyond Rust: moto (a real ECR/STS implementation), botocore with its crt
# extra (the AWS CLI's library, which the credential chain is compared with: tests/it/chain.rs;
# moto brings botocore, crt is what botocore needs for `aws login` sessions) and openssl (to make
# a private CA, and `aws login`'s key). Installed only when missing, so a second run costs nothing.
test-deps:
	@python3 -c 'import moto.server, werkzeug' 2>/dev/null || python3 -m pip install --quiet 'moto[server]'
	@python3 -c 'import botocore.session, awscrt' 2>/dev/null || python3 -m pip install --quiet 'botocore[crt]'
	@command -v openssl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openssl; }
	@command -v strace >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq strace; }

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets $(LOCKED) -- -D warnings
	@# fuzz/Cargo.lock must stay in step with Cargo.lock (make fuzz builds with it).
	$(CARGO) metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

test: test-deps lint
	ECR_TESTS_REQUIRE_MOTO=1 $(CARGO) test $(LOCKED)
	$(MAKE) e2e

# End-to-end (docs/contract.md §14): skopeo, podman and the docker CLI get images from a real
# registry through the helper, with moto and local fakes as AWS; installs what it needs. Root: it
# maps ECR-looking names to 127.0.0.1 in /etc/hosts (and removes them). `make demo` shows the same
# for a newcomer.
.PHONY: e2e demo
e2e:
	bash tests/e2e/run.sh

demo:
	bash tests/e2e/demo.sh

bench:
	bash bench/run.sh

# Fuzzing (docs/security.md): one cargo-fuzz target per parser of outside input (fuzz/fuzz_targets/), each
# run for FUZZ_SECONDS from the seeds in fuzz/corpus/; prints executions and crashes per target.
# Needs the nightly toolchain (installs cargo-fuzz when missing). Not part of `make test`.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

clean:
	$(CARGO) clean

# ---- Distribution (docs/contract.md §14): static binary, .deb, .rpm, tarball, their CI checks ----
# One binary for everything we ship: static glibc (rustls + ring, no OpenSSL), so the same bytes
# run on any x86_64 Linux and in a FROM scratch image. --target keeps it apart from target/release.
# Paths are remapped and the commit time is the only timestamp, so two builds of one commit in
# different directories give the same bytes (checked by packaging/check-repro.sh).
TARGET := x86_64-unknown-linux-gnu
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
CARGO_HOME ?= $(HOME)/.cargo
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
STATIC_BIN := $(TARGET_DIR)/$(TARGET)/release/$(BIN)
DIST ?= dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Static and not position-independent: a warm `get` is mostly process start-up, and a static
# non-PIE binary starts with no dynamic loader, no relocations and fewer page faults (measured:
# 1.08 ms vs 1.83 ms for the default dynamic PIE, `cat` 0.76 ms). The cost is no ASLR for this
# short-lived process, as for the Go helper's own static release binaries.
# The paths a build directory puts into a build, mapped to fixed ones (every target).
REMAP_FLAGS := --remap-path-prefix=$(CARGO_HOME)=/cargo \
	--remap-path-prefix=$(CURDIR)=/build --remap-path-prefix=$(TARGET_DIR)=/build/target
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static $(REMAP_FLAGS)
# -- linux/arm64 (issue 13): aarch64-unknown-linux-gnu, cross-built with Debian's packages only --
# ARCHES are what deb, rpm and release ship (one SHA256SUMS); ARCHES=x86_64 for the native one
# alone. `make cross-setup` (packaging/cross-setup.sh, idempotent, root for apt) installs Debian's
# rustc-web 1.96 with the arm64 standard library, the aarch64 cross gcc and qemu-user-static, and
# makes CROSS_SYSROOT: libc6-dev:arm64 of the amd64 libc6-dev's version, which the static arm64
# binary links (-B/-L) instead of the cross package's older glibc.
ARCHES ?= x86_64 aarch64
# WINDOWS=1 (the default): make release also builds the Windows zip (docs/windows.md) and
# check-dist checks it and runs the .exe's tests under Wine; WINDOWS=0 leaves Windows out.
WINDOWS ?= 1
# MACOS=1 (the default): make release also builds the macOS binaries of MAC_ARCHES and their
# tarball (make macos, below), and SHA256SUMS lists them; MACOS=0 leaves macOS out.
MACOS ?= 1
MAC_ARCHES ?= aarch64 x86_64
CROSS_SYSROOT ?= $(TARGET_DIR)/cross/aarch64-sysroot
CROSS_LIBDIR := $(CROSS_SYSROOT)/usr/lib/aarch64-linux-gnu
# RUSTC_BOOTSTRAP=1 (as for Windows) lets the aarch64 unit tests be built with the release
# profile's panic=abort (-Zpanic-abort-tests, packaging/cross-test.sh), so they link the very
# dependency artefacts the static binary was built from instead of compiling every crate again
# with panic=unwind. Of the build scripts here only thiserror's reads it (cfg
# error_generic_member_access, used only for error types with a Backtrace field: none here).
ifeq ($(TARGET),aarch64-unknown-linux-gnu)
STATIC_RUSTFLAGS += -C link-arg=-B$(CROSS_LIBDIR) -C link-arg=-L$(CROSS_LIBDIR)
CROSS_ENV := RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
CROSS_SETUP := cross-setup
endif
# The build environment of a Linux TARGET, set here once: `make static` and the unit tests of
# `make test-cross` both use it, so cargo sees the same flags and reuses what the first built.
# SOURCE_DATE_EPOCH is dropped for cargo: nothing in the binary uses it, but ring's build script
# reruns whenever it changes (every commit), which would recompile ring and rustls each time.
STATIC_ENV = env -u SOURCE_DATE_EPOCH ECR_LOGIN_COMMIT=$(COMMIT) RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CROSS_ENV)
# What the packaging scripts get for one architecture ARCH (x86_64 or aarch64).
arch_env = ARCH=$(1) STATIC_BIN=$(TARGET_DIR)/$(1)-unknown-linux-gnu/release/$(BIN) \
	CROSS_SYSROOT=$(CROSS_SYSROOT)
DIST_ENV := BIN=$(BIN) VERSION=$(VERSION) COMMIT=$(COMMIT) DIST=$(DIST) STATIC_BIN=$(STATIC_BIN) \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) ARCHES="$(ARCHES)" CROSS_SYSROOT=$(CROSS_SYSROOT) \
	TARGET_DIR=$(TARGET_DIR) WINDOWS=$(WINDOWS) MACOS=$(MACOS) MAC_ARCHES="$(MAC_ARCHES)"

.PHONY: static static-all cross-setup test-cross deb rpm release image check-man check-dist check-repro check-image

# `cargo auditable build` (issue 24): the same build, with the crate list embedded in the binary
# (a .dep-v0 section) for cargo audit, Syft, Trivy and Grype; packaging/check-auditable.sh reads
# it back. cargo-tools installs cargo-auditable once per machine.
static: $(CROSS_SETUP) cargo-tools
	$(STATIC_ENV) $(CARGO) auditable build --release $(LOCKED) --target $(TARGET)

# The static binary for every architecture in ARCHES, each built once.
static-all:
	$(foreach a,$(ARCHES),$(MAKE) --no-print-directory static TARGET=$(a)-unknown-linux-gnu &&) true

.PHONY: cargo-tools
cargo-tools:
	@packaging/cargo-tools.sh auditable

cross-setup:
	CROSS_SYSROOT=$(CROSS_SYSROOT) packaging/cross-setup.sh

# The aarch64 build's tests under qemu-user (packaging/cross-test.sh): its unit tests (in the
# static binary's build environment and release profile, panic=abort included: the debug build is
# too slow under emulation, and this way they reuse its dependency artefacts), and the integration tests, a native harness, against
# the aarch64 static binary, which binfmt_misc hands to qemu (cross-test.sh registers qemu-aarch64
# there for the run and undoes it afterwards). test-cross-build compiles the aarch64 side only
# (check-dist overlaps that with its reproducibility build).
test-cross: test-deps
	$(MAKE) --no-print-directory static TARGET=aarch64-unknown-linux-gnu
	$(MAKE) --no-print-directory -s test-cross-run TARGET=aarch64-unknown-linux-gnu
test-cross-build:
	$(MAKE) --no-print-directory static TARGET=aarch64-unknown-linux-gnu
	$(MAKE) --no-print-directory -s test-cross-run TARGET=aarch64-unknown-linux-gnu CROSS_TEST_MODE=build
.PHONY: test-cross-run test-cross-build smoke-cross
# The smoke e2e of the aarch64 helper (tests/e2e/cross-smoke.sh): skopeo pulls from a local
# registry with credentials only the static arm64 binary provides, run under qemu-user through
# binfmt_misc (registered and undone by cross-test.sh), and a second pull from its cache. Uses the
# binary `make static TARGET=aarch64-unknown-linux-gnu` built, as it is: builds nothing.
smoke-cross:
	$(MAKE) --no-print-directory cross-setup TARGET=aarch64-unknown-linux-gnu
	HELPER=$(TARGET_DIR)/aarch64-unknown-linux-gnu/release/$(BIN) TARGET=aarch64-unknown-linux-gnu \
		packaging/cross-test.sh smoke
test-cross-run:
	$(STATIC_ENV) CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static ECR_TESTS_REQUIRE_MOTO=1 \
		ECR_TESTS_QEMU_USER=1 HELPER=$(TARGET_DIR)/$(TARGET)/release/$(BIN) \
		CARGO="$(CARGO)" LOCKED="$(LOCKED)" TARGET=$(TARGET) packaging/cross-test.sh $(CROSS_TEST_MODE)

deb: static-all
	$(foreach a,$(ARCHES),$(DIST_ENV) $(call arch_env,$(a)) packaging/deb/build.sh &&) true

rpm: static-all
	$(foreach a,$(ARCHES),$(DIST_ENV) $(call arch_env,$(a)) packaging/rpm/build.sh &&) true

# One tarball and binary per architecture, the Windows zip and .exe (WINDOWS=0: not them), then one
# SHA256SUMS over all of them.
release: static-all $(if $(filter 1,$(WINDOWS)),windows) $(if $(filter 1,$(MACOS)),macos)
	$(foreach a,$(ARCHES),$(DIST_ENV) $(call arch_env,$(a)) packaging/release.sh &&) \
		$(if $(filter 1,$(WINDOWS)),$(DIST_ENV) WIN_EXE=$(WIN_EXE) packaging/release.sh windows &&) \
		$(DIST_ENV) WINDOWS=$(WINDOWS) packaging/release.sh sums

# The container image. VERSION (from Cargo.toml, above) is its version label; the Dockerfile checks
# it against the binary it builds. IMAGE names the image.
IMAGE ?= $(BIN)
DOCKER ?= docker
image:
	$(DOCKER) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
		--build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) -t $(IMAGE) .

# The image built offline by a real dockerd from the static binary, and run (packaging/check-image.sh;
# root). Also a step of check-dist.
check-image: release
	$(DIST_ENV) packaging/check-image.sh

# The same FROM scratch image for linux/amd64 + linux/arm64 as one OCI image index (an OCI layout in
# $(DIST)/image-oci, tag VERSION), assembled offline from static-all's binaries by
# packaging/oci-index.py; `skopeo copy --all oci:$(DIST)/image-oci:$(VERSION) docker://...` pushes
# it. check-image-index pushes it to a local registry and pulls each platform back (check-dist runs it).
.PHONY: image-index check-image-index
# It also writes the index's SBOM, $(DIST)/$(BIN)-$(VERSION)-image.cdx.json (packaging/sbom.py;
# README, "Verifying a release": attach it to the pushed index with oras attach).
image-index: static-all
	rm -rf $(DIST)/image-oci
	idx=$$(python3 packaging/oci-index.py $(DIST)/image-oci $(VERSION) "$(COMMIT)" $(SOURCE_DATE_EPOCH) \
		amd64=$(TARGET_DIR)/x86_64-unknown-linux-gnu/release/$(BIN) \
		arm64=$(TARGET_DIR)/aarch64-unknown-linux-gnu/release/$(BIN)) && echo "$$idx" && \
	$(DIST_ENV) python3 packaging/sbom.py --image $(DIST)/$(BIN)-$(VERSION)-image.cdx.json \
		"$(DIST)/image-oci/blobs/sha256/$${idx#sha256:}" \
		x86_64-unknown-linux-gnu=$(TARGET_DIR)/x86_64-unknown-linux-gnu/release/$(BIN) \
		aarch64-unknown-linux-gnu=$(TARGET_DIR)/aarch64-unknown-linux-gnu/release/$(BIN)

check-image-index: static-all
	$(DIST_ENV) packaging/check-image-index.sh

check-man:
	$(DIST_ENV) packaging/check-dist.sh man

# ---- Windows x86_64 (docs/windows.md): docker-credential-ecr-login.exe for Docker Desktop ----
# x86_64-pc-windows-gnu, built with Debian's rustc-web and its standard library's source
# (-Zbuild-std: rustup here has no Windows standard library; RUSTC_BOOTSTRAP lets the stable
# toolchain take -Z) and the mingw-w64 linker; `make windows-setup` installs them and Wine 8.
# The .exe imports only system DLLs. Tests run it under Wine (`make test-windows`), with a
# test-only bcryptprimitives.dll shim next to it (WIN_SHIM_DIR; never shipped: docs/windows.md).
WIN_TARGET := x86_64-pc-windows-gnu
WIN_EXE := $(TARGET_DIR)/$(WIN_TARGET)/release/$(BIN).exe
WIN_SHIM_DIR := $(TARGET_DIR)/windows-shim
WIN_ENV := RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
	CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# No link time in the PE header (ld's default for PE), so two builds give the same bytes. And
# mingw-w64's libraries through links in WIN_LIBDIR, under the target directory: ld orders the
# import table by input file path (SORT(*) in its PE script), so import libraries from /usr and
# the rlibs' raw-dylib import libraries from the target directory would come out in an order that
# depends on where the tree is built; with both under the target directory it does not.
WIN_LIBDIR := $(TARGET_DIR)/windows-lib
WIN_RUSTFLAGS := -C link-arg=-Wl,--no-insert-timestamp -C link-arg=-L$(WIN_LIBDIR) \
	--remap-path-prefix=/usr/src=/rustsrc $(REMAP_FLAGS)
# The Windows build environment, set here once (as STATIC_ENV): `make windows` and the unit tests
# of `make test-windows` both use it.
WIN_BUILD_ENV = env -u SOURCE_DATE_EPOCH ECR_LOGIN_COMMIT=$(COMMIT) RUSTFLAGS="$(WIN_RUSTFLAGS)" $(WIN_ENV)
# The standard library crates built from source. `test` (libtest) is not in the .exe, but a unit
# test build adds it, and a build-std crate list that differs changes every crate's hash: with it
# here too, the unit tests reuse the .exe's dependency artefacts instead of compiling them again.
WIN_BUILD_STD := -Zbuild-std=std,panic_abort,test
.PHONY: windows windows-setup
windows-setup:
	WIN_SHIM_DIR=$(WIN_SHIM_DIR) WIN_LIBDIR=$(WIN_LIBDIR) packaging/windows/setup.sh

windows: windows-setup cargo-tools
	$(WIN_BUILD_ENV) $(CARGO) auditable build --release $(LOCKED) $(WIN_BUILD_STD) --target $(WIN_TARGET)

# The .exe as Docker Desktop runs it, under Wine: get, cache hit, list, version, configure against
# %USERPROFILE%\.docker\config.json, the trust check (packaging/windows/smoke.sh).
.PHONY: smoke-windows
smoke-windows: windows
	WIN_EXE=$(WIN_EXE) WIN_SHIM_DIR=$(WIN_SHIM_DIR) packaging/windows/smoke.sh

# The unit tests under Wine and the integration tests against the .exe, in a temp Wine prefix
# (packaging/windows/test.sh; it gives the Windows build's environment to the unit tests only).
# test-windows-build compiles the Windows unit tests only (check-dist does that before the runs).
.PHONY: test-windows test-windows-build test-windows-run
test-windows: windows test-deps
	$(MAKE) --no-print-directory test-windows-run
test-windows-build: windows
	$(MAKE) --no-print-directory test-windows-run WIN_TEST_MODE=build
test-windows-run:
	$(WIN_BUILD_ENV) CARGO="$(CARGO)" LOCKED="$(LOCKED)" WIN_BUILD_STD="$(WIN_BUILD_STD)" WIN_TARGET=$(WIN_TARGET) WIN_EXE=$(WIN_EXE) \
		WIN_SHIM_DIR=$(WIN_SHIM_DIR) TARGET_DIR=$(TARGET_DIR) packaging/windows/test.sh $(WIN_TEST_MODE)

# ---- macOS arm64 + x86_64 (README, "macOS"): built and checked here, never run here ----
# aarch64-apple-darwin and x86_64-apple-darwin with Debian's rustc-web and -Zbuild-std (as for
# Windows), Zig as C compiler and linker through cargo-zigbuild, minimum macOS 11.0. The linker is
# packaging/macos/link.py: it makes the Security and CoreFoundation stubs from the link's own
# undefined symbols, strips (rustc's strip needs rust-objcopy, absent here: off) and ad-hoc signs
# what Zig leaves unsigned. MAC_ARCHES (default both; check-dist builds aarch64 only) are built; with both,
# packaging/macos/release.sh makes the universal binary; it tars the result into $(DIST), with
# each file's SBOM. Built with `cargo auditable zigbuild` (cargo-auditable runs cargo-zigbuild,
# found on PATH, with itself as RUSTC_WORKSPACE_WRAPPER), so each slice embeds its crate list.
# MACOS and MAC_ARCHES are set above, before DIST_ENV.
# rustc warns that `xcrun` cannot find MacOSX.sdk: none is used (Zig has libSystem's stub, link.py
# makes the frameworks').
ZIGBUILD = $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/cargo-zigbuild
MAC_RUSTFLAGS := --remap-path-prefix=/usr/src=/rustsrc $(REMAP_FLAGS)
MAC_ENV = env -u SOURCE_DATE_EPOCH ECR_LOGIN_COMMIT=$(COMMIT) RUSTFLAGS="$(MAC_RUSTFLAGS)" \
	RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 MACOSX_DEPLOYMENT_TARGET=11.0 \
	CARGO_PROFILE_RELEASE_STRIP=false MACOS_SIGN_IDENTIFIER=$(BIN) \
	CARGO_TARGET_AARCH64_APPLE_DARWIN_LINKER=$(CURDIR)/packaging/macos/link.py \
	CARGO_TARGET_X86_64_APPLE_DARWIN_LINKER=$(CURDIR)/packaging/macos/link.py
.PHONY: macos macos-setup macos-bins check-macos
macos-setup:
	packaging/macos/setup.sh

macos-bins: macos-setup
	$(foreach a,$(MAC_ARCHES),$(MAC_ENV) PATH="$(dir $(ZIGBUILD)):$$PATH" $(CARGO) auditable zigbuild --release $(LOCKED) \
		-Zbuild-std=std,panic_abort --target $(a)-apple-darwin &&) true

macos: macos-bins
	$(DIST_ENV) packaging/macos/release.sh

# What Linux can check of them, without running them (packaging/macos/check.sh; check-dist runs it).
check-macos:
	$(DIST_ENV) packaging/macos/check.sh

# CI: builds static, deb, rpm and release once, checks each, then rebuilds the release in a copy
# of the tree elsewhere and compares hashes.
# CHECK_MAC_ARCHES: the macOS slices check-dist builds (one, to keep CI short; make release: both).
CHECK_MAC_ARCHES ?= aarch64
# What its second build rebuilds: one target of each toolchain. CHECK_REPRO_ARCHES, the Linux
# architectures (x86_64: rustup's compiler and standard library; aarch64 is the same flags and
# path remapping for another target); the macOS slice (Debian's compiler, the standard library
# built in the target directory, Zig's linker, the framework stubs, the signature); and
# CHECK_REPRO_WINDOWS=1 adds Windows (the same compiler and standard library build as macOS, the
# MinGW linker: 4 to 5 minutes of CPU that CI's 25 minutes do not have). make check-repro rebuilds all.
CHECK_REPRO_ARCHES ?= x86_64
CHECK_REPRO_WINDOWS ?= 0
CHECK_DIST_ENV = $(DIST_ENV) MAC_ARCHES="$(CHECK_MAC_ARCHES)" REPRO_ARCHES="$(CHECK_REPRO_ARCHES)" \
	REPRO_WINDOWS="$(CHECK_REPRO_WINDOWS)" REPRO_DIR="$(REPRO_DIR)"
check-dist:
	$(CHECK_DIST_ENV) packaging/check-dist.sh all

# .ci/run (issue 21: CI inside 25 minutes): ci-setup installs what make test and check-dist
# install, so nothing installs packages beside a build; ci-start-repro starts check-dist's second
# build in REPRO_DIR, detached, before make test, and `make check-dist REPRO_DIR=...` adopts it.
.PHONY: ci-setup ci-start-repro
ci-setup: test-deps
	bash tests/e2e/run.sh deps
	$(CHECK_DIST_ENV) packaging/check-dist.sh setup
ci-start-repro:
	$(CHECK_DIST_ENV) packaging/check-dist.sh start-repro $(REPRO_DIR)

# ---- Signatures, provenance, apt and dnf repositories (issue 24; docs/security.md, README) ----
# They take dist/ as make release, deb and rpm left it (build nothing): packaging/provenance.py,
# packaging/sign.sh, packaging/repo.sh; CI: packaging/sign.sh check, packaging/check-repo.sh.
PROVENANCE := $(DIST)/$(BIN)-$(VERSION).intoto.json
SIGN_ENV = $(DIST_ENV) PROVENANCE=$(PROVENANCE) BUILD_COMMAND='make release deb rpm ARCHES="$(ARCHES)" WINDOWS=$(WINDOWS)'
.PHONY: provenance sign verify repo
provenance:
	$(SIGN_ENV) python3 packaging/provenance.py $(PROVENANCE)
sign: provenance
	$(SIGN_ENV) packaging/sign.sh sign
verify:
	$(SIGN_ENV) packaging/sign.sh verify $(MINISIGN_PUB)
repo:
	$(DIST_ENV) packaging/repo.sh
# Supply chain (issue 24; docs/security.md): `make audit` runs cargo deny (deny.toml: licences,
# bans, sources, advisories) offline against the RustSec snapshot (packaging/audit.sh says where
# it looks: ADVISORY_DB, else ../shared/advisory-db). check-supply-chain checks what release put
# in $(DIST): the crate lists embedded by cargo auditable against Cargo.lock, every artefact's
# SBOM, and audit (check-dist runs it).
.PHONY: audit check-supply-chain
audit:
	TARGET_DIR=$(TARGET_DIR) packaging/audit.sh

check-supply-chain:
	$(DIST_ENV) packaging/check-supply-chain.sh

check-repro: release
	$(DIST_ENV) packaging/check-repro.sh
