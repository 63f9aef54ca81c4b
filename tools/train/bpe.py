"""Byte-fallback BPE with Metaspace ("\u2581") pre-tokenization, Llama/SentencePiece style.

train_bpe() learns merges from text; Tokenizer.encode() reproduces exactly what the
Hugging Face tokenizer.json written by to_hf_json() does in @huggingface/tokenizers:
spaces -> "\u2581", one "\u2581" prepended to the first section, words split before each
"\u2581" (merges never join across that boundary: a merge's right side never starts with
"\u2581"), lowest-rank-first/leftmost merging, byte fallback for unknown characters.
"""
import heapq
import json
from collections import Counter, defaultdict

SPACE = "\u2581"
SPECIALS = ["<unk>", "<s>", "</s>"]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def split_words(text, first_section=True):
    s = text.replace(" ", SPACE)
    if first_section and not s.startswith(SPACE):
        s = SPACE + s
    words, start = [], 0
    for i in range(1, len(s)):
        if s[i] == SPACE:
            words.append(s[start:i])
            start = i
    if s:
        words.append(s[start:])
    return words


def train_bpe(text, vocab_size=4096, min_char_count=10):
    word_counts = Counter(split_words(text))
    char_counts = Counter()
    for w, c in word_counts.items():
        for ch in w:
            char_counts[ch] += c
    alphabet = sorted(ch for ch, c in char_counts.items() if c >= min_char_count or ch == SPACE)
    vocab = SPECIALS + BYTE_TOKENS + alphabet
    known = set(alphabet)
    n_merges = vocab_size - len(vocab)

    words = [list(w) for w in word_counts]
    counts = list(word_counts.values())
    pair_count = defaultdict(int)
    pair_words = defaultdict(set)
    for idx, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            if a in known and b in known:
                pair_count[(a, b)] += counts[idx]
                pair_words[(a, b)].add(idx)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc or negc == 0:
            continue
        a, b = pair
        new = a + b
        merges.append(pair)
        vocab.append(new)
        known.add(new)
        changed = set()
        for idx in list(pair_words[pair]):
            w, c = words[idx], counts[idx]
            for x, y in zip(w, w[1:]):
                if x in known and y in known:
                    pair_count[(x, y)] -= c
                    changed.add((x, y))
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[idx] = out
            for x, y in zip(out, out[1:]):
                if x in known and y in known:
                    pair_count[(x, y)] += c
                    pair_words[(x, y)].add(idx)
                    changed.add((x, y))
        del pair_count[pair]
        del pair_words[pair]
        for p in changed:
            if p in pair_count:
                heapq.heappush(heap, (-pair_count[p], p))
    return vocab, merges


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.ranks = {tuple(p): r for r, p in enumerate(merges)}
        self.cache = {}

    @classmethod
    def from_hf_json(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        vocab_map = j["model"]["vocab"]
        vocab = [None] * len(vocab_map)
        for t, i in vocab_map.items():
            vocab[i] = t
        return cls(vocab, [tuple(m) for m in j["model"]["merges"]])

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = list(word)
        while len(syms) > 1:
            best, best_i = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            syms[best_i:best_i + 2] = [syms[best_i] + syms[best_i + 1]]
        out = []
        for s in syms:
            if s in self.ids:
                out.append(self.ids[s])
            else:
                out.extend(3 + b for b in s.encode("utf-8"))
        self.cache[word] = out
        return out

    def encode(self, text, bos=False):
        """Ids of text (no special-token parsing); bos=True prepends <s> (id 1)."""
        ids = [1] if bos else []
        for w in split_words(text):
            ids.extend(self.bpe(w))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.vocab[i]
            if i < 3:
                continue
            if i < 3 + 256:
                out.append(i - 3)
            else:
                out.extend(t.replace(SPACE, " ").encode("utf-8"))
        s = out.decode("utf-8", errors="replace")
        return s[1:] if s.startswith(" ") else s


def to_hf_json(vocab, merges):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for i, t in enumerate(SPECIALS)
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(vocab)},
            "merges": [list(m) for m in merges],
        },
    }
