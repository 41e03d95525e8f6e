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
    def __init__(self, model: RewardModel, env, max_steps: int, image_shape, action_dim: int):
        self.model, self.env, self.max_steps = model, env, max_steps
        self.plan = model.frame_plan(max_steps)
        self.agent_size = tuple(image_shape[:2])
        model.prepare(max_steps)
        self._image = np.zeros((max_steps + 1, *image_shape), np.uint8)
        self._action = np.zeros((max_steps, action_dim), np.float32)
        self._reward = np.zeros(max_steps, np.float32)
        self._env_reward = np.zeros(max_steps, np.float32)
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

    def step(self, obs, action, paid_reward: float, env_reward: float, last: bool) -> dict[str, float]:
        """Record the transition taken and return the reward model's components for it."""
        k = self.t
        if k >= self.max_steps:
            raise RuntimeError(f"episode longer than the {self.max_steps} steps planned for")
        self._image[k + 1] = obs["image"]
        self._action[k] = action
        self._reward[k], self._env_reward[k] = paid_reward, env_reward
        self._capture(k + 1)
        self.t = k + 1
        ep = EpisodeRecord(self._image[: k + 2], self._action[: k + 1], self._env_reward[: k + 1],
                           self._reward[: k + 1], self.frames)
        return self.model.step(ep, k, last)
