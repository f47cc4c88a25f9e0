#!/usr/bin/env bash
# Builds the CUDA backend on a GPU machine, runs its correctness checks and the
# benchmark, and writes the logs to $OUT (default ./cuda-out):
#   machine.txt  the GPU, driver, clocks and toolkit as found
#   build.log    cmake + ninja output
#   sass.txt     per-kernel instruction counts (16-byte loads, tensor-core ops, spills)
#   test.log     tramontane-test-cuda
#   bench.log    tramontane-bench-cuda
#
#   scripts/device/cuda.sh [all|test|bench] [extra arguments for the bench]
set -uo pipefail
what=${1:-all}
shift || true
OUT=${OUT:-$PWD/cuda-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu,persistence_mode --format=csv
  nvcc --version | tail -2
  nproc
} > "$OUT/machine.txt" 2>&1

BUILD=build/cuda
start=$(date +%s)
if ! { cmake -S native -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
       ninja -C "$BUILD" tramontane-test-cuda tramontane-bench-cuda; } > "$OUT/build.log" 2>&1; then
  tail -60 "$OUT/build.log"
  exit 1
fi
echo "build: $(( $(date +%s) - start )) s"

# What the compiler made of the hot kernels: 16-byte loads, tensor-core ops, local memory.
{
  for o in "$BUILD"/CMakeFiles/tramontane_cuda.dir/cuda/*.cu.o; do
    cuobjdump -sass "$o" 2>/dev/null | awk -v f="$(basename "$o")" '
      /Function :/ { if (name) printf "%-40s %-70.70s LDG128 %4d HMMA %4d LDSM %4d LDL/STL %3d\n", f, name, ldg, mma, ldsm, lcl;
                     name=$3; ldg=0; mma=0; ldsm=0; lcl=0 }
      /LDG.*128/ { ldg++ } /HMMA/ { mma++ } /LDSM/ { ldsm++ } /LDL|STL/ { lcl++ }
      END { if (name) printf "%-40s %-70.70s LDG128 %4d HMMA %4d LDSM %4d LDL/STL %3d\n", f, name, ldg, mma, ldsm, lcl }'
  done
} > "$OUT/sass.txt" 2>&1

status=0
if [ "$what" = all ] || [ "$what" = test ]; then
  "$BUILD"/bin/tramontane-test-cuda 2>&1 | tee "$OUT/test.log" || status=1
fi
if [ "$what" = all ] || [ "$what" = bench ]; then
  "$BUILD"/bin/tramontane-bench-cuda "$@" 2>&1 | tee "$OUT/bench.log" || status=1
fi
exit $status
