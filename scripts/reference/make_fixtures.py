#!/usr/bin/env python3
"""Reference logits for the engine's tests, from HF transformers' MistralForCausalLM.

Builds tiny random Mistral-architecture models (2 layers, vocab 128), saves them in the
formats the engine loads, and writes, next to each model, the logits that HF transformers
computes for a fixed token sequence (fp32, eager attention, use_cache=False, whole
sequence at once). The engine's tests compare against these (max abs error <= 1e-4).

Run (on a machine with torch and transformers; tiny models, CPU is enough):

    python3 scripts/reference/make_fixtures.py --out test/fixtures/models

Options: --only NAME[,NAME...] builds a subset; --cuda-check also runs each reference
model on the GPU (TF32 off) and prints the largest difference from the CPU logits.

Everything is seeded: weights and tokens are drawn with torch CPU generators, so a rerun
gives the same files. The reference forward runs on the CPU in float32.

Per fixture folder:
    config.json + model.safetensors        HF layout (or model.safetensors.index.json +
                                           shards, or params.json + consolidated.safetensors)
    reference_logits.f32                   raw little-endian float32, [n, vocab] row-major
    reference.json                         tokens, shape, dtype, versions, notes, checks

Checks made for every fixture (the script stops if one fails):
  * the saved files reload with transformers and give the same logits (config.json edits
    included, e.g. rope_theta moved to the top level);
  * HF with use_cache=True, fed token by token, matches the full pass (first 24 tokens:
    asserted; the rest: reported);
  * an independent float64 forward written here (own RMSNorm, RoPE, GQA, sliding-window
    mask i - W < j <= i, SwiGLU) matches HF's logits; with the window one key wider or
    narrower it does not;
  * one layer's attention, taken from inside HF's eager forward with a hook, matches a
    hand-written masked attention with W keys, and not W - 1 or W + 1;
  * consolidated layout: the interleaved-pair RoPE forward on the converted weights
    matches HF's logits, and permuting the rows back gives HF's q/k weights exactly.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import sys

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (--cuda-check)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import MistralConfig, MistralForCausalLM  # noqa: E402

N_CACHED_ASSERT = 24  # tokens fed one by one with use_cache=True that must match exactly
TOL_SELF = 2e-5  # HF vs itself (reload / cache path): float32 rounding only
TOL_REF64 = 5e-5  # HF float32 vs the float64 forward written here
WINDOW_OFF_MIN = 1e-3  # a window off by one must change the logits at least this much

# The gqa_window family has the shape the engine's tests describe; the other fixtures are
# smaller where their point does not need the size (the whole set stays well under 2 MB).
GQA64 = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             intermediate_size=128)
GQA32 = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
             intermediate_size=64)

FIXTURES = [
    dict(
        name="gqa_window",
        notes="hidden 64, 4 heads, 2 KV heads (GQA), head_dim 16, intermediate 128; sliding "
        "window 16 over 80 tokens (5x W); rope_theta 1e4 under rope_parameters (the "
        "transformers 5 layout); f32 weights.",
        seed=1001, n=80, dtype="float32", layout="hf",
        cfg=dict(GQA64, sliding_window=16, rope_theta=1e4),
    ),
    dict(
        name="gqa_window_bf16",
        notes="Same architecture as gqa_window (own seed), 64 tokens (4x W); weights saved as "
        "bf16, reference computed in fp32 from the bf16-rounded weights.",
        seed=1002, n=64, dtype="bfloat16", layout="hf",
        cfg=dict(GQA64, sliding_window=16, rope_theta=1e4),
    ),
    dict(
        name="gqa_window_f16",
        notes="Same architecture as gqa_window (own seed), 64 tokens (4x W); weights saved as "
        "f16, reference computed in fp32 from the f16-rounded weights.",
        seed=1003, n=64, dtype="float16", layout="hf",
        cfg=dict(GQA64, sliding_window=16, rope_theta=1e4),
    ),
    dict(
        name="no_window_theta1e6",
        notes="sliding_window null (full causal attention), rope_theta 1e6; hidden 32, 4 heads, "
        "2 KV heads, head_dim 8, intermediate 64; 64 tokens. config.json in the older layout "
        "of Mistral 7B v0.2: rope_theta at the top level, no rope_parameters, no head_dim "
        "(= hidden/heads), torch_dtype instead of dtype. bf16 weights.",
        seed=1004, n=64, dtype="bfloat16", layout="hf", old_config=True,
        cfg=dict(GQA32, sliding_window=None, rope_theta=1e6),
    ),
    dict(
        name="head_dim_mismatch",
        notes="hidden 48, 4 heads of head_dim 16 (q/o projections 64 wide, != hidden), 2 KV "
        "heads, intermediate 64; sliding window 24 over 96 tokens (4x W); rope_theta 1e4. "
        "bf16 weights.",
        seed=1005, n=96, dtype="bfloat16", layout="hf",
        cfg=dict(hidden_size=48, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                 intermediate_size=64, sliding_window=24, rope_theta=1e4),
    ),
    dict(
        name="tied_embeddings",
        notes="tie_word_embeddings true: no lm_head.weight in the file, the output projection "
        "is embed_tokens. hidden 32, GQA 4/2, head_dim 8; window 16 over 64 tokens; "
        "rope_theta 1e4 at the top level of config.json. bf16 weights.",
        seed=1006, n=64, dtype="bfloat16", layout="hf", top_level_theta=True,
        cfg=dict(GQA32, sliding_window=16, rope_theta=1e4, tie_word_embeddings=True),
    ),
    dict(
        name="sharded",
        notes="save_pretrained with max_shard_size 16KB: model.safetensors.index.json plus "
        "several model-0000K-of-0000N.safetensors shards. hidden 32, GQA 4/2, head_dim 8; "
        "window 8 over 64 tokens; rope_theta 1e4. bf16 weights.",
        seed=1007, n=64, dtype="bfloat16", layout="hf", max_shard_size="16KB",
        cfg=dict(GQA32, sliding_window=8, rope_theta=1e4),
    ),
    dict(
        name="consolidated",
        notes="Mistral's own layout: params.json + consolidated.safetensors (wq/wk/wv/wo, "
        "w1=gate, w2=down, w3=up; q/k rows in interleaved-pair RoPE order), converted from "
        "an HF model by inverting the rotate-half row permutation. dim 32, 4 heads of "
        "head_dim 16 (!= dim/heads), 2 KV heads, hidden_dim 64; window 16 over 80 tokens; "
        "rope_theta 1e6; norm_eps 1e-5. bf16 weights. Reference logits are the HF model's.",
        seed=1008, n=80, dtype="bfloat16", layout="consolidated",
        cfg=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                 intermediate_size=64, sliding_window=16, rope_theta=1e6),
    ),
]

VOCAB = 128
N_LAYERS = 2
NORM_EPS = 1e-5
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def log(*a):
    print(*a, flush=True)


def max_abs(a, b):
    return (a.double() - b.double()).abs().max().item()


# ---------------------------------------------------------------------------- model ----


def make_config(fx):
    c = dict(fx["cfg"])
    rope_theta = c.pop("rope_theta")
    return MistralConfig(
        vocab_size=VOCAB,
        num_hidden_layers=N_LAYERS,
        rms_norm_eps=NORM_EPS,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
        **c,
    )


def init_weights(model, seed):
    """Weights large enough that attention is far from uniform and logits are O(1)."""
    g = torch.Generator().manual_seed(seed)
    tied = model.config.tie_word_embeddings
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "model.embed_tokens.weight":
                # tied: this is also the output projection; keep logits O(1)
                std = 1.2 / math.sqrt(p.shape[1]) if tied else 1.0
                p.copy_(std * torch.randn(p.shape, generator=g))
            else:  # nn.Linear [out, in]: outputs of about 1.2 x the input's rms
                p.copy_(1.2 / math.sqrt(p.shape[1]) * torch.randn(p.shape, generator=g))


def make_tokens(seed, n):
    g = torch.Generator().manual_seed(seed + 500000)
    t = torch.randint(3, VOCAB, (n,), generator=g)  # no 0/1/2 (unk, BOS, EOS) inside
    t[0] = 1  # BOS
    t[n // 2] = VOCAB - 1  # the last embedding row is used at least once
    return t


def hf_logits(model, tokens):
    with torch.no_grad():
        out = model(input_ids=tokens[None, :], use_cache=False)
    return out.logits[0].float()


def hf_logits_cached(model, tokens, n_steps):
    """Feed tokens one at a time through HF's own KV cache."""
    rows = []
    past = None
    with torch.no_grad():
        for i in range(n_steps):
            out = model(input_ids=tokens[None, i:i + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            rows.append(out.logits[0, -1].float())
    return torch.stack(rows)


def load_hf(folder):
    return MistralForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager").eval()


# -------------------------------------------------- independent float64 forward ---------


def rope_half(x, pos, theta):
    """HF layout: pairs (x[i], x[i + d/2]). x: [n, heads, d]."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = pos[:, None].double() * inv[None, :]  # [n, d/2]
    c, s = ang.cos()[:, None, :], ang.sin()[:, None, :]
    a, b = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1)


def rope_interleaved(x, pos, theta):
    """Mistral's consolidated layout: pairs (x[2i], x[2i + 1]), as complex numbers."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = pos[:, None].double() * inv[None, :]
    c, s = ang.cos()[:, None, :], ang.sin()[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def window_mask(n, window):
    """True where query i may attend key j: j <= i and, with a window W, i - W < j."""
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    ok = j <= i
    if window is not None:
        ok &= j > i - window
    return ok


def attention(x, wq, wk, wv, wo, p, window, rope):
    """x: [n, dim] (already normed). Grouped-query attention with an explicit mask."""
    n = x.shape[0]
    hd, nh, nkv = p["head_dim"], p["n_heads"], p["n_kv_heads"]
    pos = torch.arange(n)
    q = (x @ wq.T).view(n, nh, hd)
    k = (x @ wk.T).view(n, nkv, hd)
    v = (x @ wv.T).view(n, nkv, hd)
    q, k = rope(q, pos, p["rope_theta"]), rope(k, pos, p["rope_theta"])
    rep = nh // nkv
    k = k.repeat_interleave(rep, dim=1)  # query head h uses KV head h // rep
    v = v.repeat_interleave(rep, dim=1)
    scores = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd)
    scores = scores.masked_fill(~window_mask(n, window)[None], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("hij,jhd->ihd", probs, v).reshape(n, nh * hd)
    return out @ wo.T


def forward64(w, p, tokens, window, rope):
    """Whole model in float64 from consolidated-style names (w: name -> tensor)."""
    w = {k: v.double() for k, v in w.items()}
    h = w["tok_embeddings.weight"][tokens]
    for li in range(p["n_layers"]):
        L = lambda s: w[f"layers.{li}.{s}"]  # noqa: E731
        x = rms_norm(h, L("attention_norm.weight"), p["norm_eps"])
        h = h + attention(x, L("attention.wq.weight"), L("attention.wk.weight"),
                          L("attention.wv.weight"), L("attention.wo.weight"), p, window, rope)
        x = rms_norm(h, L("ffn_norm.weight"), p["norm_eps"])
        gate, up = x @ L("feed_forward.w1.weight").T, x @ L("feed_forward.w3.weight").T
        h = h + (torch.nn.functional.silu(gate) * up) @ L("feed_forward.w2.weight").T
    h = rms_norm(h, w["norm.weight"], p["norm_eps"])
    return h @ w["output.weight"].T


# ------------------------------------------------------ HF <-> consolidated layout ------


def hf_to_rope_interleaved(wt, n_heads, head_dim):
    """Inverse of convert_mistral_weights_to_hf's permute: rotate-half rows -> pair rows.

    HF row (h, s*d/2 + i) holds consolidated row (h, 2i + s), s in {0, 1}.
    """
    dim_in = wt.shape[1]
    return (wt.reshape(n_heads, 2, head_dim // 2, dim_in).transpose(1, 2)
            .reshape(n_heads * head_dim, dim_in))


def rope_interleaved_to_hf(wt, n_heads, head_dim):
    """convert_mistral_weights_to_hf's permute (consolidated -> HF)."""
    dim_in = wt.shape[1]
    return (wt.reshape(n_heads, head_dim // 2, 2, dim_in).transpose(1, 2)
            .reshape(n_heads * head_dim, dim_in))


def hf_params(cfg):
    return dict(dim=cfg.hidden_size, n_layers=cfg.num_hidden_layers, head_dim=cfg.head_dim,
                hidden_dim=cfg.intermediate_size, n_heads=cfg.num_attention_heads,
                n_kv_heads=cfg.num_key_value_heads, norm_eps=cfg.rms_norm_eps,
                vocab_size=cfg.vocab_size, sliding_window=cfg.sliding_window,
                rope_theta=float(cfg.rope_parameters["rope_theta"]))


def hf_state_to_consolidated(sd, p, permute):
    """HF state dict -> consolidated names; q/k rows to interleaved order if permute."""
    hd = p["head_dim"]
    out = {"tok_embeddings.weight": sd["model.embed_tokens.weight"],
           "norm.weight": sd["model.norm.weight"],
           "output.weight": sd.get("lm_head.weight", sd["model.embed_tokens.weight"])}
    for li in range(p["n_layers"]):
        a, m = f"model.layers.{li}.self_attn.", f"model.layers.{li}.mlp."
        wq, wk = sd[a + "q_proj.weight"], sd[a + "k_proj.weight"]
        if permute:
            wq = hf_to_rope_interleaved(wq, p["n_heads"], hd)
            wk = hf_to_rope_interleaved(wk, p["n_kv_heads"], hd)
        c = f"layers.{li}."
        out.update({
            c + "attention.wq.weight": wq,
            c + "attention.wk.weight": wk,
            c + "attention.wv.weight": sd[a + "v_proj.weight"],
            c + "attention.wo.weight": sd[a + "o_proj.weight"],
            c + "feed_forward.w1.weight": sd[m + "gate_proj.weight"],
            c + "feed_forward.w2.weight": sd[m + "down_proj.weight"],
            c + "feed_forward.w3.weight": sd[m + "up_proj.weight"],
            c + "attention_norm.weight": sd[f"model.layers.{li}.input_layernorm.weight"],
            c + "ffn_norm.weight": sd[f"model.layers.{li}.post_attention_layernorm.weight"],
        })
    return {k: v.contiguous().clone() for k, v in out.items()}


# ----------------------------------------------------------------------- checks ---------


def check_layer0_window(model, tokens, p, window):
    """Capture layer 0's attention input/output inside HF's eager forward; compare with a
    hand-written masked attention for windows W - 1, W, W + 1 (or full causal)."""
    attn = model.model.layers[0].self_attn
    got = {}

    def hook(mod, args, kwargs, output):
        got["x"] = kwargs["hidden_states"][0].detach().clone()
        got["y"] = output[0][0].detach().clone()

    hnd = attn.register_forward_hook(hook, with_kwargs=True)
    try:
        hf_logits(model, tokens)
    finally:
        hnd.remove()
    x = got["x"].double()
    ws = [attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight, attn.o_proj.weight]
    ws = [t.detach().double() for t in ws]
    res = {}
    cands = [window - 1, window, window + 1] if window is not None else [None, 8]
    for W in cands:
        mine = attention(x, *ws, p, W, rope_half)
        res["full" if W is None else str(W)] = max_abs(mine, got["y"])
    return res


def run_checks(fx, model, tokens, logits, p, sd_hf):
    """All checks shared by every fixture. model: the reloaded fp32 HF model."""
    n = len(tokens)
    W = p["sliding_window"]
    checks = {}

    # 1. HF's own KV-cache path, token by token.
    cached = hf_logits_cached(model, tokens, n)
    d24 = max_abs(cached[:N_CACHED_ASSERT], logits[:N_CACHED_ASSERT])
    dall = max_abs(cached, logits)
    log(f"  use_cache token-by-token vs full: first {N_CACHED_ASSERT}: {d24:.3e}, "
        f"all {n}: {dall:.3e}")
    assert d24 <= TOL_SELF, f"{fx['name']}: cached path differs from full pass ({d24})"
    checks["use_cache_token_by_token_first24_max_abs_diff"] = d24
    checks["use_cache_token_by_token_all_max_abs_diff"] = dall

    # 2. Independent float64 forward with the mask i - W < j <= i (HF layout, rotate-half).
    w_hf = hf_state_to_consolidated(sd_hf, p, permute=False)
    ref64 = forward64(w_hf, p, tokens, W, rope_half)
    d64 = max_abs(ref64, logits)
    log(f"  float64 forward (rotate-half, window {W}) vs HF fp32: {d64:.3e}; "
        f"logits absmax {logits.abs().max().item():.2f}, std {logits.std().item():.2f}")
    assert d64 <= TOL_REF64, f"{fx['name']}: float64 forward differs from HF ({d64})"
    checks["float64_forward_max_abs_diff"] = d64
    if W is not None:
        for Wx in (W - 1, W + 1):
            dx = max_abs(forward64(w_hf, p, tokens, Wx, rope_half), logits)
            log(f"  float64 forward with window {Wx} instead: {dx:.3e}")
            assert dx >= WINDOW_OFF_MIN, f"{fx['name']}: window {Wx} not distinguishable"
            checks[f"float64_forward_window_{Wx}_max_abs_diff"] = dx
        dfull = max_abs(forward64(w_hf, p, tokens, None, rope_half), logits)
        log(f"  float64 forward with no window: {dfull:.3e}")
        checks["float64_forward_no_window_max_abs_diff"] = dfull
    else:
        d8 = max_abs(forward64(w_hf, p, tokens, n // 2, rope_half), logits)
        log(f"  float64 forward with window {n // 2}: {d8:.3e}")
        assert d8 >= WINDOW_OFF_MIN

    # rope_theta must matter (a reader that ignores it would be caught).
    other = 1e4 if p["rope_theta"] != 1e4 else 1e6
    dth = max_abs(forward64(w_hf, dict(p, rope_theta=other), tokens, W, rope_half), logits)
    log(f"  float64 forward with rope_theta {other:g} instead of {p['rope_theta']:g}: {dth:.3e}")
    assert dth >= WINDOW_OFF_MIN, f"{fx['name']}: rope_theta not distinguishable"
    checks[f"float64_forward_rope_theta_{other:g}_max_abs_diff"] = dth

    # 3. One layer's attention inside HF's eager forward vs hand-written masks.
    res = check_layer0_window(model, tokens, p, W)
    log("  layer 0 attention output, HF eager vs hand mask: "
        + ", ".join(f"W={k}: {v:.3e}" for k, v in res.items()))
    key = "full" if W is None else str(W)
    assert res[key] <= TOL_SELF, f"{fx['name']}: layer-0 attention differs ({res[key]})"
    for k, v in res.items():
        if k != key:
            assert v >= WINDOW_OFF_MIN, f"{fx['name']}: mask {k} not distinguishable ({v})"
    checks["layer0_attention_vs_hand_mask_max_abs_diff"] = res
    return checks


# ------------------------------------------------------------------------ build ---------


def edit_config(folder, fx):
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        c = json.load(f)
    theta = c["rope_parameters"]["rope_theta"]
    if fx.get("old_config") or fx.get("top_level_theta"):
        assert c["rope_parameters"].get("rope_type", "default") == "default"
        del c["rope_parameters"]
        c["rope_theta"] = theta
    if fx.get("old_config"):
        del c["head_dim"]
        if "dtype" in c:
            c["torch_dtype"] = c.pop("dtype")
    with open(path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    return c


def write_reference(folder, fx, tokens, logits, extra):
    logits = logits.contiguous().float()
    with open(os.path.join(folder, "reference_logits.f32"), "wb") as f:
        f.write(logits.numpy().astype("<f4").tobytes())
    ref = {
        "tokens": [int(t) for t in tokens],
        "logits_file": "reference_logits.f32",
        "shape": list(logits.shape),
        "dtype_of_weights": fx["dtype"],
        "produced_by": f"transformers {transformers.__version__} MistralForCausalLM fp32 eager",
        "torch": torch.__version__,
        "device": "cpu",
        "config_notes": fx["notes"],
        "seed": fx["seed"],
        "checks": extra,
    }
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")


def digest(folder):
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def build(fx, out_root, cuda_check):
    name = fx["name"]
    folder = os.path.join(out_root, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    log(f"== {name}")

    torch.manual_seed(fx["seed"])
    cfg = make_config(fx)
    model = MistralForCausalLM(cfg).eval()
    init_weights(model, fx["seed"])
    # Round the weights to the stored dtype, keep computing in float32. (Parameters only:
    # model.to(bf16) would also round the rotary inv_freq buffer.)
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(prm.to(TORCH_DTYPES[fx["dtype"]]).float())
    tokens = make_tokens(fx["seed"], fx["n"])
    mem = model
    logits_mem = hf_logits(mem, tokens)
    sd_hf = {k: v.detach().clone() for k, v in mem.state_dict().items()}
    if cfg.tie_word_embeddings:
        assert mem.lm_head.weight.data_ptr() == mem.model.embed_tokens.weight.data_ptr()
    p = hf_params(cfg)
    extra = {}

    if fx["layout"] == "hf":
        save_model = copy.deepcopy(mem).to(TORCH_DTYPES[fx["dtype"]])
        kw = {"max_shard_size": fx["max_shard_size"]} if "max_shard_size" in fx else {}
        save_model.save_pretrained(folder, safe_serialization=True, **kw)
        del save_model
        for junk in ("generation_config.json",):
            jp = os.path.join(folder, junk)
            if os.path.exists(jp):
                os.remove(jp)
        c = edit_config(folder, fx)
        log(f"  config.json: rope_parameters={c.get('rope_parameters')} "
            f"rope_theta={c.get('rope_theta')} head_dim={c.get('head_dim')} "
            f"sliding_window={c.get('sliding_window')} tie={c.get('tie_word_embeddings')}")
        # Reload exactly what is on disk; the reference comes from the reloaded model.
        model = load_hf(folder)
        assert float(model.config.rope_parameters["rope_theta"]) == p["rope_theta"]
        assert model.config.sliding_window == p["sliding_window"]
        assert model.config.head_dim == p["head_dim"]
        logits = hf_logits(model, tokens)
        d = max_abs(logits, logits_mem)
        log(f"  reloaded from disk vs in-memory: {d:.3e}")
        assert d <= TOL_SELF
        extra["reload_vs_in_memory_max_abs_diff"] = d
        files = sorted(os.listdir(folder))
        names = set()
        for fn in files:
            if fn.endswith(".safetensors"):
                with safe_open(os.path.join(folder, fn), "pt") as sf:
                    for k in sf.keys():
                        names.add(k)
                        assert sf.get_tensor(k).dtype == TORCH_DTYPES[fx["dtype"]], k
        if cfg.tie_word_embeddings:
            assert "lm_head.weight" not in names, "tied model saved lm_head.weight"
            log("  tied: lm_head.weight absent from the file (output = embed_tokens)")
        if "max_shard_size" in fx:
            shards = [fn for fn in files if fn.endswith(".safetensors")]
            assert "model.safetensors.index.json" in files and len(shards) >= 3, files
            log(f"  shards: {shards}")
        sd_disk = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for k, v in sd_hf.items():
            assert torch.equal(v, sd_disk[k]), k
    else:  # consolidated
        logits = logits_mem
        model = mem
        cons = hf_state_to_consolidated(sd_hf, p, permute=True)
        cons = {k: v.to(TORCH_DTYPES[fx["dtype"]]) for k, v in cons.items()}
        save_file(cons, os.path.join(folder, "consolidated.safetensors"))
        with open(os.path.join(folder, "params.json"), "w") as f:
            json.dump(p, f, indent=2)
            f.write("\n")
        # Read back what is on disk and check both directions of the conversion.
        with safe_open(os.path.join(folder, "consolidated.safetensors"), "pt") as sf:
            back = {k: sf.get_tensor(k).float() for k in sf.keys()}
        with open(os.path.join(folder, "params.json")) as f:
            p_disk = json.load(f)
        hd = p_disk["head_dim"]
        for li in range(p_disk["n_layers"]):
            for cn, hn, nh in (("wq", "q_proj", p_disk["n_heads"]),
                               ("wk", "k_proj", p_disk["n_kv_heads"])):
                re_hf = rope_interleaved_to_hf(back[f"layers.{li}.attention.{cn}.weight"], nh, hd)
                assert torch.equal(re_hf, sd_hf[f"model.layers.{li}.self_attn.{hn}.weight"])
                # and the permutation is not the identity for these shapes
                assert not torch.equal(back[f"layers.{li}.attention.{cn}.weight"], re_hf)
        log("  consolidated: permuting wq/wk back (convert_mistral_weights_to_hf) gives "
            "HF's q_proj/k_proj exactly")
        inter = forward64(back, p_disk, tokens, p_disk["sliding_window"], rope_interleaved)
        d_int = max_abs(inter, logits)
        log(f"  consolidated: float64 interleaved-RoPE forward on the file vs HF fp32: "
            f"{d_int:.3e}")
        assert d_int <= TOL_REF64
        wrong = forward64(back, p_disk, tokens, p_disk["sliding_window"], rope_half)
        d_wrong = max_abs(wrong, logits)
        log(f"  consolidated: same weights with rotate-half RoPE (wrong layout): {d_wrong:.3e}")
        assert d_wrong >= WINDOW_OFF_MIN
        extra["consolidated_interleaved_forward_max_abs_diff"] = d_int
        extra["consolidated_with_rotate_half_max_abs_diff"] = d_wrong

    extra.update(run_checks(fx, model, tokens, logits, p, sd_hf))

    if cuda_check and torch.cuda.is_available():
        # Informational only: the reference is the CPU run.
        try:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            gm = copy.deepcopy(model).to("cuda")
            with torch.no_grad():
                gl = gm(input_ids=tokens[None].cuda(), use_cache=False).logits[0].float().cpu()
            dg = max_abs(gl, logits)
            log(f"  CUDA ({torch.cuda.get_device_name()}) fp32 eager vs CPU: {dg:.3e}")
            extra["cuda_vs_cpu_max_abs_diff"] = dg
        except Exception as e:  # noqa: BLE001
            log(f"  CUDA check skipped: {type(e).__name__}: {e}")

    write_reference(folder, fx, tokens, logits, extra)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    log(f"  files: {sorted(os.listdir(folder))}  {size / 1024:.1f} KiB  "
        f"weights sha256[:16] {digest(folder)}")
    return size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="test/fixtures/models")
    ap.add_argument("--only", default="")
    ap.add_argument("--cuda-check", action="store_true")
    a = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"numpy {np.__version__}, python {sys.version.split()[0]}")
    only = set(filter(None, a.only.split(",")))
    total = 0
    for fx in FIXTURES:
        if only and fx["name"] not in only:
            continue
        total += build(fx, a.out, a.cuda_check)
    log(f"ALL CHECKS PASSED; total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
