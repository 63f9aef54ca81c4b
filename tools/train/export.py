"""Checkpoint (out/<name>/ckpt.pt) -> Hugging Face folder: config.json + model.safetensors.
usage: python3 export.py out/lckv/ckpt.pt ../../models/lckv-sotu [--dtype F16|BF16|F32]"""
import argparse
import json
import os

import torch

import safetensors_io
from model import Config

DT = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}
TORCH_NAME = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}


def hf_config(cfg, dtype):
    standard = cfg.layer_types == "_".join(str(i) for i in range(cfg.num_hidden_layers))
    c = {
        "model_type": "llama" if standard else "lckv-llama",
        "architectures": ["LlamaForCausalLM" if standard else "LCKVLlamaForCausalLM"],
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "max_position_embeddings": cfg.max_position_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "torch_dtype": TORCH_NAME[dtype],
    }
    if not standard:
        c.update({
            "layer_types": cfg.layer_types,
            "forward_passes": cfg.forward_passes,
            "backward_passes": cfg.backward_passes,
            "sliding_window": 4096,
            "use_sequential": False,
            "force_nodiag": False,
        })
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("out_dir")
    ap.add_argument("--dtype", default="F16", choices=list(DT))
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location="cpu")
    cfg = Config(**ck["config"])
    os.makedirs(args.out_dir, exist_ok=True)
    tensors = {k: v.to(DT[args.dtype]) for k, v in ck["state_dict"].items()}
    safetensors_io.save(tensors, os.path.join(args.out_dir, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(hf_config(cfg, args.dtype), f, indent=2)
    n = sum(v.numel() for v in tensors.values())
    print(f"wrote {len(tensors)} tensors, {n} parameters, {args.dtype} -> {args.out_dir}")


if __name__ == "__main__":
    main()
