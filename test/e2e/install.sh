#!/usr/bin/env bash
# Installs what the browser end-to-end test needs, outside the project's node_modules:
# code-server (a real VS Code served to a browser) and playwright-core (drives Debian's
# chromium). Idempotent: a second run with the same versions does nothing.
#
#   TRAMONTANE_E2E_HOME   where to install (default: ~/.cache/tramontane-e2e)
#
# Needs Debian's chromium, ripgrep and libkrb5-dev (VS Code's kerberos module builds
# against it); with APT=1 this script installs them.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3 # the last release that runs on Node 20
PLAYWRIGHT_VERSION=1.65.1
RIPGREP_PACKAGE_VERSION=1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

home="${TRAMONTANE_E2E_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tramontane-e2e}"
stamp="$home/.installed-$CODE_SERVER_VERSION-$PLAYWRIGHT_VERSION"

if [ "${APT:-0}" = 1 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
  [ -e /usr/include/krb5.h ] || [ -e /usr/include/krb5/krb5.h ] || missing+=(libkrb5-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
fi

for tool in chromium rg; do
  command -v "$tool" >/dev/null 2>&1 || { echo "e2e install: $tool is missing (apt-get install chromium ripgrep libkrb5-dev)" >&2; exit 1; }
done

if [ -e "$stamp" ] && [ -x "$home/node_modules/.bin/code-server" ]; then
  echo "e2e install: code-server $CODE_SERVER_VERSION and playwright-core $PLAYWRIGHT_VERSION already in $home"
  exit 0
fi

# @vscode/ripgrep downloads its binary in postinstall unless the archive is already in
# its cache: hand it Debian's rg so the install works offline.
tmp="${TMPDIR:-/tmp}"
cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PACKAGE_VERSION"
if [ ! -s "$cache/$RIPGREP_ASSET" ]; then
  mkdir -p "$cache"
  work="$(mktemp -d)"
  cp "$(command -v rg)" "$work/rg"
  tar -czf "$cache/$RIPGREP_ASSET" -C "$work" rg
  rm -rf "$work"
fi

mkdir -p "$home"
cd "$home"
[ -e package.json ] || echo '{ "name": "tramontane-e2e-tools", "private": true }' > package.json

# node-gyp builds native modules (argon2, kerberos, node-pty) against the system's headers.
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
export npm_config_yes=true
# code-server's postinstall refuses to run as root without it.
export npm_config_unsafe_perm=true
npm install --no-audit --no-fund --no-save --loglevel=error \
  "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_VERSION"

"$home/node_modules/.bin/code-server" --version
touch "$stamp"
echo "e2e install: done in $home"
