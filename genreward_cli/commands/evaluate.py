"""`genreward evaluate`: run a trained policy, or compare the learning curves of runs."""

from __future__ import annotations

import json

import click

from genreward_cli.options import debug_option, device_option, force_option, json_option, seed_option


@click.command("evaluate")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True,
              help="Evaluation episodes (the paper: 10).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output `eval` artifact (.h5); required unless --compare.")
@click.option("--video", type=click.Path(dir_okay=False), default=None,
              help="Write the rollouts, one after another, as mp4 or gif.")
@click.option("--compare", is_flag=True,
              help="Compare RUNS: learning curves (mean and std across seeds) and final returns.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="With --compare: the learning-curve figure (png/pdf/svg).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
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

    if compare:
        if out or video:
            raise BadInput("--compare writes a --plot and a --csv, not --out or --video")
        return _compare(runs, plot, csv_path, force, as_json)
    if plot or csv_path:
        raise BadInput("--plot and --csv go with --compare")
    if len(runs) != 1:
        raise BadInput(f"give one run to evaluate (got {len(runs)}), or --compare several")
    if out is None:
        raise BadInput("--out is required: the `eval` artifact to write")
    _evaluate(runs[0], episodes, out, video, seed, device, force, as_json)


def _evaluate(run, episodes, out, video, seed, device, force, as_json):
    import numpy as np

    from genreward_cli import store, media
    from genreward_cli.envs import EnvConfig
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv
    from genreward_cli.evaluate import (
        NO_EPISODE, format_returns, load_agent, log_path, run_policy,
    )
    from genreward_cli.options import resolve_device
    from genreward_cli.progress import progress_bar

    inputs = [run, log_path(run)]
    store.check_output(out, force, inputs)
    if video:
        store.check_output(media.check_video_path(video), force, inputs)
    device = resolve_device(device)
    with store.open_artifact(log_path(run), "agent_log") as art:
        agent = load_agent(art, device)
        env_config = EnvConfig(**json.loads(art.attrs["env_config"]))
        meta = {"task": str(art.attrs["task"]), "reward": str(art.attrs["reward"]),
                "step": int(art.attrs["steps"])}
        trained = len(art.file["episodes/return"])
        parents = [art.ref()]
    env = MetaWorldPixelEnv(env_config)
    try:
        with progress_bar(episodes * env_config.max_steps, f"evaluate {meta['task']}") as advance:
            res = run_policy(agent, env, episodes, seed=seed, record=bool(video), on_step=advance)
    finally:
        env.close()
    s = res.summary()
    config = {"run": store.record_path(run), "episodes": episodes, "seed": seed,
              "device": device}
    with store.write_artifact(out, "eval", config=config, parents=parents, force=force) as h5:
        store.array_dataset(h5, "return", res.returns)
        store.array_dataset(h5, "success", res.success)
        store.array_dataset(h5, "length", res.lengths)
        store.array_dataset(h5, "seed", res.seeds)
        h5.attrs.update(mean=s["mean"], std=s["std"], success_rate=s["success_rate"], **meta)
    if video:
        media.write_video(video, np.concatenate(res.frames), fps=20)
    summary = {"out": str(out), **meta, **s, "video": video, "training_episodes": trained}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        note = "" if trained else f"; in training, {NO_EPISODE}"
        click.echo(f"wrote {out}: {meta['task']} ({meta['reward']}, {meta['step']} steps): "
                   f"{format_returns(s['mean'], s['std'])} over {episodes} episodes, success "
                   f"{s['success_rate']:.0%}{note}", err=True)


def _compare(runs, plot, csv_path, force, as_json):
    import csv

    from rich.console import Console
    from rich.table import Table

    from genreward_cli import store, media
    from genreward_cli.evaluate import NO_EPISODE, aggregate, log_path, plot_curves, read_run

    inputs = [*runs, *(log_path(r) for r in runs)]
    if plot:
        store.check_output(media.check_image_path(plot), force, inputs)
    if csv_path:
        store.check_output(csv_path, force, inputs)
    groups = aggregate([read_run(r) for r in runs])
    # a group whose runs have no finished episode yet has no final step or figures (None)
    rows = [{"task": g["task"], "mode": g["mode"], "method": g["method"],
             "episode_steps": g["episode_steps"], "seeds": g["seeds"], "runs": len(g["runs"]),
             "step": int(g["steps"][-1]) if len(g["steps"]) else None,
             "return_mean": g["final_mean"],
             "return_std": g["final_std"], "success": g["final_success"], "source": g["source"],
             **{f"share_{n}": v for n, v in g["shares"].items()}}
            for g in groups]
    share_names = sorted({k for r in rows for k in r if k.startswith("share_")})
    for r in rows:  # one set of CSV columns for every method (empty where a method has none)
        for k in share_names:
            r.setdefault(k, None)
    if plot:
        plot_curves(plot, groups)
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if as_json:
        from genreward_cli.metrics import json_safe

        click.echo(json.dumps(json_safe({"plot": plot, "csv": csv_path, "rows": rows})))
        return
    table = Table(title="final return (mean +- std across seeds)")
    numbers = ("ep. steps", "seeds", "runs", "step", "return", "success")
    for col in ("task", "mode", "method", *numbers):
        table.add_column(col, justify="right" if col in numbers else "left")
    table.add_column("share of the learned return")

    from genreward_cli.rewards.accounting import percent

    def shares(r):
        return ", ".join(f"{k[6:]} {percent(r[k])}" for k in share_names
                         if r[k] is not None and k != "share_env") or "-"

    for r in rows:
        first = (r["task"], r["mode"], r["method"],
                 "-" if r["episode_steps"] is None else str(r["episode_steps"]),
                 str(r["seeds"]), str(r["runs"]))
        if r["return_mean"] is None:
            table.add_row(*first, "-", NO_EPISODE, "-", shares(r))
            continue
        table.add_row(*first, str(r["step"]), f"{r['return_mean']:.1f} +- {r['return_std']:.1f}",
                      f"{r['success']:.0%}", shares(r))
    console = Console(stderr=True)
    console.print(table)
    for r in rows:  # in full, where the table's cell may wrap it
        if r["return_mean"] is None:
            length = "" if r["episode_steps"] is None else f", {r['episode_steps']}-step episodes"
            console.print(f"{r['method']} on {r['task']} ({r['mode']}{length}): {NO_EPISODE} in "
                          f"its {r['runs']} run(s)", soft_wrap=True)
    if plot:
        click.echo(f"wrote {plot}", err=True)
