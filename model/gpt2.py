"""GPT-2 in PyTorch: the one implementation that export, training and evaluation use.

Parameter names follow Hugging Face's ``GPT2LMHeadModel`` without the ``transformer.`` prefix;
projections are ``nn.Linear`` (weights stored ``[out, in]``), so loading a Hugging Face
checkpoint transposes its Conv1D weights (see ``model.hf``).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from core.config import GPT2Config
from model.lm_loss import head_cross_entropy

# One layer's cache: (key, value), each [batch, n_head, past_len, head_dim].
LayerCache = tuple[torch.Tensor, torch.Tensor]


class Attention(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.head_dim
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.attn_dropout = cfg.attn_pdrop
        self.resid_dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, past: LayerCache | None
    ) -> tuple[torch.Tensor, LayerCache]:
        b, s, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (t.view(b, s, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        # Without a cache the fused causal kernels apply (training, full recompute).
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None and s > 1,
            dropout_p=self.attn_dropout if self.training else 0.0,
        )
        y = y.transpose(1, 2).reshape(b, s, d)
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.inner_dim)
        self.c_proj = nn.Linear(cfg.inner_dim, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, past: LayerCache | None
    ) -> tuple[torch.Tensor, LayerCache]:
        a, present = self.attn(self.ln_1(x), mask, past)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, present


def causal_mask(query_len: int, past_len: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean [query_len, past_len + query_len] mask; query i sits at absolute position
    past_len + i and sees every key up to and including that position."""
    q = torch.arange(query_len, device=device).unsqueeze(1) + past_len
    k = torch.arange(past_len + query_len, device=device).unsqueeze(0)
    return k <= q


class GPT2(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.drop = nn.Dropout(cfg.embd_pdrop)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer)."""
        std = self.config.initializer_range
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):
                nn.init.ones_(p)
            elif name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, std / (2 * self.config.n_layer) ** 0.5)
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(
        self,
        input_ids: torch.Tensor,
        past_key_values: list[LayerCache] | None = None,
        position_ids: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, list[LayerCache]]:
        """Logits [batch, seq, vocab] (or [batch, vocab] with ``last_only``) and the new cache.

        ``past_key_values`` may hold zero-length tensors: the first call of a generation.
        """
        x, presents = self.hidden_states(input_ids, past_key_values, position_ids)
        if last_only:
            x = x[:, -1, :]
        logits = self.ln_f(x) @ self.wte.weight.t()
        return logits, presents

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        past_key_values: list[LayerCache] | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[LayerCache]]:
        """The last block's output [batch, seq, n_embd] (before ``ln_f``) and the new cache."""
        _, s = input_ids.shape
        past_len = past_key_values[0][0].shape[2] if past_key_values else 0
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + s, device=input_ids.device).unsqueeze(0)
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        mask = causal_mask(s, past_len, input_ids.device) if past_key_values else None
        presents: list[LayerCache] = []
        for i, block in enumerate(self.h):
            x, present = block(x, mask, past_key_values[i] if past_key_values else None)
            presents.append(present)
        return x, presents

    def loss(self, input_ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the next-token predictions (targets -100 left out); the head and
        the loss are computed together in slices (model.lm_loss), never the whole logits."""
        x, _ = self.hidden_states(input_ids)
        return head_cross_entropy(self.ln_f(x), self.wte.weight, targets)

    def set_dropout(self, p: float) -> None:
        """One dropout probability for the embeddings, the attention weights and the residual
        branches (the config's three ``*_pdrop``), kept in the config so a saved model says so."""
        self.config = dataclasses.replace(self.config, embd_pdrop=p, attn_pdrop=p, resid_pdrop=p)
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.p = p
            elif isinstance(module, Attention):
                module.attn_dropout = p

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        stop_token: int | None = None,
    ) -> torch.Tensor:
        """``idx`` [batch, seq] followed by up to ``max_new_tokens`` sampled tokens (nanoGPT's
        ``generate``, with the key/value cache).

        ``temperature`` 0 picks the likeliest token; ``top_k`` keeps the k likeliest. Draws come
        from ``generator`` (a CPU generator; the global one when None), so a caller can sample
        without disturbing another random state, and a seed gives the same text on any device.
        Generation ends early when ``stop_token`` is drawn (not included; batch 1 only) or the
        context is full; a prompt too long for the context keeps its last tokens. Dropout is off
        while sampling; the model's mode is restored after.
        """
        if stop_token is not None and idx.shape[0] != 1:
            raise ValueError("stop_token needs a batch of one sequence")
        n_positions = self.config.n_positions
        context = idx[:, -max(n_positions - max_new_tokens, 1):]
        was_training = self.training
        self.eval()
        new: list[torch.Tensor] = []
        try:
            logits, past = self(context, last_only=True)
            for i in range(max_new_tokens):
                token = self._draw(logits, temperature, top_k, generator).to(idx.device)
                if stop_token is not None and int(token) == stop_token:
                    break
                new.append(token)
                if context.shape[1] + i + 1 >= n_positions or i + 1 == max_new_tokens:
                    break
                logits, past = self(token, past_key_values=past, last_only=True)
        finally:
            self.train(was_training)
        return torch.cat([idx, *new], dim=1)

    @staticmethod
    def _draw(logits: torch.Tensor, temperature: float, top_k: int | None,
              generator: torch.Generator | None) -> torch.Tensor:
        """One token per row [batch, 1] from last-position ``logits`` [batch, vocab]."""
        logits = logits.float().cpu()
        if temperature == 0:
            return logits.argmax(dim=-1, keepdim=True)
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_k:
            values, indices = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
            picked = torch.multinomial(values / values.sum(dim=-1, keepdim=True), 1, generator=generator)
            return indices.gather(-1, picked)
        return torch.multinomial(probs, 1, generator=generator)
