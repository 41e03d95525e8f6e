"""The DreamerV3 agent (networks, inference) apart from its trainer (losses, optimisers)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from genreward_cli.agent.behavior import Behavior, BehaviorConfig
from genreward_cli.agent.config import AgentConfig
from genreward_cli.agent.world_model import WorldModel


class DreamerAgent(nn.Module):
    """World model + actor-critic; ``policy`` filters observations and acts."""

    def __init__(self, config: AgentConfig, action_dim: int,
                 behavior: BehaviorConfig = BehaviorConfig()):
        super().__init__()
        self.config = config
        self.action_dim = action_dim
        self.wm = WorldModel(config, action_dim)
        self.behavior = Behavior(config, action_dim, behavior)

    @property
    def device(self):
        return next(self.parameters()).device

    def autocast(self):
        """The compute precision of ``config.precision``: bf16 autocast, or plain fp32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.config.precision == "bf16")

    @torch.no_grad()
    def policy(self, image: np.ndarray, is_first: np.ndarray, state=None, explore=True,
               generator=None):
        """Act on a batch of observations.

        Args:
            image: uint8 [N, H, W, 3]; is_first: bool [N].
            state: (rssm state, previous action) or None at the start.
        Returns:
            actions float32 [N, A] in [-1, 1], and the next state.
        """
        n = len(image)
        dev = self.device
        if state is None:
            state = (self.wm.rssm.initial(n, dev), torch.zeros(n, self.action_dim, device=dev))
        latent, prev_action = state
        first = torch.from_numpy(np.asarray(is_first, bool)).to(dev)
        with self.autocast():
            embed = self.wm.encoder(torch.from_numpy(image).to(dev))
            latent, _ = self.wm.rssm.obs_step(latent, prev_action, embed, first, generator)
            dist = self.behavior.actor(self.wm.rssm.feat(latent), latent["index"])
        action = dist.mean
        if explore:
            noise = torch.randn(dist.mean.shape, generator=generator, device=dev)
            action = action + dist.stddev * noise
        action = action.clamp(-1, 1)
        return action.cpu().numpy().astype(np.float32), (latent, action)


class DreamerTrainer:
    """Optimisers and the update: world model on replayed sequences, then actor and critic
    on trajectories imagined from every posterior state of the batch."""

    def __init__(self, agent: DreamerAgent, seed: int = 0):
        c, b = agent.config, agent.behavior.b
        self.agent = agent
        # fused Adam: one kernel over all parameters (on the CPU as well as the GPU)
        self.wm_opt = torch.optim.Adam(agent.wm.parameters(), lr=c.model_lr, eps=1e-8, fused=True)
        self.actor_opt = torch.optim.Adam(agent.behavior.actor.parameters(), lr=b.actor_lr,
                                          eps=1e-5, fused=True)
        self.critic_opt = torch.optim.Adam(agent.behavior.critic.parameters(), lr=b.critic_lr,
                                           eps=1e-5, fused=True)
        # all sampling in an update draws from this generator, on the agent's device
        self.generator = torch.Generator(device=agent.device).manual_seed(seed)
        self.updates = 0

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "wm_opt": self.wm_opt.state_dict(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "normalizer": self.agent.behavior.normalizer.state_dict(),
                "generator": self.generator.get_state(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.wm_opt.load_state_dict(state["wm_opt"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.agent.behavior.normalizer.load_state_dict(state["normalizer"])
        self.generator.set_state(state["generator"].cpu())
        self.updates = state["updates"]

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        a, c = self.agent, self.agent.config
        with a.autocast():
            loss, metrics, post = a.wm.loss(batch, self.generator)
        self.wm_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(a.wm.parameters(), c.grad_clip)
        self.wm_opt.step()
        start = {k: v.detach().flatten(0, 1) for k, v in post.items()
                 if k in ("deter", "stoch", "index")}
        with a.autocast():
            actor_loss, critic_loss, bm = a.behavior.loss(a.wm, start, self.generator)
        clip = a.behavior.b.grad_clip
        for opt, l, params in ((self.actor_opt, actor_loss, a.behavior.actor.parameters()),
                               (self.critic_opt, critic_loss, a.behavior.critic.parameters())):
            opt.zero_grad(set_to_none=True)
            l.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        a.behavior.update_slow_critic()
        a.wm.zero_grad(set_to_none=True)  # behaviour gradients never train the model
        self.updates += 1
        metrics.update(bm)
        return {f"train/{k}": v for k, v in metrics.items()}
