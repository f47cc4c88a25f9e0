"""Tiny Mixtral models with the head sizes the fast CUDA kernels are compiled for (64, 128).

The committed Mixtral fixtures (make_mixtral_fixtures.py) use head_dim 8 and 16, which
the CUDA backend runs on its prefill path only; these take the decode path too (the
experts' gemv kernels and the router inside the captured decode graph). Same recipe,
checks and reference files as make_mixtral_fixtures.py, with a wider router margin: the
CUDA backend computes in f16, which moves router probabilities by up to a few 1e-4, so
every token's k-th and (k+1)-th probabilities differ by at least 3e-3 here (over 96 tokens
no seed in 40 had no near tie; 40 tokens leave some). Widths are
multiples of 256 so that the K formats of the GGUF converter apply. Written to a scratch
folder on the GPU machine, not committed.

    python3 scripts/reference/make_gpu_mixtral_fixtures.py --out /tmp/gpu-fixtures
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_mixtral_fixtures as mm  # noqa: E402

GPU_FIXTURES = [
    dict(
        name="mixtral_head_dim_128",
        notes="MixtralForCausalLM: 8 experts, top 2; hidden 256, 4 heads of head_dim 128, "
        "2 KV heads, intermediate 512 per expert; no sliding window over 40 tokens; "
        "rope_theta 1e6. bf16 weights.",
        seed=3001, n=40, dtype="bfloat16", layout="hf",
        cfg=dict(hidden_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=128,
                 intermediate_size=512, num_local_experts=8, num_experts_per_tok=2,
                 sliding_window=None, rope_theta=1e6),
    ),
    dict(
        name="mixtral_head_dim_64",
        notes="MixtralForCausalLM: 4 experts, top 3; hidden 256, 4 heads of head_dim 64, "
        "2 KV heads, intermediate 256 per expert; sliding window 24 over 40 tokens; "
        "rope_theta 1e4. bf16 weights.",
        seed=3002, n=40, dtype="bfloat16", layout="hf",
        cfg=dict(hidden_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                 intermediate_size=256, num_local_experts=4, num_experts_per_tok=3,
                 sliding_window=24, rope_theta=1e4),
    ),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    mm.MIN_ROUTER_GAP = 3e-3
    mm.SEED_TRIES = 40
    mm.transformers.utils.logging.disable_progress_bar()
    mm.torch.use_deterministic_algorithms(True)
    mm.torch.set_num_threads(1)
    for fx in GPU_FIXTURES:
        mm.build(fx, a.out, False)
    mm.log("ALL CHECKS PASSED")


if __name__ == "__main__":
    main()
