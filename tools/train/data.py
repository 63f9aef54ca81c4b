"""Token streams for training/evaluation (cached in out/ as .npy)."""
import os

import numpy as np

from bpe import Tokenizer


def token_file(text_path, tokenizer_json, per_document_bos):
    """ids of a text file; per_document_bos: <s> before every document (blank-line separated),
    else one <s> before the whole text (the evaluation convention)."""
    tag = "docs" if per_document_bos else "text"
    cache = f"{text_path}.{tag}.npy"
    if os.path.exists(cache) and os.path.getmtime(cache) > max(os.path.getmtime(text_path),
                                                               os.path.getmtime(tokenizer_json)):
        return np.load(cache)
    tok = Tokenizer.from_hf_json(tokenizer_json)
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    if per_document_bos:
        ids = []
        for doc in text.split("\n\n"):
            if doc.strip():
                ids.extend(tok.encode(doc.strip("\n"), bos=True))
    else:
        ids = tok.encode(text, bos=True)
    arr = np.asarray(ids, dtype=np.uint16)
    np.save(cache, arr)
    return arr
