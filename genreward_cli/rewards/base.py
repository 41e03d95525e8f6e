"""The reward-model interface: a pure function of an episode's record, in eval mode.

A reward model maps an episode (frames o_0..o_T, actions a_0..a_{T-1}, env rewards) to
per-step reward components, each float32 [T]; ``total`` is what an agent would receive.
Each model counts its own calls and seconds (``cost``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class EpisodeRecord:
    image: np.ndarray  # uint8 [T+1, H, W, 3]
    action: np.ndarray  # float32 [T, A]
    env_reward: np.ndarray  # float32 [T], dense
    reward: np.ndarray  # float32 [T], what the env paid (dense or sparse mode)

    @property
    def length(self) -> int:
        return len(self.action)


@dataclass
class Cost:
    calls: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"calls": self.calls, "seconds": self.seconds,
                "ms_per_call": 1000 * self.seconds / self.calls if self.calls else 0.0}


@dataclass
class RewardModel:
    name: str = "base"
    cost: Cost = field(default_factory=Cost)

    def components(self, ep: EpisodeRecord) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def __call__(self, ep: EpisodeRecord) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        out = self.components(ep)
        self.cost.calls += 1
        self.cost.seconds += time.perf_counter() - start
        assert all(v.shape == (ep.length,) for v in out.values()), {k: v.shape for k, v in out.items()}
        return out


class EnvReward(RewardModel):
    """The environment's reward as the env paid it (dense or sparse): the DreamerV3 baseline."""

    def __init__(self):
        super().__init__(name="env")

    def components(self, ep):
        r = ep.reward.astype(np.float32)
        return {"env": r, "total": r}
