#!/usr/bin/env bash
# One call for the Node side with GGUF files (node_e2e.sh, NODE_E2E_GGUF=1), then the
# engine's end-to-end checks on every fixture and models/default (engine_cuda.sh). Each bounded so that the call stays under 600 s; logs
# in $OUT: node_e2e.txt, keystrokes.json, engine_cuda.txt and engine_cuda.sh's logs.
#   carry .node-carry (scripts/device/pack_node_carry.sh)
set -uo pipefail
OUT=${OUT:-$PWD/node-and-engine-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
OUT=$OUT NODE_E2E_GGUF=1 timeout 340 bash scripts/device/node_e2e.sh > "$OUT/node_e2e.txt" 2>&1
echo "node_e2e exit $?"
OUT=$OUT timeout 230 bash scripts/device/engine_cuda.sh > "$OUT/engine_cuda.txt" 2>&1
echo "engine_cuda exit $?"
grep -E "^=== |exit|p50|text:|completion in|chat:|models:|same text|differ" "$OUT/node_e2e.txt" | tail -60
grep -E "passed|FAIL" "$OUT/engine-test.log" | tail -8
