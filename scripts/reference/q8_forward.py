#!/usr/bin/env python3
"""Exact reference logits for a Q8_0 (or Q6_K) GGUF Mistral model, in numpy float64.

Reads the GGUF file with a small parser of its own (header, metadata, tensor table),
dequantizes every Q8_0 block exactly (f16 scale x int8; the product is exact in float32,
so float64 adds no rounding of its own; Q6_K likewise, f16 d x int8 group scale x 6-bit
value) and runs the Mistral forward as scripts/reference/make_fixtures.py writes it:
RMSNorm, RoPE on interleaved pairs (GGUF stores q/k rows in that order), grouped-query
attention with the sliding-window mask i - W < j <= i, SwiGLU, output projection tied to
the embedding when the file has no output.weight. Whole sequence at once, no cache.

For each reference JSON given (tokens + logits_positions, as in
test/fixtures/default-model-reference), writes NAME_q8_logits.f32 beside it (raw
little-endian float32, [len(logits_positions), vocab]) and, when the JSON's own logits
file is there (transformers on the unquantized weights), prints how far the two are
apart: the Q8_0 rounding of the weights and nothing else.

    python3 scripts/reference/q8_forward.py models/default/model.gguf \\
        test/fixtures/default-model-reference/reference*.json

With --unquantized FILE.safetensors (the HF bf16 weights the GGUF was converted from),
the same forward also runs on those weights, and must match transformers' logits within
5e-5 (TOL_REF64 of make_fixtures.py): that checks the forward itself, so that the only
difference left between the two references is the Q8_0 rounding.
"""

import json
import math
import os
import struct
import sys

import numpy as np

GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q6_K, GGML_BF16 = 0, 1, 8, 14, 30
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
          12: "<d"}


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.at:self.at + n].decode("utf-8")
        self.at += n
        return s

    def value(self, kind):
        if kind == 8:
            return self.string()
        if kind == 9:
            inner, n = self.take("<I"), self.take("<Q")
            return [self.value(inner) for _ in range(n)]
        return self.take(SCALAR[kind])


def dequantize_q6_k(data, count, at):
    """Q6_K blocks of 256 values: low 4 bits (128 bytes), high 2 bits (64), 16 int8 group
    scales, f16 d. Within each half of 128, byte l of the low bits holds values l (low
    nibble) and l + 64 (high), byte l + 32 values l + 32 and l + 96; byte l of the high
    bits holds the top two bits of l, l + 32, l + 64, l + 96 from its lowest pair up.
    Value = d * scale[i // 16] * (q - 32), exact in float64."""
    blocks = np.frombuffer(data, dtype=np.dtype([("ql", "u1", 128), ("qh", "u1", 64), ("sc", "i1", 16), ("d", "<f2")]),
                           count=count // 256, offset=at)
    q = np.empty((len(blocks), 256), dtype=np.int64)
    for half in range(2):
        ql = blocks["ql"][:, 64 * half:64 * half + 64].astype(np.int64)
        qh = blocks["qh"][:, 32 * half:32 * half + 32].astype(np.int64)
        o = 128 * half
        q[:, o:o + 32] = (ql[:, :32] & 15) | (qh & 3) << 4
        q[:, o + 32:o + 64] = (ql[:, 32:] & 15) | (qh >> 2 & 3) << 4
        q[:, o + 64:o + 96] = ql[:, :32] >> 4 | (qh >> 4 & 3) << 4
        q[:, o + 96:o + 128] = ql[:, 32:] >> 4 | (qh >> 6 & 3) << 4
    scale = blocks["d"].astype(np.float64)[:, None] * np.repeat(blocks["sc"].astype(np.float64), 16, axis=1)
    return (scale * (q - 32)).reshape(-1)


def read_gguf(path):
    """(metadata, {name: float64 array in [rows, cols] order})."""
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    r.at = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    assert version == 3, f"GGUF version {version}"
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]  # ne0 (contiguous) first
        infos.append((name, dims, r.take("<I"), r.take("<Q")))
    align = meta.get("general.alignment", 32)
    base = (r.at + align - 1) // align * align
    tensors = {}
    for name, dims, kind, offset in infos:
        count = math.prod(dims)
        at = base + offset
        if kind == GGML_Q8_0:
            blocks = np.frombuffer(data, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]),
                                   count=count // 32, offset=at)
            values = blocks["d"].astype(np.float64)[:, None] * blocks["q"].astype(np.float64)
        elif kind == GGML_Q6_K:
            values = dequantize_q6_k(data, count, at)
        elif kind == GGML_F32:
            values = np.frombuffer(data, dtype="<f4", count=count, offset=at).astype(np.float64)
        elif kind == GGML_F16:
            values = np.frombuffer(data, dtype="<f2", count=count, offset=at).astype(np.float64)
        elif kind == GGML_BF16:
            raw = np.frombuffer(data, dtype="<u2", count=count, offset=at).astype(np.uint32) << 16
            values = raw.view(np.float32).astype(np.float64)
        else:
            sys.exit(f"{path}: tensor {name} has GGML type {kind}; this script reads F32, F16, BF16, Q8_0, Q6_K")
        tensors[name] = values.reshape(list(reversed(dims)))
    return meta, tensors


def rope_interleaved(x, theta):
    """x: [n, heads, d]; pairs (x[2i], x[2i + 1]) rotated by position * theta^(-2i/d)."""
    n, _, d = x.shape
    inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def forward(meta, w, tokens):
    arch = meta["general.architecture"]
    m = lambda key: meta[f"{arch}.{key}"]  # noqa: E731
    layers, heads, kv_heads = m("block_count"), m("attention.head_count"), m("attention.head_count_kv")
    eps, theta = m("attention.layer_norm_rms_epsilon"), meta.get(f"{arch}.rope.freq_base", 10000.0)
    window = meta.get(f"{arch}.attention.sliding_window", 0)
    n = len(tokens)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    allowed = (j <= i) & ((j > i - window) if window else True)
    h = w["token_embd.weight"][tokens]
    for li in range(layers):
        L = lambda s: w[f"blk.{li}.{s}.weight"]  # noqa: E731
        x = rms_norm(h, L("attn_norm"), eps)
        q, k, v = x @ L("attn_q").T, x @ L("attn_k").T, x @ L("attn_v").T
        hd = q.shape[1] // heads
        q = rope_interleaved(q.reshape(n, heads, hd), theta)
        k = rope_interleaved(k.reshape(n, kv_heads, hd), theta)
        v = v.reshape(n, kv_heads, hd)
        rep = heads // kv_heads  # query head g uses KV head g // rep
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        scores = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd)
        scores = np.where(allowed[None], scores, -np.inf)
        scores -= scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(-1, keepdims=True)
        h = h + np.einsum("hij,jhd->ihd", probs, v).reshape(n, heads * hd) @ L("attn_output").T
        x = rms_norm(h, L("ffn_norm"), eps)
        gate, up = x @ L("ffn_gate").T, x @ L("ffn_up").T
        h = h + (gate / (1.0 + np.exp(-gate)) * up) @ L("ffn_down").T
    h = rms_norm(h, w["output_norm.weight"], eps)
    return h @ w.get("output.weight", w["token_embd.weight"]).T


TOL_REF64 = 5e-5  # float64 forward vs transformers fp32 (make_fixtures.py)


def read_safetensors_as_gguf(path, heads, kv_heads):
    """HF bf16 safetensors under GGUF names, q/k rows permuted into interleaved pairs."""
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data, 0)[0]
    header = json.loads(data[8:8 + n])

    def get(name):
        entry = header[name]
        assert entry["dtype"] == "BF16", f"{name}: {entry['dtype']}"
        a, b = entry["data_offsets"]
        raw = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<u2").astype(np.uint32) << 16
        return raw.view(np.float32).astype(np.float64).reshape(entry["shape"])

    def pairs(w, h):  # rotate-half row (h, s*d/2 + i) -> pair row (h, 2i + s)
        return w.reshape(h, 2, w.shape[0] // h // 2, -1).transpose(0, 2, 1, 3).reshape(w.shape)

    w = {"token_embd.weight": get("model.embed_tokens.weight"), "output_norm.weight": get("model.norm.weight")}
    if "lm_head.weight" in header:
        w["output.weight"] = get("lm_head.weight")
    names = dict(attn_norm="input_layernorm", ffn_norm="post_attention_layernorm",
                 attn_v="self_attn.v_proj", attn_output="self_attn.o_proj", ffn_gate="mlp.gate_proj",
                 ffn_up="mlp.up_proj", ffn_down="mlp.down_proj")
    layer = 0
    while f"model.layers.{layer}.input_layernorm.weight" in header:
        hf, gg = f"model.layers.{layer}.", f"blk.{layer}."
        for ours, theirs in names.items():
            w[gg + ours + ".weight"] = get(hf + theirs + ".weight")
        w[gg + "attn_q.weight"] = pairs(get(hf + "self_attn.q_proj.weight"), heads)
        w[gg + "attn_k.weight"] = pairs(get(hf + "self_attn.k_proj.weight"), kv_heads)
        layer += 1
    return w


def main(argv):
    unquantized = None
    if "--unquantized" in argv:
        k = argv.index("--unquantized")
        unquantized, argv = argv[k + 1], argv[:k] + argv[k + 2:]
    if len(argv) < 2:
        sys.exit(__doc__)
    meta, weights = read_gguf(argv[0])
    arch = meta["general.architecture"]
    exact = None
    if unquantized:
        exact = read_safetensors_as_gguf(unquantized, meta[f"{arch}.attention.head_count"],
                                         meta[f"{arch}.attention.head_count_kv"])
    for name in argv[1:]:
        ref = json.load(open(name))
        logits = forward(meta, weights, np.array(ref["tokens"]))[ref["logits_positions"]]
        out = name[: -len(".json")] + "_q8_logits.f32"
        logits.astype("<f4").tofile(out)
        line = f"{os.path.basename(name)}: {len(ref['tokens'])} tokens -> {os.path.basename(out)}"
        bf16 = os.path.join(os.path.dirname(name), ref["logits_file"])
        if os.path.exists(bf16):
            hf = np.fromfile(bf16, dtype="<f4").reshape(logits.shape).astype(np.float64)
            diff = np.abs(logits - hf).max()
            rms = math.sqrt((hf * hf).mean())
            same = int((logits.argmax(-1) == hf.argmax(-1)).sum())
            line += (f"; vs transformers (bf16 weights): max |d| {diff:.4f} ({diff / rms:.4f} of the rms "
                     f"{rms:.3f}), argmax {same}/{len(logits)}")
            if exact is not None:
                own = np.abs(forward(meta, exact, np.array(ref["tokens"]))[ref["logits_positions"]] - hf).max()
                line += f"; this forward on the bf16 weights vs transformers: {own:.2e}"
                assert own <= TOL_REF64, f"{name}: the float64 forward differs from transformers ({own})"
        print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
