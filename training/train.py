"""Trains Tramontane's default model: a small MistralForCausalLM on permissively licensed
TypeScript, JavaScript and Python (see data/manifest.tsv), next-token plus suffix-first
fill-in-the-middle, plus (--inst-rate) instruction pairs mined from the same files.
Seeded and reproducible for a given step count and batch size.

    python3 training/train.py --data training/data/tokens --out $OUT/run --steps 6000

--init-gguf models/default/model.gguf continues from the shipped model (its Q8_0 weights
dequantized; the optimizer and the learning-rate schedule start afresh) and logs the
held-out losses once before the first step (as step 0).

Writes to --out: train_log.jsonl (loss, held-out loss, throughput), ckpt.pt (fp32 weights
and optimizer state, for --resume), and model/ (config.json, model.safetensors in bf16,
generation_config.json) that transformers' MistralForCausalLM loads as it is.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from safetensors.torch import save_file

from data import Batches, Instructions, SpaceSplit, Split, answer_targets, load_meta
from model import Config, MistralLM, param_count

p = argparse.ArgumentParser()
p.add_argument("--data", default="training/data/tokens")
p.add_argument("--out", required=True)
p.add_argument("--steps", type=int, default=6000)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--ctx", type=int, default=1024)
p.add_argument("--lr", type=float, default=2.5e-3)
p.add_argument("--min-lr-frac", type=float, default=0.1)
p.add_argument("--warmup", type=int, default=300)
p.add_argument("--wd", type=float, default=0.1)
p.add_argument("--fim-rate", type=float, default=0.5)
p.add_argument("--space-split", type=float, default=0.03, help="fraction of '▁word' tokens re-spelled '▁' + 'word'")
p.add_argument("--inst-rate", type=float, default=0.0, help="fraction of rows packed with instruction pairs")
p.add_argument("--answer-weight", type=float, default=1.0,
               help="how many times an instruction answer's tokens and its EOS count in the loss (the prompt counts once)")
p.add_argument("--explain-answer", choices=("whole", "first-paragraph"), default="whole",
               help="explain pairs (training and held-out): the whole doc text, or its first paragraph then EOS (data.py)")
p.add_argument("--init-gguf", default="", help="start from this GGUF's weights (its shape must be the one the arguments give)")
p.add_argument("--grow-layers", action="store_true",
               help="with --init-gguf: a file with fewer layers than --layers is grown to them (gguf_init.grow_layers)")
p.add_argument("--hidden", type=int, default=Config.hidden_size)
p.add_argument("--layers", type=int, default=Config.num_hidden_layers)
p.add_argument("--heads", type=int, default=Config.num_attention_heads)
p.add_argument("--kv-heads", type=int, default=Config.num_key_value_heads)
p.add_argument("--head-dim", type=int, default=Config.head_dim)
p.add_argument("--mlp", type=int, default=Config.intermediate_size)
p.add_argument("--time-budget", type=float, default=0,
               help="seconds of training: after --measure-steps steps, --steps is set to what fits (logged, so a rerun with that --steps repeats the run)")
p.add_argument("--measure-steps", type=int, default=200)
p.add_argument("--seed", type=int, default=1234)
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
p.add_argument("--eval-every", type=int, default=1000)
p.add_argument("--eval-batches", type=int, default=8)
p.add_argument("--compile", type=int, default=1)
p.add_argument("--workers", type=int, default=10)
p.add_argument("--resume", default="")
p.add_argument("--stop-after", type=float, default=0, help="seconds; save a checkpoint and stop early (for resumable runs)")
args = p.parse_args()

os.makedirs(args.out, exist_ok=True)
torch.manual_seed(args.seed)
np.random.seed(args.seed)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
dev = args.device

meta, ids = load_meta(args.data)
train = Split(args.data, "train")
held = Split(args.data, "heldout")
print(f"train: {train.n} files, {len(train.tokens)} tokens; held-out: {held.n} files, {len(held.tokens)} tokens", flush=True)

cfg = Config(hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
             num_key_value_heads=args.kv_heads, head_dim=args.head_dim, intermediate_size=args.mlp)
model = MistralLM(cfg)
model.init_weights(torch.Generator().manual_seed(args.seed))
if args.init_gguf:
    from dataclasses import asdict

    from gguf_init import gguf_state_dict

    sd, _ = gguf_state_dict(args.init_gguf, asdict(cfg), grow=args.grow_layers)  # exits with one line on another shape
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})  # strict: every name, every shape
    print(f"initialised from {args.init_gguf}", flush=True)
model.to(dev)
n_params = param_count(model)
print(f"parameters: {n_params} ({n_params * 2 / 1e6:.2f} MB in bf16)", flush=True)

decay = [p_ for n, p_ in model.named_parameters() if p_.dim() >= 2]
no_decay = [p_ for n, p_ in model.named_parameters() if p_.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, **({"fused": True} if dev == "cuda" else {}))


def lr_at(step):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


start_step = 0
if args.resume:
    ck = torch.load(args.resume, map_location=dev)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    start_step = ck["step"]
    print(f"resumed at step {start_step}", flush=True)

space_split = SpaceSplit(args.data) if args.space_split > 0 else None
inst_train = Instructions(args.data, "train", args.explain_answer) if args.inst_rate > 0 else None
inst_held = Instructions(args.data, "heldout", args.explain_answer) if args.inst_rate > 0 else None
if inst_train is not None:
    print(f"instruction pairs: train {inst_train.n} ({len(inst_train.tokens)} tokens), held-out {inst_held.n}; "
          f"explain answers: {args.explain_answer}", flush=True)
train_batches = Batches(train, ids, args.batch, args.ctx, args.seed, args.fim_rate, space_split, args.space_split, inst_train, args.inst_rate)
held_batches = Batches(held, ids, args.batch, args.ctx, args.seed + 1, args.fim_rate, None, 0.0, inst_held, args.inst_rate)
held_fixed = [held_batches.get(i) for i in range(args.eval_batches)]


class Stream(torch.utils.data.IterableDataset):
    def __init__(self, batches, first, last):
        self.b, self.first, self.last = batches, first, last  # with --time-budget, an upper bound

    def __iter__(self):
        wi = torch.utils.data.get_worker_info()
        k, n = (wi.id, wi.num_workers) if wi else (0, 1)
        for step in range(self.first + k, self.last, n):
            rows, kinds = self.b.get(step)
            yield torch.from_numpy(rows), torch.from_numpy(kinds)


loader = torch.utils.data.DataLoader(Stream(train_batches, start_step, args.steps), batch_size=None,
                                     num_workers=args.workers, pin_memory=True, prefetch_factor=4,
                                     persistent_workers=False)

step_fn = model
if args.compile:
    step_fn = torch.compile(model)


def loss_of(fn, rows, weights=None):
    x = rows[:, :-1].to(dev, non_blocking=True)
    y = rows[:, 1:].to(dev, non_blocking=True)
    if weights is not None:
        weights = weights.to(dev, non_blocking=True)
    with torch.autocast(dev, dtype=torch.bfloat16):
        return fn(x, y) if weights is None else fn(x, y, weights)


def answer_weights(rows, kinds):
    """Per-target loss weights: --answer-weight on the answers of instruction rows, 1 elsewhere.
    A row of pairs is mostly prompt (a whole function before a one-line answer), so without it
    the answers and the EOS that ends them are a small part of what the model learns there."""
    w = np.ones((rows.shape[0], rows.shape[1] - 1), dtype=np.float32)
    inst = kinds == 2
    if inst.any():
        w[inst] = np.where(answer_targets(rows[inst], ids), args.answer_weight, 1.0)
    return torch.from_numpy(w)


@torch.no_grad()
def held_loss():
    model.eval()
    acc = ([], [], [])
    for rows, kinds in held_fixed:
        rows = torch.from_numpy(rows)
        kinds = torch.from_numpy(kinds)
        for k in range(3):
            sel = kinds == k
            if sel.any():
                acc[k].append(loss_of(model, rows[sel]).item())
    model.train()
    return [float(np.mean(a)) if a else None for a in acc]


log = open(os.path.join(args.out, "train_log.jsonl"), "a")


def with_held_loss(rec):
    """rec with the held-out losses (LM, FIM, instructions) of the fixed batches."""
    for key, v in zip(("heldout_lm", "heldout_fim", "heldout_inst"), held_loss()):
        if v is not None:
            rec[key] = round(v, 4)
    return rec


def log_record(rec):
    log.write(json.dumps(rec) + "\n"); log.flush()
    print(json.dumps(rec), flush=True)


def save_ckpt(step):
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "args": vars(args)},
               os.path.join(args.out, "ckpt.pt"))


def export(dirname):
    d = os.path.join(args.out, dirname)
    os.makedirs(d, exist_ok=True)
    sd = model.hf_state_dict(torch.bfloat16)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg.hf_config(), f, indent=2)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id, "do_sample": False, "max_new_tokens": 64}, f, indent=2)


if args.init_gguf and start_step == 0:
    # The starting point of a continuation, in the periodic evaluations' format (step 0).
    log_record(with_held_loss({"step": 0}))
model.train()
t0 = time.time()
t_last, tok_last = time.time(), 0
step = start_step
tokens_per_step = args.batch * args.ctx
skip_steps = min(20, args.measure_steps // 2)
for rows, kinds in loader:
    if step >= args.steps:
        break
    if args.time_budget and step == start_step + args.measure_steps:
        # Steps that fit the budget, at the rate of the steps since the first few (compile).
        rate = (args.measure_steps - skip_steps) / (time.time() - t_measure)
        args.steps = min(args.steps, max(step + 1, int(step + 0.97 * rate * (args.time_budget - (time.time() - t0)))))
        print(f"time budget {args.time_budget:.0f} s: {rate:.2f} steps/s, --steps {args.steps}", flush=True)
        log.write(json.dumps({"step": step, "steps_set_by_time_budget": args.steps}) + "\n")
    if step == start_step + skip_steps:
        t_measure = time.time()
    for g in opt.param_groups:
        g["lr"] = lr_at(step)
    weights = answer_weights(rows.numpy(), kinds.numpy()) if args.answer_weight != 1 else None
    loss = loss_of(step_fn, rows, weights)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    step += 1
    tok_last += tokens_per_step
    if step % 50 == 0 or step == args.steps:
        lv = loss.item()
        now = time.time()
        rec = {"step": step, "loss": round(lv, 4), "lr": lr_at(step - 1), "grad_norm": round(float(gn), 3),
               "tok_per_s": round(tok_last / (now - t_last)), "elapsed_s": round(now - t0, 1)}
        t_last, tok_last = now, 0
        if step % args.eval_every == 0 or step == args.steps:
            with_held_loss(rec)
        log_record(rec)
    if args.stop_after and time.time() - t0 > args.stop_after and step < args.steps:
        print(f"stopping early at step {step} (time limit); checkpoint saved", flush=True)
        save_ckpt(step)
        break

if step >= args.steps:
    save_ckpt(step)
    export("model")
    print(f"done: {step} steps, {step * tokens_per_step / 1e6:.1f}M tokens, {time.time() - t0:.0f} s", flush=True)
