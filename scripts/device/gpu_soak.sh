#!/usr/bin/env bash
# The server on a GPU for a while, and a GPU that is full. Builds the engine with its
# CUDA backend, the Node addon and tramontane-logits with CMake directly (as
# node_e2e.sh does: no npm, no network), then:
#
#  1. Soak: `tramontane bench soak --backend cuda` on models/default (3,000 rapid
#     keystrokes over 10 documents with a chat running, through a real `serve --stdio`;
#     the README's soak section says what it checks, RSS included), while nvidia-smi's
#     memory.used is sampled every second into $OUT/gpu-memory.txt. Prints GPU memory
#     before the server, after warm-up, the most after warm-up and at the end, and fails
#     if it grew more than GPU_BOUND_MIB (default 64) after warm-up.
#  2. Out of memory: a torch process holds all free GPU memory but LEAVE_MIB (default
#     1024). Then a Mistral-7B-shaped model (about 14 GiB; node_e2e.sh's $MODEL when it is
#     there, else one with zero weights written here as a sparse file) is loaded through
#     `tramontane-logits --backend cuda` (one error line with the numbers, exit 1), the
#     language server over stdio and the HTTP API (scripts/device/oom_check.py: one line
#     with the numbers and what to do; the server answers the next requests and runs
#     on); and the demo model with a 4M-token slack (an 8 GiB KV cache) through the
#     language server: the first completion fails with one line, the server runs on.
#
# Everything goes to $OUT/log.txt (and stdout); a table of the checks at the end.
#
# Needs .node-carry/, packed on a machine with Node: `npm run build &&
# scripts/device/pack_node_carry.sh` (its tokenizer.model goes into the zero-weight 7B
# model); and on the GPU machine: nvcc + cuBLASLt, CMake, ninja, Python with torch.
#
#   OUT=/some/dir scripts/device/gpu_soak.sh
# PARTS=soak or PARTS=oom runs one of the two (default: both).
# Without a GPU (a dry run): GPU_SOAK_CPU=1 builds the CPU engine and the addon the same
# way, runs a short soak with --backend cpu (no GPU memory to sample), and runs the
# out-of-memory drivers against a load failure injected with TRAMONTANE_TEST_FAULT (the
# line the CUDA backend writes), so every step but the GPU's own is exercised.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-soak-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=$ROOT/.node-carry
BUILD=${BUILD:-build/cuda}
MODEL=${MODEL:-/tmp/m7b}
LEAVE_MIB=${LEAVE_MIB:-1024}
GPU_BOUND_MIB=${GPU_BOUND_MIB:-64}
CPU=${GPU_SOAK_CPU:-}
BACKEND=$([ -n "$CPU" ] && echo cpu || echo cuda)
# On the GPU the chat answers ~30 times a second and the server's heap fills for longer:
# at 1,000 keystrokes the warm-up figure (at 500) came before it levelled off (README).
KEYSTROKES=${KEYSTROKES:-$([ -n "$CPU" ] && echo 120 || echo 3000)}
DOCUMENTS=${DOCUMENTS:-$([ -n "$CPU" ] && echo 3 || echo 10)}
PARTS=${PARTS:-soak,oom}
export PYTHONUNBUFFERED=1
source scripts/device/common.sh
report_machine
nproc
results=()
result() { results+=("$(printf '%-4s %s' "$1" "$2")"); }
sampler=
hog=
cleanup() { [ -n "$hog" ] && kill "$hog" 2> /dev/null; [ -n "$sampler" ] && kill "$sampler" 2> /dev/null; }
trap cleanup EXIT

# --- 1. Node --------------------------------------------------------------------------------
unpack_node "$CARRY" || exit 1

# --- 2. engine + addon ----------------------------------------------------------------------
stamp "build: cmake + ninja (engine, $BACKEND backend, addon, tramontane-logits)"
build_addon "$BUILD" "$CARRY" /tmp/gpu-soak-build.log || exit 1
node -e "require(process.env.TRAMONTANE_ADDON)" || exit 1

# --- 3. soak ---------------------------------------------------------------------------------
gpu_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; }
if [[ ,$PARTS, == *,soak,* ]]; then
: > "$OUT/gpu-memory.txt"
if command -v nvidia-smi > /dev/null; then
  # epoch seconds, MiB used on the GPU (the whole card: nothing else runs on it)
  ( while :; do echo "$(date +%s.%N) $(gpu_used)"; sleep 1; done ) >> "$OUT/gpu-memory.txt" &
  sampler=$!
  sleep 2
else
  echo "no nvidia-smi: GPU memory not sampled"
fi
stamp "node dist/cli.js bench soak --backend $BACKEND --keystrokes $KEYSTROKES --documents $DOCUMENTS"
# The progress line ("\rN keystrokes" on stderr) is timestamped into soak-progress.txt,
# so the GPU samples can be matched to the keystrokes typed.
timeout 540 node dist/cli.js bench soak --backend "$BACKEND" --keystrokes "$KEYSTROKES" --documents "$DOCUMENTS" \
  2> >(python3 -c '
import re, sys, time
out = open(sys.argv[1], "w")
buf = ""
while True:
    b = sys.stdin.read(1)
    if not b: break
    if b in "\r\n":
        m = re.fullmatch(r"(\d+) keystrokes", buf.strip())
        if m: print(f"{time.time():.3f} {m.group(1)}", file=out, flush=True)
        elif buf.strip(): print(buf, file=sys.stderr, flush=True)
        buf = ""
    else:
        buf += b
' "$OUT/soak-progress.txt") | tee "$OUT/soak.txt"
soak_rc=${PIPESTATUS[0]}
soak_end=$(date +%s.%N)
sleep 2
[ -n "$sampler" ] && kill "$sampler"
sampler=
echo "soak exit $soak_rc"
result "$([ "$soak_rc" = 0 ] && echo ok || echo FAIL)" "bench soak --backend $BACKEND: $(grep -E '^server RSS' "$OUT/soak.txt" | head -1)"
if [ -s "$OUT/gpu-memory.txt" ]; then
  gpu_line=$(python3 - "$OUT/gpu-memory.txt" "$OUT/soak-progress.txt" "$soak_end" "$KEYSTROKES" "$GPU_BOUND_MIB" <<'EOF'
import sys
samples = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
progress = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if len(l.split()) == 2]
end, keystrokes, bound = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
warm_at = keystrokes // 2  # bench soak's --warmup default: the first half
warm_time = next((t for t, typed in progress if typed >= warm_at), None)
if warm_time is None or not samples:
    print("FAIL GPU memory: no samples or no warm-up point"); sys.exit()
before = samples[0][1]
after = [(t, m) for t, m in samples if warm_time <= t <= end]
warm = after[0][1] if after else float("nan")
most = max(m for _, m in after) if after else float("nan")
last = [m for t, m in samples if t <= end][-1]
peak = max(m for t, m in samples if t <= end)
ok = most - warm <= bound
print(f"{'ok  ' if ok else 'FAIL'} GPU memory (nvidia-smi memory.used): {before:.0f} MiB before the server, "
      f"{warm:.0f} after warm-up ({warm_at} keystrokes), at most {most:.0f} after it "
      f"(+{most - warm:.0f}, bound {bound:.0f}), {last:.0f} at the end; peak {peak:.0f}; {len(samples)} samples")
EOF
)
  echo "$gpu_line"
  results+=("$gpu_line")
fi
fi

# --- 4. out of memory --------------------------------------------------------------------------
if [[ ,$PARTS, == *,oom,* ]]; then
stamp "out of memory"
check_case() {  # name, then the command: records ok/FAIL by its exit status
  local name=$1
  shift
  "$@"
  local rc=$?
  result "$([ $rc = 0 ] && echo ok || echo FAIL)" "$name"
}
if [ -z "$CPU" ]; then
  M7B=$MODEL
  if [ ! -f "$M7B/model.safetensors" ]; then
    M7B=/tmp/m7b-zero
    stamp "write a Mistral-7B-shaped model with zero weights (sparse) to $M7B"
    python3 - "$M7B" "$CARRY/tokenizer.model" <<'EOF'
import json, os, shutil, struct, sys
out, tokenizer = sys.argv[1], sys.argv[2]
vocab, dim, hidden, layers, heads, kv, hd = 32000, 4096, 14336, 32, 32, 8, 128
shapes = {"model.embed_tokens.weight": [vocab, dim], "model.norm.weight": [dim], "lm_head.weight": [vocab, dim]}
for l in range(layers):
    p = f"model.layers.{l}."
    shapes.update({p + "self_attn.q_proj.weight": [heads * hd, dim], p + "self_attn.k_proj.weight": [kv * hd, dim],
                   p + "self_attn.v_proj.weight": [kv * hd, dim], p + "self_attn.o_proj.weight": [dim, heads * hd],
                   p + "mlp.gate_proj.weight": [hidden, dim], p + "mlp.up_proj.weight": [hidden, dim],
                   p + "mlp.down_proj.weight": [dim, hidden], p + "input_layernorm.weight": [dim],
                   p + "post_attention_layernorm.weight": [dim]})
header, offset = {}, 0
for name, shape in shapes.items():
    size = 2
    for d in shape: size *= d
    header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
    offset += size
blob = json.dumps(header).encode()
blob += b" " * (-len(blob) % 8)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob)
    f.truncate(8 + len(blob) + offset)  # zeros, not written: a sparse file
json.dump({"architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": vocab,
           "hidden_size": dim, "intermediate_size": hidden, "num_hidden_layers": layers,
           "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": hd, "hidden_act": "silu",
           "max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "sliding_window": 4096, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
           "dtype": "bfloat16"}, open(os.path.join(out, "config.json"), "w"))
if os.path.exists(tokenizer):
    shutil.copy(tokenizer, os.path.join(out, "tokenizer.model"))
print(f"{out}: {(8 + len(blob) + offset) / 2**30:.2f} GiB of weights")
EOF
  fi
  ls -la "$M7B"

  stamp "a torch process holds all free GPU memory but $LEAVE_MIB MiB"
  python3 -c '
import sys, time, torch
free, total = torch.cuda.mem_get_info()
hold = torch.empty(max(0, free - int(sys.argv[1]) * 2**20), dtype=torch.uint8, device="cuda")
free, total = torch.cuda.mem_get_info()
print(f"holding {hold.numel() >> 20} MiB; {free >> 20} MiB free of {total >> 20} MiB", flush=True)
time.sleep(3600)
' "$LEAVE_MIB" > /tmp/gpu-hog.txt 2>&1 &
  hog=$!
  for _ in $(seq 120); do grep -q holding /tmp/gpu-hog.txt && break; kill -0 "$hog" 2> /dev/null || break; sleep 0.5; done
  cat /tmp/gpu-hog.txt
  echo "GPU memory used: $(gpu_used) MiB"
  if ! grep -q holding /tmp/gpu-hog.txt; then
    result FAIL "torch could not hold the GPU's memory: nothing below was checked"
  else
    stamp "tramontane-logits --backend cuda --model $M7B --tokens 1,2,3"
    timeout 300 "$BUILD"/bin/tramontane-logits --backend cuda --model "$M7B" --tokens 1,2,3 \
      > /dev/null 2> /tmp/logits-oom.txt
    logits_rc=$?
    cat /tmp/logits-oom.txt
    echo "exit $logits_rc"
    lines=$(wc -l < /tmp/logits-oom.txt)
    if [ "$logits_rc" = 1 ] && [ "$lines" = 1 ] &&
       grep -qE "not enough GPU memory.*need [0-9]+ MiB, [0-9]+ MiB free of [0-9]+ MiB; use a quantized model file, or the CPU" /tmp/logits-oom.txt; then
      result ok "tramontane-logits: one line with the numbers and what to do, exit 1"
    else
      result FAIL "tramontane-logits: exit $logits_rc, $lines lines: $(head -c 200 /tmp/logits-oom.txt)"
    fi
    check_case "language server, 7B shape: the load error in one line, the server answers on" \
      timeout 600 python3 scripts/device/oom_check.py lsp-load -- --backend cuda --model "$M7B"
    check_case "HTTP API, 7B shape: the load error in one line, the server answers on" \
      timeout 600 python3 scripts/device/oom_check.py http-load -- --backend cuda --model "$M7B"
    check_case "language server, demo model, slack 4M (8 GiB KV cache): the session error in one line, the server answers on" \
      timeout 300 python3 scripts/device/oom_check.py lsp-session -- --backend cuda --slack 4000000
  fi
  kill "$hog" 2> /dev/null
  hog=
else
  stamp "CPU dry run: the drivers against an injected load failure (the CUDA backend's line)"
  export TRAMONTANE_TEST_FAULT="load-error:not enough GPU memory for the model's weights: need 13824 MiB, 900 MiB free of 81559 MiB"
  check_case "language server (injected load error): one line, the server answers on" \
    timeout 120 python3 scripts/device/oom_check.py lsp-load -- --backend cpu
  check_case "HTTP API (injected load error): one line, the server answers on" \
    timeout 120 python3 scripts/device/oom_check.py http-load -- --backend cpu
  unset TRAMONTANE_TEST_FAULT
fi
fi

stamp "results"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q '^FAIL'
