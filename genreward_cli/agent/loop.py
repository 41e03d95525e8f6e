"""The DreamerV3 training loop: act, store, and update at a fixed train ratio.

Updates per env step = train_ratio / (batch * length): with Table A's ratio 512 and 16 x 64
batches, one update every two env steps. The first ``prefill`` steps use random actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
from genreward_cli.agent.replay import Replay


@dataclass(frozen=True)
class LoopConfig:
    steps: int = 10_000
    train_ratio: float = 512.0
    batch: int = 16
    length: int = 64
    prefill: int = 5000
    capacity: int = 1_000_000


def run(env, agent: DreamerAgent, trainer: DreamerTrainer, replay: Replay, config: LoopConfig,
        seed: int = 0, reward_fn: Callable | None = None,
        on_episode: Callable[[dict], None] = lambda ep: None,
        on_update: Callable[[dict], None] = lambda m: None) -> None:
    """Train for ``config.steps`` env steps. ``reward_fn(obs, reward, info)`` may replace the
    env reward the agent learns from (the hook for reward models)."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    state, ep_return, ep_len, ep_success = None, 0.0, 0, False
    action = np.zeros(agent.action_dim, np.float32)
    replay.add(obs["image"], action, 0.0, True, False)
    per_step = config.train_ratio / (config.batch * config.length)
    owed = 0.0
    for step in range(config.steps):
        if step < config.prefill:
            action = rng.uniform(-1, 1, agent.action_dim).astype(np.float32)
        else:
            acts, state = agent.policy(obs["image"][None], np.array([bool(obs["is_first"])]), state)
            action = acts[0]
        obs, reward, term, trunc, info = env.step(action)
        learn_reward = reward_fn(obs, reward, info) if reward_fn else reward
        replay.add(obs["image"], action, float(learn_reward), False, bool(term))
        ep_return += float(info.get("env_reward", reward))
        ep_len += 1
        ep_success = ep_success or bool(info.get("success", False))
        if term or trunc:
            on_episode({"episode/return": ep_return, "episode/length": ep_len,
                        "episode/success": ep_success, "step": step + 1})
            obs, info = env.reset()
            replay.add(obs["image"], np.zeros_like(action), 0.0, True, False)
            state, ep_return, ep_len, ep_success = None, 0.0, 0, False
        if step + 1 >= config.prefill and len(replay) >= config.length:
            owed += per_step
            while owed >= 1.0:
                owed -= 1.0
                on_update(trainer.update(replay.sample(config.batch, config.length,
                                                       agent.device)))
