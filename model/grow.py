"""Deepening a trained GPT-2 without changing what it computes.

A small model trained on a small corpus runs out of capacity in its layers before it runs out of
text to learn from (the bundled model: 2.7M of its 12.4M weights are in the layers, the rest in
the 50257-row embedding). Training a deeper model from scratch throws that training away; instead
each trained layer is followed by a copy of itself whose two output projections (attention and
MLP) are zero. A block adds its output to the residual stream, so a block with zero output
projections is the identity: the deepened model gives the same logits as the trained one at step
0, and the copies start from weights that already read the residual stream sensibly (the
projections get gradients at once, and the rest of the copy as soon as they move). This is the
function-preserving growth of Net2Net (Chen et al., 2016) applied to depth.
"""

from __future__ import annotations

import copy
import dataclasses

import torch

from model.gpt2 import GPT2, Block


def deepen(model: GPT2, n_layer: int) -> GPT2:
    """``model`` with ``n_layer`` layers: its own, each followed by zero-output copies, in order."""
    old = model.config.n_layer
    if n_layer < old:
        raise ValueError(f"cannot deepen a {old}-layer model to {n_layer} layers")
    if n_layer == old:
        return model
    # Spread the new layers evenly through the depth (6 -> 12: every layer gets a copy; 12 -> 16:
    # every third), so no stretch of the network is thickened while another is left alone.
    copies = [(n_layer * (i + 1)) // old - (n_layer * i) // old for i in range(old)]
    blocks: list[Block] = []
    for block, count in zip(model.h, copies):
        assert isinstance(block, Block)
        blocks.append(block)
        for _ in range(count - 1):
            twin = copy.deepcopy(block)
            with torch.no_grad():
                for proj in (twin.attn.c_proj, twin.mlp.c_proj):
                    proj.weight.zero_()
                    proj.bias.zero_()
            blocks.append(twin)
    model.h = torch.nn.ModuleList(blocks)
    model.config = dataclasses.replace(model.config, n_layer=n_layer)
    return model
