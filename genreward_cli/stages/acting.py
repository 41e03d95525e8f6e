"""A DreamerV3 agent acting in an environment, for `train-agent` and `evaluate`.

- ``train``: the training loop (act, store, update at the train ratio) over episodes of a
  gymnasium-style env; resumable from a checkpoint (``save_checkpoint``, ``load_checkpoint``)
  taken at an episode boundary or in the middle of an episode.
- ``run_policy``: evaluation episodes, the policy acting on the mode of its action
  distribution on evaluation scenes (``eval_seed``) apart from the training ones.
- ``returns_summary`` and ``format_returns``: every report's figures and words for a set of
  episodes (mean and std of the return, success rate).

Episode k of a run is reset with seed ``episode_seed(seed, k)``, and acting draws from the
loop's own generators (``agent.loop.Acting``). Checkpoints are taken at episode boundaries
and where a run stops; a run that stops mid-episode keeps the episode in its state
(``LoopState.partial``: the env's state, the reward model's episode so far, the agent's
recurrent state and previous action; the replay already holds the episode's steps), so a run
resumed from any checkpoint continues exactly as the uninterrupted run (on a CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from genreward_cli.agent.loop import (
    Acting, LoopConfig, LoopState, checkpoint_state, latent_to, restore, update_at_ratio,
)
from genreward_cli.errors import BadInput

if TYPE_CHECKING:
    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.replay import Replay

NO_EPISODE = "no episode has finished yet"


def returns_summary(returns, success) -> dict:
    """``episodes``, ``mean`` and ``std`` of ``returns`` and ``success_rate`` (the mean of
    ``success``, bools or per-run rates), as floats computed in float64; the last three are
    None when there is no episode (a run shorter than one episode)."""
    returns, success = np.asarray(returns, np.float64), np.asarray(success, np.float64)
    if not len(returns):
        return {"episodes": 0, "mean": None, "std": None, "success_rate": None}
    return {"episodes": int(len(returns)), "mean": float(returns.mean()),
            "std": float(returns.std()), "success_rate": float(success.mean())}


def format_returns(mean: float | None, std: float | None = None,
                   success: float | None = None) -> str:
    """``return 12.3 +- 4.5, success 40%`` (std and success where given), or ``NO_EPISODE``
    when ``mean`` is None: every report's words for a set of episodes."""
    if mean is None:
        return NO_EPISODE
    text = f"return {figure(mean)}" + (f" +- {figure(std)}" if std is not None else "")
    return text + (f", success {success:.0%}" if success is not None else "")


def figure(x: float) -> str:
    """A return for a report: 3 significant digits under 100 (Meta-World's sparse and short
    returns are often under 1, where one decimal would hide their spread), whole above."""
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


@dataclass
class EvalResult:
    """Evaluation episodes (``run_policy``): dense env returns float32 [N], success bool [N],
    lengths int64 [N], reset seeds int64 [N], and the frames uint8 [T+1, H, W, 3] of each
    episode when recorded."""

    returns: np.ndarray
    success: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray
    frames: list = field(default_factory=list)

    def summary(self) -> dict:
        """Episodes, mean and std of the return, success rate (``returns_summary``)."""
        return returns_summary(self.returns, self.success)


def run_policy(agent: DreamerAgent, env, episodes: int, seed: int = 0, record: bool = False,
               on_step=lambda n: None) -> EvalResult:
    """Run ``episodes`` evaluation episodes of ``env`` with the agent's mode actions; episode
    i is reset with ``eval_seed(seed, i)``. The return is the dense env return
    (``info["env_reward"]`` where the env gives one), whatever reward the agent learned from."""
    import torch

    from genreward_cli.envs.policies import eval_seed

    generator = torch.Generator(device=agent.device).manual_seed(seed)
    returns, success, lengths, seeds, frames = [], [], [], [], []
    for i in range(episodes):
        s = eval_seed(seed, i)
        obs, _ = env.reset(seed=s)
        latent, done, ret, ok, n = None, False, 0.0, False, 0
        video = [obs["image"]] if record else None
        while not done:
            act, latent = agent.policy(obs["image"][None], np.array([bool(obs["is_first"])]),
                                       latent, explore=False, generator=generator)
            obs, reward, term, trunc, info = env.step(act[0])
            ret += float(info.get("env_reward", reward))
            ok = ok or bool(info.get("success", False))
            n += 1
            done = bool(term or trunc)
            if record:
                video.append(obs["image"])
            on_step(1)
        returns.append(ret), success.append(ok), lengths.append(n), seeds.append(s)
        if record:
            frames.append(np.stack(video))
    return EvalResult(np.asarray(returns, np.float32), np.asarray(success, bool),
                      np.asarray(lengths, np.int64), np.asarray(seeds, np.int64), frames)


def train(env, agent: DreamerAgent, trainer: DreamerTrainer, replay: Replay, config: LoopConfig,
          seed: int = 0, rewarder=None,
          on_episode: Callable[[dict], None] = lambda ep: None,
          on_update: Callable[[dict], None] = lambda m: None,
          state: LoopState | None = None,
          on_checkpoint: Callable[[LoopState], None] | None = None,
          on_step: Callable[[int, dict], None] = lambda step, parts: None) -> LoopState:
    """Train until ``config.steps`` env steps (from ``state``, a checkpoint's, if given);
    return the loop's state, resumable.

    ``env`` is gymnasium-style, with dict observations (``image`` uint8 [H, W, 3],
    ``is_first``). ``rewarder`` (an ``OnlineReward``) replaces the env reward the agent
    learns from with a reward model's ``total``; ``on_step(step, components)`` sees every
    step's components. Episodes report the dense env return (``episode/return``, comparable
    across reward models), the learned-from return and each component's sum.
    ``on_checkpoint`` is called at each episode boundary with the resumable state."""
    from genreward_cli.envs.policies import episode_seed

    if state is None:
        state = LoopState(seed=seed)
    acting = Acting(agent, state)
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
            action, latent = acting.act(obs["image"], obs["is_first"], latent,
                                        random=state.step < config.prefill)
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
            update_at_ratio(trainer, replay, state, config, agent.device, on_update)
        if done:
            state.episode += 1
            on_episode({"episode/return": ep["return"], "episode/length": ep["length"],
                        "episode/success": ep["success"], "step": state.step,
                        **{f"episode/reward_{k}": v for k, v in sums.items()}})
            if on_checkpoint is not None:
                on_checkpoint(acting.save(state))
        else:  # stopped mid-episode: keep what continuing it needs
            from genreward_cli.envs.env_state import get_state

            state.partial = {**ep, "obs": obs, "latent": latent, "env": get_state(env),
                             "rewarder": rewarder.state_dict() if rewarder is not None else None}
    return acting.save(state)


def _resume_episode(partial: dict, env, rewarder, device) -> dict:
    """Put ``env`` (just reset to the episode's seed) and ``rewarder`` back where the episode
    stopped; return the episode's counters, last observation and the agent's recurrent state."""
    from genreward_cli.envs.env_state import set_state

    set_state(env, partial["env"])
    if rewarder is not None:
        if partial["rewarder"] is None:
            raise ValueError("the checkpoint's episode was run without a reward model")
        rewarder.load_state_dict(partial["rewarder"])
    return {"obs": partial["obs"], "latent": latent_to(partial["latent"], device),
            "return": partial["return"], "length": partial["length"],
            "success": partial["success"], "sums": dict(partial["sums"])}


def save_checkpoint(path: str | os.PathLike, trainer: DreamerTrainer, replay: Replay,
                    state: LoopState, config: LoopConfig, extra: dict | None = None) -> Path:
    """Weights, optimisers, replay, RNG states (the loop's, and the global ones of Python,
    numpy and torch) and counters (and the caller's ``extra`` state), written atomically to
    ``path`` (``torch.save`` of ``agent.loop.checkpoint_state``); returns ``path``."""
    import torch

    from genreward_cli.store import replacing

    path = Path(path)
    with replacing(path) as tmp:  # removed if interrupted
        torch.save(checkpoint_state(trainer, replay, state, config, extra), tmp)
    return path


def load_checkpoint(path, trainer: DreamerTrainer, replay: Replay, with_extra: bool = False):
    """Restore ``trainer``, ``replay`` and the global RNGs from the checkpoint ``path``;
    return the loop state (and the ``extra`` dict, with ``with_extra``).

    Raises:
        BadInput: one line naming ``path``: a damaged file (emptied, cut short, written
            over) or one whose contents are not this run's checkpoint."""
    import torch

    from genreward_cli.store import brief_error, read_checkpoint

    hint = "the run cannot be resumed from it: train anew with --force"
    data = read_checkpoint(path, hint, weights_only=False)
    try:
        state, extra = restore(data, trainer, replay)
    except torch.OutOfMemoryError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
        raise BadInput(f"{path}: not a checkpoint of this run ({brief_error(e)}); "
                       f"{hint}") from None
    return (state, extra) if with_extra else state
