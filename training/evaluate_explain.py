"""The Explain check: what a model answers to the server's Explain Selection question on
held-out functions (explain_cases.json from prepare.cjs: the function without its
docstring or doc comment; the reference is that doc text).

    python3 training/evaluate_explain.py --data training/data/tokens --model models/default --out /tmp/ex [--quant Q8_0]

Greedy answers (the server's default chat temperature is 0), at most --max-new tokens,
ended by EOS. Reported per case and on average:
- loops: some run of 8 tokens occurs 3 or more times in the answer (a sentence said over
  and over), or the answer fills --max-new tokens without ending;
- token F1 and ROUGE-L F1 against the reference, on lower-cased words ([a-z0-9]+).
No repetition penalty or guard is applied: the model must stop on its own.
scripts/explain-engine.ts runs the same check (cases, limit, loop rule, F1) through the
engine's default path, which rounds differently; keep the two alike.
"""
import argparse
import json
import os
import re
from collections import Counter

import numpy as np
import torch
from safetensors.torch import load_file

from data import Decoder, load_meta
from model import Config, MistralLM
from quant import add_quant_arguments, quantized_state_dict

p = argparse.ArgumentParser()
p.add_argument("--data", default="training/data/tokens")
p.add_argument("--model", required=True)
p.add_argument("--out", required=True)
add_quant_arguments(p, "first")
p.add_argument("--max-new", type=int, default=320)
p.add_argument("--cases", type=int, default=100)
p.add_argument("--cases-file", default="", help="cases in explain_cases.json's layout (default: the held-out ones in --data), "
               "e.g. the everyday functions of scripts/explain-everyday.ts --cases")
p.add_argument("--batch", type=int, default=50)
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = p.parse_args()
os.makedirs(args.out, exist_ok=True)
dev = args.device
meta, ids = load_meta(args.data)
EOS = ids["eos"]
dec = Decoder(args.data)

with open(os.path.join(args.model, "config.json")) as f:
    hfc = json.load(f)
cfg = Config(**{k: hfc[k] for k in Config.__dataclass_fields__ if k in hfc})
sd = {k: v.float() for k, v in load_file(os.path.join(args.model, "model.safetensors")).items()}
if args.quant:
    sd = quantized_state_dict(sd, args.quant)
model = MistralLM(cfg)
model.load_state_dict(sd)
model.to(dev).eval()


@torch.no_grad()
def greedy(prompts, max_new):
    """Greedy decoding of a batch, left-padded, with the KV cache; stops at EOS."""
    W = cfg.sliding_window
    B, Tp = len(prompts), max(len(x) for x in prompts)
    x = torch.zeros((B, Tp), dtype=torch.long)
    pad = torch.tensor([Tp - len(q) for q in prompts])
    for r, q in enumerate(prompts):
        x[r, pad[r]:] = torch.tensor(q)
    x, pad = x.to(dev), pad.to(dev)
    ar = torch.arange(Tp, device=dev)
    pos = (ar[None] - pad[:, None]).clamp(min=0)
    valid = ar[None] >= pad[:, None]
    qi, kj = ar[:, None], ar[None]
    m = ((kj <= qi) & (qi - kj < W))[None] & valid[:, None, :]
    m = m | torch.eye(Tp, dtype=torch.bool, device=dev)[None]
    h, caches = model.hidden(x, pos, m[:, None])
    nxt = model.logits(h[:, -1]).argmax(-1)
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    for t in range(max_new):
        for r, (v, d) in enumerate(zip(nxt.tolist(), done.tolist())):  # one copy to the host per step
            if not d:
                out[r].append(v)
        done |= nxt == EOS
        if bool(done.all()) or t == max_new - 1:
            break
        cur = Tp + t
        valid = torch.cat([valid, torch.ones((B, 1), dtype=torch.bool, device=dev)], 1)
        kpos = torch.arange(cur + 1, device=dev)
        mm = valid & (cur - kpos[None] < W)
        h, caches = model.hidden(nxt[:, None], (cur - pad)[:, None], mm[:, None, None, :], caches)
        nxt = model.logits(h[:, -1]).argmax(-1)
    return out


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def token_f1(a, b):
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return 0.0
    pr, rc = common / len(a), common / len(b)
    return 2 * pr * rc / (pr + rc)


def rouge_l(a, b):
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if not lcs:
        return 0.0
    pr, rc = lcs / len(a), lcs / len(b)
    return 2 * pr * rc / (pr + rc)


def loops(tokens, n=8, times=3):
    grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return bool(grams) and max(grams.values()) >= times


with open(args.cases_file or os.path.join(args.data, "explain_cases.json")) as f:
    cases = json.load(f)[:args.cases]
answers = []
order = sorted(range(len(cases)), key=lambda i: len(cases[i]["prompt"]))
gen = [None] * len(cases)
for b0 in range(0, len(order), args.batch):
    idx = order[b0:b0 + args.batch]
    for i, g in zip(idx, greedy([cases[i]["prompt"] for i in idx], args.max_new)):
        gen[i] = g
rows = []
for c, g in zip(cases, gen):
    ended = bool(g) and g[-1] == EOS
    body = g[:-1] if ended else g
    text = dec.text(body).strip()
    looped = loops(body) or not ended
    wa, wr = words(text), words(c["reference"])
    rows.append({"lang": c["lang"], "path": c["path"], "name": c["name"], "reference": c["reference"], "answer": text,
                 "tokens": len(body), "ended": ended, "loops": looped,
                 "token_f1": round(token_f1(wa, wr), 4), "rouge_l": round(rouge_l(wa, wr), 4)})
summary = {
    "model": args.model, "quant": args.quant, "cases": len(rows), "max_new_tokens": args.max_new,
    "loops": sum(r["loops"] for r in rows), "no_eos": sum(not r["ended"] for r in rows),
    "token_f1": round(float(np.mean([r["token_f1"] for r in rows])), 4),
    "rouge_l": round(float(np.mean([r["rouge_l"] for r in rows])), 4),
    "answer_tokens_mean": round(float(np.mean([r["tokens"] for r in rows])), 1),
    "per_lang": {l: {"cases": sum(r["lang"] == l for r in rows),
                     "token_f1": round(float(np.mean([r["token_f1"] for r in rows if r["lang"] == l] or [0])), 4),
                     "rouge_l": round(float(np.mean([r["rouge_l"] for r in rows if r["lang"] == l] or [0])), 4)}
                 for l in meta["langs"]},
}
with open(os.path.join(args.out, "explain.json"), "w") as f:
    json.dump({"summary": summary, "cases": rows}, f, indent=1)
print("explain", json.dumps(summary), flush=True)
