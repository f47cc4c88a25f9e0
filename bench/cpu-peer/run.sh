#!/bin/bash
# The CPU bench against llama.cpp on the same weights, in one run:
#   bash bench/cpu-peer/run.sh [MODEL_DIR] [THREADS]
# Builds llama.cpp for the CPU from the anchors' source once (build-llama.sh, about 10
# minutes on 2 idle cores) and writes the model folder as a BF16 GGUF with the GGUF
# tools' hf_to_gguf.py (Debian python3-numpy and python3-sentencepiece), both under
# build/cpu-peer/ (ignored), then runs tramontane-bench_cpu with llama-bench.
# ANCHORS and GGUF_TOOLS point at the shared folders when they are not at ../shared.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=$(cd "${1:-$root/models/default}" && pwd)
threads=${2:-2}
anchors=${ANCHORS:-$root/../shared/anchors}
gguf_tools=${GGUF_TOOLS:-$root/../shared/gguf/tools}
peer=$root/build/cpu-peer
llama=$peer/llama

if [ ! -x "$llama/build/bin/llama-bench" ]; then
  echo "building llama.cpp (CPU) in $llama" >&2
  bash "$anchors/build-llama.sh" cpu "$llama" >&2
fi
gguf=$peer/$(basename "$model")-BF16.gguf
if [ ! -f "$gguf" ]; then
  GGUF_PY=$llama/src/llama.cpp/gguf-py /usr/bin/python3 "$gguf_tools/hf_to_gguf.py" "$model" "$gguf" BF16 >&2
fi
cmake -S "$root/native" -B "$root/build/native" -G Ninja > /dev/null
ninja -C "$root/build/native" tramontane-bench_cpu > /dev/null
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$root/build/native/bin/tramontane-bench_cpu" --model "$model" --threads "$threads" \
  --llama-bench "$llama/build/bin/llama-bench" --gguf "$gguf"
