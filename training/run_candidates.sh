#!/bin/bash
# Trains two candidate default models at once on one GPU (small models leave most of an
# H100 idle), then measures both and the current models/default. Runs on the training
# machine, from the folder that holds training/ and data/carry/tokens.tar.xz:
#   bash training/run_candidates.sh SECONDS OUTDIR OLD_MODEL_DIR
# SECONDS: training time of each candidate (train.py --time-budget). With 330 the seven
# measurements at once did not finish in the rest of a 600 s call on an H100 (four of
# them took 148 s on their own), so leave them well over 250 s. Models: OUTDIR/models.tar.xz.part* (written before the
# measurements); measurements: OUTDIR/results.tar.xz.part* (15 MB parts).
set -euo pipefail
SECONDS_EACH=$1; OUTDIR=$2; OLD=$3
export PYTHONUNBUFFERED=1
ROOT=$(pwd)
T=training
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
mkdir -p data/tokens
python3 -c "import tarfile; tarfile.open('data/carry/tokens.tar.xz').extractall('data/tokens')"
WORK=/tmp/tramontane-run; mkdir -p $WORK
DATA=$ROOT/data/tokens
TOK=$ROOT/data/carry/tokenizer.json

# Candidate (a): fits 24 MB as bf16 safetensors. Candidate (b): fits 24 MB only as Q8_0.
A="--hidden 192 --layers 10 --heads 6 --kv-heads 2 --head-dim 32 --mlp 704 --lr 2.5e-3"
B="--hidden 256 --layers 12 --heads 8 --kv-heads 2 --head-dim 32 --mlp 1024 --lr 2e-3"
COMMON="--data $DATA --inst-rate ${INST_RATE:-0.1} --workers 7"

# The measurement scripts first, on the current model and a handful of cases, so that a
# mistake in them costs seconds, not the run.
mkdir -p $WORK/smoke
python3 $T/evaluate.py --data $DATA --model "$OLD" --out $WORK/smoke/eval --tokenizer $TOK --max-cases 8 > $WORK/smoke/eval.log 2>&1 &
P1=$!
python3 $T/evaluate_explain.py --data $DATA --model "$OLD" --out $WORK/smoke/explain --cases 4 --max-new 8 --q8 > $WORK/smoke/explain.log 2>&1 &
P2=$!
wait $P1 || { tail -30 $WORK/smoke/eval.log; exit 1; }
wait $P2 || { tail -30 $WORK/smoke/explain.log; exit 1; }
echo "measurement smoke passed"

python3 $T/train.py $COMMON $A --out $WORK/a --steps 100000 --time-budget "$SECONDS_EACH" --measure-steps 300 > $WORK/train_a.log 2>&1 &
PA=$!
python3 $T/train.py $COMMON $B --out $WORK/b --steps 100000 --time-budget "$SECONDS_EACH" --measure-steps 300 > $WORK/train_b.log 2>&1 &
PB=$!
wait $PA || { tail -20 $WORK/train_a.log; }
wait $PB || { tail -20 $WORK/train_b.log; }
grep -h "time budget\|done:" $WORK/train_a.log $WORK/train_b.log || true
# The models come back even if the measurements below outrun the call.
mkdir -p "$OUTDIR"
rm -f $WORK/*/ckpt.pt
(cd $WORK && tar cf - a/model b/model a/train_log.jsonl b/train_log.jsonl train_a.log train_b.log) | xz -T8 -1 | split -b 15000000 -d - "$OUTDIR/models.tar.xz.part"

# Measurements, all at once.
pids=()
for c in a b; do
  if [ -f $WORK/$c/model/model.safetensors ]; then
    python3 $T/evaluate.py --data $DATA --model $WORK/$c/model --out $WORK/$c/eval --tokenizer $TOK > $WORK/eval_$c.log 2>&1 & pids+=($!)
    python3 $T/evaluate_explain.py --data $DATA --model $WORK/$c/model --out $WORK/$c/explain > $WORK/explain_$c.log 2>&1 & pids+=($!)
  fi
done
if [ -f $WORK/b/model/model.safetensors ]; then
  python3 $T/evaluate.py --data $DATA --model $WORK/b/model --out $WORK/b/eval_q8 --tokenizer $TOK --q8 > $WORK/eval_b_q8.log 2>&1 & pids+=($!)
  python3 $T/evaluate_explain.py --data $DATA --model $WORK/b/model --out $WORK/b/explain_q8 --q8 > $WORK/explain_b_q8.log 2>&1 & pids+=($!)
fi
python3 $T/evaluate_explain.py --data $DATA --model "$OLD" --out $WORK/old/explain > $WORK/explain_old.log 2>&1 & pids+=($!)
for p in "${pids[@]}"; do wait $p || echo "a measurement failed (pid $p)"; done
grep -h "^explain \|/all \|close-call " $WORK/explain_*.log $WORK/eval_*.log || true

(cd $WORK && tar cf - --exclude=./smoke --exclude=./a/model --exclude=./b/model .) | xz -T8 -1 | split -b 15000000 -d - "$OUTDIR/results.tar.xz.part"
ls -la "$OUTDIR"
