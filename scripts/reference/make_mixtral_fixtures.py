#!/usr/bin/env python3
"""Reference logits for the engine's mixture-of-experts tests, from HF MixtralForCausalLM.

Builds tiny random Mixtral models (2 layers, vocab 128, 4 or 8 SwiGLU experts per layer,
top-2 or top-3 routing), saves them in the layouts the engine loads, and writes next to
each the logits that HF transformers computes for a fixed token sequence (fp32, eager
attention, use_cache=False, whole sequence at once). Same files and reference.json format
as make_fixtures.py (whose helpers this script reuses); the engine's tests compare against
them (max abs error <= 1e-4 at every position).

Run (on a machine with torch and transformers; tiny models, CPU is enough):

    python3 scripts/reference/make_mixtral_fixtures.py --out test/fixtures/models

Options: --only NAME[,NAME...] builds a subset; --cuda-check also runs each model on the
GPU (TF32 off) and prints the largest difference from the CPU logits.

Weights are written with the names of the published Mixtral checkpoints, whatever layout
the installed transformers uses in memory (per-expert modules, or the stacked
gate_up_proj / down_proj of transformers 5):
    HF:           model.layers.N.block_sparse_moe.gate.weight                [experts, dim]
                  model.layers.N.block_sparse_moe.experts.E.w1/w2/w3.weight  (gate/down/up)
    consolidated: layers.N.feed_forward.gate.weight
                  layers.N.feed_forward.experts.E.w1/w2/w3.weight, and params.json with
                  "moe": {"num_experts", "num_experts_per_tok"}
The reference logits come from the model reloaded from these files with from_pretrained
(consolidated: the HF model it was converted from).

The router, as transformers computes it: logits = gate(x); p = softmax(logits) in fp32;
the top-k of p (torch.topk); those k weights divided by their sum; the layer's output is
the weighted sum of the chosen experts' SwiGLU outputs w2(silu(w1 x) * w3 x).

Checks made for every fixture (the script stops if one fails):
  * the files reload with from_pretrained with no missing or unexpected weights, every
    weight equal to the in-memory model's, and the same logits;
  * HF with use_cache=True, fed token by token, matches the full pass (first 24 tokens
    asserted; the rest reported);
  * an independent float64 forward written here (own RMSNorm, RoPE, GQA, window mask,
    router and experts) matches HF's logits; the same forward without renormalising the
    k weights, with k - 1 or k + 1 experts, with the window one key off, or with the
    other rope_theta, does not;
  * layer 0's MoE block, captured inside HF's forward with a hook, matches the
    hand-written router and experts on the same input;
  * routing is never a near tie: at every token of every layer the k-th and (k+1)-th
    router probabilities differ by at least MIN_ROUTER_GAP (else the next seed is
    tried), so a correct engine computing in another order picks the same experts;
  * consolidated layout: the interleaved-pair RoPE forward on the file's weights matches
    HF's logits, and permuting the rows back gives HF's q/k weights exactly.
It also prints which index torch.topk puts first on exact ties (for the engine's rule).
"""

import argparse
import json
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_fixtures as base  # noqa: E402  (seeded tokens, RoPE, attention, layout helpers)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import MixtralConfig, MixtralForCausalLM  # noqa: E402

log, max_abs = base.log, base.max_abs
VOCAB, N_LAYERS, NORM_EPS = base.VOCAB, base.N_LAYERS, base.NORM_EPS
TOL_SELF, TOL_REF64, OFF_MIN = base.TOL_SELF, base.TOL_REF64, base.WINDOW_OFF_MIN
MIN_ROUTER_GAP = 2e-4  # smallest allowed p[k-th] - p[(k+1)-th], fp32 router probabilities
SEED_TRIES = 20  # seeds tried (seed, seed + 1000, ...) until routing has no near tie

# Sizes keep the whole set at a few hundred KiB: the experts dominate (3 x E x dim x inter).
FIXTURES = [
    dict(
        name="mixtral_4x2_window",
        notes="MixtralForCausalLM: 4 experts, top 2; hidden 32, 4 heads / 2 KV heads (GQA), "
        "head_dim 8, intermediate 48 per expert; sliding window 16 over 80 tokens; "
        "rope_theta 1e4 under rope_parameters; f32 weights.",
        seed=2001, n=80, dtype="float32", layout="hf",
        cfg=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                 intermediate_size=48, num_local_experts=4, num_experts_per_tok=2,
                 sliding_window=16, rope_theta=1e4),
    ),
    dict(
        name="mixtral_8x2",
        notes="MixtralForCausalLM: 8 experts, top 2, as Mixtral 8x7B; sliding_window null "
        "(full causal, as Mixtral); rope_theta 1e6 at the top level of config.json (the "
        "published Mixtral config's style); hidden 32, 4 heads / 2 KV heads, head_dim 8, "
        "intermediate 32; 64 tokens; bf16 weights.",
        seed=2002, n=64, dtype="bfloat16", layout="hf", top_level_theta=True,
        cfg=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                 intermediate_size=32, num_local_experts=8, num_experts_per_tok=2,
                 sliding_window=None, rope_theta=1e6),
    ),
    dict(
        name="mixtral_sharded",
        notes="MixtralForCausalLM: 8 experts, top 3; weights split over several "
        "model-0000K-of-0000N.safetensors shards of at most 24 KiB with "
        "model.safetensors.index.json (experts of one layer spread over shards); hidden 32, "
        "4 heads / 2 KV heads, head_dim 8, intermediate 32; window 8 over 64 tokens; "
        "rope_theta 1e4; bf16 weights.",
        seed=2003, n=64, dtype="bfloat16", layout="hf", max_shard_bytes=24 * 1024,
        cfg=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                 intermediate_size=32, num_local_experts=8, num_experts_per_tok=3,
                 sliding_window=8, rope_theta=1e4),
    ),
    dict(
        name="mixtral_consolidated",
        notes="Mistral's own layout of Mixtral: params.json with \"moe\": {num_experts 4, "
        "num_experts_per_tok 2} and no sliding_window + consolidated.safetensors "
        "(layers.N.feed_forward.gate, layers.N.feed_forward.experts.E.w1/w2/w3; q/k rows in "
        "interleaved-pair RoPE order), converted from an HF model. dim 32, 4 heads of "
        "head_dim 16 (!= dim/heads), 2 KV heads, hidden_dim 32; 80 tokens; rope_theta 1e6; "
        "bf16 weights. Reference logits are the HF model's.",
        seed=2004, n=80, dtype="bfloat16", layout="consolidated",
        cfg=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                 intermediate_size=32, num_local_experts=4, num_experts_per_tok=2,
                 sliding_window=None, rope_theta=1e6),
    ),
]


# ---------------------------------------------------------------------------- model ----


def make_config(fx):
    c = dict(fx["cfg"])
    rope_theta = c.pop("rope_theta")
    cfg = MixtralConfig(
        vocab_size=VOCAB,
        num_hidden_layers=N_LAYERS,
        rms_norm_eps=NORM_EPS,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
        router_jitter_noise=0.0,
        output_router_logits=False,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
        **c,
    )
    cfg.architectures = ["MixtralForCausalLM"]
    return cfg


def init_weights(model, seed):
    """Weights large enough that attention is far from uniform, the router's choice matters
    (router logits of std about 1.2) and logits are O(1). Fan-in is the last dimension,
    also for stacked [experts, out, in] parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "model.embed_tokens.weight":
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(1.2 / math.sqrt(p.shape[-1]) * torch.randn(p.shape, generator=g))


def moe_block(layer):
    """The decoder layer's sparse MoE block (block_sparse_moe, or mlp in later versions)."""
    for attr in ("block_sparse_moe", "mlp"):
        blk = getattr(layer, attr, None)
        if blk is not None and hasattr(blk, "gate") and hasattr(blk, "experts"):
            return blk
    raise SystemExit("cannot find the MoE block of MixtralDecoderLayer in this transformers")


def expert_weights(blk, cfg):
    """[(w1, w2, w3)] per expert (gate [I, H], down [H, I], up [I, H]) from either in-memory
    layout: a ModuleList of experts with w1/w2/w3, or stacked gate_up_proj [E, 2I, H]
    (gate rows first, as its forward's chunk(2)) and down_proj [E, H, I]."""
    E, H, inter = cfg.num_local_experts, cfg.hidden_size, cfg.intermediate_size
    ex = blk.experts
    if isinstance(ex, torch.nn.ModuleList):
        return [(e.w1.weight, e.w2.weight, e.w3.weight) for e in ex]
    gu, down = ex.gate_up_proj, ex.down_proj
    if tuple(gu.shape) != (E, 2 * inter, H) or tuple(down.shape) != (E, H, inter):
        raise SystemExit(f"unexpected stacked expert shapes {tuple(gu.shape)} "
                         f"{tuple(down.shape)}; expected ({E}, {2 * inter}, {H}) and "
                         f"({E}, {H}, {inter})")
    return [(gu[e, :inter], down[e], gu[e, inter:]) for e in range(E)]


def checkpoint_state(model, cfg):
    """The model's weights under the published Mixtral checkpoint's HF names."""
    m = model.model
    sd = {"model.embed_tokens.weight": m.embed_tokens.weight,
          "model.norm.weight": m.norm.weight,
          "lm_head.weight": model.lm_head.weight}
    for li, layer in enumerate(m.layers):
        p = f"model.layers.{li}."
        a = layer.self_attn
        sd.update({p + "self_attn.q_proj.weight": a.q_proj.weight,
                   p + "self_attn.k_proj.weight": a.k_proj.weight,
                   p + "self_attn.v_proj.weight": a.v_proj.weight,
                   p + "self_attn.o_proj.weight": a.o_proj.weight,
                   p + "input_layernorm.weight": layer.input_layernorm.weight,
                   p + "post_attention_layernorm.weight": layer.post_attention_layernorm.weight})
        blk = moe_block(layer)
        sd[p + "block_sparse_moe.gate.weight"] = blk.gate.weight
        for e, (w1, w2, w3) in enumerate(expert_weights(blk, cfg)):
            q = f"{p}block_sparse_moe.experts.{e}."
            sd.update({q + "w1.weight": w1, q + "w2.weight": w2, q + "w3.weight": w3})
    return {k: v.detach().clone().contiguous() for k, v in sd.items()}


def load_hf(folder):
    model, info = MixtralForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys",
                                                       "mismatched_keys")}
    assert not bad, f"{folder}: from_pretrained did not take the file as written: {bad}"
    return model.eval()


# -------------------------------------------------- independent float64 forward ---------


def route(x, gate_w, k):
    """Router of one layer: (weights [n, k], experts [n, k], probabilities [n, E])."""
    probs = torch.softmax(x @ gate_w.T, dim=-1)
    top_p, top_e = torch.topk(probs, k, dim=-1)
    return top_p / top_p.sum(-1, keepdim=True), top_e, probs


def moe(x, L, p, k=None, renormalise=True):
    """Mixture of experts on x [n, dim] from consolidated-style names (L: suffix -> tensor)."""
    k = p["moe"]["num_experts_per_tok"] if k is None else k
    probs = torch.softmax(x @ L("feed_forward.gate.weight").T, dim=-1)
    top_p, top_e = torch.topk(probs, k, dim=-1)
    if renormalise:
        top_p = top_p / top_p.sum(-1, keepdim=True)
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(k):
            e = int(top_e[t, j])
            w = lambda s: L(f"feed_forward.experts.{e}.{s}.weight")  # noqa: E731
            h = torch.nn.functional.silu(x[t] @ w("w1").T) * (x[t] @ w("w3").T)
            out[t] += top_p[t, j] * (h @ w("w2").T)
    return out, probs


def forward64(w, p, tokens, window, rope, **moe_kw):
    """Whole model in float64 (w: consolidated name -> tensor). Returns (logits, gaps):
    gaps[t] = smallest p[k-th] - p[(k+1)-th] over the layers at token t."""
    w = {k: v.double() for k, v in w.items()}
    k = p["moe"]["num_experts_per_tok"]
    h = w["tok_embeddings.weight"][tokens]
    gaps = torch.full((len(tokens),), float("inf"), dtype=torch.float64)
    for li in range(p["n_layers"]):
        L = lambda s: w[f"layers.{li}.{s}"]  # noqa: E731
        x = base.rms_norm(h, L("attention_norm.weight"), p["norm_eps"])
        h = h + base.attention(x, L("attention.wq.weight"), L("attention.wk.weight"),
                               L("attention.wv.weight"), L("attention.wo.weight"), p, window,
                               rope)
        x = base.rms_norm(h, L("ffn_norm.weight"), p["norm_eps"])
        y, probs = moe(x, L, p, **moe_kw)
        h = h + y
        if k < probs.shape[1]:
            srt = probs.sort(dim=-1, descending=True).values
            gaps = torch.minimum(gaps, srt[:, k - 1] - srt[:, k])
    h = base.rms_norm(h, w["norm.weight"], p["norm_eps"])
    return h @ w["output.weight"].T, gaps


# ------------------------------------------------------ HF <-> consolidated layout ------


def params_of(cfg):
    p = dict(dim=cfg.hidden_size, n_layers=cfg.num_hidden_layers, head_dim=cfg.head_dim,
             hidden_dim=cfg.intermediate_size, n_heads=cfg.num_attention_heads,
             n_kv_heads=cfg.num_key_value_heads, norm_eps=cfg.rms_norm_eps,
             vocab_size=cfg.vocab_size)
    if cfg.sliding_window is not None:  # Mixtral's own params.json has no such key
        p["sliding_window"] = cfg.sliding_window
    p["rope_theta"] = float(cfg.rope_parameters["rope_theta"])
    p["moe"] = {"num_experts": cfg.num_local_experts,
                "num_experts_per_tok": cfg.num_experts_per_tok}
    return p


def to_consolidated(sd, p, permute):
    """HF checkpoint names -> consolidated names; q/k rows to interleaved order if permute."""
    hd = p["head_dim"]
    out = {"tok_embeddings.weight": sd["model.embed_tokens.weight"],
           "norm.weight": sd["model.norm.weight"],
           "output.weight": sd["lm_head.weight"]}
    for li in range(p["n_layers"]):
        a, c = f"model.layers.{li}.self_attn.", f"layers.{li}."
        wq, wk = sd[a + "q_proj.weight"], sd[a + "k_proj.weight"]
        if permute:
            wq = base.hf_to_rope_interleaved(wq, p["n_heads"], hd)
            wk = base.hf_to_rope_interleaved(wk, p["n_kv_heads"], hd)
        out.update({
            c + "attention.wq.weight": wq,
            c + "attention.wk.weight": wk,
            c + "attention.wv.weight": sd[a + "v_proj.weight"],
            c + "attention.wo.weight": sd[a + "o_proj.weight"],
            c + "attention_norm.weight": sd[f"model.layers.{li}.input_layernorm.weight"],
            c + "ffn_norm.weight": sd[f"model.layers.{li}.post_attention_layernorm.weight"],
        })
        m = f"model.layers.{li}.block_sparse_moe."
        out[c + "feed_forward.gate.weight"] = sd[m + "gate.weight"]
        for e in range(p["moe"]["num_experts"]):
            for s in ("w1", "w2", "w3"):
                out[f"{c}feed_forward.experts.{e}.{s}.weight"] = sd[f"{m}experts.{e}.{s}.weight"]
    return {k: v.contiguous().clone() for k, v in out.items()}


def p_window(p):
    return p.get("sliding_window")


# ------------------------------------------------------------------------- files --------


def save_hf(folder, fx, cfg, sd):
    """config.json (via the config's own writer) + the weights under checkpoint names, in
    one file or in shards of at most max_shard_bytes with an index."""
    cfg.save_pretrained(folder)
    for junk in ("generation_config.json",):
        jp = os.path.join(folder, junk)
        if os.path.exists(jp):
            os.remove(jp)
    c = base.edit_config(folder, fx)
    sd = {k: v.to(base.TORCH_DTYPES[fx["dtype"]]).contiguous() for k, v in sd.items()}
    meta = {"format": "pt"}
    limit = fx.get("max_shard_bytes")
    if not limit:
        save_file(sd, os.path.join(folder, "model.safetensors"), metadata=meta)
        return c
    shards, cur, size = [], {}, 0
    for name in sorted(sd):
        nbytes = sd[name].numel() * sd[name].element_size()
        if cur and size + nbytes > limit:
            shards.append(cur)
            cur, size = {}, 0
        cur[name] = sd[name]
        size += nbytes
    shards.append(cur)
    assert len(shards) >= 3, f"only {len(shards)} shards"
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(folder, fn), metadata=meta)
        for name, t in shard.items():
            weight_map[name] = fn
            total += t.numel() * t.element_size()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2,
                  sort_keys=True)
        f.write("\n")
    # Some layer's experts must live in more than one shard (the loader must gather them).
    spread = {li: {weight_map[n] for n in weight_map
                   if n.startswith(f"model.layers.{li}.block_sparse_moe.experts.")}
              for li in range(cfg.num_hidden_layers)}
    assert any(len(s) > 1 for s in spread.values()), spread
    log(f"  shards: {len(shards)}; expert shards per layer: "
        f"{ {li: len(s) for li, s in spread.items()} }")
    return c


def save_consolidated(folder, fx, p, sd):
    cons = to_consolidated(sd, p, permute=True)
    cons = {k: v.to(base.TORCH_DTYPES[fx["dtype"]]) for k, v in cons.items()}
    save_file(cons, os.path.join(folder, "consolidated.safetensors"))
    with open(os.path.join(folder, "params.json"), "w") as f:
        json.dump(p, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------- checks ---------


def check_layer0_moe(model, tokens, sd, cfg):
    """Capture layer 0's MoE block input/output inside HF's forward; compare with the
    hand-written router and experts on the same input."""
    blk = moe_block(model.model.layers[0])
    got = {}

    def hook(mod, args, kwargs, output):
        x = args[0] if args else kwargs["hidden_states"]
        y = output[0] if isinstance(output, tuple) else output
        got["x"] = x.reshape(-1, x.shape[-1]).detach().clone()
        got["y"] = y.reshape(-1, y.shape[-1]).detach().clone()

    hnd = blk.register_forward_hook(hook, with_kwargs=True)
    try:
        base.hf_logits(model, tokens)
    finally:
        hnd.remove()
    p = params_of(cfg)
    w = {k: v.double() for k, v in to_consolidated(sd, p, permute=False).items()}
    L = lambda s: w[f"layers.0.{s}"]  # noqa: E731
    mine, _ = moe(got["x"].double(), L, p)
    return max_abs(mine, got["y"])


def topk_tie_rule():
    """Which indices torch.topk returns for exact ties (informational, for the engine)."""
    res = {}
    for e, k in ((4, 2), (8, 2), (8, 3)):
        probs = torch.softmax(torch.zeros(1, e), dim=-1)
        res[f"{k}_of_{e}_all_equal"] = torch.topk(probs, k, dim=-1).indices[0].tolist()
    probs = torch.tensor([[0.1, 0.3, 0.2, 0.3, 0.1]])
    res["2_of_[.1,.3,.2,.3,.1]"] = torch.topk(probs, 2, dim=-1).indices[0].tolist()
    res["3_of_[.1,.3,.2,.3,.1]"] = torch.topk(probs, 3, dim=-1).indices[0].tolist()
    return res


def run_checks(fx, model, tokens, logits, cfg, sd):
    n = len(tokens)
    p = params_of(cfg)
    W = p_window(p)
    k = p["moe"]["num_experts_per_tok"]
    checks = {}

    cached = base.hf_logits_cached(model, tokens, n)
    d24 = max_abs(cached[:base.N_CACHED_ASSERT], logits[:base.N_CACHED_ASSERT])
    dall = max_abs(cached, logits)
    log(f"  use_cache token-by-token vs full: first {base.N_CACHED_ASSERT}: {d24:.3e}, "
        f"all {n}: {dall:.3e}")
    assert d24 <= TOL_SELF, f"{fx['name']}: cached path differs from full pass ({d24})"
    checks["use_cache_token_by_token_first24_max_abs_diff"] = d24
    checks["use_cache_token_by_token_all_max_abs_diff"] = dall

    w_hf = to_consolidated(sd, p, permute=False)
    ref64, gaps = forward64(w_hf, p, tokens, W, base.rope_half)
    d64 = max_abs(ref64, logits)
    log(f"  float64 forward (window {W}, top {k} of {p['moe']['num_experts']}) vs HF fp32: "
        f"{d64:.3e}; logits absmax {logits.abs().max().item():.2f}, "
        f"std {logits.std().item():.2f}; smallest router gap {gaps.min().item():.3e}")
    assert d64 <= TOL_REF64, f"{fx['name']}: float64 forward differs from HF ({d64})"
    checks["float64_forward_max_abs_diff"] = d64
    checks["smallest_router_gap_kth_vs_next_probability"] = gaps.min().item()

    def differs(label, key, **kw):
        ww = kw.pop("w", w_hf)
        pp = kw.pop("p", p)
        win = kw.pop("window", W)
        d = max_abs(forward64(ww, pp, tokens, win, base.rope_half, **kw)[0], logits)
        log(f"  float64 forward {label}: {d:.3e}")
        assert d >= OFF_MIN, f"{fx['name']}: {label} not distinguishable ({d})"
        checks[key] = d

    differs("without renormalising the top-k weights", "no_renormalisation_max_abs_diff",
            renormalise=False)
    differs(f"with top {k - 1}", f"top_{k - 1}_max_abs_diff", k=k - 1)
    differs(f"with top {k + 1}", f"top_{k + 1}_max_abs_diff", k=k + 1)
    if W is not None:
        for Wx in (W - 1, W + 1):
            differs(f"with window {Wx}", f"window_{Wx}_max_abs_diff", window=Wx)
    else:
        differs(f"with window {n // 2}", f"window_{n // 2}_max_abs_diff", window=n // 2)
    other = 1e4 if p["rope_theta"] != 1e4 else 1e6
    differs(f"with rope_theta {other:g}", f"rope_theta_{other:g}_max_abs_diff",
            p=dict(p, rope_theta=other))

    d0 = check_layer0_moe(model, tokens, sd, cfg)
    log(f"  layer 0 MoE block, HF vs hand-written router and experts: {d0:.3e}")
    assert d0 <= TOL_SELF, f"{fx['name']}: layer-0 MoE block differs ({d0})"
    checks["layer0_moe_vs_hand_router_max_abs_diff"] = d0
    return checks, gaps.min().item()


# ------------------------------------------------------------------------ build ---------


def make_model(fx, seed):
    torch.manual_seed(seed)
    cfg = make_config(fx)
    model = MixtralForCausalLM(cfg).eval()
    init_weights(model, seed)
    # Round the weights to the stored dtype, keep computing in float32.
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(prm.to(base.TORCH_DTYPES[fx["dtype"]]).float())
    return cfg, model


def pick_seed(fx):
    """First seed whose routing has no near tie on the fixture's tokens (see MIN_ROUTER_GAP)."""
    for i in range(SEED_TRIES):
        seed = fx["seed"] + 1000 * i
        cfg, model = make_model(fx, seed)
        p = params_of(cfg)
        tokens = base.make_tokens(seed, fx["n"])
        sd = checkpoint_state(model, cfg)
        _, gaps = forward64(to_consolidated(sd, p, permute=False), p, tokens, p_window(p),
                            base.rope_half)
        gap = gaps.min().item()
        if gap >= MIN_ROUTER_GAP:
            return seed, cfg, model, tokens, sd
        log(f"  seed {seed}: smallest router gap {gap:.2e} < {MIN_ROUTER_GAP:g}, next seed")
    raise SystemExit(f"{fx['name']}: no seed without a near tie in {SEED_TRIES} tries")


def build(fx, out_root, cuda_check):
    name = fx["name"]
    folder = os.path.join(out_root, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    log(f"== {name}")

    seed, cfg, mem, tokens, sd = pick_seed(fx)
    logits_mem = base.hf_logits(mem, tokens)
    p = params_of(cfg)
    extra = {}

    if fx["layout"] == "hf":
        c = save_hf(folder, fx, cfg, sd)
        log(f"  config.json: architectures={c.get('architectures')} "
            f"num_local_experts={c.get('num_local_experts')} "
            f"num_experts_per_tok={c.get('num_experts_per_tok')} "
            f"rope_parameters={c.get('rope_parameters')} rope_theta={c.get('rope_theta')} "
            f"sliding_window={c.get('sliding_window')}")
        assert c["num_local_experts"] == p["moe"]["num_experts"]
        assert c["num_experts_per_tok"] == p["moe"]["num_experts_per_tok"]
        # Reload exactly what is on disk; the reference comes from the reloaded model.
        model = load_hf(folder)
        assert model.config.sliding_window == p_window(p)
        assert float(model.config.rope_parameters["rope_theta"]) == p["rope_theta"]
        sd_disk = checkpoint_state(model, model.config)
        assert sd_disk.keys() == sd.keys()
        for key, v in sd.items():
            assert torch.equal(v, sd_disk[key]), f"{key} changed on the way through the file"
        logits = base.hf_logits(model, tokens)
        d = max_abs(logits, logits_mem)
        log(f"  reloaded from disk vs in-memory: {d:.3e}")
        assert d <= TOL_SELF
        extra["reload_vs_in_memory_max_abs_diff"] = d
        for fn in sorted(os.listdir(folder)):
            if fn.endswith(".safetensors"):
                with safe_open(os.path.join(folder, fn), "pt") as sf:
                    for key in sf.keys():
                        assert sf.get_tensor(key).dtype == base.TORCH_DTYPES[fx["dtype"]], key
    else:  # consolidated
        logits, model = logits_mem, mem
        save_consolidated(folder, fx, p, sd)
        with safe_open(os.path.join(folder, "consolidated.safetensors"), "pt") as sf:
            back = {key: sf.get_tensor(key).float() for key in sf.keys()}
        with open(os.path.join(folder, "params.json")) as f:
            p_disk = json.load(f)
        assert "sliding_window" not in p_disk and p_disk["moe"] == p["moe"]
        hd = p_disk["head_dim"]
        for li in range(p_disk["n_layers"]):
            for cn, hn, nh in (("wq", "q_proj", p_disk["n_heads"]),
                               ("wk", "k_proj", p_disk["n_kv_heads"])):
                re_hf = base.rope_interleaved_to_hf(back[f"layers.{li}.attention.{cn}.weight"],
                                                    nh, hd)
                assert torch.equal(re_hf, sd[f"model.layers.{li}.self_attn.{hn}.weight"])
                assert not torch.equal(back[f"layers.{li}.attention.{cn}.weight"], re_hf)
        log("  consolidated: permuting wq/wk back gives HF's q_proj/k_proj exactly")
        inter, _ = forward64(back, p_disk, tokens, p_window(p_disk), base.rope_interleaved)
        d_int = max_abs(inter, logits)
        log(f"  consolidated: float64 interleaved-RoPE forward on the file vs HF fp32: "
            f"{d_int:.3e}")
        assert d_int <= TOL_REF64
        wrong, _ = forward64(back, p_disk, tokens, p_window(p_disk), base.rope_half)
        d_wrong = max_abs(wrong, logits)
        log(f"  consolidated: same weights with rotate-half RoPE (wrong layout): {d_wrong:.3e}")
        assert d_wrong >= OFF_MIN
        extra["consolidated_interleaved_forward_max_abs_diff"] = d_int
        extra["consolidated_with_rotate_half_max_abs_diff"] = d_wrong

    checks, gap = run_checks(fx, model, tokens, logits, cfg, sd)
    extra.update(checks)
    extra["torch_topk_tie_indices"] = topk_tie_rule()

    if cuda_check and torch.cuda.is_available():
        try:  # informational only: the reference is the CPU run
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            import copy
            gm = copy.deepcopy(model).to("cuda")
            with torch.no_grad():
                gl = gm(input_ids=tokens[None].cuda(), use_cache=False).logits[0].float().cpu()
            dg = max_abs(gl, logits)
            log(f"  CUDA ({torch.cuda.get_device_name()}) fp32 eager vs CPU: {dg:.3e}")
            extra["cuda_vs_cpu_max_abs_diff"] = dg
        except Exception as e:  # noqa: BLE001
            log(f"  CUDA check skipped: {type(e).__name__}: {e}")

    base.write_reference(folder, dict(fx, seed=seed), tokens, logits, extra)
    ref_path = os.path.join(folder, "reference.json")
    with open(ref_path) as f:
        ref = json.load(f)
    ref["produced_by"] = (f"transformers {transformers.__version__} MixtralForCausalLM "
                          f"fp32 eager")
    with open(ref_path, "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    log(f"  seed {seed}; files: {sorted(os.listdir(folder))}  {size / 1024:.1f} KiB  "
        f"weights sha256[:16] {base.digest(folder)}")
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
    log(f"torch.topk on exact ties: {topk_tie_rule()}")
    only = set(filter(None, a.only.split(",")))
    total = 0
    for fx in FIXTURES:
        if only and fx["name"] not in only:
            continue
        total += build(fx, a.out, a.cuda_check)
    log(f"ALL CHECKS PASSED; total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
