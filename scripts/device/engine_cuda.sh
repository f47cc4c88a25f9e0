#!/usr/bin/env bash
# Builds the engine with its CUDA backend on a GPU machine and checks it end to end
# (no Node needed), writing the logs to $OUT (default ./cuda-out):
#   engine-build.log    cmake + ninja output
#   gpu-fixtures.log    scripts/reference/make_gpu_fixtures.py (head_dim 64 and 128 models
#                       with HF reference logits, made in /tmp: torch + transformers)
#   engine-test.log     tramontane-test-cuda-engine on every fixture, models/default and
#                       the head_dim 64/128 models
#   engine-cli.log      tramontane-logits --backend cuda (a bf16 and an f16 model)
#   engine-bench.log    with BENCH_7B=1: tramontane-test-cuda-engine --bench-7b (writes a
#                       random Mistral-7B-shaped model, 14.5 GB, to /tmp/m7b-engine; times
#                       greedy generate through the graph fast path and the plain path)
#
#   scripts/device/engine_cuda.sh [extra ninja targets, e.g. tramontane-test-cuda]
set -uo pipefail
OUT=${OUT:-$PWD/cuda-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."

BUILD=build/cuda
start=$(date +%s)
if ! { cmake -S native -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
       ninja -C "$BUILD" tramontane-test-cuda-engine tramontane-logits "$@"; } > "$OUT/engine-build.log" 2>&1; then
  tail -60 "$OUT/engine-build.log"
  exit 1
fi
echo "build: $(( $(date +%s) - start )) s"

GPU_FIXTURES=/tmp/gpu-fixtures
python3 scripts/reference/make_gpu_fixtures.py --out "$GPU_FIXTURES" > "$OUT/gpu-fixtures.log" 2>&1 ||
  echo "make_gpu_fixtures.py failed (see gpu-fixtures.log); those two models are not checked"

status=0
# models/default is a Q8_0 GGUF: the CPU reference dequantizes it exactly (a no-op for the
# safetensors fixtures).
TRAMONTANE_QUANT_KERNEL=reference "$BUILD"/bin/tramontane-test-cuda-engine test/fixtures/models/*/ models/default \
  $(ls -d "$GPU_FIXTURES"/*/ 2>/dev/null) 2>&1 | tee "$OUT/engine-test.log" || status=1

{
  echo "\$ tramontane-logits --backend cuda --model test/fixtures/models/gqa_window_bf16 --tokens 1,5,9"
  "$BUILD"/bin/tramontane-logits --backend cuda --model test/fixtures/models/gqa_window_bf16 \
    --tokens 1,5,9 | head -c 400
  echo
  echo "\$ tramontane-logits --backend cuda --model test/fixtures/models/gqa_window_f16 --tokens 1,5,9"
  "$BUILD"/bin/tramontane-logits --backend cuda --model test/fixtures/models/gqa_window_f16 \
    --tokens 1,5,9 > /tmp/f16-logits.json
  rc=$?
  head -c 400 /tmp/f16-logits.json
  echo
  echo "exit status $rc (f16 weights are used as they are)"
} > "$OUT/engine-cli.log" 2>&1
cat "$OUT/engine-cli.log"
if [ "${BENCH_7B:-0}" = 1 ]; then
  mkdir -p /tmp/m7b-engine
  "$BUILD"/bin/tramontane-test-cuda-engine --bench-7b /tmp/m7b-engine 2>&1 |
    tee "$OUT/engine-bench.log" || status=1
fi
exit $status
