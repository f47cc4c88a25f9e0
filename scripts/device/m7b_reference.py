"""A Mistral-7B-shaped random bf16 model, its HF reference logits, and the comparison
with the engine's logits (issue 3: argmax agreement >= 99% over 256 positions and
relative logit error <= 2e-2).

    python3 scripts/device/m7b_reference.py make --out /tmp/m7b --ref /tmp/m7b-ref \
        [--tokenizer .node-carry/tokenizer.model]
        writes /tmp/m7b/{config.json,model.safetensors[,tokenizer.model]} (HF layout, bf16)
        and /tmp/m7b-ref/{tokens.txt,hf_logits.npy}: 256 seeded token ids and the logits
        of HF MistralForCausalLM, fp32 eager on the GPU, with the bf16 weights upcast
        (TF32 off).
    python3 scripts/device/m7b_reference.py compare --ref /tmp/m7b-ref NAME=FILE.json ...
        compares each {"logits": [[...]]} file (tramontane-logits) or .npy file with the HF
        logits (--against FILE.npy in --ref picks another reference than hf_logits.npy).
    python3 scripts/device/m7b_reference.py baseline --scheme base --ref /tmp/m7b-ref \
        [--out /tmp/m7b]
        the bf16 baseline: draws the weights of --scheme, writes the model to --out when
        given, and the logits of HF on the same 256 token ids: hf_logits.npy (fp32 eager, as
        `make`), hf_fp32_sdpa.npy, hf_bf16_eager.npy and hf_bf16_sdpa.npy (model.to(bf16),
        logits as HF returns them, bf16), hf_bf16_eager_f32head.npy and
        hf_bf16_sdpa_f32head.npy (the bf16 model's final normed hidden state times lm_head in
        fp32: no bf16 rounding of the logits themselves). Schemes:
          base     the weights of `make` (identical values, same seed)
          hf-init  HF's own init: every linear layer and the embedding normal std 0.02,
                   norms 1
          head-x4  base with lm_head times 4 (logits 4x larger, same shape)

    python3 scripts/device/m7b_reference.py ablation --ref /tmp/m7b-ablation
        where the 16-bit roundings of an engine like ours cost argmax agreement: HF fp32
        eager on the `make` weights, then the same model with one rounding to bf16 added
        at a time (k/v as stored in the KV cache, q too, the attention probabilities before
        p·V, every linear layer's input), and all of them together; then the same with
        float16 instead of bfloat16 (k/v alone, and everything), and everything plus the
        gate/up outputs stored in 16 bits (the engine's prefill path) in both formats;
        each compared with plain HF fp32.

Weights (same recipe as scripts/reference/make_fixtures.py): every linear layer normal
with std 1.2/sqrt(fan_in) (0.019 for 4096 inputs), the embedding normal with std 1, the
RMSNorm weights 1 + 0.1 * normal; drawn on the GPU from a seeded generator, rounded to
bf16; the HF model runs on exactly those rounded values.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

SHAPE = dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
             num_key_value_heads=8, head_dim=128, intermediate_size=14336, vocab_size=32000,
             sliding_window=4096, rope_theta=1e4)
N_TOKENS = 256
SEED = 7007


def log(*a):
    print(*a, flush=True)


def build_model():
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    s = dict(SHAPE)
    theta = s.pop("rope_theta")
    cfg = MistralConfig(rms_norm_eps=1e-5, max_position_embeddings=32768,
                        rope_parameters={"rope_type": "default", "rope_theta": theta},
                        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
                        attn_implementation="eager", **s)
    t0 = time.time()
    with torch.device("cuda"):
        model = MistralForCausalLM(cfg).float().eval()
    log(f"HF model built on the GPU (fp32): {time.time() - t0:.1f} s, "
        f"{sum(p.numel() for p in model.parameters()) / 1e9:.3f} B parameters")
    return cfg, model


def draw_weights(model, scheme):
    """Draws every parameter of scheme into the (fp32) model, rounded to bf16 values;
    returns the bf16 tensors on the CPU. "base" is the recipe of `make`."""
    import torch

    g = torch.Generator(device="cuda").manual_seed(SEED)
    tensors = {}
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if scheme in ("base", "head-x4"):
                if name.endswith("norm.weight"):
                    w = 1.0 + 0.1 * torch.randn(p.shape, generator=g, device="cuda")
                elif name == "model.embed_tokens.weight":
                    w = torch.randn(p.shape, generator=g, device="cuda")
                else:  # nn.Linear [out, in]
                    w = (1.2 / math.sqrt(p.shape[1])) * torch.randn(p.shape, generator=g, device="cuda")
                if scheme == "head-x4" and name == "lm_head.weight":
                    w = 4.0 * w  # a power of two: the same bf16 mantissas
            elif scheme == "hf-init":
                if name.endswith("norm.weight"):
                    w = torch.ones(p.shape, device="cuda")
                else:
                    w = 0.02 * torch.randn(p.shape, generator=g, device="cuda")
            else:
                raise SystemExit(f"unknown scheme {scheme}")
            w = w.to(torch.bfloat16)
            p.copy_(w)
            tensors[name] = w.cpu()
    torch.cuda.synchronize()
    return tensors


def seeded_tokens():
    import torch

    gt = torch.Generator().manual_seed(SEED + 1)
    tokens = torch.randint(3, SHAPE["vocab_size"], (N_TOKENS,), generator=gt)
    tokens[0] = 1  # BOS
    return tokens


def make(a):
    import torch
    from safetensors.torch import save_file

    cfg, model = build_model()
    t0 = time.time()
    tensors = draw_weights(model, "base")
    log(f"weights drawn (bf16): {time.time() - t0:.1f} s")

    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.ref, exist_ok=True)
    t0 = time.time()
    cfg.dtype = torch.bfloat16
    cfg.save_pretrained(a.out)
    save_file(tensors, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    del tensors
    if a.tokenizer:
        import shutil
        shutil.copy(a.tokenizer, os.path.join(a.out, "tokenizer.model"))
    log(f"saved {a.out}: {time.time() - t0:.1f} s, "
        f"{os.path.getsize(os.path.join(a.out, 'model.safetensors')) / 2**30:.2f} GiB")

    tokens = seeded_tokens()
    with open(os.path.join(a.ref, "tokens.txt"), "w") as f:
        f.write(",".join(str(int(t)) for t in tokens))
    t0 = time.time()
    with torch.no_grad():
        logits = model(input_ids=tokens[None, :].cuda(), use_cache=False).logits[0].float()
    torch.cuda.synchronize()
    ref = logits.cpu().numpy()
    np.save(os.path.join(a.ref, "hf_logits.npy"), ref)
    log(f"HF fp32 eager forward of {N_TOKENS} tokens: {time.time() - t0:.2f} s; "
        f"logits rms {float(np.sqrt((ref ** 2).mean())):.3f}, peak GPU memory "
        f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def set_attention(model, impl):
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(impl)
    else:
        model.config._attn_implementation = impl
    got = model.config._attn_implementation
    if got != impl:
        raise SystemExit(f"asked for attention {impl}, the model has {got}")


def baseline(a):
    """HF fp32 and HF bf16 (eager and sdpa) on the weights of one scheme."""
    import torch
    from safetensors.torch import save_file

    cfg, model = build_model()
    t0 = time.time()
    tensors = draw_weights(model, a.scheme)
    log(f"scheme {a.scheme}: weights drawn (bf16): {time.time() - t0:.1f} s")
    if a.out:
        t0 = time.time()
        os.makedirs(a.out, exist_ok=True)
        cfg.dtype = torch.bfloat16
        cfg.save_pretrained(a.out)
        save_file(tensors, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
        log(f"saved {a.out}: {time.time() - t0:.1f} s")
    del tensors
    os.makedirs(a.ref, exist_ok=True)
    tokens = seeded_tokens()
    with open(os.path.join(a.ref, "tokens.txt"), "w") as f:
        f.write(",".join(str(int(t)) for t in tokens))
    ids = tokens[None, :].cuda()
    log(f"torch {torch.__version__}; TF32 matmul {torch.backends.cuda.matmul.allow_tf32}; "
        f"bf16 reduced-precision reduction "
        f"{torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction}")

    def save(name, logits):
        x = logits.float().cpu().numpy()
        np.save(os.path.join(a.ref, name + ".npy"), x)
        srt = np.sort(x, 1)
        log(f"  {name}: rms {float(np.sqrt((x.astype(np.float64) ** 2).mean())):.4f}, "
            f"median top-1/top-2 gap {float(np.median(srt[:, -1] - srt[:, -2])):.4f}")

    with torch.no_grad():
        for impl in ("eager", "sdpa"):
            set_attention(model, impl)
            t0 = time.time()
            logits = model(input_ids=ids, use_cache=False).logits[0]
            torch.cuda.synchronize()
            log(f"HF fp32 {impl}: {time.time() - t0:.2f} s")
            save("hf_logits" if impl == "eager" else "hf_fp32_sdpa", logits)
        model.to(torch.bfloat16)
        head = model.lm_head.weight.float()
        for impl in ("eager", "sdpa"):
            set_attention(model, impl)
            t0 = time.time()
            h = model.model(input_ids=ids, use_cache=False).last_hidden_state[0]
            logits = model.lm_head(h)  # what MistralForCausalLM returns: bf16 logits
            torch.cuda.synchronize()
            log(f"HF bf16 {impl}: {time.time() - t0:.2f} s (hidden {h.dtype}, logits {logits.dtype})")
            save(f"hf_bf16_{impl}", logits)
            save(f"hf_bf16_{impl}_f32head", h.float() @ head.t())
    log(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def rounded_attention(round_q, round_kv, round_probs, dtype):
    """Eager attention as HF computes it, with q, with k and v (as a 16-bit KV cache holds
    them) and/or with the softmax probabilities (as a 16-bit p·V product takes them)
    rounded to dtype (torch.bfloat16 or torch.float16)."""
    import torch
    from transformers.models.mistral import modeling_mistral as mm

    def rounded(x):
        return x.to(dtype).float()

    def attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        attention.calls += 1
        if round_q:
            query = rounded(query)
        if round_kv:
            key, value = rounded(key), rounded(value)
        key = mm.repeat_kv(key, module.num_key_value_groups)
        value = mm.repeat_kv(value, module.num_key_value_groups)
        w = torch.matmul(query, key.transpose(2, 3)) * scaling
        if attention_mask is not None:
            w = w + attention_mask[:, :, :, : key.shape[-2]]
        else:
            n = w.shape[-1]
            w = w.masked_fill(torch.ones(n, n, dtype=torch.bool, device=w.device).triu(1), float("-inf"))
        w = torch.softmax(w, dim=-1, dtype=torch.float32)
        if round_probs:
            w = rounded(w)
        return torch.matmul(w, value).transpose(1, 2).contiguous(), w

    attention.calls = 0
    return attention


def ablation(a):
    import torch
    from transformers.models.mistral import modeling_mistral as mm

    cfg, model = build_model()
    draw_weights(model, "base")
    os.makedirs(a.ref, exist_ok=True)
    ids = seeded_tokens()[None, :].cuda()
    plain = mm.eager_attention_forward
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    bf, hf = torch.bfloat16, torch.float16
    variants = [  # name, round q, round k/v, round probabilities, round linear inputs, to
        ("hf_logits", False, False, False, False, bf),
        ("kv_bf16", False, True, False, False, bf),
        ("qkv_bf16", True, True, False, False, bf),
        ("probs_bf16", False, False, True, False, bf),
        ("linear_in_bf16", False, False, False, True, bf),
        ("all_bf16", True, True, True, True, bf),
        ("kv_f16", False, True, False, False, hf),
        ("all_f16", True, True, True, True, hf),
        # as the engine's prefill path: also the gate/up product outputs stored in 16 bits
        ("engine_like_bf16", True, True, True, True, bf),
        ("engine_like_f16", True, True, True, True, hf),
    ]
    gate_up = [m for name, m in model.named_modules() if name.endswith(("gate_proj", "up_proj"))]
    runs = []
    with torch.no_grad():
        plain_logits = model(input_ids=ids, use_cache=False).logits[0].float()
        for name, rq, rkv, rp, rl, dtype in variants:
            mm.eager_attention_forward = rounded_attention(rq, rkv, rp, dtype)
            hooks = [m.register_forward_pre_hook(lambda _m, inp, dt=dtype: (inp[0].to(dt).float(),))
                     for m in linears] if rl else []
            if name.startswith("engine_like"):
                hooks += [m.register_forward_hook(lambda _m, _i, out, dt=dtype: out.to(dt).float())
                          for m in gate_up]
            logits = model(input_ids=ids, use_cache=False).logits[0].float()
            for h in hooks:
                h.remove()
            if mm.eager_attention_forward.calls != cfg.num_hidden_layers:
                raise SystemExit(f"{name}: the attention replacement ran "
                                 f"{mm.eager_attention_forward.calls} times")
            if name == "hf_logits":
                diff = float((logits - plain_logits).abs().max())
                log(f"the reimplemented attention vs HF's own: max abs diff {diff:.2e}")
            np.save(os.path.join(a.ref, name + ".npy"), logits.cpu().numpy())
            log(f"{name}: done")
            if name != "hf_logits":
                runs.append(f"{name}={os.path.join(a.ref, name + '.npy')}")
    mm.eager_attention_forward = plain
    compare(argparse.Namespace(ref=a.ref, against="hf_logits.npy", show=0, runs=runs))


def load_engine(path):
    if path.endswith(".npy"):
        return np.load(path).astype(np.float64)
    with open(path) as f:
        rows = json.load(f)["logits"]
    try:
        return np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):  # null where the engine wrote a non-finite value
        return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64)


def compare(a):
    ref = np.load(os.path.join(a.ref, a.against)).astype(np.float64)
    n = ref.shape[0]
    top_ref = ref.argmax(1)
    srt = np.sort(ref, 1)
    gap_ref = srt[:, -1] - srt[:, -2]
    log(f"reference {a.against}: {n} positions x {ref.shape[1]} logits, "
        f"rms {np.sqrt((ref ** 2).mean()):.3f}, top-1/top-2 gap: median {np.median(gap_ref):.4f}, "
        f"p5 {np.percentile(gap_ref, 5):.4f}, p25 {np.percentile(gap_ref, 25):.4f}, "
        f"min {gap_ref.min():.4f}")
    log("")
    log("| run | overall rel. error | per-position rel. error: median / p95 / max "
        "| argmax agreement | max abs diff | rms abs error | positions with gap < rms err |")
    log("|---|---|---|---|---|---|---|")
    results = {}
    per_pos = {}
    for spec in a.runs:
        name, path = spec.split("=", 1)
        try:
            eng = load_engine(path)
        except Exception as e:  # noqa: BLE001
            log(f"| {name} | failed to read {path}: {e} | | | | | |")
            continue
        if eng.shape != ref.shape or not np.isfinite(eng).all():
            log(f"| {name} | shape {eng.shape}, finite {np.isfinite(eng).all()} | | | | | |")
            continue
        d = eng - ref
        rel_pos = np.linalg.norm(d, axis=1) / np.linalg.norm(ref, axis=1)
        overall = np.linalg.norm(d) / np.linalg.norm(ref)
        rms_abs = float(np.sqrt((d ** 2).mean()))
        top = eng.argmax(1)
        agree = int((top == top_ref).sum())
        results[name] = eng
        per_pos[name] = rel_pos
        log(f"| {name} | {overall:.2e} | {np.median(rel_pos):.2e} / {np.percentile(rel_pos, 95):.2e} / "
            f"{rel_pos.max():.2e} | {agree}/{n} = {100.0 * agree / n:.1f}% | {np.abs(d).max():.3f} "
            f"| {rms_abs:.4f} | {int((gap_ref < rms_abs).sum())} |")
        bad = np.nonzero(top != top_ref)[0]
        if len(bad):
            lost = ref[bad, top_ref[bad]] - ref[bad, top[bad]]
            log(f"    {len(bad)} mismatches; the reference's top-1 is ahead of the run's pick by "
                f"{lost.min():.4f} to {lost.max():.4f} in the reference (rms abs error {rms_abs:.4f})")
        for p in bad[:a.show]:
            log(f"    position {p}: ref picks {top_ref[p]} ({ref[p, top_ref[p]]:.4f}), run {top[p]} "
                f"(ref logit {ref[p, top[p]]:.4f}, ref gap {ref[p, top_ref[p]] - ref[p, top[p]]:.4f}; "
                f"run gap {eng[p, top[p]] - eng[p, top_ref[p]]:.4f})")
    if per_pos:
        log("")
        log("per-position relative error by block of 32 positions (max in block):")
        log("| positions | " + " | ".join(per_pos) + " |")
        log("|---|" + "---|" * len(per_pos))
        for b in range(0, n, 32):
            log(f"| {b}-{b + 31} | " + " | ".join(f"{v[b:b + 32].max():.2e}" for v in per_pos.values()) + " |")
    names = list(results)
    if len(names) > 1:
        log("")
        base = results[names[0]]
        for other in names[1:]:
            d = np.abs(results[other] - base).max()
            same = int((results[other].argmax(1) == base.argmax(1)).sum())
            log(f"{other} vs {names[0]}: max abs diff {d:.3e}, same argmax {same}/{n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--ref", required=True)
    m.add_argument("--tokenizer")
    c = sub.add_parser("compare")
    c.add_argument("--ref", required=True)
    c.add_argument("--against", default="hf_logits.npy", help="reference .npy in --ref")
    c.add_argument("--show", type=int, default=8, help="mismatching positions listed per run")
    c.add_argument("runs", nargs="+", help="NAME=FILE.json or NAME=FILE.npy")
    b = sub.add_parser("baseline")
    b.add_argument("--scheme", default="base", choices=("base", "hf-init", "head-x4"))
    b.add_argument("--ref", required=True)
    b.add_argument("--out")
    ab = sub.add_parser("ablation")
    ab.add_argument("--ref", required=True)
    a = ap.parse_args()
    {"make": make, "compare": compare, "baseline": baseline, "ablation": ablation}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
