#!/usr/bin/env bash
# Speculative decoding = plain greedy decoding on the GPU, at the fixtures' shapes and the
# 7B shape, in one short call (no Node, no torch). Logs in $OUT (default ./drafting-out):
#   build.log      cmake + ninja (tramontane-check_drafting, tramontane-gguf_random only)
#   fixtures.log   tramontane-check_drafting --backend cuda on every committed fixture and
#                  models/default (a mixture of experts must draft nothing on the GPU)
#   7b.log         the same on random Mistral-7B-shaped GGUF files (F16 and Q4_K_M,
#                  written to /dev/shm in seconds), without a window and with 4096
#
#   scripts/device/drafting.sh
set -uo pipefail
OUT=${OUT:-$PWD/drafting-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
source scripts/device/common.sh
BUILD=build/cuda

report_machine > "$OUT/build.log" 2>&1
build_cuda_targets "$BUILD" "$OUT/build.log" tramontane-check_drafting tramontane-gguf_random || exit 1

status=0
"$BUILD"/bin/tramontane-check_drafting --backend cuda test/fixtures/models/*/ models/default \
  > "$OUT/fixtures.log" 2>&1 || status=1
grep -E "^==|FAIL|drafting:|passed" "$OUT/fixtures.log"

FILES=/dev/shm/tramontane-drafting
mkdir -p "$FILES"
for type in F16 Q4_K_M; do
  file=$FILES/mistral-7b-$type.gguf
  { stamp "tramontane-gguf_random --shape mistral-7b --type $type"
    "$BUILD"/bin/tramontane-gguf_random --shape mistral-7b --type "$type" \
      --tokenizer models/default/tokenizer.model "$file" || status=1
    for window_flag in "" "--sliding-window 4096"; do
      stamp "check_drafting $type ${window_flag:-(no window)}"
      # shellcheck disable=SC2086  # the flag and its value: two words, or none
      "$BUILD"/bin/tramontane-check_drafting --backend cuda $window_flag "$file" || status=1
    done
    rm -f "$file"
  } >> "$OUT/7b.log" 2>&1
done
grep -E "^===|^==|FAIL|drafting:|passed" "$OUT/7b.log"
exit $status
