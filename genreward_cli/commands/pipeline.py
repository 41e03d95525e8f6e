"""`genreward pipeline`: every stage of GenReward for one task, through files, resumable."""

from __future__ import annotations

import json

import click

from genreward_cli.options import debug_option, device_option, json_option, seed_option
from genreward_cli.pipeline import METHODS, PRESETS
from genreward_cli.rewards.tadpole import DEFAULT_TADPOLE_MODEL


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
@click.option("--video-model", default=None,
              help="A video model to generate the goal with (a diffusers directory, e.g. from "
                   "`finetune` on Bridge videos, or a hub id) instead of finetuning one here.")
@click.option("--methods", default="genreward", show_default=True,
              help="Comma-separated reward models to train agents with, each on the same agent "
                   f"preset and steps ({', '.join(METHODS)}); e.g. genreward,env,roboclip,tadpole "
                   "for the paper's Fig. 5. The goal and FB stages run once, for genreward.")
@click.option("--seeds", default=None,
              help="Comma-separated agent seeds, e.g. 0,1,2 (default: --seed). Shared stages "
                   "use --seed.")
@click.option("--s3d-model", default=None,
              help="roboclip with --preset paper: the S3D HowTo100M directory (tiny: `tiny`).")
@click.option("--tadpole-model", default=DEFAULT_TADPOLE_MODEL, show_default=True,
              help="tadpole with --preset paper: the Stable Diffusion model (tiny: `tiny`).")
@click.option("--finetune-model", default=None,
              help="The video model finetune starts from (hub id, diffusers directory, e.g. "
                   "from `init-model --preset cogvideox-5b-i2v-random`); default: the "
                   "preset's (`tiny`, or THUDM/CogVideoX-5b-I2V).")
@click.option("--clip-model", default=None,
              help="OpenCLIP model of select-frame and the CLIP baselines; default: the "
                   "preset's (`tiny`, or ViT-B-32).")
@click.option("--clip-pretrained", default=None,
              help="OpenCLIP pretrained tag or checkpoint for --clip-model ('' for random "
                   "weights); default: the stages' (laion2b_s34b_b79k).")
@click.option("--image-encoder", default=None,
              help="encode-goal's image encoder (hub id, transformers directory, e.g. from "
                   "`init-model --preset dinov3-vits16plus-random`); default: the preset's "
                   "(`tiny`, or DINOv3 ViT-S/16+).")
@click.option("--episodes", type=click.IntRange(min=1), default=None,
              help="Cut: expert and random episodes collected (default 4 tiny, 20 paper).")
@click.option("--finetune-steps", type=click.IntRange(min=1), default=None,
              help="Cut: finetune steps (default 50 tiny, 1000 paper).")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Cut: frames of the finetuning clips and the goal video (8k+1; default the "
                   "model's native count, 49 for CogVideoX-5B-I2V).")
@click.option("--generate-steps", type=click.IntRange(min=1), default=None,
              help="Cut: denoising steps of the goal video (default 50).")
@click.option("--fb-steps", type=click.IntRange(min=1), default=None,
              help="Cut: train-fb updates (default 300 tiny, 100000 paper).")
@click.option("--prefill", type=click.IntRange(min=0), default=None,
              help="Cut: the agent's random-action prefill steps (default 256 tiny, 5000 "
                   "paper).")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=None,
              help="Cut: evaluation episodes, in training and at the end (default 5 tiny, 10 "
                   "paper).")
@click.option("--force", is_flag=True, help="Run every stage again, finished or not.")
@click.option("--dry-run", is_flag=True, help="Show what would run, and why, and stop.")
@seed_option
@device_option
@json_option
@debug_option
def pipeline(task, out, preset, steps, reward_mode, videos, video_model, methods, seeds, s3d_model,
             tadpole_model, finetune_model, clip_model, clip_pretrained, image_encoder, episodes,
             finetune_steps, frames, generate_steps, fb_steps, prefill, eval_episodes, force, dry_run,
             seed, device, as_json):
    """Run GenReward end to end for one task (paper Fig. 2, Algorithm 1), and the baselines.

    collect expert -> finetune -> generate -> select-frame -> encode-goal -> collect random
    -> train-fb -> train-agent -> evaluate, each stage a `genreward` command on the files of
    the one before it. With --methods and --seeds, train-agent and evaluate run for every
    method and seed (in runs/METHOD/SEED, evals/METHOD-SEED.h5), the shared stages once.
    Stages whose output is up to date (same command, same inputs) are skipped; finetune and
    train-agent resume from their checkpoints. Ends with `evaluate --compare`'s curves
    (curves.png, curves.csv) and a report: where everything is, the goal frame, the
    evaluations.

    \b
      genreward pipeline --task pick-place-v3 --out runs/demo
      genreward pipeline --task pick-place-v3 --out runs/fig5 \\
          --methods genreward,env,roboclip,tadpole --seeds 0,1,2
      genreward pipeline --task pick-place-v3 --out runs/paper --preset paper --device cuda

    The model options substitute local models for the paper preset's downloads, e.g. the
    random-weight ones of `init-model` on a machine without the weights; the cut options
    shorten stages for a smoke run (bench/paper_pipeline_gpu.sh uses both):

    \b
      genreward pipeline --preset paper --out runs/smoke --device cuda \\
          --finetune-model models/cogvideox --image-encoder models/dinov3 \\
          --clip-pretrained '' --episodes 2 --finetune-steps 2 --generate-steps 4 \\
          --fb-steps 200 --steps 512 --prefill 256 --eval-episodes 1
    """
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from genreward_cli.envs.tasks import check_task
    from genreward_cli.evaluate import NO_EPISODE, format_returns
    from genreward_cli.pipeline import (Cuts, parse_list, plan_status, run_stage, runs, stages,
                                        status)

    check_task(task)
    methods = parse_list(methods, "methods")
    seeds = parse_list(seeds, "seeds", int) if seeds is not None else (seed,)
    root = Path(out)
    if root.exists() and not root.is_dir():
        from genreward_cli.errors import BadInput

        raise BadInput(f"{root}: is a file; --out names a directory")
    if videos:
        videos = str(Path(videos).resolve())
    if videos and video_model:
        from genreward_cli.errors import BadInput

        raise BadInput("--videos finetunes a video model here, --video-model brings one: give "
                       "one of them")
    plan = stages(task, preset, seed=seed, steps=steps, reward_mode=reward_mode, videos=videos,
                  device=device, methods=methods, seeds=seeds,
                  models={"s3d_model": s3d_model and _absolute(s3d_model),
                          "tadpole_model": _absolute(tadpole_model),
                          "finetune_model": finetune_model and _absolute(finetune_model),
                          "clip_model": clip_model,
                          "clip_pretrained": clip_pretrained and _absolute(clip_pretrained)
                          if clip_pretrained is not None else None,
                          "image_encoder": image_encoder and _absolute(image_encoder)},
                  video_model=video_model and _absolute(video_model),
                  cuts=Cuts(episodes=episodes, finetune_steps=finetune_steps, frames=frames,
                            generate_steps=generate_steps, fb_steps=fb_steps, prefill=prefill,
                            eval_episodes=eval_episodes))
    agent_runs = runs(methods, seeds)
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
    run_stage_plain(root, ["evaluate", "--compare", *(r.agent for r in agent_runs),
                           "--plot", "curves.png", "--csv", "curves.csv"])
    summary = _summary(root, plan, report, agent_runs)
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
    g = summary["goal_frame"]
    if g is not None:
        console.print(f"goal frame: index {g['index']} of the generated video, CLIP score "
                      f"{g['score']:.3f} ({root / 'goal_frame_scores.png'})")
    for r in summary["runs"]:
        e, a = r["eval"], r["agent"]
        where = root / (r["video"] or r["eval_file"])
        name = "evaluation" if len(summary["runs"]) == 1 else f"{r['method']} seed {r['seed']}"
        console.print(f"{name} over {e['episodes']} episodes: "
                      f"{format_returns(e['mean'], e['std'], e['success_rate'])} ({where})")
        if not a["episodes"]:
            console.print(f"  learning curve: none yet, {NO_EPISODE} in training ({a['steps']} "
                          f"steps of {a['episode_steps']}-step episodes)")
    goal_video = f"; goal video: {root / 'goal_video.mp4'}" if g is not None else ""
    console.print(f"learning curves: {root / 'curves.png'}, {root / 'curves.csv'}{goal_video}")


def run_stage_plain(root, argv):
    from genreward_cli.pipeline import Stage, run_stage

    run_stage(Stage(argv[0], argv, "", ""), root, "run")


def _print_plan(console, report):
    width = max([15] + [len(row["stage"]) + 1 for row in report])
    for row in report:
        console.print(f"{row['action']:>7}  {row['stage']:<{width}} {row['why']}")


def _absolute(path: str) -> str:
    """A local model directory as an absolute path (stages run inside --out); a hub id or
    `tiny` as given."""
    from pathlib import Path

    return str(Path(path).resolve()) if Path(path).exists() else path


def _summary(root, plan, report, agent_runs) -> dict:
    """The pipeline's JSON report. With one run, ``eval`` and ``agent`` are that run's (as
    before several methods could run); ``runs`` has every run's."""
    from genreward_cli import store
    from genreward_cli.evaluate import returns_summary

    goal = None
    if (root / "goal_frame.h5").exists() and any(r.method == "genreward" for r in agent_runs):
        with store.open_artifact(root / "goal_frame.h5", "goal_frame") as art:
            index = int(art.attrs["index"])
            goal = {"index": index, "score": float(art.file["scores"][index])}
    out = []
    for r in agent_runs:
        with store.open_artifact(root / r.eval, "eval") as art:
            ev = returns_summary(art.file["return"][()], art.file["success"][()])
        with store.open_artifact(root / r.agent / "log.h5", "agent_log") as art:
            # a run shorter than one episode has none: its learning curve is empty
            agent = {"steps": int(art.attrs["steps"]),
                     "episodes": len(art.file["episodes/return"]),
                     "episode_steps": json.loads(art.attrs["env_config"])["max_steps"]}
        out.append({"method": r.method, "seed": r.seed, "agent_dir": r.agent,
                    "eval_file": r.eval, "video": r.video, "eval": ev, "agent": agent})
    return {"out": str(root), "stages": report, "goal_frame": goal, "eval": out[0]["eval"],
            "agent": out[0]["agent"], "runs": out,
            "files": {s.name: [s.marker, *s.outputs] for s in plan}
            | {"curves": ["curves.png", "curves.csv"]}}
