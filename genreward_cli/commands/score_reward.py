"""`genreward score-reward`: judge a reward model offline on recorded episodes."""

from __future__ import annotations

import click

from genreward_cli.options import (
    UserPath, debug_option, device_option, emit, force_option, json_option, out_option,
)
from genreward_cli.commands.reward_options import reward_options


@click.command("score-reward")
@click.argument("episodes", nargs=-1, required=True, type=UserPath(dir_okay=False))
@reward_options
@click.option("--plot", type=UserPath(dir_okay=False), default=None,
              help="Write a figure (png/jpg/pdf/svg): model return against env return, "
                   "expert vs random.")
@out_option("Output `reward_score` artifact (.h5).")
@device_option
@force_option
@json_option
@debug_option
def score_reward(episodes, plot, out, device, force, as_json, **options):
    """Run a reward model over recorded episodes and report how well it ranks them.

    A quick check of a reward before a long training run: the ROC-AUC with which its
    per-episode return separates scripted-expert from random episodes, and its Spearman
    correlation with the env return.

    \b
      genreward score-reward --reward genreward --goal goal.h5 --fb fb.h5 expert.h5 random.h5 \\
          --out score.h5 --plot score.png
    """
    from genreward_cli.stages import score_reward as stage

    from genreward_cli.store import output_lock

    with output_lock(out, plot):  # a second writer of the same outputs is refused at once
        emit(stage.run(episodes, options, out=out, plot=plot, device=device, force=force), as_json)
