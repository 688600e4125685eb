#!/usr/bin/env bash
# make dist: packs the staged tree (scripts/stage.sh) into NAME.tar.gz, under one top folder NAME, with
# NAME.tar.gz.sha256 beside it (`sha256sum -c` format). Owners, order and timestamps are fixed
# (SOURCE_DATE_EPOCH), so the same files give the same tarball.
# Usage: scripts/dist.sh STAGE dist/layerpack-VERSION-linux-ARCH
set -euo pipefail
stage=$1
folder=$(dirname "$2")
name=$(basename "$2")

version=$("$stage/bin/layerpack" --version)
case "$name" in
    layerpack-"$version"-linux-*) ;;
    *) echo "error: the tarball name \`$name\` does not carry the binary's version \`$version\`." >&2; exit 1 ;;
esac

mkdir -p "$folder"
tar -C "$stage" --transform "s,^\.,$name," --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@${SOURCE_DATE_EPOCH:-0}" --format=gnu -cf - . | gzip -n -9 >"$folder/$name.tar.gz.tmp"
mv "$folder/$name.tar.gz.tmp" "$folder/$name.tar.gz"
(cd "$folder" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "Wrote $folder/$name.tar.gz ($(du -h "$folder/$name.tar.gz" | cut -f1)) and $name.tar.gz.sha256"
