#!/bin/bash
# Puts a trained candidate in place as models/default: the files, not the judgement.
# Run from the repository root on the development machine, on what run_one.sh brought
# back (model.tar.xz.part* and results.tar.xz.part*):
#
#   bash training/ship.sh RESULT_DIR
#
# Unpacks both into RESULT_DIR/unpacked, writes the GGUF in QUANT (Q8_0 unless set, as for
# run_one.sh; tramontane-gguf_convert, with the shipped tokenizer.model beside the weights
# so the vocabulary is inside), copies evaluate.py's reference fixture (transformers on the
# bf16 weights) into test/fixtures/default-model-reference and writes the float64
# references on the GGUF's weights beside it (scripts/reference/q8_forward.py, which also
# checks its forward on the bf16 weights).
# Then it measures what the GPU evaluation does not: whether the model copies names from
# its context (scripts/context-exact-match.ts, through the real server; the 9.4M default
# got 6 and 5 of 12 with the defining file open / its definition sent, the 19.8M runs (b)
# and (c) 1 and 0–1), how many drafts it keeps (scripts/bench-draft.ts), and the Explain
# check through the engine's default path (scripts/explain-engine.ts), which can differ from
# the GPU's by an answer or two, and its answers on ten everyday functions, for a person to
# judge (scripts/explain-everyday.ts).
# With LLAMA_LOGITS=DIR/bin/llama_logits (../shared/anchors/build-llama.sh cpu DIR), it
# also prints llama.cpp's distance from the float64 Q8_0 forward on the new file: the peer
# figure behind ACTIVATION_BAND in test/default-model.test.ts, which must be set from it.
# What is left by hand: the model card, training/LOG.md, the keystroke bench, the e2e and
# the tests that expect exact outputs (training/LOG.md, "Shipped as models/default").
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash training/ship.sh RESULT_DIR" >&2; exit 2; }
RESULT=$(realpath "$1")
UNPACKED=$RESULT/unpacked
CONVERT=build/bin/tramontane-gguf_convert
FIXTURES=test/fixtures/default-model-reference
[ -x "$CONVERT" ] || { echo "$CONVERT: not built (cmake -S native -B build/native && ninja -C build/native)" >&2; exit 1; }
compgen -G "$RESULT/model.tar.xz.part*" > /dev/null || { echo "$RESULT: no model.tar.xz.part*" >&2; exit 1; }
compgen -G "$RESULT/results.tar.xz.part*" > /dev/null || { echo "$RESULT: no results.tar.xz.part* (the measurements did not come back)" >&2; exit 1; }

rm -rf "$UNPACKED" && mkdir -p "$UNPACKED/results"
cat "$RESULT"/model.tar.xz.part* | xz -d | tar xf - -C "$UNPACKED"
cat "$RESULT"/results.tar.xz.part* | xz -d | tar xf - -C "$UNPACKED/results"
WEIGHTS=$UNPACKED/b/model
[ -f "$UNPACKED/results/eval/fixture/reference.json" ] || { echo "$RESULT: evaluate.py wrote no fixture" >&2; exit 1; }

cp models/default/tokenizer.model "$WEIGHTS/"
"$CONVERT" "$WEIGHTS" "$UNPACKED/model.gguf" "${QUANT:-Q8_0}"
cp "$UNPACKED/model.gguf" models/default/model.gguf
cp "$UNPACKED"/results/eval/fixture/reference*.json "$UNPACKED"/results/eval/fixture/reference*_logits.f32 "$FIXTURES/"
python3 scripts/reference/q8_forward.py models/default/model.gguf "$FIXTURES"/reference*.json \
  --unquantized "$WEIGHTS/model.safetensors"
ls -la models/default "$FIXTURES"
if [ -n "${LLAMA_LOGITS:-}" ]; then
  python3 scripts/reference/llama_cpp_distance.py "$LLAMA_LOGITS" models/default/model.gguf "$FIXTURES"/reference*.json
else
  echo "LLAMA_LOGITS not set: llama.cpp's distance (ACTIVATION_BAND in test/default-model.test.ts) not measured"
fi
grep -h "^explain \|^[a-z_]* ([0-9]* s):" "$UNPACKED"/results/*.log || true
node --import tsx scripts/context-exact-match.ts models/default 2>/dev/null
node --import tsx scripts/bench-draft.ts --max-draft 7 models/default
node --import tsx scripts/explain-engine.ts models/default
node --import tsx scripts/explain-everyday.ts models/default
