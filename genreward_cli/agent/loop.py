"""The DreamerV3 training loop: act, store, and update at a fixed train ratio; resumable.

Updates per env step = train_ratio / (batch * length): with Table A's ratio 512 and 16 x 64
batches, one update every two env steps. The first ``prefill`` steps use random actions.

Episode k is reset with seed ``episode_seed(seed, k)`` and acting draws from the loop's own
generators. Checkpoints are taken at episode boundaries and where a run stops; a run that
stops mid-episode keeps the episode in its state (``LoopState.partial``: the env's state, the
reward model's episode so far, the agent's recurrent state and previous action; the replay
already holds the episode's steps), so a run resumed from any checkpoint continues exactly as
the uninterrupted run (on a CPU).
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
from genreward_cli.envs.env_state import get_state as get_env_state, set_state as set_env_state
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
    # a run stopped mid-episode: the episode so far (its last observation, the agent's
    # recurrent state and previous action, its sums, the env's and the reward's state);
    # None at an episode boundary
    partial: dict | None = None


def save_checkpoint(path: str | os.PathLike, trainer: DreamerTrainer, replay: Replay,
                    state: LoopState, config: LoopConfig, extra: dict | None = None) -> Path:
    """Weights, optimisers, replay, RNG states (the loop's, and the global ones of Python,
    numpy and torch) and counters (and the caller's ``extra`` state), written atomically."""
    from genreward_cli.store import replacing

    path = Path(path)
    with replacing(path) as tmp:  # removed if interrupted
        torch.save({"trainer": trainer.state_dict(), "replay": replay.state_dict(),
                    "loop": asdict(state), "config": asdict(config), "rng": global_rng_state(),
                    "extra": extra or {}}, tmp)
    return path


def load_checkpoint(path, trainer: DreamerTrainer, replay: Replay,
                    with_extra: bool = False):
    """Restore ``trainer``, ``replay`` and the global RNGs; return the loop state (and the
    ``extra`` dict)."""
    data = torch.load(path, map_location="cpu", weights_only=False)
    trainer.load_state_dict(data["trainer"])
    replay.load_state_dict(data["replay"])
    if "rng" in data:
        set_global_rng_state(data["rng"])
    state = LoopState(**data["loop"])
    return (state, data.get("extra", {})) if with_extra else state


def global_rng_state() -> dict:
    """The states of the process-wide generators (Python's, numpy's, torch's CPU and CUDA)."""
    import random

    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None}


def set_global_rng_state(state: dict) -> None:
    """Restore ``global_rng_state``; the CUDA states only onto as many devices as saved them."""
    import random

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


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
        if state.partial is not None:  # a run stopped mid-episode: continue that episode
            ep = _resume_episode(state.partial, env, rewarder, agent.device)
            state.partial = None
        else:
            if rewarder is not None:
                rewarder.reset(obs)
            replay.add(obs["image"], np.zeros(agent.action_dim, np.float32), 0.0, True, False)
            ep = {"obs": obs, "latent": None, "return": 0.0, "length": 0, "success": False,
                  "sums": {}}
        obs, latent, sums, done = ep["obs"], ep["latent"], ep["sums"], False
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
                parts = rewarder.step(obs, action, float(reward), env_reward, done,
                                      success=bool(info.get("success", False)))
            else:
                parts = {"env": float(reward), "total": float(reward)}
            replay.add(obs["image"], action, float(parts["total"]), False, bool(term))
            for name, v in parts.items():
                sums[name] = sums.get(name, 0.0) + v
            ep["return"] += env_reward
            ep["length"] += 1
            ep["success"] = ep["success"] or bool(info.get("success", False))
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
            on_episode({"episode/return": ep["return"], "episode/length": ep["length"],
                        "episode/success": ep["success"], "step": state.step,
                        **{f"episode/reward_{k}": v for k, v in sums.items()}})
            if on_checkpoint is not None:
                on_checkpoint(snapshot())
        else:  # stopped mid-episode: keep what continuing it needs
            state.partial = {**ep, "obs": obs, "latent": latent, "env": get_env_state(env),
                             "rewarder": rewarder.state_dict() if rewarder is not None else None}
    return snapshot()


def _resume_episode(partial: dict, env, rewarder, device) -> dict:
    """Put ``env`` (just reset to the episode's seed) and ``rewarder`` back where the episode
    stopped; return the episode's counters, last observation and the agent's recurrent state."""
    set_env_state(env, partial["env"])
    if rewarder is not None:
        if partial["rewarder"] is None:
            raise ValueError("the checkpoint's episode was run without a reward model")
        rewarder.load_state_dict(partial["rewarder"])
    latent = partial["latent"]
    if latent is not None:  # (RSSM state, previous action), on the agent's device
        rssm, action = latent
        latent = ({k: v.to(device) for k, v in rssm.items()}, action.to(device))
    return {"obs": partial["obs"], "latent": latent, "return": partial["return"],
            "length": partial["length"], "success": partial["success"],
            "sums": dict(partial["sums"])}
