"""Drive a reward model during training, one env step at a time (Algorithm 1's inner loop).

``OnlineReward`` keeps the episode so far (agent frames, actions, paid rewards) and, for the
frames a model reads at another size (the goal video's 480x480, the FB model's training
size), asks the env for a render at that size only at the frame indices the model's
``frame_plan`` names. The paper's code renders every step at 480x480; here the 64x64 agent
frames are the only per-step render.
"""

from __future__ import annotations

import numpy as np

from genreward_cli.rewards.base import EpisodeRecord, RewardModel


class OnlineReward:
    """One episode at a time: ``reset(obs)``, then ``step(...)`` per transition, which returns
    the model's components of that step. ``schedule`` (the model's ``RewardSchedule`` for
    ``max_steps``) says which steps are scored; ``plan`` which frames are rendered at which
    size, through ``env.render_at(height, width)``."""

    def __init__(self, model: RewardModel, env, max_steps: int, image_shape, action_dim: int):
        self.model, self.env, self.max_steps = model, env, max_steps
        self.plan = model.frame_plan(max_steps)
        self.schedule = model.schedule(max_steps)
        self.agent_size = tuple(image_shape[:2])
        self._image = np.zeros((max_steps + 1, *image_shape), np.uint8)
        self._action = np.zeros((max_steps, action_dim), np.float32)
        self._reward = np.zeros(max_steps, np.float32)
        self._env_reward = np.zeros(max_steps, np.float32)
        self._success = np.zeros(max_steps, bool)
        self.t = 0

    @staticmethod
    def render_sizes(model: RewardModel, max_steps: int, agent_size) -> tuple:
        """The (height, width) renders besides the agent's that ``model`` will ask for."""
        sizes = {p.size for p in model.frame_plan(max_steps).values() if p.indices}
        return tuple(sorted(sizes - {tuple(agent_size)}))

    def _capture(self, i: int) -> None:
        for name, plan in self.plan.items():
            if i in plan.indices:
                frame = (self._image[i] if plan.size == self.agent_size
                         else self.env.render_at(*plan.size))
                self.frames[name][i] = frame

    def reset(self, obs) -> None:
        self.t = 0
        self.frames = {name: {} for name in self.plan}
        self._image[0] = obs["image"]
        self._capture(0)

    def step(self, obs, action, paid_reward: float, env_reward: float, last: bool,
             success: bool = False) -> dict[str, float]:
        """Record the transition taken (``success``: the env's flag for it) and return the
        reward model's components for it."""
        k = self.t
        if k >= self.max_steps:
            raise RuntimeError(f"episode longer than the {self.max_steps} steps planned for")
        self._image[k + 1] = obs["image"]
        self._action[k] = action
        self._reward[k], self._env_reward[k] = paid_reward, env_reward
        self._success[k] = success
        self._capture(k + 1)
        self.t = k + 1
        ep = EpisodeRecord(self._image[: k + 2], self._action[: k + 1], self._env_reward[: k + 1],
                           self._reward[: k + 1], self.frames, self._success[: k + 1])
        return self.model.step(ep, k, last, self.schedule.is_scored(k))

    def state_dict(self) -> dict:
        """The episode so far (``t`` steps, the frames captured at other sizes), to continue
        it after a run stopped mid-episode is resumed."""
        t = self.t
        return {"t": t, "image": self._image[: t + 1].copy(), "action": self._action[:t].copy(),
                "reward": self._reward[:t].copy(), "env_reward": self._env_reward[:t].copy(),
                "success": self._success[:t].copy(),
                "frames": {name: {int(i): f.copy() for i, f in frames.items()}
                           for name, frames in self.frames.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Continue the episode of ``state_dict`` (with the same model and episode length)."""
        t = int(state["t"])
        if t > self.max_steps or set(state["frames"]) != set(self.plan):
            raise ValueError(f"the saved episode ({t} steps, frames {sorted(state['frames'])}) "
                             f"does not fit this reward ({self.max_steps} steps, frames "
                             f"{sorted(self.plan)})")
        self._image[: t + 1] = state["image"]
        self._action[:t], self._reward[:t] = state["action"], state["reward"]
        self._env_reward[:t] = state["env_reward"]
        self._success[:t] = state.get("success", False)  # older checkpoints: no flags
        self.frames = {name: {int(i): np.array(f) for i, f in frames.items()}
                       for name, frames in state["frames"].items()}
        self.t = t


class OnlineFB:
    """Train a genreward model's FB network on the agent's replay, then freeze it (the paper
    trains it for the first 100k env steps). The reward uses the network as it trains."""

    def __init__(self, model, seed: int = 0):
        import json

        from genreward_cli.config import build
        from genreward_cli.fb.trainer import FBTrainConfig, FBTrainer

        self.model = model
        config = build(FBTrainConfig, json.loads(model.fb_train_config))  # the fb file's settings
        model.fb.requires_grad_(True).train()
        self.trainer = FBTrainer(model.fb, config, seed=seed)
        self.rng = np.random.default_rng([seed, 7])
        self.frozen = False

    def update(self, replay) -> dict[str, float]:
        import torch

        from genreward_cli.fb.trainer import Batch

        obs, action, nxt = replay.sample_transitions(self.trainer.config.batch_size, self.rng)
        emb = self.model.image_encoder.encode(np.concatenate([obs, nxt]))
        dev = self.model.device
        half = len(obs)
        batch = Batch(torch.from_numpy(emb[:half]).to(dev), torch.from_numpy(action).to(dev),
                      torch.from_numpy(emb[half:]).to(dev))
        metrics = self.trainer.update(batch, goal_embedding=self.model.goal_embedding)
        return {f"fb/{k}": v for k, v in metrics.items()}

    def freeze(self) -> None:
        self.model.fb.requires_grad_(False).eval()
        self.frozen = True

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "rng": self.rng.bit_generator.state,
                "frozen": self.frozen}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        self.rng.bit_generator.state = state["rng"]
        if state["frozen"]:
            self.freeze()
