#!/usr/bin/env bash
# The Node side on a GPU machine: builds the engine with its CUDA backend and the Node
# addon with CMake directly (no npm, no network), makes a Mistral-7B-shaped random bf16
# model, checks the engine against HF transformers on it, then runs the bundled CLI:
# `complete --backend cuda` and `bench keystrokes --backend cuda`. Everything goes to
# one log, $OUT/log.txt, plus $OUT/keystrokes.json.
#
# Needs .node-carry/, packed on a machine with Node: `npm run build &&
# scripts/device/pack_node_carry.sh` (Node, its API headers, node-addon-api, the v1
# tokenizer.model and the bundled CLI); carry .node-carry.
# and on the GPU machine: nvcc + cuBLASLt, CMake, ninja, Python with torch, transformers,
# safetensors, numpy.
#
#   OUT=/some/dir scripts/device/node_e2e.sh
# NODE_E2E_GGUF=1 also writes the model as a Q4_K GGUF file and runs `complete` and the
# keystroke bench on that file; runs llama.cpp's own Q4_K_M test file on both backends; and
# puts a two-layer Mixtral-8x7B-shaped Q4_K_M file and the 7B GGUF behind the HTTP API on
# the GPU (scripts/device/http_check.py: a completion and a streamed chat answer).
# Without a GPU (a dry run of the build recipe): NODE_E2E_CPU=1 builds the CPU engine and
# the addon the same way and stops.
set -uo pipefail
OUT=${OUT:-$PWD/node-e2e-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=$ROOT/.node-carry
BUILD=${BUILD:-build/cuda}
MODEL=${MODEL:-/tmp/m7b}
REF=${REF:-/tmp/m7b-ref}
export PYTHONUNBUFFERED=1
source scripts/device/common.sh
report_machine
nproc

# --- 1. Node ------------------------------------------------------------------------------
unpack_node "$CARRY" || exit 1

# --- 2. model + HF reference, in the background while the engine builds -----------------
if [ -z "${NODE_E2E_CPU:-}" ]; then
  stamp "start: model + HF reference (background, log at the end of the build)"
  python3 scripts/device/m7b_reference.py make --out "$MODEL" --ref "$REF" \
    --tokenizer "$CARRY/tokenizer.model" > /tmp/m7b-make.log 2>&1 &
  make_pid=$!
fi

# --- 3. engine + addon ----------------------------------------------------------------------
stamp "build: cmake + ninja (engine, CUDA backend, addon, tramontane-logits)"
build_addon "$BUILD" "$CARRY" /tmp/node-e2e-build.log || exit 1
ls -la "$TRAMONTANE_ADDON" || exit 1
ldd "$TRAMONTANE_ADDON" | grep -E "cuda|cublas|not found" || true
node -e "const a = require(process.env.TRAMONTANE_ADDON); console.log('addon exports:', Object.keys(a).join(', '))" || exit 1

if [ -n "${NODE_E2E_CPU:-}" ]; then
  stamp "CPU dry run: complete on models/default"
  node dist/cli.js complete --model models/default --max-tokens 8 "def fibonacci(n):"
  exit $?
fi

stamp "waiting for the model + HF reference"
wait $make_pid
make_rc=$?
cat /tmp/m7b-make.log | grep -v "^\s*$" | tail -20
echo "make exit $make_rc"
if [ $make_rc -ne 0 ]; then exit 1; fi
ls -la "$MODEL" "$REF"
nvidia-smi --query-gpu=memory.used --format=csv 2>&1 || true

# --- 4. engine vs HF on the 7B shape ----------------------------------------------------------
TOKENS=$(cat "$REF/tokens.txt")
runs=()
for spec in "all-at-once:" "chunk-64:--chunk 64" "slack-0:--slack 0" "chunk-64-slack-0:--chunk 64 --slack 0" \
            "token-by-token:--chunk 1"; do
  name=${spec%%:*}
  flags=${spec#*:}
  stamp "tramontane-logits --backend cuda --model $MODEL --tokens <256 ids> $flags"
  t0=$(now_ms)
  # shellcheck disable=SC2086
  timeout 120 "$BUILD"/bin/tramontane-logits --backend cuda --model "$MODEL" --tokens "$TOKENS" $flags \
    > "/tmp/logits-$name.json"
  echo "exit $?, $(since "$t0") s (load + upload + forward + printing)"
  runs+=("$name=/tmp/logits-$name.json")
done
stamp "compare with HF (fp32 eager, bf16 weights upcast)"
timeout 180 python3 scripts/device/m7b_reference.py compare --ref "$REF" "${runs[@]}"
rm -f /tmp/logits-*.json

# --- 5. complete --backend cuda ---------------------------------------------------------------
stamp "node dist/cli.js complete --backend cuda --model $MODEL --max-tokens 64 \"def fibonacci(n):\""
# Each piece of stdout as it arrives, with its time since the command started.
timeout 120 node dist/cli.js complete --backend cuda --model "$MODEL" --max-tokens 64 "def fibonacci(n):" |
  python3 -c '
import os, sys, time
t0 = time.time(); pieces = []
while True:
    b = os.read(0, 65536)
    if not b: break
    pieces.append((time.time() - t0, b))
text = b"".join(b for _, b in pieces).decode("utf-8", "replace")
print("text:", repr(text))
for t, b in pieces[:6]: print(f"  {t * 1000:8.1f} ms  {b!r}")
if len(pieces) > 6: print(f"  ... {len(pieces) - 6} more pieces; last at {pieces[-1][0] * 1000:.1f} ms")
if len(pieces) > 2:
    span = pieces[-2][0] - pieces[0][0]
    print(f"{len(pieces)} stdout pieces; first at {pieces[0][0] * 1000:.0f} ms (load + prompt), "
          f"first to last piece {span * 1000:.0f} ms ({(len(pieces) - 2) / span if span > 0 else 0:.1f} pieces/s)")
'
echo "exit ${PIPESTATUS[0]}"
t0=$(now_ms)
timeout 120 node dist/cli.js complete --backend cuda --model "$MODEL" --max-tokens 64 "def fibonacci(n):" > /dev/null
echo "exit $?; again, whole command (Node start, model load and upload, prompt, 64 tokens): $(since "$t0") s"

# --- 6. bench keystrokes --backend cuda ---------------------------------------------------------
stamp "node dist/cli.js bench keystrokes --model $MODEL --backend cuda --chars 200 --max-tokens 16 --json"
timeout 150 node dist/cli.js bench keystrokes --model "$MODEL" --backend cuda --chars 200 --max-tokens 16 --json \
  > "$OUT/keystrokes.json"
echo "exit $?"
python3 - "$OUT/keystrokes.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("keystroke -> first token: p50 %.1f ms  p95 %.1f ms" % (d["firstMs"]["p50"], d["firstMs"]["p95"]))
print("keystroke -> full suggestion: p50 %.1f ms  p95 %.1f ms" % (d["completeMs"]["p50"], d["completeMs"]["p95"]))
print("computed tokens / keystroke: p50 %s; %d answered, %d superseded, prompt %d tokens"
      % (d["computedPerKeystroke"]["p50"], d["answered"], d["superseded"], d["promptTokensMedian"]))
PY

# --- 7. the same model as a GGUF file (Q4_K), through the CLI on the GPU -------------------
if [ -n "${NODE_E2E_GGUF:-}" ]; then
  G=/tmp/m7b-gguf/m7b-Q4_K.gguf
  mkdir -p "$(dirname "$G")"
  stamp "tramontane-gguf_convert $MODEL $G Q4_K"
  ninja -C "$BUILD" tramontane-gguf_convert > /dev/null && "$BUILD"/bin/tramontane-gguf_convert "$MODEL" "$G" Q4_K
  ls -la "$G"
  stamp "node dist/cli.js complete --backend cuda --model $G --max-tokens 64"
  timeout 120 node dist/cli.js complete --backend cuda --model "$G" --max-tokens 64 "def fibonacci(n):" | head -c 600
  echo "exit ${PIPESTATUS[0]}"
  stamp "node dist/cli.js bench keystrokes --model $G --backend cuda --chars 200 --max-tokens 16"
  timeout 150 node dist/cli.js bench keystrokes --model "$G" --backend cuda --chars 200 --max-tokens 16
  echo "exit $?"

  # A file llama.cpp itself wrote and quantized (Q4_K_M mix), on both backends.
  L=test/fixtures/gguf/tiny-llama-Q4_K_M.gguf
  for backend in cuda cpu; do
    stamp "node dist/cli.js complete --backend $backend --model $L --max-tokens 24"
    timeout 60 node dist/cli.js complete --backend "$backend" --model "$L" --max-tokens 24 "def fibonacci(n):" \
      > "/tmp/llama-$backend.txt"
    echo "exit $?"
    od -c "/tmp/llama-$backend.txt" | head -4
  done
  cmp -s /tmp/llama-cuda.txt /tmp/llama-cpu.txt && echo "same text on both backends" ||
    echo "texts differ between the backends (f16 against fp32 on a random model: near-ties)"

  # Mixtral: a two-layer Mixtral-8x7B-shaped Q4_K_M file through the HTTP API on the GPU.
  X=/tmp/m7b-gguf/mixtral-2layers-Q4_K_M.gguf
  stamp "tramontane-gguf_random --shape mixtral-8x7b --type Q4_K_M --layers 2"
  ninja -C "$BUILD" tramontane-gguf_random > /dev/null &&
    "$BUILD"/bin/tramontane-gguf_random --shape mixtral-8x7b --type Q4_K_M --layers 2 \
      --tokenizer "$CARRY/tokenizer.model" "$X"
  ls -la "$X"
  stamp "node dist/cli.js complete --backend cuda --model $X --max-tokens 24"
  timeout 60 node dist/cli.js complete --backend cuda --model "$X" --max-tokens 24 "def fibonacci(n):" | od -c | head -3
  echo "exit ${PIPESTATUS[0]}"
  for M in "$X" "$G"; do
    stamp "node dist/cli.js serve --http 127.0.0.1:8931 --no-auth --backend cuda --model $M"
    node dist/cli.js serve --http 127.0.0.1:8931 --no-auth --backend cuda --model "$M" > /tmp/serve-http.log 2>&1 &
    serve_pid=$!
    timeout 120 python3 scripts/device/http_check.py http://127.0.0.1:8931
    echo "exit $?"
    kill "$serve_pid"
    wait "$serve_pid"
    tail -5 /tmp/serve-http.log
  done
fi
stamp "done"
