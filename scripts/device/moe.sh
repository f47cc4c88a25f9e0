#!/usr/bin/env bash
# Mixtral's mixture of experts on the GPU (cuda/experts.cu, cuda/forward_experts.cu), in
# one call. Logs in $OUT (default ./moe-out):
#   build.log    cmake + ninja
#   test.log     tramontane-test-cuda --skip-7b: among every operator check, the router
#                on exact ties against cpu::route, the experts' gemv products (f16, Q8_0,
#                Q4_K, Q6_K) and combine, and whole random Mixtral-shaped models (8/2
#                and 4/3 experts, head_dim 128) on every path (prefill, chunks, gemv,
#                token by token, rollback, the captured decode graph) against the CPU
#                forward, in f16, the Q4_K_M mix and Q8_0; then Mixtral 8x7B's own widths
#                (2 of its 32 layers, Q4_K_M mix) against the CPU forward
#   engine.log   tramontane-test-cuda-engine with --backend cuda against the CPU engine:
#                the committed Mixtral fixtures (head_dim 8/16: the prefill path; HF
#                reference logits too), two with head_dim 64/128 made here by HF
#                transformers (make_gpu_mixtral_fixtures.py: the decode path and the
#                graph, greedy fast path = plain path), and those two converted to Q8_0
#                and Q4_K (CPU: exact dequantization); auto picks the GPU for each
#   bench.log    tramontane-bench-cuda --shape mixtral --weights q4_k_m, then q8_0
#   summary.txt  the checks' last lines and the benches' summaries
#
#   scripts/device/moe.sh [--no-bench]      BENCH_ONLY=1: the build and the benches only
set -uo pipefail
OUT=${OUT:-$PWD/moe-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh
BUILD=build/cuda
F=/tmp/gpu-moe-fixtures
G=/tmp/gguf-moe-models
export PYTHONUNBUFFERED=1

report_machine > "$OUT/build.log" 2>&1
fixtures_pid=""
if [ -z "${BENCH_ONLY:-}" ]; then
  python3 scripts/reference/make_gpu_mixtral_fixtures.py --out "$F" > /tmp/gpu-moe-fixtures.log 2>&1 &
  fixtures_pid=$!
fi
build_cuda_targets "$BUILD" "$OUT/build.log" tramontane-test-cuda tramontane-test-cuda-engine \
  tramontane-bench-cuda tramontane-gguf_convert || exit 1

status=0
if [ -z "${BENCH_ONLY:-}" ]; then
  {
    stamp "tramontane-test-cuda --skip-7b"
    "$BUILD/bin/tramontane-test-cuda" --skip-7b || status=1
  } > "$OUT/test.log" 2>&1
  grep -E "^FAIL|passed" "$OUT/test.log" | tail -20

  wait "$fixtures_pid" || echo "make_gpu_mixtral_fixtures.py failed (see engine.log)"
  mkdir -p "$G"
  {
    tail -5 /tmp/gpu-moe-fixtures.log
    dirs=(test/fixtures/models/mixtral_*/)
    for m in mixtral_head_dim_64 mixtral_head_dim_128; do
      [ -d "$F/$m" ] || continue
      dirs+=("$F/$m")
      for t in Q8_0 Q4_K; do
        mkdir -p "$G/$m-$t"
        "$BUILD/bin/tramontane-gguf_convert" "$F/$m" "$G/$m-$t/$m-$t.gguf" "$t" && dirs+=("$G/$m-$t")
      done
    done
    stamp "tramontane-test-cuda-engine on ${#dirs[@]} Mixtral folders (CPU: exact dequantization)"
    TRAMONTANE_QUANT_KERNEL=reference "$BUILD/bin/tramontane-test-cuda-engine" "${dirs[@]}" || status=1
  } > "$OUT/engine.log" 2>&1
  grep -E "^FAIL|FAIL|passed|failed" "$OUT/engine.log" | tail -12
fi

if [ "${1:-}" != "--no-bench" ]; then
  for w in q4_k_m q8_0; do
    stamp "tramontane-bench-cuda --shape mixtral --weights $w" >> "$OUT/bench.log"
    "$BUILD/bin/tramontane-bench-cuda" --shape mixtral --weights "$w" --reps 5 >> "$OUT/bench.log" 2>&1 || status=1
  done
fi

{
  echo "== checks"
  grep -E "^FAIL|passed" "$OUT/test.log" "$OUT/engine.log" 2>/dev/null
  grep -E "^  FAIL" "$OUT/engine.log" 2>/dev/null
  echo "== benches"
  grep -E "^model:|^error|decode limit|^summary" -A0 "$OUT/bench.log" 2>/dev/null
  grep -E -A6 "^summary" "$OUT/bench.log" 2>/dev/null
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $status
