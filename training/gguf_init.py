"""A GGUF of the default model (as tramontane-gguf_convert writes it from train.py's
export) back under the HF MistralForCausalLM names that model.py uses, in float32: what
train.py --init-gguf starts from, and an HF folder for the measurement scripts. numpy only.

The converter renames the tensors (blk.N.attn_q, token_embd, output_norm, ...), writes
no output.weight (the head is tied to the embedding) and permutes the rows of q and k from
rotate-half RoPE order into interleaved pairs (read_safetensors_as_gguf's pairs() in
scripts/reference/q8_forward.py). gguf_state_dict maps the names back, undoes the
permutation and refuses an untied head.

    python3 training/gguf_init.py GGUF --check BF16.safetensors   per tensor, max |difference| from
        the bf16 checkpoint the GGUF came from, relative to the tensor's max |value|; also
        with two wrong q/k row orders, which must fail
    python3 training/gguf_init.py GGUF --hf-folder DIR             config.json + model.safetensors (F32)
"""
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

# read_gguf is the repository's scripts/reference/q8_forward.py: this file runs from the
# repository's training/ or from a carry folder's training/ one level further down.
for _root in Path(__file__).resolve().parents[1:3]:
    if (_root / "scripts/reference/q8_forward.py").exists():
        sys.path.insert(0, str(_root / "scripts/reference"))
        break
from q8_forward import read_gguf  # noqa: E402

LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
# train.py's shape arguments and the Config fields they set.
ARGS = {"hidden": "hidden_size", "layers": "num_hidden_layers", "heads": "num_attention_heads",
        "kv-heads": "num_key_value_heads", "head-dim": "head_dim", "mlp": "intermediate_size"}


def unpair(w, heads):
    """Inverse of pairs(): the GGUF's interleaved row (h, 2i + s) back to the rotate-half
    row (h, s*d/2 + i) that model.py's RoPE expects."""
    return w.reshape(heads, -1, 2, w.shape[-1]).transpose(0, 2, 1, 3).reshape(w.shape)


def gguf_config(meta):
    """model.py Config fields from the GGUF's metadata."""
    arch = meta["general.architecture"]
    m = lambda key, default=None: meta.get(f"{arch}.{key}", default)  # noqa: E731
    return {
        "vocab_size": m("vocab_size", len(meta.get("tokenizer.ggml.tokens", []))),
        "hidden_size": m("embedding_length"), "intermediate_size": m("feed_forward_length"),
        "num_hidden_layers": m("block_count"), "num_attention_heads": m("attention.head_count"),
        "num_key_value_heads": m("attention.head_count_kv"),
        "head_dim": m("attention.key_length", m("embedding_length") // m("attention.head_count")),
        "sliding_window": m("attention.sliding_window"),
        # float32 in the file: the shortest decimal that reads back the same (1e-05, as
        # train.py writes it, not 9.999999747378752e-06)
        "rope_theta": float(str(np.float32(m("rope.freq_base", 10000.0)))),
        "rms_norm_eps": float(str(np.float32(m("attention.layer_norm_rms_epsilon")))),
    }


def check_config(path, got, want, grow=False):
    """One-line exit when the GGUF's shape (gguf_config) is not `want` (Config fields); with
    `grow`, the file may have fewer layers."""
    bad = []
    for k, g in got.items():
        v = want[k]
        if grow and k == "num_hidden_layers" and g is not None and g <= v:
            continue
        same = g is not None and (math.isclose(g, v, rel_tol=1e-5) if isinstance(v, float) else g == v)
        if not same:
            arg = next((a for a, f in ARGS.items() if f == k), None)
            bad.append(f"{'--' + arg if arg else k} {v} but the file has {g}")
    if bad:
        sys.exit(f"--init-gguf {path}: not this model's shape: " + "; ".join(bad))


def grow_layers(sd, have, want):
    """`have` layers made `want` by block expansion: the old layers keep their order, and
    after some of them comes a copy of that layer whose output projections (o_proj,
    down_proj) are zero. A copy adds nothing to the residual stream, so the grown model
    computes what the old one did, and training starts where the old one ended; the copy's
    other weights are the layer's own, a start its output projections can build on. The
    copies are spread evenly over the depth."""
    extra, out, at = want - have, {}, 0
    for i in range(have):
        prefix = f"model.layers.{i}."
        own = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        copies = extra * (i + 1) // have - extra * i // have
        for c in range(1 + copies):
            for name, v in own.items():
                zero = c > 0 and name in ("self_attn.o_proj.weight", "mlp.down_proj.weight")
                out[f"model.layers.{at}.{name}"] = np.zeros_like(v) if zero else v.copy()
            at += 1
    out.update({k: v for k, v in sd.items() if not k.startswith("model.layers.")})
    return out


def gguf_state_dict(path, want=None, permute=unpair, grow=False):
    """{HF name: float32 array} from a GGUF; `want` (Config fields) is checked first.
    `permute` is there for the check of the permutation itself (see main). With `grow`, a
    file with fewer layers than `want` is grown to them (grow_layers)."""
    meta, t = read_gguf(path)
    c = gguf_config(meta)
    if want is not None:
        check_config(path, c, want, grow)
    if "output.weight" in t:
        sys.exit(f"--init-gguf {path}: has output.weight (an untied head); model.py ties it to the embedding")
    sd = {"model.embed_tokens.weight": t.pop("token_embd.weight"), "model.norm.weight": t.pop("output_norm.weight")}
    for li in range(c["num_hidden_layers"]):
        for g, hf in LAYER_NAMES.items():
            w = t.pop(f"blk.{li}.{g}.weight")
            if g in ("attn_q", "attn_k"):
                w = permute(w, c["num_attention_heads"] if g == "attn_q" else c["num_key_value_heads"])
            sd[f"model.layers.{li}.{hf}.weight"] = w
    if t:
        sys.exit(f"--init-gguf {path}: tensors model.py does not have: {', '.join(sorted(t))}")
    if grow and want is not None and want["num_hidden_layers"] > c["num_hidden_layers"]:
        sd = grow_layers(sd, c["num_hidden_layers"], want["num_hidden_layers"])
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}, c


def read_bf16_safetensors(path):
    """{name: float32 array} of a bf16 safetensors file (train.py's export)."""
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    out = {}
    for k, e in json.loads(data[8:8 + n]).items():
        if k != "__metadata__":
            a, b = e["data_offsets"]
            raw = np.frombuffer(data, dtype="<u2", count=(b - a) // 2, offset=8 + n + a).astype(np.uint32) << 16
            out[k] = raw.view(np.float32).reshape(e["shape"])
    return out


def write_f32_safetensors(sd, path):
    header, at = {"__metadata__": {"format": "pt"}}, 0
    for k, v in sd.items():
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + v.nbytes]}
        at += v.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h)
        for v in sd.values():
            f.write(v.astype("<f4").tobytes())


def relative_errors(sd, ref):
    """Per tensor: max |sd - ref| / max |ref|."""
    assert sd.keys() == ref.keys(), sorted(set(sd) ^ set(ref))
    return {k: float(np.abs(sd[k] - ref[k]).max() / np.abs(ref[k]).max()) for k in ref}


def main(argv):
    if len(argv) != 3 or argv[1] not in ("--check", "--hf-folder"):
        sys.exit(__doc__)
    path, what, target = argv
    if what == "--hf-folder":
        sd, c = gguf_state_dict(path)
        from model import Config  # torch: on the training machine only

        os.makedirs(target, exist_ok=True)
        write_f32_safetensors(sd, os.path.join(target, "model.safetensors"))
        with open(os.path.join(target, "config.json"), "w") as f:
            json.dump(Config(**c).hf_config(), f, indent=2)
        print(f"{path} -> {target} (F32)")
        return
    ref = read_bf16_safetensors(target)
    meta = read_gguf(path)[0]
    print("GGUF config:", gguf_config(meta))
    # Q8_0 keeps each block of 32 within max|block| / 254 of its value (plus the f16 scale's
    # rounding), so 1% of the tensor's max bounds a right conversion; a wrong row order
    # puts other rows' values side by side and misses by the size of the values themselves.
    for name, permute in (("unpair (right)", unpair), ("none", lambda w, h: w),
                          ("pairs again (wrong)", lambda w, h: w.reshape(h, 2, -1, w.shape[-1]).transpose(0, 2, 1, 3).reshape(w.shape))):
        err = relative_errors(gguf_state_dict(path, permute=permute)[0], ref)
        worst = max(err, key=err.get)
        qk = max(v for k, v in err.items() if "q_proj" in k or "k_proj" in k)
        print(f"{name}: {len(err)} tensors, worst {err[worst]:.4f} ({worst}); worst q/k {qk:.4f}; "
              f"{'PASS' if err[worst] < 0.01 else 'FAIL'} (< 0.01)")
        if name.startswith("unpair"):
            for k in ("model.embed_tokens.weight", "model.norm.weight", "model.layers.0.self_attn.q_proj.weight",
                      "model.layers.0.self_attn.k_proj.weight", "model.layers.11.mlp.down_proj.weight"):
                print(f"  {k}: {err[k]:.5f}")


if __name__ == "__main__":
    main(sys.argv[1:])
