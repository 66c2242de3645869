# Trove — the two commands a newcomer needs:
#   make demo   install what is missing, build, publish a sample site to a local store and serve it
#   make test   install what is missing, build, run every test (S3 tests against a local moto server,
#               Azure tests against Tests/azureserver, first proven faithful with Microsoft's SDK), then
#               the /_/ catalogue in headless Chromium (bench/browser/catalogue_check.sh)
SWIFT    ?= swift
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := libssl-dev libzstd-dev libsqlite3-dev libcurl4-openssl-dev pkg-config sqlite3 zstd curl python3-pip
# Only `make test` needs these: headless Chromium for the browser login test (ServeAuthEndToEndTests).
TEST_APT_PKGS := chromium
PY_PKGS  := moto[server] boto3 werkzeug flask azure-storage-blob websocket-client

.PHONY: all deps testdeps pydeps build release bench-tools demo test bench clean

# Release binaries link the Swift runtime and Foundation statically: one self-contained file to copy
# onto a build server (it needs glibc, libstdc++, OpenSSL, zstd and SQLite; libcurl only for S3), and a
# process that starts in about half the time (docs/benchmarks.md). Every script builds release
# binaries through these targets, because a build without the flag rebuilds everything. The link
# prints one warning about `mktemp` from the toolchain's own static Foundation, not from Trove.
RELEASE_FLAGS := -c release --static-swift-stdlib
# Tests build with every module's imports checked against its declared dependencies in Package.swift
# (an undeclared import is an error, not something that links by luck); `swift test` takes the same
# flags so it reuses that build.
TEST_FLAGS := --explicit-target-dependency-import-check=error

all: build

# System libraries and tools (Debian packages), installed only when missing.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: install the Swift 6 toolchain"; exit 1; }

# Debian packages only the tests use (installed only when missing, like deps).
testdeps: deps
	@missing=""; for p in $(TEST_APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for the tests:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Python packages the tests use (moto's S3 server, botocore for SigV4 cross-checks, Microsoft's
# azure-storage-blob: the Azure test server checks signatures with its code; sdk_client_test.py drives it;
# websocket-client: the browser tests drive headless Chromium over the DevTools protocol).
pydeps:
	@python3 -c "import moto, boto3, werkzeug, flask, azure.storage.blob, websocket" 2>/dev/null || python3 -m pip install -q $(PY_PKGS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product trove

# (one --product per build: SwiftPM builds only the last one named)
bench-tools: release
	$(SWIFT) build $(RELEASE_FLAGS) --product trove-bench

demo: release
	TROVE=.build/release/trove scripts/demo.sh

test: deps testdeps pydeps
	$(SWIFT) build --build-tests $(TEST_FLAGS)
	python3 Tests/azureserver/sdk_client_test.py
	$(SWIFT) test $(TEST_FLAGS)
	TROVE=.build/debug/trove bench/browser/catalogue_check.sh

bench: bench-tools
	bench/run.sh

clean:
	rm -rf .build .demo
