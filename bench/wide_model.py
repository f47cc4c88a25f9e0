#!/usr/bin/env python3
"""Writes a Mistral-shaped model of random weights (~100M parameters, every row a whole
number of 256-value super-blocks, so the K formats apply to every matrix) as a
safetensors folder, for the CPU speed of quantized GGUF files:

    python3 bench/wide_model.py OUT_DIR
    build/native/bin/tramontane-gguf_convert OUT_DIR OUT.gguf Q4_K

The tokenizer is the demo model's. The weights are random: speed only, not text."""
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 768, 2048, 12, 12, 4, 64, 32768


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    demo = Path(__file__).resolve().parent.parent / "models" / "default"
    config = json.loads((demo / "config.json").read_text())
    config.update(hidden_size=DIM, intermediate_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                  num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, vocab_size=VOCAB)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(demo / "tokenizer.model", out / "tokenizer.model")

    shapes = {"model.embed_tokens.weight": [VOCAB, DIM], "model.norm.weight": [DIM]}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": [DIM], p + "post_attention_layernorm.weight": [DIM],
                       p + "self_attn.q_proj.weight": [HEADS * HEAD_DIM, DIM],
                       p + "self_attn.k_proj.weight": [KV_HEADS * HEAD_DIM, DIM],
                       p + "self_attn.v_proj.weight": [KV_HEADS * HEAD_DIM, DIM],
                       p + "self_attn.o_proj.weight": [DIM, HEADS * HEAD_DIM],
                       p + "mlp.gate_proj.weight": [HIDDEN, DIM], p + "mlp.up_proj.weight": [HIDDEN, DIM],
                       p + "mlp.down_proj.weight": [DIM, HIDDEN]})
    rng = np.random.default_rng(0)
    header, blobs, offset = {}, [], 0
    for name, shape in shapes.items():
        values = np.ones(shape, np.float32) if len(shape) == 1 else rng.normal(0, 0.02, shape).astype(np.float32)
        blob = (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()  # bf16 by truncation
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: wide_model.py OUT_DIR")
    main(Path(sys.argv[1]))
