"""`genreward train-fb`: learn forward-backward representations on recorded episodes."""

from __future__ import annotations

import click

from genreward_cli import config as cfg
from genreward_cli.fb.model import FBConfig
from genreward_cli.fb.trainer import FBTrainConfig
from genreward_cli.options import (
    UserPath, debug_option, device_option, emit, force_option, json_option, out_option,
    seed_option,
)


@click.command("train-fb")
@click.argument("inputs", nargs=-1, required=True, type=UserPath(dir_okay=False))
@click.option("--steps", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Updates (Table A: 1e5).")
@cfg.click_options(FBConfig, exclude=("obs_dim", "action_dim", "discrete_actions"))
@cfg.click_options(FBTrainConfig)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Write OUT.ckpt.pt (resumable) every N updates.")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt.pt, with the same inputs and "
              "options (--steps, --checkpoint-every and --device may change).")
@out_option("Output `fb` artifact (.h5).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def train_fb(inputs, steps, checkpoint_every, resume, out, seed, device, force, as_json, **options):
    """Train F and B on transitions of `episodes` files, in the goal's DINOv3 state space.

    INPUTS are one or more `episodes` artifacts (random, expert or agent data) and exactly one
    `goal` artifact from `encode-goal`, whose image encoder embeds every frame once.

    \b
      genreward train-fb random.h5 expert.h5 goal.h5 --out fb.h5 --steps 100000
    """
    from genreward_cli.options import resolve_device
    from genreward_cli.stages import train_fb as stage

    from genreward_cli.store import output_lock

    with output_lock(out):  # a second writer of the same --out is refused at once
        emit(stage.run(inputs, out=out, fb_config=cfg.build(FBConfig, cfg.pick(FBConfig, options)),
                       train_config=cfg.build(FBTrainConfig, cfg.pick(FBTrainConfig, options)),
                       steps=steps, checkpoint_every=checkpoint_every, resume=resume, seed=seed,
                       device=resolve_device(device), force=force), as_json)
