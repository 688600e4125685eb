#!/usr/bin/env bash
# make demo: packs the example layer in Fixtures/python-layer and publishes it to a local moto_server
# that checks request signatures, then publishes again (unchanged), and stops the server.
# Nothing but 127.0.0.1 is contacted.
set -euo pipefail
layerpack=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
python=${LAYERPACK_TEST_PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== Starting moto_server on 127.0.0.1 with signature checking"
coproc MOTO { exec "$python" "$root/Tests/TestSupport/python/moto_harness.py" 2>"$work/moto.log"; }
read -r ready <&"${MOTO[0]}"
field() { printf '%s' "$ready" | "$python" -c "import json,sys; print(json.load(sys.stdin).get('$1', ''))"; }
if [ -n "$(field error)" ]; then echo "moto_server did not start: $(field error)" >&2; exit 1; fi
endpoint="http://127.0.0.1:$(field port)"
echo "   $endpoint"

# Only the local server, with the IAM user's keys it created; the real ~/.aws is never read.
touch "$work/aws-config"
export AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
       AWS_ACCESS_KEY_ID="$(field accessKeyID)" AWS_SECRET_ACCESS_KEY="$(field secretAccessKey)" \
       AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-config"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

cp -r "$root/Fixtures/python-layer" "$work/layer"
rm -rf "$work/layer/dist"
cd "$work/layer"

echo; echo "== layerpack build"
"$layerpack" build
echo; echo "== layerpack check (the committed layerpack.lock matches)"
"$layerpack" check
echo; echo "== layerpack publish"
"$layerpack" publish
echo; echo "== layerpack publish again: nothing changed, so nothing is published"
"$layerpack" publish
echo; echo "== source_code_hash and the version ARN"
"$layerpack" hash
"$layerpack" publish --json | "$python" -c "import json,sys; print(json.load(sys.stdin)['arn'])"

echo; echo "== Stopping moto_server"
exec {MOTO[1]}>&-
wait "$MOTO_PID" 2>/dev/null || true
