"""Does the tiny DreamerV3 learn the dot task (move a dot to the centre) on a CPU?

Prints the mean episode return (1 - distance per step; 50 steps; random play ~ 20) every
few episodes. A learning check in progress, not yet a test.

    .venv/bin/python bench/agent_dot.py [--steps 20000] [--train-ratio 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.behavior import BehaviorConfig
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.loop import LoopConfig, run
    from genreward_cli.agent.replay import Replay
    from genreward_cli.envs.dummy import DotEnv

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--train-ratio", type=float, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--lr-scale", type=float, default=10.0)
    a = p.parse_args()
    torch.manual_seed(0)
    config = preset("tiny", image_size=a.size, model_lr=1e-4 * a.lr_scale)
    agent = DreamerAgent(config, 2, BehaviorConfig(actor_lr=3e-5 * a.lr_scale,
                                                   critic_lr=3e-5 * a.lr_scale))
    trainer = DreamerTrainer(agent)
    loop = LoopConfig(steps=a.steps, train_ratio=a.train_ratio, batch=16, length=32,
                      prefill=1000, capacity=100_000)
    replay = Replay(loop.capacity, (a.size, a.size, 3), 2)
    returns, start = [], time.perf_counter()

    def on_episode(ep):
        returns.append(ep["episode/return"])
        if len(returns) % 20 == 0:
            print(f"step {ep['step']:6d}  episodes {len(returns):4d}  mean return (last 20) "
                  f"{np.mean(returns[-20:]):6.2f}  updates {trainer.updates}  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)

    run(DotEnv(size=a.size, max_steps=50), agent, trainer, replay, loop, on_episode=on_episode)


if __name__ == "__main__":
    main()
