"""The reward-model interface, in eval mode, offline on whole episodes and online per step.

A reward model maps an episode (frames o_0..o_T, actions a_0..a_{T-1}, env rewards) to
per-step reward components, each float32 [T]; ``total`` is what an agent receives.

- Offline, ``model(ep)`` scores a recorded episode (``score-reward``).
- Online, ``step_components(ep, k, last)`` gives the components of step k (the transition
  o_k, a_k -> o_{k+1}) from the episode so far (``train-agent``), and ``frame_plan`` names the
  frames it will read at another size than the agent's, so only those are rendered.
- ``schedule(max_steps)`` is the model's :class:`RewardSchedule`: the steps where it adds more
  than the env reward, and the frames they read.

Both paths share the models' code, so a recorded episode scores the same either way.
Each model counts its own calls and seconds (``cost``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from genreward_cli.rewards.schedule import RewardSchedule


@dataclass
class EpisodeRecord:
    image: np.ndarray  # uint8 [T+1, H, W, 3]
    action: np.ndarray  # float32 [T, A]
    env_reward: np.ndarray  # float32 [T], dense
    reward: np.ndarray  # float32 [T], what the env paid (dense or sparse mode)
    # frames at other sizes, by name: {name: {frame index: uint8 [h, w, 3]}} (online only)
    frames: dict = field(default_factory=dict)
    success: np.ndarray | None = None  # bool [T], the env's success flag per step, if recorded

    @property
    def length(self) -> int:
        return len(self.action)


@dataclass(frozen=True)
class FramePlan:
    """Frames a model reads at its own size: ``indices`` of o_0..o_T, rendered at ``size``."""

    size: tuple[int, int]  # (height, width)
    indices: frozenset


@dataclass
class Cost:
    calls: int = 0
    seconds: float = 0.0

    def as_dict(self, env_steps: int | None = None) -> dict[str, float]:
        """calls, seconds, ms per call and, given the env steps they served, ms per env step."""
        out = {"calls": self.calls, "seconds": self.seconds,
               "ms_per_call": 1000 * self.seconds / self.calls if self.calls else 0.0}
        if env_steps is not None:
            out["ms_per_step"] = 1000 * self.seconds / env_steps if env_steps else 0.0
        return out


@dataclass
class RewardModel:
    name: str = "base"
    cost: Cost = field(default_factory=Cost)
    # the component names, "total" last; every step reports all of them
    names: tuple = ("env", "total")

    def components(self, ep: EpisodeRecord) -> dict[str, np.ndarray]:
        """Offline: every step of a recorded episode at once (batched where it pays)."""
        parts = [self.step_components(ep, k, k == ep.length - 1) for k in range(ep.length)]
        return {n: np.asarray([p[n] for p in parts], np.float32) for n in self.names}

    def step_components(self, ep: EpisodeRecord, k: int, last: bool) -> dict[str, float]:
        """Online: the components of step k, from the episode so far (k + 1 steps)."""
        raise NotImplementedError

    def weights(self) -> dict[str, float]:
        """The weight of each component in ``total`` (``rewards.accounting``), {name: w}:
        1 for every component but ``total`` unless the model weighs them."""
        return {n: 1.0 for n in self.names if n != "total"}

    def weight_labels(self) -> dict[str, str]:
        """{component: the option that sets its weight}, for the accounting's advice."""
        return {}

    def weight_complements(self) -> dict[str, str]:
        """{component: partner} for weights that add up to 1, the partner's being the
        option (the accounting's advice then gives the partner's value); none by default."""
        return {}

    def weight_scales(self) -> dict[str, float]:
        """{component: its weight / the value of the option that sets it}, where they differ
        (e.g. a weight relative to the env reward's scale); 1 for the others."""
        return {}

    def frame_plan(self, max_steps: int) -> dict[str, FramePlan]:
        """Frames (by name) that ``step_components`` reads from ``ep.frames``."""
        return {}

    def schedule(self, max_steps: int) -> RewardSchedule:
        """The steps at which the model adds more than the env reward (logged per step, timed
        into ``cost``) in episodes of ``max_steps`` steps: none by default."""
        return RewardSchedule.never(max_steps)

    def scored_steps(self, max_steps: int) -> np.ndarray:
        """int64 [n]: ``schedule(max_steps).steps()``."""
        return self.schedule(max_steps).steps()

    def _timed(self, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.cost.calls += 1
        self.cost.seconds += time.perf_counter() - start
        return out

    def __call__(self, ep: EpisodeRecord) -> dict[str, np.ndarray]:
        out = self._timed(self.components, ep)
        assert all(v.shape == (ep.length,) for v in out.values()), {k: v.shape for k, v in out.items()}
        return out

    def step(self, ep: EpisodeRecord, k: int, last: bool, scored: bool) -> dict[str, float]:
        """``step_components``, timed into ``cost`` when the step is ``scored`` (the model
        works then; ``rewards.online.OnlineReward`` tells it from the schedule)."""
        if scored:
            return self._timed(self.step_components, ep, k, last)
        return self.step_components(ep, k, last)


class EnvReward(RewardModel):
    """The environment's reward as the env paid it (dense or sparse): the DreamerV3 baseline."""

    def __init__(self):
        super().__init__(name="env")

    def components(self, ep):
        r = ep.reward.astype(np.float32)
        return {"env": r, "total": r}

    def step_components(self, ep, k, last):
        r = float(ep.reward[k])
        return {"env": r, "total": r}


class WithEnvReward(RewardModel):
    """A baseline's reward plus the env reward as the env paid it (``ep.reward``: Meta-World's
    dense reward, or its sparse form under ``--reward-mode sparse``), as eq. 10 adds r_env to
    genreward's terms: the paper's dense and sparse settings applied to every method
    (section 4.1, "we evaluate the models with the original dense reward and sparse reward
    provided by the environment"). Components: ``env``, then the baseline's own, ``total``
    = env + the baseline's total; the baseline's terms are kept as its authors define them
    (Diffusion Reward's and TADPoLe's success terms included).

    Its name is the wrapped model's with ` +env`; every other attribute (its cost, options,
    online state) is the wrapped model's.
    Raises ValueError for a model that already has an ``env`` component (genreward, env).
    """

    def __init__(self, base: RewardModel):
        if "env" in base.names:
            raise ValueError(f"{base.name} already has an env component")
        # named `roboclip +env`: in each line and file that names the reward, as in the
        # run's label (``evaluate.method_name``)
        super().__init__(name=f"{base.name} +env", cost=base.cost,
                         names=("env",) + tuple(base.names))
        self.base = base

    def __getattr__(self, name):  # only for what this class does not define
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    @staticmethod
    def _added(parts: dict, env):
        return {"env": env, **parts, "total": parts["total"] + env}

    def components(self, ep):
        return self._added(self.base.components(ep), ep.reward.astype(np.float32))

    def step_components(self, ep, k, last):
        return self._added(self.base.step_components(ep, k, last), float(ep.reward[k]))

    def __call__(self, ep):
        return self._added(self.base(ep), ep.reward.astype(np.float32))

    def step(self, ep, k, last, scored):
        return self._added(self.base.step(ep, k, last, scored), float(ep.reward[k]))

    def weights(self):
        return {"env": 1.0, **self.base.weights()}

    def weight_labels(self):
        return self.base.weight_labels()

    def weight_complements(self):
        return self.base.weight_complements()

    def weight_scales(self):
        return self.base.weight_scales()

    def frame_plan(self, max_steps):
        return self.base.frame_plan(max_steps)

    def schedule(self, max_steps):
        return self.base.schedule(max_steps)
