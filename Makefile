# layerpack — `make` lists the targets. Every target installs what it needs first.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PREFIX ?= /usr/local
# Debian packages the build, the tests and the demo need.
APT_PACKAGES := pkg-config libzip-dev libssl-dev libcurl4-openssl-dev libdeflate-dev zip unzip time python3 python3-venv python3-pip
# The test server runs from a virtual environment of our own, so the system Python stays untouched.
VENV := .venv
PYTHON := $(VENV)/bin/python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# `make fuzz`: seconds per target, and the targets (Fuzz/Sources/layerpack-fuzz); seeds in Fuzz/seeds/TARGET.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= config lock stat-cache entry-cache
FUZZ_BUILD := $(CURDIR)/.build-fuzz
# Every Swift and C target gets ASan and libFuzzer's coverage; only layerpack-fuzz links libFuzzer (from the toolchain's compiler-rt).
FUZZ_FLAGS = -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table -Xswiftc -enable-testing \
	-Xcc -fsanitize=address -Xcc -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp \
	-Xlinker -L$(firstword $(wildcard $(dir $(realpath $(shell command -v swiftc)))../lib/clang/*/lib/linux))
# `make sanitize`: the tests it runs (the config, build, publish and command-line suites).
SANITIZE_TESTS ?= LayerpackCoreTests|LayerpackCLITests

.PHONY: help deps build test fuzz sanitize demo bench install clean

help: ## Show this list.
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

deps: ## Install the Debian packages and the Python test server (moto_server) if missing.
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PYTHON) ] || python3 -m venv --system-site-packages $(VENV)
	@$(PYTHON) -c 'import moto.server, flask, boto3' 2>/dev/null || $(PYTHON) -m pip install -q 'moto[server]==5.*'

build: deps ## Build the release binary (.build/release/layerpack).
	swift build -c release

test: deps ## Run every test: unit, interop (unzip, zipinfo, Python) and integration against moto_server.
	swift build --build-tests
	LAYERPACK_TEST_PYTHON=$(abspath $(PYTHON)) swift test --skip-build --disable-xctest

fuzz: deps ## Fuzz the config, lock, stat-cache and entry-cache readers (libFuzzer, ASan), FUZZ_SECONDS=60 each.
	swift build --package-path Fuzz --scratch-path $(FUZZ_BUILD) -c release $(FUZZ_FLAGS)
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$target $(FUZZ_BUILD)/crashes; \
		echo "== $$target: $(FUZZ_SECONDS) s (new inputs in $(FUZZ_BUILD)/corpus/$$target, crashes in $(FUZZ_BUILD)/crashes)"; \
		$(FUZZ_BUILD)/release/layerpack-fuzz $$target -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$target- $(FUZZ_BUILD)/corpus/$$target Fuzz/seeds/$$target || exit 1; \
	done

sanitize: deps ## Run the config, build and publish tests under AddressSanitizer, then ThreadSanitizer.
	swift build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan-suppressions.txt LAYERPACK_TEST_PYTHON=$(abspath $(PYTHON)) \
		swift test --skip-build --sanitize=address --scratch-path .build-asan --disable-xctest --filter '$(SANITIZE_TESTS)'
	swift build --build-tests --sanitize=thread --scratch-path .build-tsan
	LAYERPACK_TEST_PYTHON=$(abspath $(PYTHON)) \
		swift test --skip-build --sanitize=thread --scratch-path .build-tsan --disable-xctest --filter '$(SANITIZE_TESTS)'

demo: build ## Pack the example layer in Fixtures/ and publish it to a local moto_server.
	LAYERPACK_TEST_PYTHON=$(abspath $(PYTHON)) scripts/demo.sh .build/release/layerpack

bench: deps ## Time layerpack against zip -6 and Python's zipfile on numpy+pandas+scipy (bench/README.md).
	python3 bench/run.py

install: build ## Install layerpack into $(PREFIX)/bin.
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 .build/release/layerpack $(DESTDIR)$(PREFIX)/bin/layerpack

clean: ## Remove build output, the test server's environment and the example's output.
	rm -rf .build .build-fuzz .build-asan .build-tsan $(VENV) Fixtures/*/dist
