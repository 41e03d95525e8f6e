"""Does the DreamerV3 agent learn the dot task (move a dot to the centre) on a CPU?

A small agent (deterministic 128, 16 x 16 latents, 128 units, CNN depth 16) on 32x32 frames,
learning rates raised for a short run (world model 1e-3, actor and critic 3e-4), train ratio
256 with 16 x 32 batches. Prints the mean episode return of the last 20 episodes (50 steps,
reward 1 - distance to the centre per step: random play ~10, staying at the centre ~50).

    .venv/bin/python bench/agent_dot.py [--steps 9000] [--precision bf16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genreward_cli.agent.config import preset

DOT_AGENT = dict(image_size=32, model_lr=1e-3, deter=128, stoch=16, classes=16, units=128,
                 layers=2, cnn_depth=16)


def train_dot(steps: int, seed: int = 0, report=lambda line: None, precision: str = "fp32",
              compile: str = "off", device: str = "cpu"):
    """Train on the dot task on ``device`` (``compile``: the agent's ``--agent compile``);
    return the list of episode returns."""
    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.behavior import BehaviorConfig
    from genreward_cli.agent.loop import LoopConfig
    from genreward_cli.agent.replay import Replay
    from genreward_cli.envs.dummy import DotEnv
    from genreward_cli.stages.acting import train as run

    torch.manual_seed(seed)
    agent = DreamerAgent(preset("tiny", **DOT_AGENT, precision=precision, compile=compile), 2,
                         BehaviorConfig(actor_lr=3e-4, critic_lr=3e-4)).to(device)
    trainer = DreamerTrainer(agent, seed=seed)
    loop = LoopConfig(steps=steps, train_ratio=256, batch=16, length=32, prefill=1000,
                      capacity=100_000)
    replay = Replay(loop.capacity, (32, 32, 3), 2, seed=seed)
    returns, start = [], time.perf_counter()

    def on_episode(ep):
        returns.append(ep["episode/return"])
        if len(returns) % 20 == 0:
            report(f"step {ep['step']:6d}  mean return (last 20 episodes) "
                   f"{np.mean(returns[-20:]):6.2f}  updates {trainer.updates:5d}  "
                   f"{time.perf_counter() - start:5.0f} s")

    run(DotEnv(size=32, max_steps=50), agent, trainer, replay, loop, seed=seed,
        on_episode=on_episode)
    return returns


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=9000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    a = p.parse_args()
    from genreward_cli.memory import keep_freed_memory

    keep_freed_memory()
    train_dot(a.steps, a.seed, report=lambda line: print(line, flush=True), precision=a.precision)


if __name__ == "__main__":
    main()
