"""Which steps of an episode a reward model scores, and which frames each scored step reads.

Steps are transitions, 0-based: step k takes o_k, a_k -> o_{k+1}, for k = 0..T-1 in an episode
of T steps. Algorithm 1 adds the generative reward every ``interval`` steps (Table A: 128), at
the 1-based steps interval, 2*interval, ..., i.e. the 0-based k = interval - 1, 2*interval - 1,
... < T. r_video at step k encodes ``history`` frames sampled uniformly from the episode so far,
o_0..o_{k+1} (eq. 5: "16 frames uniformly sampled").

One :class:`RewardSchedule` answers the questions offline scoring (``score-reward``), online
rewards (``train-agent``), rendering plans (which frames to render at another size) and the
run log (which steps are logged as scored) each ask; nothing else works them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.video.clips import uniform_indices


@dataclass(frozen=True)
class RewardSchedule:
    """The scored steps of an episode of ``length`` steps.

    ``interval``: steps between scored steps, the first scored step being ``interval - 1``
    (0-based); 1 scores every step, ``length`` only the last, more than ``length`` none.
    ``history``: how many frames of o_0..o_{k+1} scored step k reads (0: none besides its
    own). Raises BadInput for a length below 1 or an interval below 1.
    """

    length: int
    interval: int
    history: int = 0

    def __post_init__(self):
        if self.length < 1:
            raise BadInput(f"an episode of {self.length} steps has nothing to score")
        if self.interval < 1:
            raise BadInput(f"reward interval {self.interval}: must be at least 1")

    @classmethod
    def every_step(cls, length: int) -> "RewardSchedule":
        """Every step scored (per-frame rewards: VLM-RM, TADPoLe, Diffusion Reward)."""
        return cls(length, 1)

    @classmethod
    def last_step(cls, length: int) -> "RewardSchedule":
        """Only the last step scored (episode-level rewards: RoboCLIP, clip-video)."""
        return cls(length, length)

    @classmethod
    def never(cls, length: int) -> "RewardSchedule":
        """No step scored: the env reward alone."""
        return cls(length, length + 1)

    def steps(self) -> np.ndarray:
        """int64 [n]: the scored steps k, ascending (k = interval - 1, 2*interval - 1, ...)."""
        return np.arange(self.interval, self.length + 1, self.interval, dtype=np.int64) - 1

    def is_scored(self, k: int) -> bool:
        """Whether step k (0-based, o_k -> o_{k+1}) is scored."""
        return 0 <= k < self.length and (k + 1) % self.interval == 0

    def history_frames(self, k: int) -> np.ndarray:
        """int64 [history]: indices into o_0..o_T of the frames scored step k reads, uniform
        over o_0..o_{k+1} (first and last included; repeats in short episodes)."""
        if not self.history:
            return np.zeros(0, np.int64)
        return uniform_indices(k + 2, self.history)

    def frames_read(self) -> frozenset:
        """Every frame index that some scored step's history reads (what to render)."""
        picked = [self.history_frames(int(k)) for k in self.steps()]
        return frozenset(int(i) for i in np.concatenate(picked)) if picked else frozenset()
