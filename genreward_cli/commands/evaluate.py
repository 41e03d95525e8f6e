"""`genreward evaluate`: run a trained policy, or compare the learning curves of runs."""

from __future__ import annotations

import click

from genreward_cli.options import (
    UserPath, debug_option, device_option, emit, force_option, json_option, resolve_device,
    seed_option,
)


@click.command("evaluate")
@click.argument("runs", nargs=-1, required=True, type=UserPath())
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True,
              help="Evaluation episodes (the paper: 10).")
@click.option("--out", type=UserPath(dir_okay=False), default=None,
              help="Output `eval` artifact (.h5); required unless --compare.")
@click.option("--video", type=UserPath(dir_okay=False), default=None,
              help="Write the rollouts, one after another, as mp4 or gif.")
@click.option("--compare", is_flag=True,
              help="Compare RUNS: learning curves (mean and std across seeds) and final returns.")
@click.option("--plot", type=UserPath(dir_okay=False), default=None,
              help="With --compare: the learning-curve figure (png/jpg/pdf/svg).")
@click.option("--csv", "csv_path", type=UserPath(dir_okay=False), default=None,
              help="With --compare: the table of final returns as CSV.")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def evaluate(runs, episodes, out, video, compare, plot, csv_path, seed, device, force, as_json):
    """Evaluate a `train-agent` run, or compare several.

    A run is its directory (or its log.h5). The policy acts on the mode of its action
    distribution on evaluation scenes apart from the training ones; the return is the dense
    env return, whatever reward the agent learned from.

    \b
      genreward evaluate runs/pick-place/genreward/0 --episodes 10 --out eval.h5 --video rollouts.mp4
      genreward evaluate --compare runs/pick-place/*/* --plot curves.png --csv final.csv
    """
    from genreward_cli.errors import BadInput
    from genreward_cli.stages import evaluate as stage

    if compare:
        if out or video:
            raise BadInput("--compare writes a --plot and a --csv, not --out or --video")
        from genreward_cli.store import output_lock

        with output_lock(plot, csv_path):  # a second writer of the same files is refused
            return emit(stage.compare(runs, plot=plot, csv_path=csv_path, force=force), as_json)
    if plot or csv_path:
        raise BadInput("--plot and --csv go with --compare")
    if len(runs) != 1:
        raise BadInput(f"give one run to evaluate (got {len(runs)}), or --compare several")
    if out is None:
        raise BadInput("--out is required: the `eval` artifact to write")
    from genreward_cli.store import output_lock

    with output_lock(out, video):  # a second writer of the same outputs is refused at once
        emit(stage.run(runs[0], out=out, episodes=episodes, video=video, seed=seed,
                       device=resolve_device(device), force=force), as_json)
