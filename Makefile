# docker-credential-ecr-login — build, install, test, benchmark.
#   make install            build the release binary and install it to $(DESTDIR)$(PREFIX)/bin
#   make test               install missing test dependencies, then fmt, clippy and every test
#   make bench              warm/cold latency, peak RSS and size, against the Go helper

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(DESTDIR)$(PREFIX)/bin
BIN := docker-credential-ecr-login
CARGO ?= cargo
LOCKED := $(if $(wildcard Cargo.lock),--locked,)

.PHONY: all build install uninstall test test-deps lint bench clean

all: build

build:
	$(CARGO) build --release $(LOCKED)

install: build
	install -d $(BINDIR)
	install -m 0755 target/release/$(BIN) $(BINDIR)/$(BIN)

uninstall:
	rm -f $(BINDIR)/$(BIN)

# What the tests need beyond Rust: moto (a real ECR/STS implementation) and openssl (to make a
# private CA). Installed only when missing, so a second run costs nothing.
test-deps:
	@python3 -c 'import moto.server, werkzeug' 2>/dev/null || python3 -m pip install --quiet 'moto[server]'
	@command -v openssl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openssl; }

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets $(LOCKED) -- -D warnings

test: test-deps lint
	$(CARGO) test $(LOCKED)

bench:
	bash bench/run.sh

clean:
	$(CARGO) clean
