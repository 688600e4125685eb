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

.PHONY: help deps build test demo bench install clean

help: ## Show this list.
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

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

demo: build ## Pack the example layer in Fixtures/ and publish it to a local moto_server.
	LAYERPACK_TEST_PYTHON=$(abspath $(PYTHON)) scripts/demo.sh .build/release/layerpack

bench: deps ## Time layerpack against zip -6 and Python's zipfile on numpy+pandas+scipy (bench/README.md).
	python3 bench/run.py

install: build ## Install layerpack into $(PREFIX)/bin.
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 .build/release/layerpack $(DESTDIR)$(PREFIX)/bin/layerpack

clean: ## Remove build output, the test server's environment and the example's output.
	rm -rf .build $(VENV) Fixtures/*/dist
