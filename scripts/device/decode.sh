#!/usr/bin/env bash
# Quantized decode on a GPU machine (the gemv kernel variants and their tuner), in one call
# of under 10 minutes. Logs in $OUT (default ./decode-out):
#   build.log    cmake + ninja (tramontane-test-cuda, tramontane-bench-cuda only)
#   test.log     tramontane-test-cuda: every operator against the CPU reference, the tile
#                group variants of the gemv kernel (k_warps) in four block formats, q/k/v
#                in one launch over two row ranges (bit-identical to a launch per range), the
#                experts' products with PDL (bit-identical to without, in the decode graph
#                too), whole models (dense and mixtures, f16 and quantized) on every path
#   bench.log    tramontane-bench-cuda --weights q4_k_m (Mistral 7B shape), --shape mixtral
#                --weights q4_k_m, then (time left) --weights q8_0 and --shape mixtral
#                --weights q8_0; each prints its tuner's notes (the best time of every
#                kernel variant per operator, the candidates timed in the decode graph),
#                the decode figures and the per-kernel table of the decode step
#   summary.txt  the checks' last lines, the plans and tuner notes, the per-kernel tables
#                and the benches' summaries
#
#   scripts/device/decode.sh [--no-bench]
set -uo pipefail
OUT=${OUT:-$PWD/decode-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh
BUILD=build/cuda

report_machine > "$OUT/build.log" 2>&1
build_cuda_targets "$BUILD" "$OUT/build.log" tramontane-test-cuda tramontane-bench-cuda || exit 1
tail -1 "$OUT/build.log"

status=0
# The call has 600 s: each step gets at most what is left of 590 (a hang still leaves the
# logs and the summary), the optional benches only a minute or more.
left() { echo $(( 590 - ($(now_ms) - t_start) / 1000 )); }
{
  stamp "tramontane-test-cuda"
  t=$(left); [ "$t" -gt 240 ] && t=240  # about 100 s when all is well
  timeout "$t" "$BUILD/bin/tramontane-test-cuda" || status=1
  stamp "done"
} > "$OUT/test.log" 2>&1
grep -E "^FAIL|passed" "$OUT/test.log" | tail -20
tail -1 "$OUT/test.log"

if [ "${1:-}" != "--no-bench" ]; then
  # Most wanted first: the Q4_K_M mix on both shapes, then Q8_0.
  for args in "--weights q4_k_m" "--shape mixtral --weights q4_k_m" "--weights q8_0" "--shape mixtral --weights q8_0"; do
    if [ "$(left)" -lt 60 ]; then
      stamp "skipped (time): tramontane-bench-cuda $args" >> "$OUT/bench.log"
      continue
    fi
    stamp "tramontane-bench-cuda $args --reps 5" >> "$OUT/bench.log"
    # shellcheck disable=SC2086
    timeout "$(left)" "$BUILD/bin/tramontane-bench-cuda" $args --reps 5 >> "$OUT/bench.log" 2>&1 || status=1
  done
  stamp "benches done" >> "$OUT/bench.log"
fi

{
  echo "== checks"
  grep -E "^FAIL|passed" "$OUT/test.log"
  echo "== benches"
  grep -E "^=== |^model:|gemv plan|tuner|graph n=1|decode at context|^decode kernels|^  kernel  |sum of kernel times|^error" \
    "$OUT/bench.log" 2>/dev/null
  echo "== per-kernel tables"
  awk '/^decode kernels|^qkv at n = 1/{p=1} p&&/^$/{p=0} p' "$OUT/bench.log" 2>/dev/null
  echo "== summaries"
  grep -E -A10 "^summary" "$OUT/bench.log" 2>/dev/null
} > "$OUT/summary.txt"
# The short form on the console (summary.txt has the rest).
grep -E "passed|^FAIL" "$OUT/test.log" | tail -5
grep -E "^=== \[.*bench|gemv plan|decode step at context|experts' PDL:|decode at context .*(graph, PDL on|experts|untuned)|sum of kernel times" \
  "$OUT/bench.log" 2>/dev/null
exit $status
