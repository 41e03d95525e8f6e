import math

import numpy as np

from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
from genreward_cli.agent.behavior import BehaviorConfig
from genreward_cli.agent.config import preset
from genreward_cli.agent.loop import LoopConfig, run
from genreward_cli.agent.replay import Replay
from genreward_cli.envs.dummy import DotEnv


def test_tiny_dreamer_runs_its_loop_at_the_train_ratio():
    """Prefill, then act and update: the number of updates follows the train ratio."""
    import torch

    torch.manual_seed(0)
    env = DotEnv(size=64, max_steps=20)
    agent = DreamerAgent(preset("tiny"), action_dim=2, behavior=BehaviorConfig(horizon=5))
    trainer = DreamerTrainer(agent)
    config = LoopConfig(steps=120, train_ratio=32, batch=4, length=8, prefill=40, capacity=500)
    replay = Replay(config.capacity, (64, 64, 3), 2)
    episodes, updates = [], []
    run(env, agent, trainer, replay, config, on_episode=episodes.append, on_update=updates.append)
    assert len(episodes) == 6 and all(e["episode/length"] == 20 for e in episodes)
    # 81 steps from the end of prefill at 32 / (4 * 8) = 1 update per step
    assert trainer.updates == 81 == len(updates)
    assert all(math.isfinite(v) for m in updates for v in m.values())
    assert {"train/image", "train/actor", "train/critic", "train/return"} <= set(updates[-1])
    assert replay.image.dtype == np.uint8 and len(replay) == 120 + 6 + 1  # + reset observations
    actions, _ = agent.policy(np.zeros((3, 64, 64, 3), np.uint8), np.ones(3, bool))
    assert actions.shape == (3, 2) and np.abs(actions).max() <= 1
