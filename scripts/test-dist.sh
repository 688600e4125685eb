#!/usr/bin/env bash
# The last step of `make test`: checks the release tarball as someone without Swift meets it, and `make install`.
#  - the .sha256 beside it verifies, and it holds exactly the files scripts/stage.sh lays out;
#  - the binary needs no libswift*.so, is stripped, and needs no newer glibc than README.md states;
#  - the completions parse and the man pages format without warnings;
#  - in a mount namespace where the Swift toolchain's folder is an empty tmpfs (PATH does not govern
#    library loading, so only hiding the files proves anything): `--version` prints the tarball's version,
#    and `build` of Fixtures/python-layer gives the hash its layerpack.lock records. CONTROL, a Swift binary
#    linked to the toolchain's libraries, must fail there, which shows the namespace really hides them;
#  - `make install DESTDIR=... PREFIX=...` lays out the same files, and `make help` shows that PREFIX.
# Under CI=true a check that cannot run fails; elsewhere it is skipped with the reason.
# Usage: scripts/test-dist.sh dist/layerpack-VERSION-linux-ARCH.tar.gz [CONTROL]
set -uo pipefail
tarball=$(realpath "$1")
control=${2:+$(realpath "$2")}
repo=$(cd "$(dirname "$0")/.." && pwd)
name=$(basename "$tarball" .tar.gz)
version=${name#layerpack-}
version=${version%-linux-*}
# README.md's "Install" section states this floor; a build that needs a newer glibc makes it untrue.
glibc_floor=2.35
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "ok       $1"; }
fail() { failed=$((failed + 1)); echo "FAILED   $1${2:+: $2}"; }
skip() {
    if [ "${CI:-}" = true ]; then fail "$1" "cannot run under CI=true: $2"; return; fi
    skipped=$((skipped + 1)); echo "skipped  $1: $2"
}
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds; its output explains a failure.
check() {
    local what=$1 output
    shift
    if output=$("$@" 2>&1); then pass "$what"; else fail "$what" "$output"; fi
}
same() { [ "$1" = "$2" ] || { printf 'expected:\n%s\ngot:\n%s\n' "$2" "$1"; return 1; }; }

# What scripts/stage.sh lays out; the tarball and `make install` must ship exactly these.
expected_files="bin/layerpack
share/bash-completion/completions/layerpack
share/doc/layerpack/LICENSE
share/doc/layerpack/README.md
share/fish/vendor_completions.d/layerpack.fish
share/man/man1/layerpack.1
share/man/man5/layerpack.yml.5
share/zsh/site-functions/_layerpack"
files_under() { (cd "$1" && find . -type f | sed 's,^\./,,' | LC_ALL=C sort); }

echo "== $name.tar.gz"
check "the .sha256 beside the tarball verifies it" \
    bash -c 'cd "$(dirname "$1")" && sha256sum --check --strict "$(basename "$1").sha256"' _ "$tarball"
check "the tarball holds $name/ with exactly the staged files" \
    same "$(tar -tzf "$tarball" | grep -v '/$' | LC_ALL=C sort)" "$(sed "s,^,$name/," <<<"$expected_files")"
tar -xzf "$tarball" -C "$work" || { fail "unpacking the tarball"; echo "$passed passed, $failed failed"; exit 1; }
root=$work/$name
layerpack=$root/bin/layerpack

needed=$(readelf -d "$layerpack" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
check "readelf: the binary links libc and the C libraries, and no libswift*.so ($(echo $needed))" \
    bash -c '[[ "$1" == *libc.so.6* && "$1" == *libcurl.so.4* && "$1" != *libswift* ]]' _ "$needed"
check "ldd: every library resolves and none is libswift*.so" \
    bash -c '! ldd "$1" | grep -E "not found|libswift"' _ "$layerpack"
check "the binary is stripped (no .symtab)" bash -c '! readelf -S "$1" | grep -q "\.symtab"' _ "$layerpack"
glibc=$(objdump -T "$layerpack" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
check "the binary needs glibc $glibc, not newer than the $glibc_floor README.md states" \
    same "$(printf '%s\n' "$glibc" "$glibc_floor" | sort -V | tail -1)" "$glibc_floor"

check "the bash completion parses" bash -n "$root/share/bash-completion/completions/layerpack"
check "the zsh completion is a #compdef for layerpack" \
    same "$(head -1 "$root/share/zsh/site-functions/_layerpack")" "#compdef layerpack"
check "the fish completion completes layerpack's subcommands" \
    grep -q "complete -c 'layerpack' .*-fa 'publish'" "$root/share/fish/vendor_completions.d/layerpack.fish"
check "layerpack.1 documents every subcommand" bash -c 'for command in build hash check publish import init; do
    grep -qx ".It Em $command" "$1" || { echo "no \`.It Em $command\`"; exit 1; }; done' _ "$root/share/man/man1/layerpack.1"
for page in man1/layerpack.1 man5/layerpack.yml.5; do
    if command -v groff >/dev/null; then
        check "$page formats without warnings (groff -ww)" \
            same "$(LC_ALL=C groff -mandoc -ww -z "$root/share/man/$page" 2>&1)" ""
    else
        skip "$page formats without warnings" "groff is not installed"
    fi
done

echo "== without Swift: its toolchain folder is an empty tmpfs in a mount namespace"
swift_tool=$(command -v swift) && toolchain=$(cd "$(dirname "$(realpath "$swift_tool")")/../.." && pwd)
runtime=${toolchain:-}/usr/lib/swift/linux/libswiftCore.so
namespace=(unshare --mount)
[ "$(id -u)" = 0 ] || namespace+=(--map-root-user)
without_swift() { "${namespace[@]}" bash -c 'mount -t tmpfs tmpfs "$1" && shift && exec "$@"' _ "$toolchain" "$@"; }
if [ ! -f "$runtime" ]; then
    skip "the checks without Swift" "no Swift runtime found at \`$runtime\` (from \`swift\` on PATH) to hide"
elif ! reason=$(without_swift true 2>&1); then
    skip "the checks without Swift" "\`${namespace[*]}\` + \`mount -t tmpfs\` failed: $reason"
else
    check "$toolchain is empty there, so $runtime is gone" \
        without_swift bash -c '[ -z "$(ls -A "$1")" ] && [ ! -e "$2" ]' _ "$toolchain" "$runtime"
    if [ -n "$control" ]; then
        check "the control $control runs with Swift" "$control" --version
        output=$(without_swift "$control" --version 2>&1)
        check "the control fails there for want of the Swift libraries (exit 127)" bash -c \
            '[ "$1" = 127 ] && [[ "$2" == *"error while loading shared libraries: libswift"* ]] || { echo "exit $1: $2"; exit 1; }' _ "$?" "$output"
    fi
    check "layerpack --version prints $version there" same "$(without_swift "$layerpack" --version 2>&1)" "$version"

    cp -R "$repo/Fixtures/python-layer" "$work/layer"
    rm -rf "$work/layer/dist" "$work/layer/.layerpack"
    expected_hash=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["source_code_hash"])' "$work/layer/layerpack.lock")
    built_hash=$(without_swift "$layerpack" build --json -c "$work/layer/layerpack.yml" 2>"$work/build.err" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["source_code_hash"])' 2>/dev/null)
    check "layerpack build of Fixtures/python-layer there gives its locked hash $expected_hash" \
        same "$built_hash" "$expected_hash"
    [ "$built_hash" = "$expected_hash" ] || sed 's/^/    build: /' "$work/build.err"
    check "the zip it wrote passes unzip -t" unzip -tq "$work/layer/dist/greeting-deps.zip"
fi

echo "== make install"
prefix=/opt/layerpack-install-test
destdir=$work/destdir
if make -C "$repo" --no-print-directory install DESTDIR="$destdir" PREFIX="$prefix" >"$work/install.log" 2>&1; then
    check "make install DESTDIR=… PREFIX=$prefix lays out exactly the staged files" \
        same "$(files_under "$destdir")" "$(sed "s,^,${prefix#/}/," <<<"$expected_files")"
    check "the installed binary is executable (0755) and runs" \
        bash -c '[ "$(stat -c %a "$1")" = 755 ] && "$1" --version' _ "$destdir$prefix/bin/layerpack"
    check "the installed man pages and completions are 0644" bash -c \
        'cd "$1" && for file in share/man/*/* share/*/*/*layerpack*; do [ "$(stat -c %a "$file")" = 644 ] || { echo "$file"; exit 1; }; done' \
        _ "$destdir$prefix"
else
    fail "make install DESTDIR=… PREFIX=$prefix" "$(tail -20 "$work/install.log")"
fi
help=$(make -C "$repo" --no-print-directory help PREFIX="$prefix")
check "make help shows the PREFIX given, not a literal \$(PREFIX)" \
    bash -c '[[ "$1" == *"under $2 "* && "$1" != *"\$(PREFIX)"* ]] || { echo "$1"; exit 1; }' _ "$help" "$prefix"

[ "$skipped" = 0 ] && echo "$passed passed, $failed failed" || echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
