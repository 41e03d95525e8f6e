"""The `collect` stage: record Meta-World episodes (random or scripted expert) as an
`episodes` artifact."""

from __future__ import annotations

import os
import time

from genreward_cli import config as cfg
from genreward_cli import store
from genreward_cli.envs.config import EnvConfig
from genreward_cli.progress import counted, progress_bar
from genreward_cli.stages import Report


def run(env_config: EnvConfig, *, policy: str = "random", episodes: int = 10, workers: int = 1,
        seed: int = 0, out: str | os.PathLike, force: bool = False) -> Report:
    """Record ``episodes`` episodes of ``env_config.task`` with ``policy`` (`random` or
    `expert`) into the `episodes` artifact ``out`` (images u8 [T+1,H,W,3], state, action,
    reward, env_reward, success per episode; see docs/artifacts.md). Episode i is seeded from
    (``seed``, i), so the file is the same whatever ``workers`` is.

    Raises BadInput (exit code 2) for an unknown task or an existing ``out`` without ``force``.
    """
    from genreward_cli.envs.rollout import collect as rollouts
    from genreward_cli.envs.tasks import check_task, describe

    check_task(env_config.task)
    store.check_output(out, force)
    if env_config.reward_mode == "sparse" and env_config.max_steps < env_config.sparse_interval:
        import warnings

        warnings.warn(f"--reward-mode sparse: episodes of {env_config.max_steps} steps end "
                      f"before the first sparse reward (every {env_config.sparse_interval} "
                      "steps), so every `reward` is 0; `env_reward` keeps the dense one")
    config = cfg.to_json(env_config, policy=policy, episodes=episodes, workers=workers, seed=seed)
    prompt = describe(env_config.task)

    returns, successes, steps = [], [], 0
    start = time.perf_counter()
    with store.write_artifact(out, "episodes", config=config, force=force) as h5, \
            progress_bar(episodes * env_config.max_steps, f"collect {policy}") as advance:
        h5.attrs["task"] = env_config.task
        h5.attrs["prompt"] = prompt
        group = h5.create_group("episodes")
        for ep in rollouts(env_config, policy, episodes, seed=seed, workers=workers,
                           on_step=advance):
            g = group.create_group(f"{ep.index:06d}")
            store.frames_dataset(g, "image", ep.image)
            for name in ("state", "action", "reward", "env_reward", "success"):
                store.array_dataset(g, name, getattr(ep, name))
            g.attrs.update(task=env_config.task, seed=ep.seed, prompt=prompt, policy=policy)
            returns.append(float(ep.env_reward.sum()))
            successes.append(bool(ep.success.any()))
            steps += ep.length
    elapsed = time.perf_counter() - start
    summary = {
        "out": str(out),
        "task": env_config.task,
        "policy": policy,
        "seed": seed,
        "episodes": episodes,
        "mean_return": sum(returns) / len(returns),
        "success_rate": sum(successes) / len(successes),
        "steps_per_s": steps / elapsed,
    }
    line = (f"wrote {out}: {counted(episodes, policy + ' episode')} of {env_config.task}, "
            f"mean return {summary['mean_return']:.1f}, success {summary['success_rate']:.0%}, "
            f"{summary['steps_per_s']:.0f} steps/s")
    return Report(line, summary)
