"""Builders of small artifacts for tests."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from genreward_cli import store
from genreward_cli.envs.config import EnvConfig


def fake_episode(rng, T=5, size=8):
    return {
        "image": rng.integers(0, 256, (T + 1, size, size, 3), dtype=np.uint8),
        "state": rng.normal(size=(T + 1, 39)).astype(np.float32),
        "action": rng.uniform(-1, 1, (T, 4)).astype(np.float32),
        "reward": rng.normal(size=T).astype(np.float32),
        "env_reward": rng.normal(size=T).astype(np.float32),
        "success": rng.integers(0, 2, T).astype(bool),
    }


def write_episodes(path, episodes, force=False, parents=(), mutate=None, policy="random"):
    """Write an episodes artifact of pick-place-v3 (each episode's ``policy`` attribute as
    given); ``mutate(h5)`` may corrupt it before validation runs."""
    with store.write_artifact(
        path, "episodes", config={"test": True}, parents=list(parents), force=force
    ) as h5:
        h5.attrs["task"] = "pick-place-v3"
        for k, ep in enumerate(episodes):
            g = h5.create_group(f"episodes/{k:06d}")
            store.frames_dataset(g, "image", ep["image"])
            for name in ("state", "action", "reward", "env_reward", "success"):
                store.array_dataset(g, name, ep[name])
            g.attrs.update(task="pick-place-v3", seed=k, prompt="p", policy=policy)
        if mutate is not None:
            mutate(h5)
    return path


def moving_square(seed, frames=9, size=64):
    """A red square sliding right: a clip with a known, learnable motion."""
    rng = np.random.default_rng(seed)
    video = np.zeros((frames, size, size, 3), np.uint8)
    x, y = rng.integers(0, size - 24, 2)
    for f in range(frames):
        video[f, y:y + 16, x + 2 * f:x + 2 * f + 16] = (200, 50, 50)
    return video


def run(*args, **kwargs):
    """``genreward ARGS...`` in this process (click's CliRunner), arguments str()-ed: the
    result has ``exit_code``, ``stdout``, ``stderr`` and ``output``. The ``cli`` fixture of
    conftest.py is this function."""
    from click.testing import CliRunner

    from genreward_cli.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


ENV_FIELDS = {f.name for f in dataclasses.fields(EnvConfig)}  # of a run's config.json


def fake_run(path, seed, max_steps, episodes, reward="env", evals=None, offset=0.0,
             **options):
    """A run directory whose log.h5 has ``episodes`` finished episodes, with returns
    0, 1, ... plus ``seed`` and ``offset``; and, with ``evals`` (a return), an evaluation of
    2 episodes after each episode, all of that return. ``options`` join its config."""
    path.mkdir(parents=True)
    steps = max_steps * np.arange(1, episodes + 1, dtype=np.int64)
    returns = np.arange(episodes, dtype=np.float32) + seed + offset
    n = episodes if evals is not None else 0
    config = {"reward": reward, "reward_mode": "dense", "seed": seed, "max_steps": max_steps,
              **options}
    with store.write_artifact(path / "log.h5", "agent_log", config=config) as h5:
        for name, data in [("episodes/step", steps), ("episodes/return", returns),
                           ("episodes/success", np.zeros(episodes, bool)),
                           ("episodes/length", np.full(episodes, max_steps, np.int64)),
                           ("episodes/learn_return", returns),
                           ("rewards/step", np.zeros(0, np.int64)),
                           ("eval/step", steps[:n]),
                           ("eval/return", np.full((n, 2), evals or 0, np.float32)),
                           ("eval/success", np.zeros((n, 2), bool))]:
            store.array_dataset(h5, name, data)
        h5.attrs.update(task="reach-v3", reward=reward, steps=int(max_steps * episodes),
                        env_config=json.dumps({"task": "reach-v3", **{
                            k: v for k, v in config.items() if k in ENV_FIELDS}}))
    return path


def refused(result, *parts, out=None):
    """Assert a CLI ``result`` refused its input: exit code 2, one line on stderr holding
    each of ``parts``, and no ``out`` left behind."""
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    if out is not None:
        assert not out.exists()
