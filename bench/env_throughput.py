"""Pixel env throughput: steps/s at 64x64, ours (1 and 2 workers, fast and full rendering)
against bare Meta-World step + render of the same task, measured in one run.

    .venv/bin/python bench/env_throughput.py [--task pick-place-v3] [--steps 512]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from genreward_cli import machine
from genreward_cli.envs import EnvConfig, gl  # sets MUJOCO_GL before mujoco loads
from genreward_cli.envs.rollout import collect


def bare(task: str, steps: int, size: int, render: bool) -> float:
    """Meta-World as it comes: default rendering, no wrapper."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    env = ALL_V3_ENVIRONMENTS[task](
        render_mode="rgb_array", camera_name="corner", width=size, height=size
    )
    env._partially_observable = False
    env._freeze_rand_vec = False
    env._set_task_called = True
    env.reset()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for t in range(steps):
        if t and t % 256 == 0:
            env.reset()
        env.step(rng.uniform(-1, 1, 4))
        if render:
            env.render()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def ours(task: str, steps: int, size: int, workers: int, quality: str) -> float:
    config = EnvConfig(task=task, size=size, max_steps=128, render_quality=quality)
    episodes = max(workers, steps // config.max_steps)
    start = time.perf_counter()
    n = sum(ep.length for ep in collect(config, "random", episodes, seed=0, workers=workers))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="pick-place-v3")
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    print(f"# {args.task}, {args.size}x{args.size}, MUJOCO_GL={gl.configure()}, "
          f"{os.cpu_count()} CPUs, {args.steps} steps each")
    print(f"# CPU: {machine.describe()}")
    rows = [
        ("bare Meta-World step only (no render)", bare(args.task, args.steps, args.size, False)),
        ("bare Meta-World step + default render", bare(args.task, args.steps, args.size, True)),
        ("genreward env, full rendering, 1 worker", ours(args.task, args.steps // 4, args.size, 1, "full")),
        ("genreward env, fast rendering, 1 worker", ours(args.task, args.steps, args.size, 1, "fast")),
        ("genreward env, fast rendering, 2 workers", ours(args.task, args.steps, args.size, 2, "fast")),
    ]
    base = rows[1][1]
    print(f"{'configuration':44s} {'steps/s':>9s} {'vs bare render':>15s}")
    for name, rate in rows:
        print(f"{name:44s} {rate:9.1f} {rate / base:14.2f}x")


if __name__ == "__main__":
    main()
