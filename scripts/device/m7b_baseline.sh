#!/usr/bin/env bash
# Argmax agreement on random 7B weights: the bf16 baseline. Builds tramontane-logits with
# the CUDA backend (CMake + ninja, no Node), and for each weight scheme of
# scripts/device/m7b_reference.py (base = the model of node_e2e.sh; hf-init = HF's own
# std-0.02 init; head-x4 = base with lm_head x4, HF only) runs HF in fp32 and in bf16
# (eager and sdpa) and the engine on the same 256 token ids, then compares everything with
# HF fp32 and with HF bf16. One log: $OUT/log.txt when run as
#
#   set -o pipefail; OUT=$OUT bash scripts/device/m7b_baseline.sh 2>&1 | tee $OUT/log.txt
#
# Needs nvcc + cuBLASLt, CMake, ninja, Python with torch, transformers, safetensors, numpy.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/cuda}
export PYTHONUNBUFFERED=1
PY=scripts/device/m7b_reference.py
source scripts/device/common.sh
report_machine
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"

stamp "build: cmake + ninja tramontane-logits (CUDA backend), in the background"
( cmake -S native -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
  ninja -C "$BUILD" tramontane-logits ) > /tmp/m7b-build.log 2>&1 &
build_pid=$!

for scheme in base:/tmp/m7b hf-init:/tmp/m7b-hf head-x4:; do
  name=${scheme%%:*}
  out=${scheme#*:}
  stamp "HF fp32 + bf16, scheme $name"
  timeout 240 python3 $PY baseline --scheme "$name" --ref "/tmp/ref-$name" ${out:+--out "$out"} ||
    echo "baseline $name failed: $?"
done

stamp "waiting for the build"
wait $build_pid
rc=$?
grep -E "Tramontane:|error" /tmp/m7b-build.log | head -20
echo "build exit $rc"
[ $rc -eq 0 ] || { tail -40 /tmp/m7b-build.log; exit 1; }

for scheme in base:/tmp/m7b hf-init:/tmp/m7b-hf; do
  name=${scheme%%:*}
  stamp "tramontane-logits --backend cuda --model ${scheme#*:} --tokens <256 ids>  (scheme $name)"
  t0=$(now_ms)
  timeout 120 "$BUILD"/bin/tramontane-logits --backend cuda --model "${scheme#*:}" \
    --tokens "$(cat /tmp/ref-$name/tokens.txt)" > "/tmp/engine-$name.json"
  echo "exit $?, $(since "$t0") s"
done

for name in base hf-init head-x4; do
  R=/tmp/ref-$name
  runs=("hf-fp32-sdpa=$R/hf_fp32_sdpa.npy"
        "hf-bf16-eager=$R/hf_bf16_eager.npy" "hf-bf16-sdpa=$R/hf_bf16_sdpa.npy"
        "hf-bf16-eager-f32head=$R/hf_bf16_eager_f32head.npy"
        "hf-bf16-sdpa-f32head=$R/hf_bf16_sdpa_f32head.npy")
  eng=()
  [ -s "/tmp/engine-$name.json" ] && eng=("engine=/tmp/engine-$name.json")
  stamp "scheme $name: everything against HF fp32 eager"
  timeout 120 python3 $PY compare --ref "$R" --show 3 "${runs[@]}" "${eng[@]}"
  stamp "scheme $name: against HF bf16 eager (lm_head in fp32)"
  timeout 120 python3 $PY compare --ref "$R" --against hf_bf16_eager_f32head.npy --show 3 \
    "hf-bf16-sdpa-f32head=$R/hf_bf16_sdpa_f32head.npy" "hf-bf16-eager=$R/hf_bf16_eager.npy" "${eng[@]}"
  if [ ${#eng[@]} -gt 0 ]; then
    stamp "scheme $name: against HF bf16 sdpa (bf16 logits, as HF returns them)"
    timeout 120 python3 $PY compare --ref "$R" --against hf_bf16_sdpa.npy --show 0 "${eng[@]}"
  fi
done
stamp "done"
