#!/usr/bin/env bash
# Old against new on one GPU, in one call: builds this tree and a baseline tree (another
# checkout of the repository), times both with tramontane-bench-cuda on the same card,
# then checks this tree: the kernel and model checks (tramontane-test-cuda), the engine
# checks (engine_cuda.sh) and, when .node-carry/ is present (pack_node_carry.sh), the Node side
# against HF (node_e2e.sh). Seven files in $OUT (default ./compare-out):
#   build.log       machine, both builds
#   bench-base.log  tramontane-bench-cuda of the baseline
#   bench-new.log   tramontane-bench-cuda of this tree
#   test.log        tramontane-test-cuda
#   engine.log      engine_cuda.sh's logs, one after the other
#   node-e2e.log    node_e2e.sh's log and keystrokes.json
#   summary.txt     the two benches' summaries side by side, the checks' last lines
#
#   scripts/device/compare.sh BASELINE_DIR [extra arguments for both benches]
set -uo pipefail
BASE=$(cd "${1:?usage: compare.sh BASELINE_DIR}" && pwd)
shift
OUT=${OUT:-$PWD/compare-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/device/common.sh

{
  report_machine
  nproc
  stamp "build: baseline ($BASE) and this tree, side by side"
} > "$OUT/build.log" 2>&1
b0=$(date +%s)
( cd "$BASE" && cmake -S native -B build/cuda -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/base-build.log 2>&1 &&
  ninja -C build/cuda -j 8 tramontane-bench-cuda >> /tmp/base-build.log 2>&1 ) &
base_pid=$!
cmake -S native -B build/cuda -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/new-build.log 2>&1 &&
  ninja -C build/cuda -j 8 tramontane-bench-cuda tramontane-test-cuda tramontane-test-cuda-engine \
    tramontane-logits >> /tmp/new-build.log 2>&1
new_rc=$?
wait $base_pid
base_rc=$?
{
  echo "--- baseline build (exit $base_rc)"; grep -E "Tramontane:|error" /tmp/base-build.log; tail -3 /tmp/base-build.log
  echo "--- this tree's build (exit $new_rc)"; grep -E "Tramontane:|error|warning" /tmp/new-build.log; tail -3 /tmp/new-build.log
  echo "both builds: $(( $(date +%s) - b0 )) s"
} >> "$OUT/build.log" 2>&1
cat "$OUT/build.log"
if [ $new_rc -ne 0 ] || [ $base_rc -ne 0 ]; then
  tail -40 /tmp/new-build.log /tmp/base-build.log >> "$OUT/build.log"
  exit 1
fi

status=0
# The GPU does one thing at a time from here: benches first, alone on the card.
stamp "bench: baseline"
"$BASE"/build/cuda/bin/tramontane-bench-cuda "$@" > "$OUT/bench-base.log" 2>&1 || status=1
stamp "bench: this tree"
build/cuda/bin/tramontane-bench-cuda "$@" > "$OUT/bench-new.log" 2>&1 || status=1
{
  for which in base new; do
    echo "--- $which"
    sed -n '/^summary/,$p' "$OUT/bench-$which.log"
  done
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"

stamp "tramontane-test-cuda"
build/cuda/bin/tramontane-test-cuda > "$OUT/test.log" 2>&1 || status=1
grep -E "^FAIL|passed" "$OUT/test.log" | tee -a "$OUT/summary.txt"

stamp "engine_cuda.sh"
mkdir -p /tmp/engine-out
OUT=/tmp/engine-out bash scripts/device/engine_cuda.sh > /tmp/engine-console.log 2>&1 || status=1
for f in /tmp/engine-out/*; do echo "=== $(basename "$f")"; cat "$f"; done > "$OUT/engine.log"
grep -E "^FAIL|passed|failed" /tmp/engine-out/engine-test.log | tail -5 | tee -a "$OUT/summary.txt"

if [ -f .node-carry/node.xz ]; then
  stamp "node_e2e.sh"
  mkdir -p /tmp/node-out
  OUT=/tmp/node-out bash scripts/device/node_e2e.sh > /tmp/node-console.log 2>&1 || status=1
  { cat /tmp/node-console.log; echo "=== keystrokes.json"; cat /tmp/node-out/keystrokes.json 2>/dev/null; } \
    > "$OUT/node-e2e.log"
  grep -E "rel|agree|exit" /tmp/node-console.log | head -20 | tee -a "$OUT/summary.txt"
fi
stamp "done (status $status)"
exit $status
