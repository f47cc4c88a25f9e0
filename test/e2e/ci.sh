#!/usr/bin/env bash
# The browser end-to-end test as CI runs it, after `npm ci` (which built the native
# addon and the bundles): installs Debian's chromium, ripgrep and libkrb5-dev when
# missing, code-server and playwright-core under ~/.cache/tramontane-e2e (not the
# project's node_modules), packages the .vsix the way a user would, and drives it.
# Screenshots and logs land in out/e2e/.
set -euo pipefail
cd "$(dirname "$0")/../.."

APT=1 bash test/e2e/install.sh
npm run package
npm run test:e2e
