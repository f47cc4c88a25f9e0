#!/usr/bin/env bash
# Installs llama.cpp's llama-server from Debian's packages into a cache folder and prints
# the path of a llama-server command, for test/integration/remote-llama-server.test.ts:
#
#   export TRAMONTANE_PEER_LLAMA_SERVER=$(bash scripts/ci/install-llama-server.sh)
#
# Debian ships llama.cpp only in unstable (sid), built against a newer C library than a
# stable release has. Installing it would upgrade the machine's C library, so the pinned
# packages below are unpacked into a folder of their own instead (nothing is installed
# system-wide), and the command runs llama-server through that folder's dynamic loader.
# (Building from source is not an option: the archive that CI reaches serves the binary
# packages of llama.cpp and ggml, not their source packages.)
#
# apt checks each package against sid's signed index (Debian's archive key); the
# sha256 below pins the exact files. A second run finds the folder and only prints.
# Cache: ${XDG_CACHE_HOME:-~/.cache}/tramontane/llama-server-<version>.
set -euo pipefail

VERSION=0.7.0+dfsg-2
# package  version  sha256 of the .deb (amd64, from sid's Packages index)
PACKAGES='
llama.cpp-tools 1:0.7.0+dfsg-2 3007c170f116891974bd37d5ba802f094c7d020412f2100cc71582fc8530895c
libllama0 1:0.7.0+dfsg-2 7d49cde5582ccdc8c454b379ba627eea8c95813b6a9c70628653101f629204d6
libggml0 0.27.0-1 f621153d6615a8dd1ac4b14e110cbafca34cc66f551367c5f6326f71fb141b0d
libc6 2.43-7 5c71715c51103beb4fbba9fe9f8dff604af6610dfa71c70bff342f54a7860803
libgcc-s1 16.2.0-4 d251ea642c3795e8723ac2b9eeebe511467ca04590ba70f3d555a7616787d7e3
libstdc++6 16.2.0-4 cef6654bba1daece0bc0dbe0e3f69fa5a26eb6ba139f3536e6f4806bd787f3e7
libgomp1 16.2.0-4 11cb09fd79c2de0acbdc23b0eb350445c563b16a36d879b355dfd45a5d2d6d3e
libssl3t64 3.6.5-1 0a0ec84fe860c5c93c74d53cbb071aea0793327a3761b483080e9d7b73c21b37
libzstd1 1.5.7+dfsg-4 93e7930e4c25b918f1dd980cc1c6d4487654a248f5fa71eacb976ed7bbe954bd
zlib1g 1:1.3.dfsg+really1.3.2-4 8506ce550a81ac14b047608e0df121037d9cbb10c3cc28446f68cf8c1d9d31ce
'
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

fail() {
  echo "install-llama-server: $*" >&2
  exit 1
}

CACHE="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/tramontane"
DEST="$CACHE/llama-server-$VERSION"
COMMAND="$DEST/bin/llama-server"
if [ -x "$COMMAND" ] && "$COMMAND" --version >/dev/null 2>&1; then
  echo "$COMMAND"
  exit 0
fi

[ "$(uname -m)" = x86_64 ] || fail "the pinned packages are for x86_64, this machine is $(uname -m)"
for tool in apt-get dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || fail "needs $tool (a Debian system)"
done
[ -f "$KEYRING" ] || fail "no $KEYRING (apt-get install debian-archive-keyring)"

# The Debian archive this machine's apt already uses (sid lives beside its stable release).
MIRROR=$(sed -nE 's#^(URIs:|deb( \[[^]]*\])?)[[:space:]]+([^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)
[ -n "$MIRROR" ] || fail "no Debian archive (a .../debian URI) in /etc/apt/sources.list or sources.list.d"

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/llama-server-tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/apt.log"

# apt with a sources list, index and cache of its own: the machine's apt is left as it is.
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/debs"
echo "deb [signed-by=$KEYRING] $MIRROR sid main" > "$WORK/apt/sources.list"
touch "$WORK/apt/status"
apt=(apt-get -q
  -o Dir::Etc::SourceList="$WORK/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o Dir::State::Lists="$WORK/apt/lists" -o Dir::State::status="$WORK/apt/status"
  -o Dir::Cache="$WORK/apt/cache" -o APT::Architectures::=amd64 -o Acquire::Languages=none
  -o APT::Sandbox::User=root)
"${apt[@]}" update --error-on=any >"$LOG" 2>&1 || fail "apt-get update of Debian sid failed: $(grep -E '^(E|W):' "$LOG" | head -1)"

wanted=()
while read -r package version sha; do
  [ -n "$package" ] || continue
  wanted+=("$package=$version")
done <<<"$PACKAGES"
(cd "$WORK/debs" && "${apt[@]}" download "${wanted[@]}") >>"$LOG" 2>&1 ||
  fail "apt-get download failed ($(grep -m1 -E '^E:' "$LOG")): if sid moved on, pin the versions it serves in $0"

while read -r package version sha; do
  [ -n "$package" ] || continue
  deb=("$WORK/debs/${package}_"*.deb)
  echo "$sha  ${deb[0]}" | sha256sum --quiet -c - >/dev/null 2>&1 ||
    fail "$package $version: the downloaded file's sha256 is not the pinned one"
  dpkg-deb -x "${deb[0]}" "$WORK/root"
done <<<"$PACKAGES"

lib="$WORK/root/usr/lib/x86_64-linux-gnu"
[ -x "$WORK/root/usr/bin/llama-server" ] || fail "llama.cpp-tools $VERSION has no usr/bin/llama-server"
# ggml looks for its CPU backends (one per instruction set) beside the executable, which
# here is the dynamic loader; Debian's own path for them is under /usr.
for backend in "$lib"/ggml/backends0/libggml-cpu-*.so; do
  ln -s "ggml/backends0/${backend##*/}" "$lib/${backend##*/}"
done

mkdir -p "$WORK/bin"
cat > "$WORK/bin/llama-server" <<'EOF'
#!/bin/sh
# llama.cpp's llama-server from Debian sid, run with the C library it was built against.
root="$(cd "$(dirname "$0")/.." && pwd)/root"
lib="$root/usr/lib/x86_64-linux-gnu"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:$lib/llama" "$root/usr/bin/llama-server" "$@"
EOF
chmod +x "$WORK/bin/llama-server"
"$WORK/bin/llama-server" --version >"$LOG" 2>&1 || fail "llama-server does not start: $(tail -1 "$LOG")"

rm -rf "$WORK/apt" "$WORK/debs" "$DEST"
mv "$WORK" "$DEST"
trap - EXIT
echo "$COMMAND"
