"""Tiny models with the head sizes the fast CUDA kernels are compiled for (64 and 128).

The committed fixtures (make_fixtures.py) use head_dim 8 and 16, which the CUDA backend
runs on its simple path only; these two take the fast one (gemv decode, flash-decoding,
tiled tensor-core prefill attention). Same recipe, checks and reference files as
make_fixtures.py; written to a scratch folder on the GPU machine, not committed.

    python3 scripts/reference/make_gpu_fixtures.py --out /tmp/gpu-fixtures
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

GPU_FIXTURES = [
    dict(
        name="head_dim_64",
        notes="hidden 128, 8 heads of head_dim 64, 2 KV heads (4 query heads per KV head), "
        "intermediate 256; sliding window 24 over 96 tokens; rope_theta 1e4. bf16 weights.",
        seed=2001, n=96, dtype="bfloat16", layout="hf",
        cfg=dict(hidden_size=128, num_attention_heads=8, num_key_value_heads=2, head_dim=64,
                 intermediate_size=256, sliding_window=24, rope_theta=1e4),
    ),
    dict(
        name="head_dim_128",
        notes="hidden 256, 4 heads of head_dim 128, 2 KV heads, intermediate 512; no sliding "
        "window (full causal) over 96 tokens; rope_theta 1e6. bf16 weights.",
        seed=2002, n=96, dtype="bfloat16", layout="hf",
        cfg=dict(hidden_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=128,
                 intermediate_size=512, sliding_window=None, rope_theta=1e6),
    ),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    mf.transformers.utils.logging.disable_progress_bar()
    mf.torch.use_deterministic_algorithms(True)
    mf.torch.set_num_threads(1)
    for fx in GPU_FIXTURES:
        mf.build(fx, a.out, False)
    mf.log("ALL CHECKS PASSED")


if __name__ == "__main__":
    main()
