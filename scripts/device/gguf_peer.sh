#!/usr/bin/env bash
# Quantized 7B on one GPU, Tramontane beside llama.cpp in the same call, on GGUF files of
# the Mistral-7B shape with random weights. Logs in $OUT (default ./gguf-peer-out):
#   build.log   both builds (llama.cpp from the anchors folder, in the background)
#   files.log   the files: a random bf16 model (m7b_reference.py make), written as an F16
#               GGUF by tramontane-gguf_convert, quantized by llama.cpp's own
#               llama-quantize to Q8_0 and Q4_K_M
#   peer.log    llama-bench on both files (-p 512,4096 -n 128 -d 0,4096, flash attention)
#   fixtures.log  tramontane-test-cuda-engine on the committed files llama.cpp quantized
#               (test/fixtures/gguf: Q2_K … Q8_0) against the CPU engine, while llama.cpp
#               builds
#   ours.log    tramontane-test-cuda-engine --bench-7b on the same two files (greedy
#               generate through the engine: load, the captured decode step), and
#               tramontane-bench-cuda --weights q8_0 / q4_k_m (random weights of the same
#               types: decode, prefill, appends, per-kernel times)
#   summary.txt the lines to compare
#
# Needs, prepared here: ANCHORS (default .carry-anchors) holding ../shared/anchors
# (build-llama.sh and the llama.cpp source), and .carry-tokenizer/tokenizer.model (Mistral's
# v1 vocabulary: node scripts/make-tokenizers.mjs; llama.cpp needs one in the file).
#
#   scripts/device/gguf_peer.sh
set -uo pipefail
OUT=${OUT:-$PWD/gguf-peer-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh
ANCHORS=${ANCHORS:-.carry-anchors}
BUILD=build/cuda
LLAMA=${LLAMA:-$PWD/build/llama}  # under build/: kept on a warm machine for the next call
M=/tmp/m7b
export PYTHONUNBUFFERED=1

report_machine > "$OUT/build.log" 2>&1
bash "$ANCHORS/build-llama.sh" cuda "$LLAMA" > /tmp/llama-build.log 2>&1 &
llama_pid=$!
python3 scripts/device/m7b_reference.py make --out "$M" --ref /tmp/m7b-ref \
  --tokenizer "${TOKENIZER:-.carry-tokenizer/tokenizer.model}" > /tmp/m7b-make.log 2>&1 &
make_pid=$!
# llama.cpp and the reference model are being made in the background meanwhile.
build_cuda_targets "$BUILD" "$OUT/build.log" tramontane-test-cuda-engine tramontane-bench-cuda \
  tramontane-gguf_convert || exit 1

# The GPU is idle while llama.cpp builds: check the committed llama.cpp files on it.
{
  gguf_fixture_dirs /tmp/gguf-fixtures
  stamp "tramontane-test-cuda-engine on ${#GGUF_FIXTURE_DIRS[@]} llama.cpp files (CPU: exact dequantization)"
  TRAMONTANE_QUANT_KERNEL=reference "$BUILD/bin/tramontane-test-cuda-engine" "${GGUF_FIXTURE_DIRS[@]}"
  echo "exit $?"
} > "$OUT/fixtures.log" 2>&1
grep -E "^FAIL|passed|^exit" "$OUT/fixtures.log" | tail -5

{
  wait $make_pid; echo "m7b make: exit $?"; tail -3 /tmp/m7b-make.log
  stamp "F16 GGUF (tramontane-gguf_convert)"
  mkdir -p /tmp/f16 /tmp/q8_0 /tmp/q4_k_m
  "$BUILD/bin/tramontane-gguf_convert" "$M" /tmp/f16/m7b-F16.gguf F16
  rm -rf "$M"  # disk: the F16 file and the two quantized ones must fit beside it
  ls -la /tmp/f16
} > "$OUT/files.log" 2>&1
wait $llama_pid
echo "llama.cpp build: exit $?" >> "$OUT/build.log"
tail -3 /tmp/llama-build.log >> "$OUT/build.log"
{
  for t in Q8_0 Q4_K_M; do
    stamp "llama-quantize $t"
    d=/tmp/$(echo "$t" | tr 'A-Z' 'a-z')
    "$LLAMA/bin/llama-quantize" /tmp/f16/m7b-F16.gguf "$d/m7b-$t.gguf" "$t" 2>&1 | tail -3
  done
  rm -f /tmp/f16/m7b-F16.gguf
  ls -la /tmp/q8_0 /tmp/q4_k_m
} >> "$OUT/files.log" 2>&1
tail -4 "$OUT/files.log"

for t in q4_k_m q8_0; do
  f=$(ls /tmp/$t/*.gguf)
  stamp "llama-bench $f" >> "$OUT/peer.log"
  "$LLAMA/bin/llama-bench" -m "$f" -ngl 99 -fa 1 -p 512,4096 -n 128 -d 0,4096 -r 3 >> "$OUT/peer.log" 2>&1
  stamp "tramontane-test-cuda-engine --bench-7b $f" >> "$OUT/ours.log"
  "$BUILD/bin/tramontane-test-cuda-engine" --bench-7b "$f" >> "$OUT/ours.log" 2>&1
  stamp "tramontane-bench-cuda --weights $t" >> "$OUT/ours.log"
  "$BUILD/bin/tramontane-bench-cuda" --weights "$t" --reps 5 >> "$OUT/ours.log" 2>&1
done

{
  echo "== llama.cpp"
  grep -E "^\| .*(pp|tg)" "$OUT/peer.log"
  echo "== tramontane"
  grep -E "tok/s|^summary|decode tok|prefill tok|new tokens" "$OUT/ours.log" | grep -v "^  decode at\|kernel" | head -60
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
