"""What --explain-answer first-paragraph does to the Explain pairs of one split: how many
answers it shortens, their mean length before and after (tokens, EOS included), and a few
examples. numpy only.

    python3 training/explain_answer_stats.py training/data/tokens [train] [examples]
"""
import sys

import numpy as np

from data import Decoder, Instructions

root = sys.argv[1]
split = sys.argv[2] if len(sys.argv) > 2 else "train"
n_show = int(sys.argv[3]) if len(sys.argv) > 3 else 5
whole = Instructions(root, split)
cut = Instructions(root, split, "first-paragraph")
dec = Decoder(root)
ex = np.flatnonzero(whole.index[:, 3] == 0)
before, after = whole.keep[ex] + 1, cut.keep[ex] + 1
changed = ex[after < before]
assert all(whole.pair(i)[-1] == whole.eos for i in ex[:1000]), "stored answers end with EOS"
assert all(np.array_equal(whole.pair(i), cut.pair(i)) for i in np.flatnonzero(whole.index[:, 3] == 1)[:1000])
print(f"{split}: {len(ex)} explain pairs, {len(changed)} shortened ({len(changed) / len(ex):.1%}); "
      f"answer tokens, mean: {before.mean():.1f} -> {after.mean():.1f} "
      f"(shortened ones: {(whole.keep[changed] + 1).mean():.1f} -> {(cut.keep[changed] + 1).mean():.1f}); "
      f"explain tokens in all: {before.sum()} -> {after.sum()}")
for i in np.random.default_rng(7).choice(changed, n_show, replace=False):
    np_ = whole.index[i, 1]
    print(f"--- pair {i}: {whole.keep[i] + 1} -> {cut.keep[i] + 1} tokens")
    print("BEFORE:", repr(dec.text(whole.pair(i)[np_:])))
    print("AFTER: ", repr(dec.text(cut.pair(i)[np_:])))
