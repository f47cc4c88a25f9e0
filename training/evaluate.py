"""Measures the exported default model and writes the engine's reference fixture.

    python3 training/evaluate.py --data training/data/tokens --model $OUT/run/model --out $OUT/eval

1. Loads model.safetensors (bf16) into transformers' MistralForCausalLM (fp32, eager
   attention) and into model.py's implementation; checks that their logits agree on a
   sequence longer than the sliding window, prefix-only and FIM.
2. Reference fixture for the engine: HF fp32 eager logits on the bf16 weights
   (reference.json + reference_logits.f32, raw little-endian float32 [n, vocab]); a second
   one over a FIM prompt longer than the window (last positions only).
3. Held-out perplexity and bits per byte per language (files never trained on).
4. Exact match of greedy completions on held-out files, prefix-only and FIM: the next
   line, the rest of a line from a cursor inside it, a return statement's expression,
   and the closing brackets of a call.
5. Completions of hand-written demo prompts.
With --quant TYPE (Q8_0 or Q6_K; --q8 is --quant Q8_0) the weights are first round-tripped
through that GGUF format (quant.py) and 1-2 are skipped.
The "_healed" modes heal the prompt's last token as the Tramontane server does (data.py
Healing: that token taken off, the first token constrained to begin with its bytes, the
output without them); the other modes send the prompt as it is.
--modes measures only some of the prompt shapes of 4 (each greedy pass over the cases
costs about as much as the others); each mode's overall figure is printed as soon as its
pass ends. --max-cases takes the first N cases (a smoke test, not a figure to report).
"""
import argparse
import json
import os
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from data import Decoder, FileView, Healing, Split, load_meta
from model import Config, MistralLM
from quant import add_quant_arguments, quantized_state_dict

p = argparse.ArgumentParser()
p.add_argument("--data", default="training/data/tokens")
p.add_argument("--model", required=True)
p.add_argument("--out", required=True)
p.add_argument("--max-cases", type=int, default=100000)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--tokenizer", default="", help="tokenizer.json (default: the model folder's)")
add_quant_arguments(p, "are measured; no reference checks")
MODES = ("prefix_only", "fim_server", "fim_server_no_suffix", "fim_short", "fim_long", "prefix_only_healed", "fim_server_healed")
p.add_argument("--modes", default=",".join(MODES), help="comma-separated completion modes to measure, of: " + " ".join(MODES))
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = p.parse_args()
modes = args.modes.split(",")
if not modes or any(m not in MODES for m in modes):
    p.error(f"--modes: each of {args.modes!r} must be one of {', '.join(MODES)}")
os.makedirs(args.out, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = args.device
meta, ids = load_meta(args.data)
BOS, EOS, PRE, SUF, NL = ids["bos"], ids["eos"], ids["prefix"], ids["suffix"], ids["newline"]
held = Split(args.data, "heldout")
dec = Decoder(args.data)
report = {"date": time.strftime("%Y-%m-%d"), "device": torch.cuda.get_device_name(0) if dev == "cuda" else dev, "torch": torch.__version__}

with open(os.path.join(args.model, "config.json")) as f:
    hfc = json.load(f)
cfg = Config(**{k: hfc[k] for k in Config.__dataclass_fields__ if k in hfc})
sd = load_file(os.path.join(args.model, "model.safetensors"))
if args.quant:
    sd = quantized_state_dict({k: v.float() for k, v in sd.items()}, args.quant)
report["quant"] = args.quant
model = MistralLM(cfg)
model.load_state_dict({k: v.float() for k, v in sd.items()})
model.to(dev).eval()
report["parameters"] = sum(v.numel() for v in sd.values())
report["safetensors_bytes"] = os.path.getsize(os.path.join(args.model, "model.safetensors"))


# ------------------------------------------------------------------ 1. HF agreement
def fim_parts(fv, L, frag, s_budget, total_budget):
    """(suffix, prefix) token lists, both without the dummy prefix, line-aligned windows."""
    suffix = fv.s[fv.line_end(L):][:s_budget]
    pb = total_budget - 3 - len(suffix) - len(frag)
    p0 = fv.prefix_start_line(L, pb)
    prefix = fv.span(p0, fv.starts[L]) if L > 0 else fv.s[0:0]
    return suffix.tolist(), prefix.tolist() + list(frag)


def fim_prompt(fv, L, frag, s_budget, total_budget):
    """The layout the model was trained on: [BOS][SUFFIX] suffix [PREFIX] prefix."""
    suffix, prefix = fim_parts(fv, L, frag, s_budget, total_budget)
    return [BOS, SUF] + suffix + [PRE] + prefix


def lm_prompt(fv, L, frag, budget):
    pb = budget - 1 - len(frag)
    p0 = fv.prefix_start_line(L, pb)
    # From the file's start this is exactly [BOS] + encode(text before the cursor); a window
    # that starts later begins at a line start.
    return [BOS] + fv.s[fv.starts[p0]:fv.starts[L]].tolist() + list(frag)


if not args.quant:  # the reference checks are for the bf16 weights as stored
    from transformers import MistralForCausalLM  # noqa: E402

    hf = MistralForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").to(dev).eval()
    report["hf_tied_embeddings"] = bool(hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr())
    long_files = [i for i in range(held.n) if held.rows[i, 1] > 700]
    fv_long = FileView(held, long_files[0], NL)
    seq_lm = [BOS] + fv_long.s[:599].tolist()
    L_mid = int(np.searchsorted(fv_long.starts, 500))
    seq_fim = fim_prompt(fv_long, L_mid, [], 128, 600)
    with torch.no_grad():
        agree = {}
        for name, seq in (("prefix_only_600", seq_lm), ("fim_%d" % len(seq_fim), seq_fim)):
            x = torch.tensor([seq], device=dev)
            a = hf(x).logits[0].float()
            h, _ = model.hidden(x)
            b = model.logits(h)[0]
            agree[name] = float((a - b).abs().max())
    report["hf_vs_training_implementation_max_abs_logit_diff"] = agree
    print("HF agreement:", agree, flush=True)

    # ------------------------------------------------------------------ 2. fixtures
    fx = os.path.join(args.out, "fixture")
    os.makedirs(fx, exist_ok=True)
    fixture_file = long_files[1]
    seq64 = [BOS] + held.stream(fixture_file)[:63].astype(np.int64).tolist()
    with torch.no_grad():
        lg = hf(torch.tensor([seq64], device=dev)).logits[0].float().cpu().numpy()
        gen = hf.generate(torch.tensor([seq64], device=dev), max_new_tokens=16, do_sample=False,
                          eos_token_id=None, pad_token_id=EOS)[0, len(seq64):].tolist()
    fv_w = FileView(held, long_files[2], NL)
    seq_w = fim_prompt(fv_w, int(np.searchsorted(fv_w.starts, 420)), [], 96, 320)
    # An Explain prompt as the server sends it ([BOS] [INST] question [/INST]), with the
    # first tokens of the model's own greedy answer, so that positions inside the answer
    # are checked too.
    with open(os.path.join(args.data, "explain_cases.json")) as f:
        seq_c = json.load(f)[0]["prompt"]
    with torch.no_grad():
        lw = hf(torch.tensor([seq_w], device=dev)).logits[0].float().cpu().numpy()
        ans = hf.generate(torch.tensor([seq_c], device=dev), max_new_tokens=24, do_sample=False,
                          eos_token_id=None, pad_token_id=EOS)[0, len(seq_c):].tolist()
        seq_c = seq_c + ans
        lc = hf(torch.tensor([seq_c], device=dev)).logits[0].float().cpu().numpy()
    common = {
        "model": "models/default", "dtype_weights": "bfloat16", "compute": "float32, transformers MistralForCausalLM, attn_implementation=eager",
        "transformers": __import__("transformers").__version__, "torch": torch.__version__, "device": report["device"],
        "vocab_size": cfg.vocab_size, "sliding_window": cfg.sliding_window, "tolerance": 1e-4,
    }

    def write_reference(name, description, seq, logits, positions, extra):
        """8 rows of logits (the repository keeps the fixture small) and their metadata."""
        rows = logits[positions]
        rows.astype("<f4").tofile(os.path.join(fx, f"{name}_logits.f32"))
        with open(os.path.join(fx, f"{name}.json"), "w") as f:
            json.dump({**common, "description": description, "tokens": seq, "n": len(seq), "logits_file": f"{name}_logits.f32",
                       "logits_positions": positions, "logits_shape": [len(positions), cfg.vocab_size],
                       "argmax": rows.argmax(-1).tolist(), **extra}, f, indent=1)

    n = len(seq_w)
    write_reference("reference", "prefix-only prompt: BOS + the first 63 tokens of a held-out file; logits of 8 positions spread over it",
                    seq64, lg, list(range(0, 64, 9)), {"greedy_continuation_16": gen, "text": dec.text(seq64[1:])})
    write_reference("reference_window", f"FIM prompt ([BOS][SUFFIX]...[PREFIX]...) of {n} tokens, longer than the sliding window; logits of 8 of the last 16 positions",
                    seq_w, lw, [n - 16, n - 13, n - 10, n - 7, n - 4, n - 3, n - 2, n - 1], {})
    write_reference("reference_chat", f"Explain prompt of a held-out function as the server's chat template encodes it ({len(seq_c) - len(ans)} tokens) followed by the first {len(ans)} tokens of the greedy answer; logits of the last 8 positions",
                    seq_c, lc, list(range(len(seq_c) - 8, len(seq_c))), {"prompt_tokens": len(seq_c) - len(ans), "text": dec.text(seq_c)})
    del hf
    torch.cuda.empty_cache()

# ------------------------------------------------------------------ 3. perplexity
langs = meta["langs"]
ppl = {}
with torch.no_grad():
    for li, lang in enumerate(langs):
        files = np.flatnonzero(held.lang == li)
        stream = np.concatenate([np.concatenate([[BOS], held.stream(i).astype(np.int64), [EOS]]) for i in files])
        T1 = 1025
        n_chunks = (len(stream) - 1) // (T1 - 1)
        nll, ntok = 0.0, 0
        for c0 in range(0, n_chunks, 32):
            rows = np.stack([stream[c * (T1 - 1): c * (T1 - 1) + T1] for c in range(c0, min(c0 + 32, n_chunks))])
            x = torch.from_numpy(rows).to(dev)
            h, _ = model.hidden(x[:, :-1])
            logits = model.logits(h)
            nll += F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction="sum").item()
            ntok += x[:, 1:].numel()
        nbytes = int(held.nbytes[files].sum()) * ntok / (len(stream) - 1)
        ppl[lang] = {"files": int(len(files)), "tokens": ntok, "loss_nats": nll / ntok, "perplexity": float(np.exp(nll / ntok)),
                     "bits_per_byte": nll / np.log(2) / nbytes}
        print(lang, ppl[lang], flush=True)
report["heldout_perplexity"] = ppl


# ------------------------------------------------------------------ 4. greedy completions
@torch.no_grad()
def generate(prompts, max_new, stop, healed=None):
    """Greedy decoding for a list of token lists, batched with left padding and a KV cache.
    healed[i]: the bytes token healing took off prompt i, or None (Healing.heal); the first
    token of completion i must then begin with them (Healing.allowed), and it is kept even
    if it is a stop token: a healed '\\n' comes back as '\\n', which Healing.strip leaves
    out, so it ends nothing."""
    W = cfg.sliding_window
    out = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for b0 in range(0, len(order), args.batch):
        idx = order[b0:b0 + args.batch]
        B, Tp = len(idx), max(len(prompts[i]) for i in idx)
        x = torch.zeros((B, Tp), dtype=torch.long)
        pad = torch.tensor([Tp - len(prompts[i]) for i in idx])
        for r, i in enumerate(idx):
            x[r, pad[r]:] = torch.tensor(prompts[i])
        x, pad = x.to(dev), pad.to(dev)
        ar = torch.arange(Tp, device=dev)
        pos = (ar[None] - pad[:, None]).clamp(min=0)
        valid = ar[None] >= pad[:, None]
        qi, kj = ar[:, None], ar[None]
        m = ((kj <= qi) & (qi - kj < W))[None] & valid[:, None, :]
        m = m | torch.eye(Tp, dtype=torch.bool, device=dev)[None]  # padded rows attend to themselves
        h, caches = model.hidden(x, pos, m[:, None])
        lg = model.logits(h[:, -1])
        rows_h = [healed is not None and healed[i] is not None for i in idx]
        if any(rows_h):
            allowed = np.stack([HEAL.allowed(healed[i]) if hr else np.ones(lg.shape[-1], dtype=bool) for i, hr in zip(idx, rows_h)])
            lg = lg.masked_fill(~torch.from_numpy(allowed).to(dev), float("-inf"))
        keep_first = torch.tensor(rows_h, device=dev)
        nxt = lg.argmax(-1)
        gen = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        stop_t = torch.tensor(sorted(stop), device=dev)
        for t in range(max_new):
            for r, (v, d) in enumerate(zip(nxt.tolist(), done.tolist())):  # one copy to the host per step
                if not d:
                    gen[r].append(v)
            stop_now = torch.isin(nxt, stop_t)
            if t == 0:
                stop_now &= ~keep_first
            done |= stop_now
            if bool(done.all()) or t == max_new - 1:
                break
            cur = Tp + t
            valid = torch.cat([valid, torch.ones((B, 1), dtype=torch.bool, device=dev)], 1)
            kpos = torch.arange(cur + 1, device=dev)
            mm = valid & (cur - kpos[None] < W)
            h, caches = model.hidden(nxt[:, None], (cur - pad)[:, None], mm[:, None, None, :], caches)
            nxt = model.logits(h[:, -1]).argmax(-1)
        for r, i in enumerate(idx):
            k = int(rows_h[r])  # a healed row's first token stays (see above)
            out[i] = gen[r][:k] + [v for v in gen[r][k:] if v not in stop]
    return out


HEAL = Healing(dec)


def completion_text(gen, healed):
    return dec.text(gen) if healed is None else HEAL.strip(gen, healed)


with open(os.path.join(args.data, "eval_cases.json")) as f:
    cases = json.load(f)[:args.max_cases]
views = {}
# Prompt shapes: prefix-only with up to 960 tokens before the cursor; FIM "short" (the
# recommended shape for this model: suffix <= 64 tokens, whole prompt <= 320, so the suffix
# stays within the sliding window of the completion) and FIM "long" (suffix <= 256, <= 960).
P_LM, P_FS, P_FL = [], [], []
for c in cases:
    fv = views.get(c["file"]) or views.setdefault(c["file"], FileView(held, c["file"], NL))
    frag = c["prefix_frag"]
    P_LM.append(lm_prompt(fv, c["line"], frag, 960))
    P_FS.append(fim_prompt(fv, c["line"], frag, 64, 320))
    P_FL.append(fim_prompt(fv, c["line"], frag, 256, 960))
# The same FIM cases the way the Tramontane server encodes them (mistral-common's
# encode_fim): the prefix with SentencePiece's dummy prefix, the suffix without; and with
# an empty suffix (typing at the end of a file), [SUFFIX] left out altogether.
# Only these modes need tokenizer.json (a run may come without it).
P_SV, P_SN = [], []
if any(m.startswith("fim_server") for m in modes):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(args.tokenizer or os.path.join(args.model, "tokenizer.json"))
    for c in cases:
        fv = views[c["file"]]
        suffix, prefix = fim_parts(fv, c["line"], c["prefix_frag"], 64, 320)
        pre = tok.encode(dec.text(prefix), add_special_tokens=False).ids
        P_SV.append([BOS, SUF] + suffix + [PRE] + pre)
        P_SN.append([BOS, PRE] + pre)
P_LMH, H_LM = HEAL.heal(P_LM)
P_SVH, H_SV = HEAL.heal(P_SV)
# mode: (prompts, max new tokens, stop tokens, healed bytes, the first line only). "fim_*":
# the first line of the middle equals the target (a server stops a one-line completion at
# the newline); "fim_short_exact" / "fim_long_exact": the whole middle, up to EOS, equals it.
SHAPES = {
    "prefix_only": (P_LM, 48, {NL, EOS}, None, False),
    "fim_server": (P_SV, 64, {EOS}, None, True),
    "fim_server_no_suffix": (P_SN, 64, {EOS}, None, True),
    "fim_short": (P_FS, 64, {EOS}, None, True),
    "fim_long": (P_FL, 64, {EOS}, None, True),
    "prefix_only_healed": (P_LMH, 48, {NL, EOS}, H_LM, False),
    "fim_server_healed": (P_SVH, 64, {EOS}, H_SV, True),
}
stats = defaultdict(lambda: [0, 0])
rows = [{**{k: c[k] for k in ("kind", "lang", "path", "line", "cursor", "target")}, "match": {}} for c in cases]


def score(mode, ok):
    for c, r, hit in zip(cases, rows, ok):
        r["match"][mode] = hit
        for key in (f"{mode}/{c['kind']}", f"{mode}/{c['kind']}/{c['lang']}", f"{mode}/all", f"{mode}/all/{c['lang']}"):
            stats[key][0] += int(hit)
            stats[key][1] += 1


t0 = time.time()
for mode in modes:
    prompts, max_new, stop, flags, first_line = SHAPES[mode]
    gens = generate(prompts, max_new, stop, flags)
    texts = [completion_text(g, flags[i] if flags else None) for i, g in enumerate(gens)]
    for r, text in zip(rows, texts):
        r[f"text_{mode}"] = text
    score(mode, [(x.split("\n")[0] if first_line else x) == c["target"] for x, c in zip(texts, cases)])
    if mode in ("fim_short", "fim_long"):
        score(f"{mode}_exact", [x == c["target"] for x, c in zip(texts, cases)])
    shown = [(k, stats[f"{mode}/{k}"]) for k in ("all", "line", "midline", "return", "close-call") if f"{mode}/{k}" in stats]
    print(f"{mode} ({time.time() - t0:.0f} s): " + ", ".join(f"{k} {h / n:.3f}" for k, (h, n) in shown), flush=True)
report["modes"] = modes
report["healed_fraction"] = float(np.mean([h is not None for h in H_LM]))
report["generation_seconds"] = round(time.time() - t0, 1)
report["prompt_tokens_mean"] = {"prefix_only": float(np.mean([len(x) for x in P_LM])),
                                "fim_server": float(np.mean([len(x) for x in P_SV])) if P_SV else None,
                                "fim_short": float(np.mean([len(x) for x in P_FS])),
                                "fim_long": float(np.mean([len(x) for x in P_FL]))}
# A few held-out examples for the model card: the first three cases of each kind.
examples, seen = [], defaultdict(int)
for c, p_lm, r in zip(cases, P_LM, rows):
    if seen[c["kind"]] < 3:
        seen[c["kind"]] += 1
        tail = dec.text(p_lm[-48:]).split("\n")[-3:]
        examples.append({"kind": c["kind"], "lang": c["lang"], "path": c["path"], "before_cursor": "\n".join(tail),
                         "target": c["target"], **{m: r[f"text_{m}"].split("\n")[0] for m in modes}})
report["heldout_examples"] = examples
report["exact_match"] = {k: {"hits": v[0], "n": v[1], "rate": round(v[0] / v[1], 4)} for k, v in sorted(stats.items())}
for k in sorted(stats):
    if k.count("/") == 1:
        print(f"{k:32s} {stats[k][0]:5d}/{stats[k][1]:5d} = {stats[k][0] / stats[k][1]:.3f}")
with open(os.path.join(args.out, "completions.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")

# ------------------------------------------------------------------ 5. demo prompts
with open(os.path.join(args.data, "demo_prompts.json")) as f:
    demos = json.load(f)
DP, DH = HEAL.heal([d["tokens"] for d in demos])
for key, prompts, flags in (("demo_completions", [d["tokens"] for d in demos], None),
                            ("demo_completions_healed", DP, DH)):
    outs = generate(prompts, 48, {EOS}, flags)
    report[key] = []
    for i, (d, g) in enumerate(zip(demos, outs)):
        text = completion_text(g, flags[i] if flags else None)
        if "suffix" not in d:
            text = text.split("\n\n")[0]
        report[key].append({"lang": d["lang"], "prefix": d["prefix"], "suffix": d.get("suffix"), "completion": text})
        print(key, json.dumps(report[key][-1]), flush=True)

with open(os.path.join(args.out, "eval.json"), "w") as f:
    json.dump(report, f, indent=1)
print("eval done", flush=True)
