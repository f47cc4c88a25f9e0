#!/usr/bin/env bash
# Mixtral 8x7B on one GPU, Tramontane beside llama.cpp in the same call, on one GGUF file
# of the Mixtral-8x7B shape with random weights. The file is written directly by
# tramontane-gguf_random (the F16 file llama-quantize would start from is 93 GB, more
# than the machine's disk), with llama-quantize's own type per tensor for Q4_K_M.
# Logs in $OUT (default ./moe-peer-out):
#   build.log   both builds (llama.cpp from the anchors folder in the background; a
#               CPU-only build of tramontane-gguf_random first, so that the file is
#               written while the CUDA builds run)
#   files.log   each file: tramontane-gguf_random's time, the file's size
#   peer.log    llama-bench on the file (-p 512,4096 -n 128 -d 0,4096, flash attention)
#   ours.log    tramontane-test-cuda-engine --bench-7b on the same file (load; greedy
#               generate on the fast and the plain path; a 4096-token prompt, then 128
#               tokens at that depth, without drafting), and tramontane-bench-cuda
#               --shape mixtral with the same weight types generated on the GPU
#   summary.txt the lines to compare (rewritten after every step, so a run cut short
#               still leaves one)
#
# TYPES (default Q4_K_M) lists the file types to run, one file at a time (the file is
# deleted before the next is written: Q4_K_M is 28.4 GB and Q8_0 about 50 GB, of a
# 64 GB disk; /dev/shm is used instead where it has room). Both do not fit one 600 s call; a second call with TYPES=Q8_0 on the warm
# machine reuses both builds (/tmp/llama, build/cuda, build/cpu-tools) and only writes
# and times. Each step gets what is left of BUDGET seconds (default 585), less a margin;
# steps that cannot start in time are skipped, and the summary says so.
#
# Needs, prepared here: ANCHORS (default .carry-anchors) holding ../shared/anchors
# (build-llama.sh and the llama.cpp source), and .carry-tokenizer/tokenizer.model
# (Mistral's v1 vocabulary: node scripts/make-tokenizers.mjs).
#
#   scripts/device/moe_peer.sh                 (TYPES="Q8_0" scripts/device/moe_peer.sh)
set -uo pipefail
OUT=${OUT:-$PWD/moe-peer-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh
ANCHORS=${ANCHORS:-.carry-anchors}
TOKENIZER=${TOKENIZER:-.carry-tokenizer/tokenizer.model}
TYPES=${TYPES:-Q4_K_M}
BUDGET=${BUDGET:-585}
BUILD=build/cuda
TOOLS=build/cpu-tools
LLAMA=${LLAMA:-$PWD/build/llama}  # under build/: kept on a warm machine for the next call

# Seconds left of the budget, less a margin for the summary.
left() { echo $(( BUDGET - 10 - ($(now_ms) - t_start) / 1000 )); }
# Runs "$@" under what is left of the budget (at least $1 seconds must be), or says why not.
in_time() {
  local need=$1; shift
  local l; l=$(left)
  if [ "$l" -lt "$need" ]; then echo "SKIPPED (${l} s left, needs about ${need} s): $*"; return 124; fi
  timeout "$l" "$@"
}

summarize() {
  {
    echo "moe_peer: $(date -u), TYPES=$TYPES, $(since "$t_start") s"
    nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1
    echo "== files"
    grep -E "^wrote|GB|SKIPPED|error" "$OUT/files.log" 2>/dev/null
    echo "== llama.cpp (llama-bench)"
    grep -E "^=== |^\| .*(pp|tg)[0-9]|SKIPPED|error" "$OUT/peer.log" 2>/dev/null
    echo "== tramontane"
    grep -E "^=== |^model:|loaded in|run [0-9]: (fast|plain|prefill)|FAIL|SKIPPED|error|^summary|^  (decode|prefill) tok/s|decode limit|^  weights|passed, " \
      "$OUT/ours.log" 2>/dev/null
  } > "$OUT/summary.txt"
}

report_machine > "$OUT/build.log" 2>&1
llama_pid=
if [ ! -x "$LLAMA/bin/llama-bench" ]; then
  bash "$ANCHORS/build-llama.sh" cuda "$LLAMA" > /tmp/llama-build.log 2>&1 &
  llama_pid=$!
fi

# The file's writer first (CPU only, seconds), so the first file is written during the
# CUDA builds.
stamp "tramontane-gguf_random (CPU build)" >> "$OUT/build.log"
if ! { cmake -S native -B "$TOOLS" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRAMONTANE_CUDA=OFF &&
       ninja -C "$TOOLS" tramontane-gguf_random; } >> "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  exit 1
fi
# Where the file of a type goes: FILES if set, else memory (/dev/shm) where it has room
# (writing is then a matter of seconds: the tool itself takes about 2 s), else the disk.
file_of() {  # $1: type
  local need=30 shm
  [ "$1" = Q8_0 ] && need=52
  shm=$(df -B1G --output=avail /dev/shm 2>/dev/null | tail -1 | tr -d ' ')
  local dir=${FILES:-/tmp/moe}
  [ -z "${FILES:-}" ] && [ "${shm:-0}" -ge "$need" ] && dir=/dev/shm/moe
  echo "$dir/mixtral-8x7b-$1.gguf"
}
write_file() {  # $1: type, $2: path
  stamp "tramontane-gguf_random --shape mixtral-8x7b --type $1"
  rm -f /dev/shm/moe/*.gguf /tmp/moe/*.gguf ${FILES:+"$FILES"/*.gguf}
  mkdir -p "$(dirname "$2")"
  df -h /tmp /dev/shm | tail -2
  in_time 60 "$TOOLS/bin/tramontane-gguf_random" --shape mixtral-8x7b --type "$1" --tokenizer "$TOKENIZER" "$2" ||
    { echo "error: tramontane-gguf_random $1 failed"; return 1; }
  echo "$1 file: $2, $(du -B1 "$2" | awk '{printf "%.2f GB", $1 / 1e9}')"
}
first=${TYPES%% *}
first_file=$(file_of "$first")
write_file "$first" "$first_file" > "$OUT/files.log" 2>&1 &
write_pid=$!

# llama.cpp is built in the background meanwhile.
if ! build_cuda_targets "$BUILD" "$OUT/build.log" tramontane-test-cuda-engine tramontane-bench-cuda; then
  kill $write_pid $llama_pid 2>/dev/null
  exit 1
fi
wait $write_pid
tail -3 "$OUT/files.log"
if [ -n "$llama_pid" ]; then
  wait $llama_pid
  echo "llama.cpp build: exit $?" >> "$OUT/build.log"
  tail -3 /tmp/llama-build.log >> "$OUT/build.log"
fi
stamp "builds done" >> "$OUT/build.log"
summarize

for t in $TYPES; do
  f=$first_file
  if [ "$t" != "$first" ]; then
    f=$(file_of "$t")
    write_file "$t" "$f" >> "$OUT/files.log" 2>&1
  fi
  if [ ! -f "$f" ]; then echo "no file for $t" >> "$OUT/files.log"; summarize; continue; fi
  w=$(echo "$t" | tr 'A-Z' 'a-z')
  stamp "llama-bench $t" >> "$OUT/peer.log"
  in_time 90 "$LLAMA/bin/llama-bench" -m "$f" -ngl 99 -fa 1 -p 512,4096 -n 128 -d 0,4096 -r 2 >> "$OUT/peer.log" 2>&1
  summarize
  stamp "tramontane-test-cuda-engine --bench-7b $t" >> "$OUT/ours.log"
  in_time 90 "$BUILD/bin/tramontane-test-cuda-engine" --bench-7b "$f" >> "$OUT/ours.log" 2>&1
  summarize
  stamp "tramontane-bench-cuda --shape mixtral --weights $w" >> "$OUT/ours.log"
  in_time 60 "$BUILD/bin/tramontane-bench-cuda" --shape mixtral --weights "$w" --reps 5 >> "$OUT/ours.log" 2>&1
  summarize
done
rm -f /dev/shm/moe/*.gguf /tmp/moe/*.gguf ${FILES:+"$FILES"/*.gguf}
summarize
cat "$OUT/summary.txt"
