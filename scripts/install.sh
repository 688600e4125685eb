#!/usr/bin/env bash
# make install: copies the staged tree (scripts/stage.sh) into DEST (= $(DESTDIR)$(PREFIX)), keeping
# each file's mode. Uses sudo only when DEST is not writable, so the build itself never runs as root.
# Usage: scripts/install.sh STAGE DEST
set -euo pipefail
stage=$1
dest=$2

existing=$dest
while [ ! -e "$existing" ]; do existing=$(dirname "$existing"); done
sudo=()
if [ ! -w "$existing" ]; then
    command -v sudo >/dev/null || {
        echo "error: \`$existing\` is not writable and there is no sudo; run as root, or choose another PREFIX (e.g. PREFIX=\$HOME/.local)." >&2
        exit 1
    }
    sudo=(sudo)
fi

cd "$stage"
find . -type f | sort | while read -r file; do
    "${sudo[@]}" install -D -m "$(stat -c %a "$file")" "$file" "$dest/${file#./}"
    echo "  $dest/${file#./}"
done
