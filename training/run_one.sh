#!/bin/bash
# Trains one candidate default model alone on one GPU and measures it, all within one
# 600 s device call. Runs on the training machine, from the folder that holds training/
# and data/carry/ (tokens.tar.xz and tokenizer.json):
#
#   bash training/run_one.sh SECONDS OUTDIR OLD_MODEL_DIR     train, then measure
#   bash training/run_one.sh measure MODEL_DIR OUTDIR           measure a trained model only
#
# SECONDS: training time (train.py --time-budget, counted from the first step, so
# torch.compile is inside it). Around it: about 30 s before the first step, 10 s of export
# and packing, and the four measurements at once, for which the call must keep about
# 150 s. Each measurement is stopped DEADLINE seconds after the start (default 565) so that
# whatever exists comes back. MEASURE=0 trains and exports only (a longer SECONDS; the
# model stays in /tmp/tramontane-run/b/model for a `measure` call on the same machine).
# The candidate is (b) of training/LOG.md; SHAPE (train.py arguments) names another.
# TRAIN_ARGS: more train.py arguments, after SHAPE (a later one wins), e.g. a continuation
# of the shipped model with short Explain answers (paths are from the carry folder):
#   TRAIN_ARGS="--init-gguf ../models/default/model.gguf --explain-answer first-paragraph
#     --lr 1e-3 --warmup 100" bash training/run_one.sh 480 $OUT ../models/default
# QUANT: the GGUF format the model will ship in (Q8_0, the default, or Q6_K, for a model
# that would not fit 24 MB in Q8_0); the *_q8 measurements round the weights through it.
# QUICK=1 measures only what shipping needs and the Explain check (about 44 s), for a call
# too short for all four measurements. With data/carry/everyday_cases.json
# (scripts/explain-everyday.ts --cases), the answers on the ten everyday functions are
# printed too, through QUANT.
# OLD_MODEL_DIR may be an HF folder or a folder with one .gguf (models/default): the
# measurement scripts read HF folders, so a GGUF is first written out as one (F32, its
# dequantized weights; training/gguf_init.py) for their smoke test.
#
# OUTDIR gets summary.txt (what is printed, as it goes), model.tar.xz.part* (the exported
# model and the training logs, as soon as training ends), then results.tar.xz.part*
# (measurements and their logs).
set -euo pipefail
START=$(date +%s)
DEADLINE=${DEADLINE:-565}
QUANT=${QUANT:-Q8_0}
SHAPE=${SHAPE:-"--hidden 256 --layers 12 --heads 8 --kv-heads 2 --head-dim 32 --mlp 1024 --lr 2e-3"}
TRAIN_ARGS=${TRAIN_ARGS:-}
export PYTHONUNBUFFERED=1
T=training
WORK=${WORK:-/tmp/tramontane-run}  # one per candidate when two train at once
DATA=$(pwd)/data/tokens
TOK=$(pwd)/data/carry/tokenizer.json
# The everyday functions' Explain prompts (scripts/explain-everyday.ts --cases), if carried.
EVERYDAY=$(pwd)/data/carry/everyday_cases.json
# The FIM-as-the-server-sends-it modes encode text with tokenizer.json; a carry without it
# (the carry limit) measures the prefix-only modes only.
if [ -f "$TOK" ]; then
  MODES=prefix_only,fim_server_healed,prefix_only_healed,fim_server,fim_server_no_suffix MODES_Q8=prefix_only,fim_server_healed
else
  MODES=prefix_only,prefix_only_healed MODES_Q8=prefix_only,prefix_only_healed
fi
# QUICK=1: the server's layout healed in bf16 (which also writes the reference fixture)
# and through Q8_0, and Explain through Q8_0 (the shipped weights).
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then MODES=fim_server_healed MODES_Q8=fim_server_healed; fi
[ $# -eq 3 ] || { echo "usage: run_one.sh SECONDS OUTDIR OLD_MODEL_DIR | run_one.sh measure MODEL_DIR OUTDIR" >&2; exit 2; }
if [ "$1" = measure ]; then MODEL=$(realpath "$2"); OUTDIR=$3; else TRAIN_SECONDS=$1; OUTDIR=$2; OLD=$3; fi
mkdir -p "$OUTDIR"
elapsed() { echo $(( $(date +%s) - START )); }
left() { local s=$(( DEADLINE - $(elapsed) )); echo $(( s > 5 ? s : 5 )); }
note() { echo "[$(elapsed) s] $*" | tee -a "$OUTDIR/summary.txt"; }

# Completion exact match on all 2,647 held-out cases in bf16 (the model card's five
# columns, the two it compares first) and through Q8_0 (those two), held-out perplexity in
# both, and the Explain check in both: four processes at once on the GPU.
measure() {
  local m=$1 mw=$WORK/measure
  mkdir -p $mw
  timeout "$(left)" python3 $T/evaluate.py --data "$DATA" --model "$m" --out $mw/eval --tokenizer "$TOK" \
    --modes $MODES > $mw/eval.log 2>&1 &
  local e1=$!
  timeout "$(left)" python3 $T/evaluate.py --data "$DATA" --model "$m" --out $mw/eval_q8 --tokenizer "$TOK" --quant $QUANT \
    --modes $MODES_Q8 > $mw/eval_q8.log 2>&1 &
  local e2=$!
  local e3=
  if [ "$QUICK" != 1 ]; then
    timeout "$(left)" python3 $T/evaluate_explain.py --data "$DATA" --model "$m" --out $mw/explain > $mw/explain.log 2>&1 &
    e3=$!
  fi
  timeout "$(left)" python3 $T/evaluate_explain.py --data "$DATA" --model "$m" --out $mw/explain_q8 --quant $QUANT > $mw/explain_q8.log 2>&1 &
  local e4=$!
  local e5=
  if [ -f "$EVERYDAY" ]; then
    timeout "$(left)" python3 $T/evaluate_explain.py --data "$DATA" --model "$m" --out $mw/everyday_q8 --quant $QUANT --cases-file "$EVERYDAY" \
      --max-new 120 > $mw/everyday_q8.log 2>&1 &
    e5=$!
  fi
  for p in $e1 $e2 $e3 $e4 $e5; do wait "$p" || note "a measurement failed or ran out of time (pid $p, exit $?)"; done
  for f in eval eval_q8 explain explain_q8; do
    [ -f $mw/$f.log ] || continue
    echo "== $f" | tee -a "$OUTDIR/summary.txt"
    grep -hE "^HF agreement|^(python|typescript|javascript) |^[a-z_]+ \([0-9]+ s\):|^explain |Error" $mw/$f.log | tee -a "$OUTDIR/summary.txt" || true
  done
  if [ -f $mw/everyday_q8/explain.json ]; then  # the answers whole, for reading
    echo "== everyday_q8" | tee -a "$OUTDIR/summary.txt"
    python3 -c "
import json, sys
for c in json.load(open(sys.argv[1]))['cases']: print(' ', c['name'], json.dumps(c['answer']), 'ended' if c['ended'] else 'no end')" \
      $mw/everyday_q8/explain.json | tee -a "$OUTDIR/summary.txt"
  fi
  (cd $mw && tar cf - .) | xz -T16 -1 | split -b 15000000 -d - "$OUTDIR/results.tar.xz.part"
  note "results written"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUTDIR/summary.txt"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB" | tee -a "$OUTDIR/summary.txt"
mkdir -p "$DATA"
# The token archive may come in two parts over two calls (split_carry.sh: the carry limit
# counts the repository too): the part an earlier call on this machine left in
# /tmp/tramontane-carry joins the one carried now.
if [ ! -f data/carry/tokens.tar.xz ]; then
  for part in /tmp/tramontane-carry/tokens.tar.xz.part* data/carry/tokens.tar.xz.part*; do
    if [ -f "$part" ]; then echo "$(basename "$part") $part"; fi
  done | sort | cut -d' ' -f2 | xargs cat > data/carry/tokens.tar.xz
  xz -t data/carry/tokens.tar.xz || { rm -f data/carry/tokens.tar.xz; echo "tokens.tar.xz: parts missing (see split_carry.sh)"; exit 1; }
fi
# Two candidates started together share the folder: a second unpacking would rewrite files
# the first is training on, so the archive is unpacked once (marked by .unpacked), under a
# lock the other waits on.
python3 -c "
import fcntl, os, tarfile, torch, transformers
print('torch', torch.__version__, 'transformers', transformers.__version__)
with open('$DATA/.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists('$DATA/.unpacked'):
        tarfile.open('data/carry/tokens.tar.xz').extractall('$DATA')
        open('$DATA/.unpacked', 'w').close()" | tee -a "$OUTDIR/summary.txt"
if [ "$1" = measure ]; then
  rm -rf $WORK/measure
  note "measuring $MODEL"
  measure "$MODEL"
  ls -la "$OUTDIR"
  exit 0
fi
rm -rf $WORK; mkdir -p $WORK/smoke
note "tokens unpacked; training for $TRAIN_SECONDS s: $SHAPE --inst-rate ${INST_RATE:-0.1} $TRAIN_ARGS"

# Training starts at once; the measurement scripts are checked meanwhile on the current
# model and a handful of cases (while training sets up and compiles), so that a mistake
# in them costs seconds, not the run.
# SHAPE and TRAIN_ARGS are split into words on purpose: several arguments each.
# shellcheck disable=SC2086
python3 $T/train.py --data "$DATA" $SHAPE --inst-rate "${INST_RATE:-0.1}" --workers 10 --out $WORK/b \
  --steps 100000 --time-budget "$TRAIN_SECONDS" --measure-steps 300 $TRAIN_ARGS > $WORK/train.log 2>&1 &
PT=$!
if [ ! -f "$OLD/config.json" ]; then
  ggufs=("$OLD"/*.gguf)
  python3 $T/gguf_init.py "${ggufs[0]}" --hf-folder $WORK/old > $WORK/smoke/old.log 2>&1 \
    || { cat $WORK/smoke/old.log; kill $PT; exit 1; }
  OLD=$WORK/old
fi
python3 $T/evaluate.py --data "$DATA" --model "$OLD" --out $WORK/smoke/eval --tokenizer "$TOK" --max-cases 8 --modes $MODES > $WORK/smoke/eval.log 2>&1 &
P1=$!
python3 $T/evaluate_explain.py --data "$DATA" --model "$OLD" --out $WORK/smoke/explain --cases 4 --max-new 8 --quant $QUANT > $WORK/smoke/explain.log 2>&1 &
P2=$!
wait $P1 || { tail -30 $WORK/smoke/eval.log; kill $PT; exit 1; }
wait $P2 || { tail -30 $WORK/smoke/explain.log; kill $PT; exit 1; }
note "measurement smoke passed"
wait $PT || { tail -30 $WORK/train.log; exit 1; }
grep -h "^parameters\|time budget\|done:" $WORK/train.log | tee -a "$OUTDIR/summary.txt"
tail -1 $WORK/b/train_log.jsonl | tee -a "$OUTDIR/summary.txt"

# The model comes back even if the measurements outrun the call.
rm -f $WORK/b/ckpt.pt
(cd $WORK && tar cf - b/model b/train_log.jsonl train.log) | xz -T16 -1 | split -b 15000000 -d - "$OUTDIR/model.tar.xz.part"
note "model written"
if [ "${MEASURE:-1}" != 0 ]; then measure $WORK/b/model; fi
ls -la "$OUTDIR"
