#!/bin/bash
# Runs on the training machine (GPU, PyTorch, transformers), from the repository root.
#   bash training/run_device.sh STEPS OUTDIR [extra train.py args]
# Unpacks the carried token data (training/data/carry/tokens.tar.xz), trains, exports the
# model, evaluates it, and packs the results into OUTDIR/results.tar (split in 15 MB parts).
set -euo pipefail
STEPS=$1; OUTDIR=$2; shift 2
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
mkdir -p data/tokens
python3 -c "import tarfile; tarfile.open('data/carry/tokens.tar.xz').extractall('data/tokens')"
WORK=/tmp/tramontane-run; mkdir -p $WORK
python3 train.py --data data/tokens --out $WORK --steps "$STEPS" "$@" 2>&1 | tee $WORK/train.log
python3 evaluate.py --data data/tokens --model $WORK/model --out $WORK/eval 2>&1 | tee $WORK/eval.log
mkdir -p "$OUTDIR"
tar cf - -C $WORK model eval train.log eval.log train_log.jsonl | split -b 15000000 -d - "$OUTDIR/results.tar.part"
ls -la "$OUTDIR"
