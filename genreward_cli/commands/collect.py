"""`genreward collect`: record Meta-World episodes (random or scripted expert) to HDF5."""

from __future__ import annotations

import click

from genreward_cli import config as cfg
from genreward_cli.envs.config import EnvConfig
from genreward_cli.envs.policies import POLICIES
from genreward_cli.options import (
    debug_option, emit, force_option, json_option, out_option, seed_option,
)


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
    from genreward_cli.stages import collect as stage

    env_config = cfg.build(EnvConfig, env_options)
    emit(stage.run(env_config, policy=policy, episodes=episodes, workers=workers, seed=seed,
                   out=out, force=force), as_json)
