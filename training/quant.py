"""The GGUF weight formats the default model ships in, round-tripped in PyTorch, to
measure what a format costs. Matrices (the embedding included) are quantized; vectors (the
norms) stay as they are. Rounding is as tramontane-gguf_convert does it
(native/cpu/quant_blocks.cpp).

Q8_0: blocks of 32 consecutive values along a row; per block a scale d = max|x| / 127
stored in f16, and 32 int8 values q = round(x / d) under that f16 d; a value reads back
as q * d.
Q6_K: blocks of 256 in 16 groups of 16. A group's scale maps its value of largest
magnitude to -32; d = (largest |group scale|) / 127 in f16, each group scale an int8
multiple of d, and each value q = round(x / (d * scale)) + 32 in 0..63; it reads back as
d * scale * (q - 32).
"""
import torch

BLOCK = 32


def q8_0_roundtrip(t):
    if t.dim() < 2 or t.shape[-1] % BLOCK:
        return t
    x = t.float().reshape(-1, BLOCK)
    d = (x.abs().amax(-1, keepdim=True) / 127.0).half().float()
    safe_d = torch.where(d > 0, d, torch.ones_like(d))
    q = torch.where(d > 0, torch.round(x / safe_d).clamp(-127, 127), torch.zeros_like(x))  # nearbyint: halves to even
    return (q * d).reshape(t.shape).to(t.dtype)


def q6_k_roundtrip(t):
    if t.dim() < 2 or t.shape[-1] % 256:
        return t
    x = t.float().reshape(-1, 16, 16)
    big = torch.gather(x, -1, x.abs().argmax(-1, keepdim=True))  # signed, the first of equals
    scale = big / -32.0
    d = (scale.abs().amax(1, keepdim=True) / 127.0).half().float()
    safe_d = torch.where(d > 0, d, torch.ones_like(d))
    sc = torch.where(d > 0, torch.round(scale / safe_d).clamp(-127, 127), torch.zeros_like(scale))  # nearbyint: halves to even
    ds = d * sc
    safe_ds = torch.where(ds != 0, ds, torch.ones_like(ds))
    q = torch.where(ds != 0, (torch.round(x / safe_ds) + 32).clamp(0, 63), torch.full_like(x, 32.0))
    return (ds * (q - 32)).reshape(t.shape).to(t.dtype)


ROUNDTRIP = {"Q8_0": q8_0_roundtrip, "Q6_K": q6_k_roundtrip}


def quantized_state_dict(sd, kind):
    return {k: ROUNDTRIP[kind](v) for k, v in sd.items()}


def add_quant_arguments(parser, what):
    """--quant TYPE (the formats above) and --q8, its Q8_0 shorthand; `what` ends the help."""
    parser.add_argument("--quant", choices=sorted(ROUNDTRIP), help=f"the weights round-tripped through this GGUF format {what}")
    parser.add_argument("--q8", dest="quant", action="store_const", const="Q8_0", help="--quant Q8_0")
