"""Builders of small artifacts for tests."""

from __future__ import annotations

import numpy as np

from genreward_cli import store


def fake_episode(rng, T=5, size=8):
    return {
        "image": rng.integers(0, 256, (T + 1, size, size, 3), dtype=np.uint8),
        "state": rng.normal(size=(T + 1, 39)).astype(np.float32),
        "action": rng.uniform(-1, 1, (T, 4)).astype(np.float32),
        "reward": rng.normal(size=T).astype(np.float32),
        "env_reward": rng.normal(size=T).astype(np.float32),
        "success": rng.integers(0, 2, T).astype(bool),
    }


def write_episodes(path, episodes, force=False, parents=(), mutate=None):
    """Write an episodes artifact; ``mutate(h5)`` may corrupt it before validation runs."""
    with store.write_artifact(
        path, "episodes", config={"test": True}, parents=list(parents), force=force
    ) as h5:
        h5.attrs["task"] = "pick-place-v3"
        for k, ep in enumerate(episodes):
            g = h5.create_group(f"episodes/{k:06d}")
            store.frames_dataset(g, "image", ep["image"])
            for name in ("state", "action", "reward", "env_reward", "success"):
                store.array_dataset(g, name, ep[name])
            g.attrs.update(task="pick-place-v3", seed=k, prompt="p", policy="random")
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
