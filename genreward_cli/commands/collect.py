"""`genreward collect`: record Meta-World episodes (random or scripted expert) to HDF5."""

from __future__ import annotations

import json
import time

import click

from genreward_cli import config as cfg
from genreward_cli.envs.config import EnvConfig
from genreward_cli.envs.policies import POLICIES
from genreward_cli.options import debug_option, force_option, json_option, out_option, seed_option
from genreward_cli.progress import progress_bar


@click.command()
@cfg.click_options(EnvConfig)
@click.option(
    "--policy", type=click.Choice(POLICIES), default="random", show_default=True,
    help="`random`: uniform actions; `expert`: Meta-World's scripted policy.",
)
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of episodes.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Environments in parallel, one process each.")
@out_option("Output `episodes` artifact (.h5).")
@seed_option
@force_option
@json_option
@debug_option
def collect(policy, episodes, workers, out, seed, force, as_json, **env_options):
    """Record episodes of a Meta-World task as an `episodes` artifact.

    Episode i is seeded from (--seed, i), so a run is reproducible whatever --workers is.

    \b
      genreward collect --task pick-place-v3 --policy expert --episodes 5 --out expert.h5
    """
    from genreward_cli import store
    from genreward_cli.envs.rollout import collect as run
    from genreward_cli.envs.tasks import check_task, describe

    env_config = cfg.build(EnvConfig, env_options)
    check_task(env_config.task)
    store.check_output(out, force)
    config = cfg.to_json(env_config, policy=policy, episodes=episodes, workers=workers, seed=seed)
    prompt = describe(env_config.task)

    returns, successes, steps = [], [], 0
    start = time.perf_counter()
    with store.write_artifact(out, "episodes", config=config, force=force) as h5, \
            progress_bar(episodes * env_config.max_steps, f"collect {policy}") as advance:
        h5.attrs["task"] = env_config.task
        h5.attrs["prompt"] = prompt
        group = h5.create_group("episodes")
        for ep in run(env_config, policy, episodes, seed=seed, workers=workers, on_step=advance):
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
        "episodes": episodes,
        "mean_return": sum(returns) / len(returns),
        "success_rate": sum(successes) / len(successes),
        "steps_per_s": steps / elapsed,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"wrote {out}: {episodes} {policy} episodes of {env_config.task}, mean return "
            f"{summary['mean_return']:.1f}, success {summary['success_rate']:.0%}, "
            f"{summary['steps_per_s']:.0f} steps/s",
            err=True,
        )
