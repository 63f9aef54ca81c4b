"""Chunked perplexity, the convention written to eval.json."""
import math

import torch
import torch.nn.functional as F


@torch.no_grad()
def chunked_nll(model, ids, context, passes, batch=16):
    """ids: 1-D LongTensor. Consecutive chunks of `context` tokens (last may be shorter),
    each from an empty cache; sum of -log p(token j+1 | chunk prefix 0..j) and count."""
    chunks = [ids[i:i + context] for i in range(0, len(ids), context)]
    chunks = [c for c in chunks if len(c) > 1]
    total, count = 0.0, 0
    full = [c for c in chunks if len(c) == context]
    rest = [c for c in chunks if len(c) != context]
    groups = [torch.stack(full[i:i + batch]) for i in range(0, len(full), batch)] + [c[None] for c in rest]
    for x in groups:
        logits = model(x, passes=passes).float()
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="sum")
        total += loss.item()
        count += x[:, 1:].numel()
    return total, count


def perplexity(model, ids, context, passes):
    model.eval()
    total, count = chunked_nll(model, ids, context, passes)
    return math.exp(total / count), total / count, count
