#!/bin/bash
# The CPU bench against llama.cpp on the same weights, in one run:
#   bash bench/cpu-peer/run.sh [MODEL_DIR | bench-100m] [THREADS]
# Builds llama.cpp for the CPU from the anchors' source once (build-llama.sh, about 10
# minutes on 2 idle cores) and tramontane-bench_cpu, then runs both on one file:
#   MODEL_DIR (default models/default): written as a BF16 GGUF with the GGUF tools'
#     hf_to_gguf.py (Debian python3-numpy and python3-sentencepiece) for llama.cpp;
#     Tramontane reads the folder.
#   bench-100m: the ~100M-parameter Mistral-shaped benchmark model (random BF16
#     weights, the demo model's vocabulary), written by tramontane-bench_cpu
#     --write-model with the project's GGUF writer; both engines read that file.
# Everything goes under build/cpu-peer/ (ignored). ANCHORS and GGUF_TOOLS point at the
# shared folders when they are not at ../shared.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${2:-2}
anchors=${ANCHORS:-$root/../shared/anchors}
gguf_tools=${GGUF_TOOLS:-$root/../shared/gguf/tools}
peer=$root/build/cpu-peer
llama=$peer/llama
bench=$root/build/native/bin/tramontane-bench_cpu

if [ ! -x "$llama/build/bin/llama-bench" ]; then
  echo "building llama.cpp (CPU) in $llama" >&2
  bash "$anchors/build-llama.sh" cpu "$llama" >&2
fi
cmake -S "$root/native" -B "$root/build/native" -G Ninja > /dev/null
ninja -C "$root/build/native" tramontane-bench_cpu > /dev/null
mkdir -p "$peer"
if [ "${1:-}" = bench-100m ]; then
  gguf=$peer/bench-100m-BF16.gguf
  [ -f "$gguf" ] || "$bench" --write-model "$gguf" --vocabulary "$root/models/default/tokenizer.model" >&2
  model=$gguf
else
  model=$(cd "${1:-$root/models/default}" && pwd)
  gguf=$peer/$(basename "$model")-BF16.gguf
  if [ ! -f "$gguf" ]; then
    GGUF_PY=$llama/src/llama.cpp/gguf-py /usr/bin/python3 "$gguf_tools/hf_to_gguf.py" "$model" "$gguf" BF16 >&2
  fi
fi
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" --model "$model" --threads "$threads" --llama-bench "$llama/build/bin/llama-bench" --gguf "$gguf"
