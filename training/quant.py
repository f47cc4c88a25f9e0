"""Q8_0 as GGUF stores it, round-tripped in PyTorch, to measure what the format costs.

Q8_0: blocks of 32 consecutive values along a row; per block a scale d = max|x| / 127
stored in f16, and 32 int8 values q = round(x / d); a value reads back as q * d. Matrices
(the embedding included) are quantized; vectors (the norms) stay as they are.
"""
import torch

BLOCK = 32


def q8_0_roundtrip(t):
    if t.dim() < 2 or t.shape[-1] % BLOCK:
        return t
    x = t.float().reshape(-1, BLOCK)
    d = x.abs().amax(-1, keepdim=True) / 127.0
    inv = torch.where(d > 0, 1.0 / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(d))
    y = x * inv
    q = torch.sign(y) * torch.floor(y.abs() + 0.5)  # roundf: halves away from zero
    return (q * d.half().float()).reshape(t.shape).to(t.dtype)


def q8_0_state_dict(sd):
    return {k: q8_0_roundtrip(v) for k, v in sd.items()}
