"""The DreamerV3 training loop: act, store, and update at a fixed train ratio; resumable.

Updates per env step = train_ratio / (batch * length): with Table A's ratio 512 and 16 x 64
batches, one update every two env steps. The first ``prefill`` steps use random actions.

Episode k is reset with seed ``episode_seed(seed, k)``, acting draws from the loop's own
generators, and checkpoints are taken at episode boundaries, so a run resumed from a
checkpoint continues exactly as the uninterrupted run (on a CPU).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
from genreward_cli.agent.replay import Replay
from genreward_cli.config import option
from genreward_cli.envs.policies import episode_seed


@dataclass(frozen=True)
class LoopConfig:
    """How the agent trains: Table A's replay and train ratio."""

    steps: int = option(10_000, "Env steps to train for (the total: a resumed run counts on).",
                        minimum=1)
    train_ratio: float = option(512.0, "Replayed steps per env step (Table A: 512).", minimum=0)
    batch: int = option(16, "Sequences per update (Table A: 16).", minimum=1)
    length: int = option(64, "Steps per sequence (Table A: 64).", minimum=2)
    prefill: int = option(5000, "Env steps of random actions before training starts.", minimum=0)
    capacity: int = option(1_000_000, "Replay capacity in steps (Table A: 1e6).", minimum=2)


@dataclass
class LoopState:
    step: int = 0
    episode: int = 0
    owed: float = 0.0
    seed: int = 0
    np_rng: dict = field(default_factory=dict)
    act_rng: object = None


def save_checkpoint(path: str | os.PathLike, trainer: DreamerTrainer, replay: Replay,
                    state: LoopState, config: LoopConfig, extra: dict | None = None) -> Path:
    """Weights, optimisers, replay, RNG states and counters (and the caller's ``extra``
    state), written atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"trainer": trainer.state_dict(), "replay": replay.state_dict(),
                "loop": asdict(state), "config": asdict(config), "extra": extra or {}}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path, trainer: DreamerTrainer, replay: Replay,
                    with_extra: bool = False):
    """Restore ``trainer`` and ``replay``; return the loop state (and the ``extra`` dict)."""
    data = torch.load(path, map_location="cpu", weights_only=False)
    trainer.load_state_dict(data["trainer"])
    replay.load_state_dict(data["replay"])
    state = LoopState(**data["loop"])
    return (state, data.get("extra", {})) if with_extra else state


def run(env, agent: DreamerAgent, trainer: DreamerTrainer, replay: Replay, config: LoopConfig,
        seed: int = 0, rewarder=None,
        on_episode: Callable[[dict], None] = lambda ep: None,
        on_update: Callable[[dict], None] = lambda m: None,
        state: LoopState | None = None,
        on_checkpoint: Callable[[LoopState], None] | None = None,
        on_step: Callable[[int, dict], None] = lambda step, parts: None) -> LoopState:
    """Train until ``config.steps`` env steps.

    ``rewarder`` (an ``OnlineReward``) replaces the env reward the agent learns from with a
    reward model's ``total``; ``on_step(step, components)`` sees every step's components.
    Episodes report the dense env return (``episode/return``, comparable across reward
    models), the learned-from return and each component's sum. ``on_checkpoint`` is called
    at each episode boundary with the resumable state."""
    if state is None:
        state = LoopState(seed=seed)
        rng = np.random.default_rng(seed)
        act_rng = torch.Generator(device=agent.device).manual_seed(seed)
    else:
        rng = np.random.default_rng()
        rng.bit_generator.state = state.np_rng
        act_rng = torch.Generator(device=agent.device)
        act_rng.set_state(state.act_rng.cpu())
    per_step = config.train_ratio / (config.batch * config.length)

    def snapshot():
        state.np_rng = rng.bit_generator.state
        state.act_rng = act_rng.get_state()
        return state

    while state.step < config.steps:
        obs, info = env.reset(seed=episode_seed(state.seed, state.episode))
        if rewarder is not None:
            rewarder.reset(obs)
        replay.add(obs["image"], np.zeros(agent.action_dim, np.float32), 0.0, True, False)
        latent, ep_return, ep_len, ep_success, done = None, 0.0, 0, False, False
        sums: dict[str, float] = {}
        while not done and state.step < config.steps:
            if state.step < config.prefill:
                action = rng.uniform(-1, 1, agent.action_dim).astype(np.float32)
            else:
                acts, latent = agent.policy(obs["image"][None], np.array([bool(obs["is_first"])]),
                                            latent, generator=act_rng)
                action = acts[0]
            obs, reward, term, trunc, info = env.step(action)
            done = bool(term or trunc)
            env_reward = float(info.get("env_reward", reward))
            if rewarder is not None:
                parts = rewarder.step(obs, action, float(reward), env_reward, done)
            else:
                parts = {"env": float(reward), "total": float(reward)}
            replay.add(obs["image"], action, float(parts["total"]), False, bool(term))
            for name, v in parts.items():
                sums[name] = sums.get(name, 0.0) + v
            ep_return += env_reward
            ep_len += 1
            ep_success = ep_success or bool(info.get("success", False))
            on_step(state.step, parts)
            state.step += 1
            if state.step >= config.prefill and len(replay) >= config.length:
                state.owed += per_step
                while state.owed >= 1.0:
                    state.owed -= 1.0
                    on_update(trainer.update(replay.sample(config.batch, config.length,
                                                           agent.device)))
        if done:
            state.episode += 1
            on_episode({"episode/return": ep_return, "episode/length": ep_len,
                        "episode/success": ep_success, "step": state.step,
                        **{f"episode/reward_{k}": v for k, v in sums.items()}})
            if on_checkpoint is not None:
                on_checkpoint(snapshot())
    return snapshot()
