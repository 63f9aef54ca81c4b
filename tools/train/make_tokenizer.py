"""Train the BPE on out/train.txt and write tokenizer.json, tokenizer_config.json,
generation_config.json into the model folder."""
import argparse
import json
import os
import time

from bpe import train_bpe, to_hf_json

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'system' %}{{ message['content'] + '\n' }}"
    "{% else %}{{ 'Assistant: ' + message['content'] + eos_token + '\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="tools/train/out/train.txt")
    ap.add_argument("--model-dir", default="models/lckv-sotu")
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()
    with open(args.train, encoding="utf-8") as f:
        text = f.read()
    t0 = time.time()
    vocab, merges = train_bpe(text, args.vocab_size)
    print(f"vocab {len(vocab)}, merges {len(merges)}, {time.time() - t0:.1f}s")
    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(to_hf_json(vocab, merges), f, ensure_ascii=False)
    config = {
        "tokenizer_class": "LlamaTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
        "add_bos_token": True, "add_eos_token": False,
        "clean_up_tokenization_spaces": False, "legacy": False,
        "model_max_length": 256,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(args.model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.model_dir, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "do_sample": True, "temperature": 0.8,
                   "top_p": 0.95, "max_new_tokens": 128, "top_k": 40, "repetition_penalty": 1.15}, f, indent=2)


if __name__ == "__main__":
    main()
