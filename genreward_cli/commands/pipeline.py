"""`genreward pipeline`: every stage of GenReward for one task, through files, resumable."""

from __future__ import annotations

import json

import click

from genreward_cli.options import debug_option, device_option, json_option, seed_option
from genreward_cli.pipeline import PRESETS


@click.command("pipeline")
@click.option("--task", default="pick-place-v3", show_default=True,
              help="Meta-World v3 task (`genreward tasks` lists all 50).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Pipeline directory: every stage's artifact, the agent run, the figures.")
@click.option("--preset", type=click.Choice(PRESETS), default="tiny", show_default=True,
              help="`tiny`: built-in models with random weights, a small agent, minutes on a "
                   "CPU. `paper`: CogVideoX-5B-I2V, OpenCLIP, DINOv3, the S agent for 1M steps "
                   "(downloads weights; a GPU).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Agent env steps; default 2048 (tiny) or 1000000 (paper).")
@click.option("--reward-mode", type=click.Choice(["dense", "sparse"]), default="dense",
              show_default=True, help="The env reward the agent adds to the generative one.")
@click.option("--videos", type=click.Path(dir_okay=False), default=None,
              help="Domain videos (`videos` from import-videos, e.g. Bridge) to finetune the "
                   "video model on; default: the collected expert episodes.")
@click.option("--force", is_flag=True, help="Run every stage again, finished or not.")
@click.option("--dry-run", is_flag=True, help="Show what would run, and why, and stop.")
@seed_option
@device_option
@json_option
@debug_option
def pipeline(task, out, preset, steps, reward_mode, videos, force, dry_run, seed, device, as_json):
    """Run GenReward end to end for one task (paper Fig. 2, Algorithm 1).

    collect expert -> finetune -> generate -> select-frame -> encode-goal -> collect random
    -> train-fb -> train-agent -> evaluate, each stage a `genreward` command on the files of
    the one before it. Stages whose output is up to date (same command, same inputs) are
    skipped; finetune and train-agent resume from their checkpoints. Ends with a report:
    where everything is, the goal frame, the evaluation.

    \b
      genreward pipeline --task pick-place-v3 --out runs/demo
      genreward pipeline --task pick-place-v3 --out runs/paper --preset paper --device cuda
    """
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from genreward_cli.envs.tasks import check_task
    from genreward_cli.evaluate import NO_EPISODE, format_returns
    from genreward_cli.pipeline import plan_status, run_stage, stages, status

    check_task(task)
    root = Path(out)
    if root.exists() and not root.is_dir():
        from genreward_cli.errors import BadInput

        raise BadInput(f"{root}: is a file; --out names a directory")
    if videos:
        videos = str(Path(videos).resolve())
    plan = stages(task, preset, seed=seed, steps=steps, reward_mode=reward_mode, videos=videos,
                  device=device)
    console = Console(stderr=True)
    root.mkdir(parents=True, exist_ok=True)
    report = []
    if dry_run:
        for stage, (mode, why) in zip(plan, plan_status(plan, root)):
            report.append({"stage": stage.name, "action": mode, "why": why, "seconds": 0.0})
        _print_plan(console, report)
        return
    for stage in plan:
        mode, why = ("run", "--force") if force else status(stage, root)
        if mode == "done":
            console.print(f"[dim]skip {stage.name}: {why}[/dim]")
            report.append({"stage": stage.name, "action": "skipped", "why": why, "seconds": 0.0})
            continue
        console.rule(f"{stage.name} ({why})")
        seconds = run_stage(stage, root, mode)
        report.append({"stage": stage.name, "action": "resumed" if mode == "resume" else "ran",
                       "why": why, "seconds": round(seconds, 1)})
    run_stage_plain(root, ["evaluate", "--compare", "agent", "--plot", "curves.png",
                           "--csv", "curves.csv"])
    summary = _summary(root, plan, report)
    if as_json:
        click.echo(json.dumps(summary))
        return
    table = Table(title=f"genreward pipeline: {task} ({preset})")
    for col in ("stage", "action", "seconds", "output"):
        table.add_column(col)
    for row, stage in zip(report, plan):
        table.add_row(row["stage"], row["action"], f"{row['seconds']:.0f}",
                      ", ".join([stage.marker, *stage.outputs]))
    console.print(table)
    g, e = summary["goal_frame"], summary["eval"]
    console.print(f"goal frame: index {g['index']} of the generated video, CLIP score "
                  f"{g['score']:.3f} ({root / 'goal_frame_scores.png'})")
    console.print(f"evaluation over {e['episodes']} episodes: "
                  f"{format_returns(e['mean'], e['std'], e['success_rate'])} "
                  f"({root / 'rollouts.mp4'})")
    a = summary["agent"]
    curve = (f"{root / 'curves.png'}" if a["episodes"] else
             f"none yet, {NO_EPISODE} in training ({a['steps']} steps of "
             f"{a['episode_steps']}-step episodes)")
    console.print(f"learning curve: {curve}; goal video: {root / 'goal_video.mp4'}")


def run_stage_plain(root, argv):
    from genreward_cli.pipeline import Stage, run_stage

    run_stage(Stage(argv[0], argv, "", ""), root, "run")


def _print_plan(console, report):
    for row in report:
        console.print(f"{row['action']:>7}  {row['stage']:<15} {row['why']}")


def _summary(root, plan, report) -> dict:
    from genreward_cli import artifacts
    from genreward_cli.evaluate import returns_summary

    with artifacts.open_artifact(root / "goal_frame.h5", "goal_frame") as art:
        index = int(art.attrs["index"])
        goal = {"index": index, "score": float(art.file["scores"][index])}
    with artifacts.open_artifact(root / "eval.h5", "eval") as art:
        ev = returns_summary(art.file["return"][()], art.file["success"][()])
    with artifacts.open_artifact(root / "agent" / "log.h5", "agent_log") as art:
        # a run shorter than one episode has none: its learning curve is empty
        agent = {"steps": int(art.attrs["steps"]), "episodes": len(art.file["episodes/return"]),
                 "episode_steps": json.loads(art.attrs["env_config"])["max_steps"]}
    return {"out": str(root), "stages": report, "goal_frame": goal, "eval": ev, "agent": agent,
            "files": {s.name: [s.marker, *s.outputs] for s in plan}
            | {"curves": ["curves.png", "curves.csv"]}}
