#!/usr/bin/env bash
# Builds every fuzz target (native/fuzz/fuzz_*.cpp) with clang, ASan and UBSan, and runs
# each for SECONDS over its seeds (native/fuzz/corpus/<target>/), one job each. New
# inputs go to a scratch directory, not to the committed seeds. Exits non-zero on the
# first crash, leak, sanitizer report or timeout, with the input kept in
# build/fuzz/artifacts/ (replay: build/fuzz/bin/tramontane-fuzz-<target> FILE).
#
#   native/fuzz/run.sh [SECONDS]          (default 25)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-25}
build=build/fuzz

cmake -S native -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DTRAMONTANE_CUDA=OFF -DTRAMONTANE_FUZZ=ON >/dev/null
ninja -C "$build" -j 2 tramontane-fuzzers

mkdir -p "$build/artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for exe in "$build"/bin/tramontane-fuzz-*; do
  target=${exe##*/tramontane-fuzz-}
  seeds=native/fuzz/corpus/$target
  mkdir -p "$scratch/$target"
  args=("$scratch/$target")
  [ -d "$seeds" ] && args+=("$seeds")
  echo "fuzz $target: ${seconds} s"
  status=0
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" "${args[@]}" >"$scratch/$target.log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units' "$scratch/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$scratch/$target.log"
    echo "fuzz $target failed (exit $status)"
    exit 1
  fi
done
