"""A compact implementation of the MistralForCausalLM forward pass for training and
batched evaluation.

Parameter names match transformers' MistralForCausalLM, so the state dict saves as a
model.safetensors that transformers loads unchanged (the output head is tied to the
embedding). The arithmetic follows transformers' eager path: RMSNorm in fp32, rotate-half
RoPE, grouped-query attention, sliding-window causal mask (query i sees keys j with
i - W < j <= i), SwiGLU MLP. evaluate.py checks the match against transformers itself.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 32768
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 8
    num_attention_heads: int = 6
    num_key_value_heads: int = 2
    head_dim: int = 32
    sliding_window: int = 256
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 32768
    bos_token_id: int = 1
    eos_token_id: int = 2

    def hf_config(self):
        """config.json for transformers' MistralForCausalLM."""
        c = asdict(self)
        return {
            "architectures": ["MistralForCausalLM"],
            "model_type": "mistral",
            "vocab_size": c["vocab_size"],
            "hidden_size": c["hidden_size"],
            "intermediate_size": c["intermediate_size"],
            "num_hidden_layers": c["num_hidden_layers"],
            "num_attention_heads": c["num_attention_heads"],
            "num_key_value_heads": c["num_key_value_heads"],
            "head_dim": c["head_dim"],
            "hidden_act": "silu",
            "max_position_embeddings": c["max_position_embeddings"],
            "initializer_range": 0.02,
            "rms_norm_eps": c["rms_norm_eps"],
            "use_cache": True,
            "rope_theta": c["rope_theta"],
            "rope_parameters": {"rope_type": "default", "rope_theta": c["rope_theta"]},
            "sliding_window": c["sliding_window"],
            "attention_dropout": 0.0,
            "tie_word_embeddings": True,
            "bos_token_id": c["bos_token_id"],
            "eos_token_id": c["eos_token_id"],
            "pad_token_id": None,
            "dtype": "bfloat16",
        }


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(cfg, positions, device):
    """cos/sin [*, T, head_dim] in fp32 for integer positions [*, T]."""
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, device=device, dtype=torch.int64).float() / cfg.head_dim))
    freqs = positions.float()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        h, kv, hd, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
        self.q_proj = nn.Linear(d, h * hd, bias=False)
        self.k_proj = nn.Linear(d, kv * hd, bias=False)
        self.v_proj = nn.Linear(d, kv * hd, bias=False)
        self.o_proj = nn.Linear(h * hd, d, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        """x [B, T, d]; cos/sin [B or 1, T, hd]; mask bool [B or 1, 1, T, S] (True = attend).
        cache: optional (k, v) [B, kv, S - T, hd] of earlier positions (keys after RoPE)."""
        B, T, _ = x.shape
        cfg = self.cfg
        q = self.q_proj(x).view(B, T, cfg.num_attention_heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, cfg.num_key_value_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, cfg.num_key_value_heads, cfg.head_dim).transpose(1, 2)
        c, s = cos[:, None].to(q.dtype), sin[:, None].to(q.dtype)
        q = q * c + rotate_half(q) * s
        k = k * c + rotate_half(k) * s
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        new_cache = (k, v)
        rep = cfg.num_attention_heads // cfg.num_key_value_heads
        kr = k.repeat_interleave(rep, dim=1)
        vr = v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, kr, vr, attn_mask=mask, scale=1.0 / math.sqrt(cfg.head_dim))
        y = y.transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(y), new_cache


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache=None):
        a, new_cache = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, new_cache


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


def window_mask(cfg, T, device):
    """[1, 1, T, T] bool: query i attends key j when i - W < j <= i."""
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(T, device=device)[None, :]
    return ((j <= i) & (i - j < cfg.sliding_window))[None, None]


class MistralLM(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)

    def init_weights(self, generator=None):
        std = 0.02
        out_std = std / math.sqrt(2 * self.cfg.num_hidden_layers)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                nn.init.normal_(p, 0.0, out_std, generator=generator)
            else:
                nn.init.normal_(p, 0.0, std, generator=generator)

    def hidden(self, ids, positions=None, mask=None, caches=None):
        B, T = ids.shape
        if positions is None:
            positions = torch.arange(T, device=ids.device)[None]
        if mask is None:
            mask = window_mask(self.cfg, T, ids.device)
        cos, sin = rope_tables(self.cfg, positions, ids.device)
        x = self.model.embed_tokens(ids)
        new_caches = []
        for li, layer in enumerate(self.model.layers):
            x, c = layer(x, cos, sin, mask, None if caches is None else caches[li])
            new_caches.append(c)
        return self.model.norm(x), new_caches

    def logits(self, h):
        return F.linear(h, self.model.embed_tokens.weight)

    def forward(self, ids, targets, weights=None):
        """Mean next-token loss; with weights (one per target), each target's loss is scaled
        by its weight and the sum divided by the number of targets."""
        h, _ = self.hidden(ids)
        logits = self.logits(h)
        if weights is None:
            return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), reduction="mean")
        per_target = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
        return (per_target * weights.reshape(-1)).sum() / per_target.numel()

    def hf_state_dict(self, dtype=torch.bfloat16):
        return {k: v.detach().to(dtype).contiguous() for k, v in self.state_dict().items()}


def param_count(model):
    return sum(p.numel() for p in model.parameters())
