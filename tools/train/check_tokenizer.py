"""Check that the Python tokenizer gives exactly the ids of @huggingface/tokenizers (node).
usage: python3 check_tokenizer.py MODEL_DIR FILE..."""
import json
import os
import subprocess
import sys

from bpe import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
EXTRA = "Hello, world \u2014 na\u00efve caf\u00e9 \U0001F642\n  two  spaces\ttab <odd> x\n"


def main():
    model_dir, files = sys.argv[1], sys.argv[2:]
    tok = Tokenizer.from_hf_json(os.path.join(model_dir, "tokenizer.json"))
    extra = os.path.join(HERE, "out", "tokenizer_extra.txt")
    os.makedirs(os.path.dirname(extra), exist_ok=True)
    with open(extra, "w", encoding="utf-8") as f:
        f.write(EXTRA)
    ok = True
    for path in files + [extra]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        js = json.loads(subprocess.check_output(
            ["node", os.path.join(HERE, "check_tokenizer.js"), os.path.abspath(model_dir), os.path.abspath(path)],
            cwd=HERE))
        py = tok.encode(text)
        same = py == js["ids"]
        rt = tok.decode(py) == text
        ok &= same and rt and js["roundtrip"]
        print(f"{path}: {len(py)} tokens, {len(text)} chars, ids identical: {same}, "
              f"roundtrip py: {rt}, js: {js['roundtrip']}")
        if not same:
            for i, (a, b) in enumerate(zip(py, js["ids"])):
                if a != b:
                    print("  first difference at", i, py[i - 3:i + 5], js["ids"][i - 3:i + 5])
                    break
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
