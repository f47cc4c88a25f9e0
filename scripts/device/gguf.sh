#!/usr/bin/env bash
# GGUF on a GPU machine, writing the logs to $OUT (default ./gguf-out):
#   gguf-build.log   cmake + ninja (the CUDA build, so the CUDA-only paths compile)
#   gguf-tests.log   the native GGUF tests (reader, block formats, models) on this CPU
#   gguf-cuda.log    F16 GGUF files (converted from the fixtures and the demo model) through
#                    tramontane-test-cuda-engine (CUDA against the CPU engine); a quantized
#                    file with --backend cuda (one-line refusal) and --backend auto (CPU)
#   gguf-bench.log   tramontane-bench_gguf, 2 threads: the demo model as safetensors (bf16)
#                    and as GGUF BF16 / Q8_0 / Q4_0, the llama.cpp fixtures
#
#   scripts/device/gguf.sh
set -uo pipefail
OUT=${OUT:-$PWD/gguf-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh

BUILD=build/cuda
stamp "build" | tee "$OUT/gguf-build.log"
if ! { cmake -S native -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
       ninja -C "$BUILD" tramontane-test-cuda-engine tramontane-logits tramontane-gguf_convert \
         tramontane-bench_gguf test-gguf_file test-gguf_model test-quant_blocks; } >> "$OUT/gguf-build.log" 2>&1; then
  tail -60 "$OUT/gguf-build.log"
  exit 1
fi
report_machine > "$OUT/gguf-tests.log" 2>&1
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | cut -c1-200 >> "$OUT/gguf-tests.log"

status=0
for t in test-gguf_file test-quant_blocks test-gguf_model; do
  stamp "$t" >> "$OUT/gguf-tests.log"
  "$BUILD/bin/$t" >> "$OUT/gguf-tests.log" 2>&1 || status=1
done
tail -3 "$OUT/gguf-tests.log"

G=/tmp/gguf-models
mkdir -p "$G"
{
  stamp "F16 GGUF on CUDA against the CPU engine"
  for m in gqa_window gqa_window_bf16 consolidated head_dim_mismatch; do
    mkdir -p "$G/$m" && "$BUILD/bin/tramontane-gguf_convert" "test/fixtures/models/$m" "$G/$m/$m-F16.gguf" F16
  done
  mkdir -p "$G/demo" && "$BUILD/bin/tramontane-gguf_convert" models/default "$G/demo/demo-F16.gguf" F16
  "$BUILD/bin/tramontane-test-cuda-engine" "$G"/gqa_window/ "$G"/gqa_window_bf16/ "$G"/consolidated/ \
    "$G"/head_dim_mismatch/ "$G"/demo/ || status=1
  stamp "a quantized file on the cuda backend: one line, exit 1"
  "$BUILD/bin/tramontane-logits" --backend cuda --model test/fixtures/gguf/tiny-llama-Q4_K_M.gguf --tokens 1,5,9
  echo "exit $?"
  stamp "the same file on auto: the CPU"
  "$BUILD/bin/tramontane-logits" --backend auto --model test/fixtures/gguf/tiny-llama-Q4_K_M.gguf --tokens 1,5,9 | head -c 200
  echo
} > "$OUT/gguf-cuda.log" 2>&1
tail -12 "$OUT/gguf-cuda.log"

{
  for t in BF16 Q8_0 Q4_0; do "$BUILD/bin/tramontane-gguf_convert" models/default "$G/demo-$t.gguf" "$t"; done
  stamp "CPU bench, 2 threads"
  "$BUILD/bin/tramontane-bench_gguf" --threads 2 models/default "$G/demo-BF16.gguf" "$G/demo-Q8_0.gguf" \
    "$G/demo-Q4_0.gguf" test/fixtures/gguf/tiny-llama-Q8_0.gguf test/fixtures/gguf/tiny-llama-Q4_K_M.gguf \
    test/fixtures/gguf/tiny-llama-Q5_K_M.gguf
  TRAMONTANE_QUANT_KERNEL=scalar "$BUILD/bin/tramontane-bench_gguf" --threads 2 "$G/demo-Q8_0.gguf" \
    test/fixtures/gguf/tiny-llama-Q4_K_M.gguf
} > "$OUT/gguf-bench.log" 2>&1
cat "$OUT/gguf-bench.log"
exit $status
