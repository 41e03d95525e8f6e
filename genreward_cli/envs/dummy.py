"""A small pixel task for agent tests without MuJoCo: move a dot to the centre.

Observations as in MetaWorldPixelEnv (``image`` uint8 [S, S, 3], ``state``, flags); actions in
[-1, 1]^2 move the dot by 0.15 * a; reward 1 - |p| (distance to the centre), success within
0.1 of the centre; the episode ends by time limit.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class DotEnv(gym.Env):
    def __init__(self, size: int = 64, max_steps: int = 50, radius: int = 0):
        self.size, self.max_steps = size, max_steps
        self.radius = radius or max(1, size // 8)  # a 9x9 dot at 32 px, 17x17 at 64 px
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
            "state": gym.spaces.Box(-1, 1, (2,), np.float32),
            "is_first": gym.spaces.Box(0, 1, (), bool),
            "is_last": gym.spaces.Box(0, 1, (), bool),
            "is_terminal": gym.spaces.Box(0, 1, (), bool),
        })
        self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        self.pos = np.zeros(2, np.float32)
        self.t = 0

    def _obs(self, first=False, last=False):
        img = np.zeros((self.size, self.size, 3), np.uint8)
        img[self.size // 2, :, 2] = img[:, self.size // 2, 2] = 80  # the centre cross
        r = self.radius
        y, x = ((self.pos + 1) / 2 * (self.size - 1)).round().astype(int)
        img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1, 0] = 255
        return {"image": img, "state": self.pos.copy(), "is_first": np.asarray(first),
                "is_last": np.asarray(last), "is_terminal": np.asarray(False)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.9, 0.9, 2).astype(np.float32)
        self.t = 0
        return self._obs(first=True), {"success": False, "env_reward": 0.0}

    def step(self, action):
        self.pos = np.clip(self.pos + 0.15 * np.asarray(action, np.float32), -1, 1)
        self.t += 1
        dist = float(np.linalg.norm(self.pos))
        reward = 1.0 - dist
        last = self.t >= self.max_steps
        info = {"success": dist < 0.1, "env_reward": reward}
        return self._obs(last=last), reward, False, last, info
