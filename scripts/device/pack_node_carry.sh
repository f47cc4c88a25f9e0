#!/usr/bin/env bash
# Packs what the Node-side device scripts (node_e2e.sh, gpu_soak.sh, compare.sh) need on a
# GPU machine that has no Node, into .node-carry/ (ignored; pass it as a carry path):
#   node.xz        this machine's node binary, stripped
#   files.tar.xz   the five Node-API headers (include/node), node-addon-api's headers,
#                  Mistral's v1 tokenizer.model and the bundled CLI (cli.js)
# Everything but the binary in one archive: the carry limit counts every byte of the
# working tree too, and the headers and the CLI compress about 6×. unpack_node
# (common.sh) restores the layout on the device.
#
#   npm run build && scripts/device/pack_node_carry.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/cli.js ] || { echo "dist/cli.js missing: run npm run build first" >&2; exit 1; }
carry=.node-carry
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/include/node" "$stage/node-addon-api"
node_inc=$(dirname "$(command -v node)")/../include/node
[ -f "$node_inc/node_api.h" ] || node_inc=/usr/include/node
for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h node_version.h; do
  cp "$node_inc/$h" "$stage/include/node/"
done
for f in napi.h napi-inl.h napi-inl.deprecated.h index.js package.json; do
  cp "node_modules/node-addon-api/$f" "$stage/node-addon-api/"
done
node scripts/make-tokenizers.mjs "$stage/tokenizers" > /dev/null
cp "$stage/tokenizers/v1/tokenizer.model" "$stage/tokenizer.model"
cp dist/cli.js "$stage/cli.js"

rm -rf "$carry"
mkdir -p "$carry"
strip -o "$stage/node" "$(command -v node)"
xz -9e -T0 -c "$stage/node" > "$carry/node.xz"
tar -C "$stage" -cf - include node-addon-api tokenizer.model cli.js | xz -9e -T0 > "$carry/files.tar.xz"
du -b "$carry"/* "$carry"
