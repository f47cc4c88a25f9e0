#!/bin/bash
# Splits a training carry folder (training/, data/carry/tokens.tar.xz, tokenizer.json) in
# two, for two device calls on one warm machine, when the whole does not fit the carry
# limit beside the repository (64 MiB in all):
#   CARRY-first/data/carry/tokens.tar.xz.part00   the first half of the archive (or FIRST_BYTES)
#   CARRY/data/carry/tokens.tar.xz.part01         the rest, beside training/ and tokenizer.json
# The first call may carry more than half (FIRST_BYTES) when its tree is smaller: it needs
# no model, so models/default/model.gguf can be emptied for it as the fixtures are.
# First call (carry CARRY-first): mkdir -p /tmp/tramontane-carry &&
#   cp CARRY-first/data/carry/tokens.tar.xz.part00 /tmp/tramontane-carry/
# Second call, within the machine's idle release (carry CARRY):
#   cd CARRY && bash training/run_one.sh SECONDS $OUT ../models/default
# run_one.sh joins the parts and checks the archive before it unpacks it.
#
#   [FIRST_BYTES=N] bash training/split_carry.sh .carry-train
set -euo pipefail
carry=${1:?usage: split_carry.sh CARRY_FOLDER}
archive=$carry/data/carry/tokens.tar.xz
[ -f "$archive" ] || { echo "$archive: not found" >&2; exit 1; }
first=$carry-first
mkdir -p "$first/data/carry"
size=$(stat -c %s "$archive")
first_bytes=${FIRST_BYTES:-$(( (size + 1) / 2 ))}
head -c "$first_bytes" "$archive" > "$first/data/carry/tokens.tar.xz.part00"
tail -c +$(( first_bytes + 1 )) "$archive" > "$carry/data/carry/tokens.tar.xz.part01"
rm "$archive"
du -sb "$first" "$carry"
