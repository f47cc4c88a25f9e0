#!/usr/bin/env bash
# Quantized weights on a GPU machine (the CUDA backend's plane formats), in one call.
# Logs in $OUT (default ./gguf-out):
#   build.log    cmake + ninja
#   test.log     test-weight_planes (host) and tramontane-test-cuda: every plane format
#                expanded bit-exactly and through every gemv operator, whole models with
#                Q8_0 and a Q4_K_M mix against the CPU forward, the 7B shape in f16 and
#                in the Q4_K_M mix (GPU paths against each other and the CPU)
#   engine.log   GGUF files through the engine with --backend cuda against the CPU
#                engine's exact dequantization (TRAMONTANE_QUANT_KERNEL=reference): the
#                llama.cpp fixtures (test/fixtures/gguf) and the head_dim 64 / 128 models
#                (make_gpu_fixtures.py, which take the gemv decode path) converted to
#                Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K; the safetensors fixtures (Mixtral's
#                too: scripts/device/moe.sh has the mixture checks) and the GPU fixtures as
#                they are; the demo model (Q8_0) with the GGUF files (drafted = plain greedy output among the checks);
#                then tramontane-logits on a file
#   bench.log    tramontane-bench-cuda --weights q4_k_m, q8_0 and f16, one after another
#   summary.txt  the checks' last lines and the benches' summaries
#
#   scripts/device/gguf.sh [--no-bench]
# QUICK=1 (for a short call): no 7B model checks, no safetensors engine checks, the f16
# bench's decode figures only.
set -uo pipefail
OUT=${OUT:-$PWD/gguf-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh
BUILD=build/cuda
export PYTHONUNBUFFERED=1

report_machine > "$OUT/build.log" 2>&1
python3 scripts/reference/make_gpu_fixtures.py --out /tmp/gpu-fixtures > /tmp/gpu-fixtures.log 2>&1 &
fixtures_pid=$!
build_cuda_targets "$BUILD" "$OUT/build.log" tramontane-test-cuda tramontane-test-cuda-engine \
  tramontane-bench-cuda tramontane-logits tramontane-gguf_convert test-weight_planes || exit 1

status=0
{
  stamp "test-weight_planes"
  "$BUILD/bin/test-weight_planes" || status=1
  stamp "tramontane-test-cuda"
  "$BUILD/bin/tramontane-test-cuda" ${QUICK:+--skip-7b} || status=1
} > "$OUT/test.log" 2>&1
grep -E "^FAIL|passed" "$OUT/test.log" | tail -20

wait $fixtures_pid || echo "make_gpu_fixtures.py failed (see engine.log)"
G=/tmp/gguf-models
mkdir -p "$G"
{
  cat /tmp/gpu-fixtures.log | tail -5
  gguf_fixture_dirs "$G"
  dirs=("${GGUF_FIXTURE_DIRS[@]}")
  for m in head_dim_64 head_dim_128; do
    for t in Q8_0 Q4_0 Q5_0 Q4_K Q5_K Q6_K; do
      mkdir -p "$G/$m-$t"
      "$BUILD/bin/tramontane-gguf_convert" "/tmp/gpu-fixtures/$m" "$G/$m-$t/$m-$t.gguf" "$t" && dirs+=("$G/$m-$t")
    done
  done
  dirs+=(models/default)  # the demo model, a Q8_0 GGUF
  stamp "tramontane-test-cuda-engine on ${#dirs[@]} GGUF folders (CPU: exact dequantization)"
  TRAMONTANE_QUANT_KERNEL=reference "$BUILD/bin/tramontane-test-cuda-engine" "${dirs[@]}" || status=1
  if [ -z "${QUICK:-}" ]; then
    stamp "tramontane-test-cuda-engine on the safetensors fixtures and the GPU fixtures"
    "$BUILD/bin/tramontane-test-cuda-engine" test/fixtures/models/*/ \
      /tmp/gpu-fixtures/head_dim_64 /tmp/gpu-fixtures/head_dim_128 || status=1
  fi
  stamp "tramontane-logits --backend cuda on a Q4_K_M file"
  "$BUILD/bin/tramontane-logits" --backend cuda --model test/fixtures/gguf/tiny-llama-Q4_K_M.gguf \
    --tokens 1,5,9 | head -c 300
  echo " (exit $?)"
} > "$OUT/engine.log" 2>&1
grep -E "^FAIL|passed|failed" "$OUT/engine.log" | tail -12

if [ "${1:-}" != "--no-bench" ]; then
  for w in q4_k_m q8_0 f16; do
    extra=""
    [ -n "${QUICK:-}" ] && [ "$w" = f16 ] && extra="--decode-only"
    stamp "tramontane-bench-cuda --weights $w $extra" >> "$OUT/bench.log"
    "$BUILD/bin/tramontane-bench-cuda" --weights "$w" --reps 5 $extra >> "$OUT/bench.log" 2>&1 || status=1
  done
fi

{
  echo "== checks"
  grep -E "^FAIL|passed" "$OUT/test.log" "$OUT/engine.log"
  echo "== benches"
  grep -E -A9 "^summary" "$OUT/bench.log" 2>/dev/null
  grep -E "decode at context (128|4096), graph, PDL on" "$OUT/bench.log" 2>/dev/null
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $status
