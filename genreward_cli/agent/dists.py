"""DreamerV3's output distributions and the world-model KL loss.

- symlog / symexp squash targets of any scale (eq. 9-10 of DreamerV3).
- Two-hot regression: reward and critic heads predict a softmax over 255 bins spaced evenly
  in symlog space on [-20, 20]; the target symlog(y) is split between its two neighbouring
  bins; the prediction is symexp of the expected bin.
- Categorical latents with 1% unimix and straight-through samples.
- KL balancing with free bits: dyn = max(1, KL[sg(post) || prior]),
  rep = max(1, KL[post || sg(prior)]), summed over the latent groups before clipping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BINS = 255
LOW, HIGH = -20.0, 20.0


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


def bins(device=None, dtype=torch.float32) -> torch.Tensor:
    """The 255 bin centres, in symlog space."""
    return torch.linspace(LOW, HIGH, BINS, device=device, dtype=dtype)


def twohot(y: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Two-hot encoding of symlog(y) over the bins: [..., 255], rows sum to 1."""
    centres = bins(y.device, y.dtype) if centres is None else centres
    x = symlog(y).clamp(centres[0], centres[-1])
    above = torch.searchsorted(centres, x.contiguous(), right=False).clamp(1, len(centres) - 1)
    below = above - 1
    lo, hi = centres[below], centres[above]
    w_hi = (x - lo) / (hi - lo)
    out = torch.zeros(*x.shape, len(centres), device=y.device, dtype=y.dtype)
    out.scatter_(-1, below.unsqueeze(-1), (1 - w_hi).unsqueeze(-1))
    out.scatter_add_(-1, above.unsqueeze(-1), w_hi.unsqueeze(-1))
    return out


class TwoHotDist:
    """A discrete regression head's distribution over the symlog bins."""

    def __init__(self, logits: torch.Tensor):
        self.logits = logits.float()  # fp32 under bf16 autocast too, and so are the bins
        self.centres = bins(logits.device, self.logits.dtype)

    def mean(self) -> torch.Tensor:
        """symexp of the expected bin: [...]."""
        return symexp((F.softmax(self.logits, -1) * self.centres).sum(-1))

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against twohot(y), negated: [...]."""
        target = twohot(y, self.centres)
        return (target * F.log_softmax(self.logits, -1)).sum(-1)


def unimix_probs(logits: torch.Tensor, unimix: float = 0.01) -> torch.Tensor:
    """Softmax mixed with 1% uniform, so no class has zero probability (in fp32)."""
    probs = F.softmax(logits.float(), -1)
    return (1 - unimix) * probs + unimix / logits.shape[-1]


def sample_categorical(probs: torch.Tensor, generator: torch.Generator | None = None,
                       uniform: torch.Tensor | None = None):
    """A one-hot sample [..., K] with straight-through gradients to ``probs``, and the sampled
    class [...] (int64). Drawn by inverse CDF from one uniform per distribution: ``uniform``
    [prod(...), 1] (probs' dtype) when given, else drawn now from ``generator``."""
    flat = probs.detach().reshape(-1, probs.shape[-1])
    # inverse-CDF sampling: one uniform per distribution (torch.multinomial draws one
    # exponential per class, ~4% of a CPU update at 32 x 32 latents)
    u = uniform if uniform is not None else torch.rand(
        flat.shape[0], 1, generator=generator, device=flat.device, dtype=flat.dtype)
    cdf = flat.cumsum(-1)
    idx = (cdf < u * cdf[:, -1:]).sum(-1).clamp_(max=flat.shape[-1] - 1)
    onehot = torch.zeros_like(flat).scatter_(-1, idx[:, None], 1.0).view(probs.shape)
    if probs.requires_grad:
        # onehot + (p - sg(p)): exactly the one-hot sample in value ((onehot + p) - p is not)
        onehot = onehot + (probs - probs.detach())
    return onehot, idx.view(probs.shape[:-1])


def categorical_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL[p || q] of categorical probabilities [..., groups, K], summed over the groups."""
    return (p * (torch.log(p) - torch.log(q))).sum((-1, -2))


def kl_losses(post: torch.Tensor, prior: torch.Tensor, free: float = 1.0):
    """DreamerV3's balanced KL terms (before the 0.5 / 0.1 scales).

    Args:
        post, prior: probabilities [..., groups, K].
    Returns:
        (dyn, rep): [...]; dyn trains the prior towards sg(post), rep the posterior towards
        sg(prior); both clipped below at ``free`` nats (free bits).
    """
    dyn = categorical_kl(post.detach(), prior).clamp(min=free)
    rep = categorical_kl(post, prior.detach()).clamp(min=free)
    return dyn, rep
