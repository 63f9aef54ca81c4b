"""Train an LCKV-Llama (or standard Llama) on a tokenized corpus (OUT/train.txt, OUT/val.txt).

usage: python3 train.py --name lckv --out OUT --layer-types 0_6_6_6_6_6_6_7 --m 2 --b 1 --tokens N
Writes OUT/<name>/ckpt.pt (float32 state dict + config) and OUT/<name>/log.txt.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from data import token_file
from evaluate_lib import perplexity
from model import Config, LCKVLlama

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--layer-types", default="0_6_6_6_6_6_6_7")
    ap.add_argument("--m", type=int, default=2, help="forward_passes (no grad)")
    ap.add_argument("--b", type=int, default=1, help="backward_passes (with grad)")
    ap.add_argument("--tokens", type=int, default=1_228_800, help="training token budget")
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=352)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "../../models/lckv-sotu/tokenizer.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--max-steps", type=int, default=0, help="stop early (smoke test)")
    ap.add_argument("--eval-tokens", type=int, default=16384, help="validation tokens for the final log line")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out_dir = os.path.join(args.out, args.name)
    os.makedirs(out_dir, exist_ok=True)
    log_f = open(os.path.join(out_dir, "log.txt"), "a")

    def log(msg):
        print(msg, flush=True)
        log_f.write(msg + "\n")
        log_f.flush()

    train_ids = torch.from_numpy(token_file(os.path.join(args.out, "train.txt"), args.tokenizer, True).astype(np.int64))
    val_ids = torch.from_numpy(token_file(os.path.join(args.out, "val.txt"), args.tokenizer, False).astype(np.int64))
    standard = args.layer_types == "_".join(str(i) for i in range(len(args.layer_types.split("_"))))
    cfg = Config(layer_types=args.layer_types, max_position_embeddings=args.context,
                 hidden_size=args.hidden, intermediate_size=args.intermediate,
                 num_hidden_layers=args.layers, num_attention_heads=args.heads,
                 num_key_value_heads=args.kv_heads, head_dim=args.head_dim,
                 forward_passes=1 if standard else args.m, backward_passes=1 if standard else args.b)
    model = LCKVLlama(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    steps = args.tokens // (args.batch * args.context)
    log(f"config {json.dumps(cfg.to_dict())}")
    log(f"params {n_params} plan {model.plan} train tokens available {len(train_ids)} "
        f"budget {args.tokens} steps {steps} x {args.batch}x{args.context}")

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        frac = (step - args.warmup) / max(1, steps - args.warmup)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * frac))

    t0 = time.time()
    seen = 0
    model.train()
    for step in range(steps):
        if args.max_steps and step >= args.max_steps:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = rng.integers(0, len(train_ids) - args.context - 1, size=args.batch)
        batch = torch.stack([train_ids[s:s + args.context + 1] for s in starts])
        x, y = batch[:, :-1], batch[:, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += x.numel()
        if step % 10 == 0 or step == steps - 1:
            dt = time.time() - t0
            log(f"step {step} loss {loss.item():.4f} lr {lr_at(step):.2e} tokens {seen} "
                f"elapsed {dt:.0f}s tok/s {seen / dt:.0f}")
        if step % 25 == 24:
            torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "step": step,
                        "tokens": seen, "seconds": time.time() - t0}, os.path.join(out_dir, "ckpt.pt"))
    wall = time.time() - t0
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "step": steps,
                "tokens": seen, "seconds": wall}, os.path.join(out_dir, "ckpt.pt"))
    ppl, loss, n = perplexity(model, val_ids[:args.eval_tokens], args.context, cfg.forward_passes + cfg.backward_passes)
    log(f"done: tokens {seen} wall {wall:.0f}s; val ppl (first {n} tokens, f32) {ppl:.2f}")
    with open(os.path.join(out_dir, "train_summary.json"), "w") as f:
        json.dump({"params": n_params, "tokens": seen, "seconds": round(wall), "steps": steps,
                   "batch": args.batch, "context": args.context, "lr": args.lr}, f, indent=2)


if __name__ == "__main__":
    main()
