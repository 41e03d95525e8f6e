"""DreamerV3's actor-critic, learnt in imagination.

- Imagination: from posterior states, the actor acts for ``horizon`` steps (Table A: 15) in
  the world model; rewards and continue flags come from its heads.
- lambda-returns: R_t = r_{t+1} + gamma c_{t+1} ((1 - lambda) v_{t+1} + lambda R_{t+1}),
  gamma 0.997, lambda 0.95 (Table A).
- Critic: two-hot over symlog bins, trained on R_t, regularised towards an EMA "slow" copy.
- Actor: REINFORCE on advantages scaled by max(1, S) (the 5-95 percentile range of returns),
  with an entropy bonus (3e-4); actions from a normal with tanh mean and bounded std.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from genreward_cli.agent.config import AgentConfig
from genreward_cli.config import check, option
from genreward_cli.agent.dists import TwoHotDist
from genreward_cli.agent.fast_layers import FastPaths, reused_tables
from genreward_cli.agent.networks import feat_latents, mlp
from genreward_cli.agent.normalize import PercentileNormalizer


@dataclass(frozen=True)
class BehaviorConfig:
    horizon: int = 15
    gamma: float = 0.997
    lam: float = 0.95
    entropy: float = 3e-4
    actor_lr: float = option(3e-5, "Actor learning rate (Table A).", above=0)
    critic_lr: float = option(3e-5, "Critic learning rate (Table A).", above=0)
    slow_critic_rate: float = 0.02
    slow_critic_scale: float = 1.0
    min_std: float = 0.1
    max_std: float = 1.0
    grad_clip: float = 100.0

    def __post_init__(self):  # made directly, not by config.build: --actor-lr -1 is bad input
        check(self)


class Actor(nn.Module):
    def __init__(self, c: AgentConfig, action_dim: int, b: BehaviorConfig):
        super().__init__()
        self.net = mlp(c.feat, c.units, c.layers, 2 * action_dim, latents=feat_latents(c),
                       fast=FastPaths.of(c))
        self.b = b

    def forward(self, feat: torch.Tensor, index: torch.Tensor | None = None
                ) -> torch.distributions.Normal:
        """feat [..., F] -> a Normal over actions [..., A]. ``index`` [..., stoch], optional:
        the classes of feat's one-hot latents (for the `hot` fast path)."""
        mean, std = self.net(feat, index).float().chunk(2, -1)
        std = (self.b.max_std - self.b.min_std) * torch.sigmoid(std + 2.0) + self.b.min_std
        # compiled: no argument check (a data-dependent branch, a host sync on a GPU)
        check = False if torch.compiler.is_compiling() else None
        return torch.distributions.Normal(torch.tanh(mean), std, validate_args=check)


def lambda_returns(reward, cont, value, gamma: float, lam: float) -> torch.Tensor:
    """Bootstrapped lambda-returns.

    Args:
        reward, cont: [B, H] for steps 1..H; value: [B, H+1] for states 0..H.
    Returns:
        [B, H], the returns of states 0..H-1.
    """
    B, H = reward.shape
    out = torch.empty_like(reward)
    last = value[:, -1]
    for t in reversed(range(H)):
        last = reward[:, t] + gamma * cont[:, t] * ((1 - lam) * value[:, t + 1] + lam * last)
        out[:, t] = last
    return out


class Behavior(nn.Module):
    def __init__(self, c: AgentConfig, action_dim: int, b: BehaviorConfig = BehaviorConfig()):
        super().__init__()
        self.b = b
        self.actor = Actor(c, action_dim, b)
        self.critic = mlp(c.feat, c.units, c.layers, 255, zero_out=True,
                          latents=feat_latents(c), fast=FastPaths.of(c))
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.normalizer = PercentileNormalizer()

    def value(self, feat, index=None, slow: bool = False) -> torch.Tensor:
        return TwoHotDist((self.slow_critic if slow else self.critic)(feat, index)).mean()

    def imagine(self, wm, start: dict[str, torch.Tensor], generator=None, with_dists=False):
        """Roll the actor out in the world model from flattened posterior states [N, ...].

        Returns feats [N, H+1, F] (state 0 = start), the classes of their one-hot latents
        [N, H+1, stoch], and actions [N, H, A] as sampled (the world model receives them
        clipped to [-1, 1], as the environment does). The dynamics never carry gradients.
        ``with_dists`` also returns the log-probability and entropy of each action [N, H]
        with gradients to the actor, so the actor loss reuses the rollout's forward passes
        instead of repeating them.
        """
        state = {k: start[k].detach() for k in ("deter", "stoch", "index")}
        feats, indices, actions, logps, ents = [wm.rssm.feat(state)], [state["index"]], [], [], []
        # the weights do not change during the rollout (fast path `tables`)
        with reused_tables(self.actor, wm.rssm):
            for _ in range(self.b.horizon):
                with torch.set_grad_enabled(with_dists and torch.is_grad_enabled()):
                    dist = self.actor(feats[-1], indices[-1])
                with torch.no_grad():
                    noise = torch.randn(dist.mean.shape, generator=generator,
                                        device=dist.mean.device)
                    action = dist.mean + dist.stddev * noise  # the sample, for its log-prob
                    state = wm.rssm.img_step(state, action.clamp(-1, 1), generator)  # envs clip
                    feats.append(wm.rssm.feat(state))
                    indices.append(state["index"])
                actions.append(action)
                if with_dists:
                    logps.append(dist.log_prob(action).sum(-1))
                    ents.append(dist.entropy().sum(-1))
        out = (torch.stack(feats, 1), torch.stack(indices, 1), torch.stack(actions, 1))
        return out + (torch.stack(logps, 1), torch.stack(ents, 1)) if with_dists else out

    def loss(self, wm, start, generator=None, lazy: bool = False):
        """Actor and critic losses on imagined trajectories from ``start`` states.

        Returns (actor loss, critic loss, metrics): the losses 0-d float32 tensors, the
        metrics Python floats, or with ``lazy`` detached 0-d tensors on the device (no host
        sync, for a compiled update)."""
        b = self.b
        feats, index, actions, logp, entropy = self.imagine(wm, start, generator, with_dists=True)
        critic_logits = self.critic(feats, index)  # one pass: the values (detached) and the loss
        n, width = feats.shape[0], feats.shape[-1]
        with torch.no_grad():
            # heads on a contiguous 2-D batch: on the strided slice, matmul falls back to a
            # batched product with the weight expanded per row (~3% of a CPU update)
            nxt, nxt_index = feats[:, 1:].reshape(-1, width), index[:, 1:].reshape(n * b.horizon, -1)
            reward = TwoHotDist(wm.reward(nxt, nxt_index)).mean().view(n, -1)
            cont = torch.sigmoid(wm.cont(nxt, nxt_index)[..., 0].float()).view(n, -1)
            value = TwoHotDist(critic_logits.detach()).mean()
            returns = lambda_returns(reward, cont, value, b.gamma, b.lam)
            # weight of each imagined state: the discounted probability of still being alive
            weight = torch.cumprod(torch.cat([torch.ones_like(cont[:, :1]), b.gamma * cont[:, :-1]],
                                             1), 1)
            scale = self.normalizer.update(returns).to(returns.device)
            advantage = (returns - value[:, :-1]) / scale
        actor_loss = -(weight * (advantage * logp + b.entropy * entropy)).mean()
        critic = TwoHotDist(critic_logits[:, :-1])
        with torch.no_grad():  # on a contiguous copy of the slice, for the reason above
            slow = self.value(feats[:, :-1].reshape(-1, width),
                              index[:, :-1].reshape(n * b.horizon, -1), slow=True).view(n, -1)
        critic_loss = (weight * (-critic.log_prob(returns)
                                 - b.slow_critic_scale * critic.log_prob(slow))).mean()
        metrics = {"actor": actor_loss.detach(), "critic": critic_loss.detach(),
                   "return": returns.mean(), "entropy": entropy.detach().mean(),
                   "return_scale": scale.float()}
        return actor_loss, critic_loss, metrics if lazy else {k: float(v) for k, v in metrics.items()}

    @torch.no_grad()
    def update_slow_critic(self) -> None:
        for p, sp in zip(self.critic.parameters(), self.slow_critic.parameters()):
            sp.lerp_(p, self.b.slow_critic_rate)
