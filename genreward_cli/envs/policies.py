"""Policies for data collection: uniform random actions and Meta-World's scripted experts."""

from __future__ import annotations

import numpy as np

from genreward_cli.errors import BadInput

POLICIES = ("random", "expert")


def episode_seed(seed: int, index: int) -> int:
    """The seed of episode ``index`` of a run seeded ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def eval_seed(seed: int, index: int) -> int:
    """The seed of evaluation episode ``index``: a stream apart from the training episodes'."""
    return int(np.random.SeedSequence([seed, index, 1]).generate_state(1)[0])


class RandomPolicy:
    """Uniform actions in [-1, 1]^4, from an RNG seeded per episode."""

    name = "random"

    def __init__(self, task: str, seed: int):
        self._rng = np.random.default_rng(seed)

    def __call__(self, state: np.ndarray) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, size=4).astype(np.float32)


class ExpertPolicy:
    """Meta-World's scripted policy for the task (``metaworld.policies``).

    The scripted policies can emit actions outside [-1, 1], which Meta-World clips inside
    ``step``; they are clipped here instead, so that the stored actions are the executed ones.
    """

    name = "expert"

    def __init__(self, task: str, seed: int):
        from metaworld.policies import ENV_POLICY_MAP

        if task not in ENV_POLICY_MAP:
            raise BadInput(f"Meta-World has no scripted expert for {task!r}")
        self._policy = ENV_POLICY_MAP[task]()

    def __call__(self, state: np.ndarray) -> np.ndarray:
        import warnings

        with warnings.catch_warnings():
            # metaworld.policies.policy.move warns whenever a response exceeds [-1, 1]: the
            # clipping below is the expected handling, not a problem to report to the user
            warnings.filterwarnings("ignore", message="Constant\\(s\\) may be too high")
            action = self._policy.get_action(np.asarray(state, np.float64))
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def make_policy(name: str, task: str, seed: int):
    if name == "random":
        return RandomPolicy(task, seed)
    if name == "expert":
        return ExpertPolicy(task, seed)
    raise BadInput(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
