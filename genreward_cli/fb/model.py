"""The forward-backward model: networks and pure inference (eq. 7, 9).

M^{pi_z}(s, a, ds') ~= F(s, a, z)^T B(s') rho(ds') (eq. 7).

- ``B(s)``: an MLP to R^d, normalised to radius sqrt(d).
- ``F(s, a, z)``: two heads (twin critics); targets and the actor use their minimum. For
  continuous actions F embeds (s, a) and (s, z) separately, then maps their concatenation to
  R^d (as in Touati & Ollivier and Meta Motivo); for discrete actions F(s, z) outputs one
  vector per action.
- ``actor(s, z)`` (continuous actions): tanh-bounded, trained to maximise F(s, pi(s,z), z)^T z.
  For discrete actions pi_z(s) = argmax_a min_k F_k(s, a, z)^T z.

:class:`FBModel` holds no optimiser; :class:`~genreward_cli.fb.trainer.FBTrainer` trains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from genreward_cli.config import option


@dataclass(frozen=True)
class FBConfig:
    """FB hyperparameters; defaults from the paper's Table A."""

    obs_dim: int = option(384, "State feature size (DINOv3 ViT-S/16+: 384).", minimum=1)
    action_dim: int = option(4, "Continuous action size (Meta-World: 4).", minimum=0)
    discrete_actions: int = option(0, "Number of discrete actions (0 = continuous).", minimum=0)
    # upper bounds far above any use (Table A: 512), so that a typo is an error, not an
    # attempt to allocate terabytes
    z_dim: int = option(512, "Representation size d (Table A: 512).", minimum=1, maximum=65536)
    hidden_dim: int = option(512, "Hidden width (Table A: 512).", minimum=1, maximum=65536)
    layers: int = option(2, "Hidden layers per MLP.", minimum=1)


def mlp(inp: int, hidden: int, out: int, layers: int, first_norm: bool = True) -> nn.Sequential:
    """Linear-LayerNorm-Tanh first layer (as in the FB literature), then ReLU layers."""
    mods: list[nn.Module] = [nn.Linear(inp, hidden)]
    mods += [nn.LayerNorm(hidden), nn.Tanh()] if first_norm else [nn.ReLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(hidden, hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, out))
    return nn.Sequential(*mods)


def sphere(x: torch.Tensor) -> torch.Tensor:
    """Project the last axis onto the sphere of radius sqrt(d)."""
    return math.sqrt(x.shape[-1]) * F.normalize(x, dim=-1)


class BackwardNet(nn.Module):
    def __init__(self, c: FBConfig):
        super().__init__()
        self.net = mlp(c.obs_dim, c.hidden_dim, c.z_dim, c.layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return sphere(self.net(obs))


class ForwardNet(nn.Module):
    """Twin F heads: returns [2, N, d] (continuous) or [2, N, A, d] (discrete)."""

    def __init__(self, c: FBConfig):
        super().__init__()
        self.c = c
        h = c.hidden_dim
        self.discrete = c.discrete_actions > 0
        out = c.z_dim * (c.discrete_actions if self.discrete else 1)
        self.heads = nn.ModuleList()
        for _ in range(2):
            head = nn.ModuleDict({
                "sz": mlp(c.obs_dim + c.z_dim, h, h, 1),
                "out": mlp(2 * h if not self.discrete else h, h, out, c.layers, first_norm=False),
            })
            if not self.discrete:
                head["sa"] = mlp(c.obs_dim + c.action_dim, h, h, 1)
            self.heads.append(head)

    def forward(self, obs, z, action=None) -> torch.Tensor:
        outs = []
        for head in self.heads:
            e = head["sz"](torch.cat([obs, z], -1))
            if not self.discrete:
                e = torch.cat([head["sa"](torch.cat([obs, action], -1)), e], -1)
            y = head["out"](e)
            if self.discrete:
                y = y.view(*y.shape[:-1], self.c.discrete_actions, self.c.z_dim)
            outs.append(y)
        return torch.stack(outs)


class Actor(nn.Module):
    def __init__(self, c: FBConfig):
        super().__init__()
        self.net = mlp(c.obs_dim + c.z_dim, c.hidden_dim, c.action_dim, c.layers)

    def forward(self, obs, z) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, z], -1)))


class FBModel(nn.Module):
    """Forward map, backward map, policy and the frame-level reward (eq. 9)."""

    def __init__(self, config: FBConfig):
        super().__init__()
        self.config = config
        self.forward_net = ForwardNet(config)
        self.backward_net = BackwardNet(config)
        self.actor = Actor(config) if config.discrete_actions == 0 else None

    def forward_map(self, obs, z, action=None) -> torch.Tensor:
        """F(s, a, z): [2, N, d]; discrete actions given as int64 [N] index the action axis."""
        f = self.forward_net(obs, z, None if self.forward_net.discrete else action)
        if self.forward_net.discrete and action is not None:
            idx = action.long().view(1, -1, 1, 1).expand(2, -1, 1, f.shape[-1])
            f = f.gather(2, idx)[:, :, 0]
        return f

    def backward_map(self, obs) -> torch.Tensor:
        """B(s): [N, d], norm sqrt(d)."""
        return self.backward_net(obs)

    def act(self, obs, z) -> torch.Tensor:
        """pi_z(s): [N, action_dim] in [-1, 1], or int64 [N] for discrete actions."""
        if self.actor is not None:
            return self.actor(obs, z)
        q = torch.einsum("knad,nd->kna", self.forward_net(obs, z), z).min(0).values
        return q.argmax(-1)

    def goal_z(self, goal_obs) -> torch.Tensor:
        """z* for a goal state: B(psi(I*)), already on the sqrt(d) sphere. Eq. 9 writes
        z = psi(I*), but psi is 384-d and z lives in R^d; B maps the goal into Z, which is
        how FB infers the policy that reaches a goal."""
        return self.backward_map(goal_obs)

    @torch.no_grad()
    def reward(self, obs, action, goal_obs) -> torch.Tensor:
        """Eq. 9: r_FB(s, a, I*) = F(s, a, z*)^T B(psi(I*)), the mean of the two heads.

        Args:
            obs: float [N, obs_dim], psi of the observations.
            action: float [N, action_dim] (or int64 [N] if discrete).
            goal_obs: float [1, obs_dim] or [obs_dim], psi(I*).
        Returns:
            float [N].
        """
        goal_obs = goal_obs.view(1, -1)
        bg = self.backward_map(goal_obs)  # 1 x d
        z = bg.expand(obs.shape[0], -1)
        f = self.forward_map(obs, z, action)  # 2 x N x d
        return (f @ bg[0]).mean(0)
