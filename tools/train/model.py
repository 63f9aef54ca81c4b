"""Llama / LCKV-Llama in PyTorch, with the paper's iteration plan (Wu & Tu, ACL 2024).

layer_types[i] = u(i): the layer whose K/V layer i's queries attend to.  Only target
layers own k_proj/v_proj.  attends_top(i) = u(i) > i: such a layer masks the diagonal
(position t sees p < t of layer u; at t = 0 the attention output is zero).
"""
import math
from dataclasses import dataclass, field, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 8
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    head_dim: int = 32
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 256
    tie_word_embeddings: bool = True
    layer_types: str = "0_1_2_3_4_5_6_7"
    forward_passes: int = 1
    backward_passes: int = 1

    @property
    def targets(self):
        return [int(x) for x in self.layer_types.split("_")]

    def to_dict(self):
        return asdict(self)


def iteration_plan(u):
    """[(kind, first, last)] with kind 'plain' (run once) or 'cyclic' (run m+b times)."""
    plan, i, n = [], 0, len(u)
    while i < n:
        if u[i] > i:
            top = u[i]
            while top < max(u[j] for j in range(i, top + 1)):
                top = max(u[j] for j in range(i, top + 1))
            plan.append(("cyclic", i, top))
            i = top + 1
        else:
            j = i
            while j + 1 < n and u[j + 1] <= j + 1:
                j += 1
            plan.append(("plain", i, j))
            i = j + 1
    return plan


def mask_bias(allowed):
    return torch.zeros(allowed.shape).masked_fill(~allowed, -1e30)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(cfg, positions):
    d = cfg.head_dim
    inv_freq = cfg.rope_theta ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = positions.float()[:, None] * inv_freq[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def apply_rope(x, cos, sin):  # x [B, H, T, d]
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rot * sin


class Attention(nn.Module):
    def __init__(self, cfg, has_kv):
        super().__init__()
        self.cfg = cfg
        H, K, d, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
        self.q_proj = nn.Linear(D, H * d, bias=False)
        self.o_proj = nn.Linear(H * d, D, bias=False)
        if has_kv:
            self.k_proj = nn.Linear(D, K * d, bias=False)
            self.v_proj = nn.Linear(D, K * d, bias=False)

    def kv(self, h, cos, sin):
        B, T, _ = h.shape
        K, d = self.cfg.num_key_value_heads, self.cfg.head_dim
        k = self.k_proj(h).view(B, T, K, d).transpose(1, 2)
        v = self.v_proj(h).view(B, T, K, d).transpose(1, 2)
        return apply_rope(k, cos, sin), v

    def attend(self, h, cos, sin, k, v, bias, zero_first):
        """h [B,T,D] queries; k, v [B,K,S,d]; bias [T,S] additive mask (0 or -1e30);
        zero_first [T,1] multiplies the output (rows that may see nothing become zero)."""
        B, T, _ = h.shape
        H, K, d = self.cfg.num_attention_heads, self.cfg.num_key_value_heads, self.cfg.head_dim
        S, rep = k.shape[2], H // K
        q = apply_rope(self.q_proj(h).view(B, T, H, d).transpose(1, 2), cos, sin) * (1.0 / math.sqrt(d))
        # query head h uses K/V head h // rep: group the rep query heads of each K/V head
        q = q.reshape(B * K, rep * T, d)
        s = torch.baddbmm(bias.repeat(rep, 1), q, k.reshape(B * K, S, d).transpose(1, 2))
        out = torch.bmm(torch.softmax(s, dim=-1), v.reshape(B * K, S, d)).view(B, H, T, d)
        if zero_first is not None:
            out = out * zero_first
        return self.o_proj(out.transpose(1, 2).reshape(B, T, H * d))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, I = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = nn.Linear(D, I, bias=False)
        self.up_proj = nn.Linear(D, I, bias=False)
        self.down_proj = nn.Linear(I, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg, has_kv):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, has_kv)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        u = cfg.targets
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg, i in u) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LCKVLlama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert len(cfg.targets) == cfg.num_hidden_layers
        self.cfg = cfg
        self.u = cfg.targets
        self.plan = iteration_plan(self.u)
        self.model = Inner(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def logits(self, x):
        x = self.model.norm(x)
        w = self.model.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight
        return x @ w.t()

    def _layer(self, i, x, cos, sin, kv_cur, kv_prev, masks):
        layer = self.model.layers[i]
        h = layer.input_layernorm(x)
        if i in self.u:
            kv_cur[i] = layer.self_attn.kv(h, cos, sin)
        top = self.u[i] > i
        k, v = (kv_prev if top else kv_cur)[self.u[i]]
        mask, zero_first = masks[top]
        x = x + layer.self_attn.attend(h, cos, sin, k, v, mask, zero_first)
        return x + layer.mlp(layer.post_attention_layernorm(x))

    def forward(self, ids, passes=None, grad_passes=None):
        """Parallel forward over ids [B, T] -> logits [B, T, V].

        Each cyclic group runs `passes` times (default m+b); with grad enabled, only the
        last `grad_passes` (default b) keep gradients, the earlier ones run under no_grad.
        """
        cfg = self.cfg
        B, T = ids.shape
        passes = passes or cfg.forward_passes + cfg.backward_passes
        grad_passes = cfg.backward_passes if grad_passes is None else grad_passes
        cos, sin = rope_tables(cfg, torch.arange(T))
        causal = mask_bias(torch.ones(T, T, dtype=torch.bool).tril())
        strict = mask_bias(torch.ones(T, T, dtype=torch.bool).tril(-1))
        zero_first = (torch.arange(T) > 0).float().view(T, 1)
        masks = {False: (causal, None), True: (strict, zero_first)}
        x = self.model.embed_tokens(ids)
        kv = {}
        for kind, a, b in self.plan:
            if kind == "plain":
                for i in range(a, b + 1):
                    x = self._layer(i, x, cos, sin, kv, None, masks)
                continue
            K, d = cfg.num_key_value_heads, cfg.head_dim
            zeros = x.new_zeros(B, K, T, d)
            prev = {self.u[j]: (zeros, zeros) for j in range(a, b + 1) if self.u[j] > j}
            x_in = x
            for p in range(passes):
                use_grad = torch.is_grad_enabled() and p >= passes - grad_passes
                with torch.set_grad_enabled(use_grad):
                    cur = dict(kv)
                    h = x_in
                    for i in range(a, b + 1):
                        h = self._layer(i, h, cos, sin, cur, prev, masks)
                prev = {t: cur[t] for t in prev}
            x = h
            kv = cur
        return self.logits(x)

    @torch.no_grad()
    def forward_sequential(self, ids):
        """Slow reference: token-by-token with a K/V cache (the decode semantics)."""
        cfg = self.cfg
        B, T = ids.shape
        cos_all, sin_all = rope_tables(cfg, torch.arange(T))
        cache = {}
        out = []
        for t in range(T):
            cos, sin = cos_all[t:t + 1], sin_all[t:t + 1]
            x = self.model.embed_tokens(ids[:, t:t + 1])
            for i, layer in enumerate(self.model.layers):
                h = layer.input_layernorm(x)
                top = self.u[i] > i
                if i in self.u:
                    k, v = layer.self_attn.kv(h, cos, sin)
                    if i in cache:
                        k = torch.cat([cache[i][0], k], dim=2)
                        v = torch.cat([cache[i][1], v], dim=2)
                    new_entry = (k, v)
                    if not top:
                        cache[i] = new_entry
                    else:
                        pending = (i, new_entry)
                u = self.u[i]
                if top:
                    if t == 0:
                        att = torch.zeros_like(x)
                    else:
                        k, v = cache[u]
                        k, v = k[:, :, :t], v[:, :, :t]
                        mask = torch.zeros(1, t)
                        att = layer.self_attn.attend(h, cos, sin, k, v, mask, None)
                else:
                    k, v = cache[u]
                    mask = torch.zeros(1, k.shape[2])
                    att = layer.self_attn.attend(h, cos, sin, k, v, mask, None)
                if i in self.u and top:
                    cache[i] = pending[1]
                x = x + att
                x = x + layer.mlp(layer.post_attention_layernorm(x))
            out.append(self.logits(x))
        return torch.cat(out, dim=1)
