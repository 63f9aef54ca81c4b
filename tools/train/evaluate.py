"""Perplexity of an exported model folder (the shipped, rounded weights, computed in float32).

usage: python3 evaluate.py MODEL_DIR [--text FILE] [--write-eval]
Tokenize FILE (default MODEL_DIR/heldout.txt) with MODEL_DIR/tokenizer.json, prepend one <s>,
split into consecutive chunks of --context tokens (last may be shorter), evaluate each chunk
from an empty cache with the iterative forward (forward_passes + backward_passes passes for
LCKV), loss = mean NLL of token j+1 given chunk tokens 0..j, perplexity = exp(loss).
"""
import argparse
import json
import os

import torch

import safetensors_io
from bpe import Tokenizer
from evaluate_lib import perplexity
from model import Config, LCKVLlama

FIELDS = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
          "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "max_position_embeddings",
          "tie_word_embeddings"]


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        hf = json.load(f)
    cfg = Config(**{k: hf[k] for k in FIELDS},
                 layer_types=hf.get("layer_types", "_".join(str(i) for i in range(hf["num_hidden_layers"]))),
                 forward_passes=hf.get("forward_passes", 1), backward_passes=hf.get("backward_passes", 1))
    model = LCKVLlama(cfg)
    tensors = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return model.eval(), cfg, hf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--text", default=None)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write-eval", action="store_true", help="write MODEL_DIR/eval.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, cfg, hf = load_model(args.model_dir)
    text_path = args.text or os.path.join(args.model_dir, "heldout.txt")
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    tok = Tokenizer.from_hf_json(os.path.join(args.model_dir, "tokenizer.json"))
    ids = torch.tensor(tok.encode(text, bos=True), dtype=torch.long)
    passes = cfg.forward_passes + cfg.backward_passes if hf["model_type"] == "lckv-llama" else 1
    ppl, loss, n = perplexity(model, ids, args.context, passes)
    result = {"perplexity": round(ppl, 4), "loss": round(loss, 6),
              "prefill": "iterative" if hf["model_type"] == "lckv-llama" else "parallel",
              "passes": passes, "context": args.context, "tokens": n, "bos": True,
              "text": os.path.basename(text_path), "input_tokens": len(ids), "dtype": "float32",
              "method": "ids = [<s>] + tokenizer(text without special tokens); consecutive chunks of "
                        "`context` ids (last may be shorter), each from an empty cache; "
                        "loss = mean NLL of predicting id j+1 from chunk ids 0..j over all chunks; "
                        "perplexity = exp(loss); weights as stored, computed in float32"}
    print(json.dumps(result))
    if args.write_eval:
        with open(os.path.join(args.model_dir, "eval.json"), "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
