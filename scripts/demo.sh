#!/usr/bin/env bash
# make demo: builds the example layer in Fixtures/python-layer and prints its hash.
set -euo pipefail
layerpack=$(realpath "$1")
cd "$(dirname "$0")/../Fixtures/python-layer"

echo "== layerpack build (Fixtures/python-layer)"
"$layerpack" build
echo "== layerpack check"
"$layerpack" check
echo "== the zip, as unzip sees it"
unzip -l dist/greeting-deps.zip
