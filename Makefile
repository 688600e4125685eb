# layerpack — `make` lists the targets. Every target installs what it needs first.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PREFIX ?= /usr/local
# Debian packages the build, the tests and the demo need.
APT_PACKAGES := pkg-config libzip-dev libssl-dev libcurl4-openssl-dev libdeflate-dev zlib1g-dev zip unzip time python3 python3-venv python3-pip
# The test server runs from a virtual environment of our own, so the system Python stays untouched.
VENV := .venv
PYTHON := $(VENV)/bin/python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The version has one source, the root command's `version:`; the tarball is named after it.
VERSION := $(shell sed -nE 's/^ *version: "([^"]+)",$$/\1/p' Sources/layerpack/Layerpack.swift)
DIST_NAME := layerpack-$(VERSION)-linux-$(shell uname -m)
# What `install` and `dist` ship, laid out as a PREFIX tree (scripts/stage.sh).
STAGE := .build/stage
# Man page dates and tarball timestamps: the last commit's, so the same commit gives the same tarball.
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

# `make fuzz`: seconds per target, and the targets (Fuzz/Sources/layerpack-fuzz); seeds in Fuzz/seeds/TARGET.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= config lock stat-cache entry-cache deflate-blocks
FUZZ_BUILD := $(CURDIR)/.build-fuzz
# Every Swift and C target gets ASan and libFuzzer's coverage; only layerpack-fuzz links libFuzzer (from the toolchain's compiler-rt).
FUZZ_FLAGS = -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table -Xswiftc -enable-testing \
	-Xcc -fsanitize=address -Xcc -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp \
	-Xlinker -L$(firstword $(wildcard $(dir $(realpath $(shell command -v swiftc)))../lib/clang/*/lib/linux))
# `make sanitize`: the tests it runs (the config, build, publish and command-line suites).
SANITIZE_TESTS ?= LayerpackCoreTests|LayerpackCLITests

.PHONY: help deps build stage test fuzz sanitize demo bench dist install clean

help: ## Show this list.
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}' \
		| sed -e 's|$$(PREFIX)|$(PREFIX)|g' -e 's|$$(DIST_NAME)|$(DIST_NAME)|g'

deps: ## Install the Debian packages and the Python test tools (moto_server, pre-commit, check-jsonschema) if missing.
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PYTHON) ] || python3 -m venv --system-site-packages $(VENV)
	@$(PYTHON) -c 'import moto.server, flask, boto3, jsonschema, pre_commit, check_jsonschema' 2>/dev/null \
		|| $(PYTHON) -m pip install -q 'moto[server]==5.*' 'jsonschema==4.*' 'pre-commit==4.*' 'check-jsonschema==0.*'

build: deps ## Build the release binary (.build/release/layerpack), with the Swift runtime linked in.
	swift build -c release --static-swift-stdlib --product layerpack

# Not listed by help: the files `install` and `dist` share, in $(STAGE).
stage: build
	scripts/stage.sh .build/release/layerpack $(STAGE)

test: deps ## Run every test: unit, interop, integration against moto_server, then the tarball and install.
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-actions action.yml
	swift build --build-tests
	LAYERPACK_TEST_PYTHON=$(abspath $(PYTHON)) swift test --skip-build --disable-xctest
	$(MAKE) --no-print-directory dist
	scripts/test-dist.sh dist/$(DIST_NAME).tar.gz .build/debug/layerpack
	$(PYTHON) scripts/test-action.py

fuzz: deps ## Fuzz the config, lock, stat-cache and entry-cache readers and the DEFLATE block reader (libFuzzer, ASan), FUZZ_SECONDS=60 each.
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

bench: deps ## Time layerpack against zip -6 and Python's zipfile on four shapes of layer (bench/README.md).
	python3 bench/run.py

dist: stage ## Write dist/$(DIST_NAME).tar.gz and its .sha256.
	scripts/dist.sh $(STAGE) dist/$(DIST_NAME)

install: stage ## Install the binary, completions and man pages under $(PREFIX) (and DESTDIR).
	scripts/install.sh $(STAGE) "$(DESTDIR)$(PREFIX)"

clean: ## Remove build output, dist/, the test server's environment and the example's output.
	rm -rf .build .build-fuzz .build-asan .build-tsan dist $(VENV) Fixtures/*/dist
