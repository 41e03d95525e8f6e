"""`genreward pipeline`: every stage of GenReward for one task, through files, resumable."""

from __future__ import annotations

import click

from genreward_cli.options import (
    MODEL_SOURCE, UserPath, debug_option, device_option, emit, json_option, seed_option,
)
from genreward_cli.rewards.tadpole import DEFAULT_TADPOLE_MODEL
from genreward_cli.stages.pipeline import METHODS, PRESETS

# Substitutes for the preset's models (pipeline.stages' ``models``): (flag, help).
MODEL_OPTIONS = (
    ("--finetune-model",
     "The video model finetune starts from (hub id, diffusers directory, e.g. from `init-model "
     "--preset cogvideox-5b-i2v-random`); default: the preset's (`tiny`, or "
     "THUDM/CogVideoX-5b-I2V)."),
    ("--clip-model",
     "OpenCLIP model of select-frame and the CLIP baselines; default: the preset's (`tiny`, "
     "or ViT-B-32)."),
    ("--clip-pretrained",
     "OpenCLIP pretrained tag or checkpoint for --clip-model ('' for random weights); "
     "default: the stages' (laion2b_s34b_b79k)."),
    ("--image-encoder",
     "encode-goal's image encoder (hub id, transformers directory, e.g. from `init-model "
     "--preset dinov3-vits16plus-random`); default: the preset's (`tiny`, or DINOv3 "
     "ViT-S/16+)."),
)
# Cuts of the preset's stages (a pipeline.Cuts field each): (flag, least value, help).
CUT_OPTIONS = (
    ("--episodes", 1, "Cut: expert and random episodes collected (default 4 tiny, 20 paper)."),
    ("--finetune-steps", 1, "Cut: finetune steps (default 50 tiny, 1000 paper)."),
    ("--frames", 1,
     "Cut: frames of the finetuning clips and the goal video (8k+1; default: finetune's "
     "clips the model's native count, 9 for `tiny`, and generate's 49, CogVideoX-5B-I2V's "
     "native count)."),
    ("--generate-steps", 1, "Cut: denoising steps of the goal video (default 50)."),
    ("--fb-steps", 1, "Cut: train-fb updates (default 300 tiny, 100000 paper)."),
    ("--prefill", 0,
     "Cut: the agent's random-action prefill steps (default 256 tiny, 5000 paper)."),
    ("--eval-episodes", 1,
     "Cut: evaluation episodes, in training and at the end (default 5 tiny, 10 paper)."),
)


def _key(flag: str) -> str:
    """The parameter name click gives ``flag``: ``--fb-steps`` -> ``fb_steps``."""
    return flag[2:].replace("-", "_")


def substitute_and_cut_options(fn):
    """Declare ``MODEL_OPTIONS`` then ``CUT_OPTIONS`` on the command ``fn``, in the tables'
    order, each defaulting to None (the preset's)."""
    options = [click.option(flag, type=MODEL_SOURCE, default=None, help=text)
               for flag, text in MODEL_OPTIONS]
    options += [click.option(flag, type=click.IntRange(min=least), default=None, help=text)
                for flag, least, text in CUT_OPTIONS]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command("pipeline")
@click.option("--task", default="pick-place-v3", show_default=True,
              help="Meta-World v3 task (`genreward tasks` lists all 50).")
@click.option("--out", type=UserPath(file_okay=False), required=True,
              help="Pipeline directory: every stage's artifact, the agent run, the figures.")
@click.option("--preset", type=click.Choice(tuple(PRESETS)), default="tiny", show_default=True,
              help="`tiny`: built-in models with random weights, a small agent, minutes on a "
                   "CPU. `paper`: CogVideoX-5B-I2V, OpenCLIP, DINOv3, the S agent for 1M steps "
                   "(downloads weights; a GPU).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Agent env steps; default 2048 (tiny) or 1000000 (paper).")
@click.option("--reward-mode", type=click.Choice(["dense", "sparse"]), default="dense",
              show_default=True, help="The env reward the agent adds to the generative one.")
@click.option("--videos", type=UserPath(dir_okay=False), default=None,
              help="Domain videos (`videos` from import-videos, e.g. Bridge) to finetune the "
                   "video model on; default: the collected expert episodes.")
@click.option("--video-model", type=MODEL_SOURCE, default=None,
              help="A video model to generate the goal with (a diffusers directory, e.g. from "
                   "`finetune` on Bridge videos, or a hub id) instead of finetuning one here.")
@click.option("--methods", default="genreward", show_default=True,
              help="Comma-separated reward models to train agents with, each on the same agent "
                   f"preset and steps ({', '.join(METHODS)}); e.g. "
                   "genreward,env,roboclip,diffusion-reward,tadpole for the paper's Fig. 5. "
                   "The goal and FB stages run once, for genreward.")
@click.option("--seeds", default=None,
              help="Comma-separated agent seeds, e.g. 0,1,2, each run in runs/METHOD/SEED "
                   "(one seed too; default: --seed alone, in agent/). Shared stages use "
                   "--seed.")
@click.option("--add-env-reward", is_flag=True,
              help="The baselines' agents (all methods but genreward and env) learn from "
                   "their reward plus the env reward of --reward-mode, as genreward's eq. 10 "
                   "adds r_env (train-agent --add-env-reward): the paper's dense and sparse "
                   "settings for every method. Without it, their authors' rewards alone.")
@click.option("--s3d-model", type=MODEL_SOURCE, default=None,
              help="roboclip with --preset paper: the S3D HowTo100M directory (tiny: `tiny`).")
@click.option("--tadpole-model", type=MODEL_SOURCE,
              default=DEFAULT_TADPOLE_MODEL, show_default=True,
              help="tadpole with --preset paper: the Stable Diffusion model (tiny: `tiny`).")
@substitute_and_cut_options
@click.option("--force", is_flag=True, help="Run every stage again, finished or not.")
@click.option("--dry-run", is_flag=True, help="Show what would run, and why, and stop.")
@seed_option
@device_option
@json_option
@debug_option
def pipeline(task, out, preset, steps, reward_mode, videos, video_model, methods, seeds,
             add_env_reward, s3d_model, tadpole_model, force, dry_run, seed, device, as_json,
             **substitutes_and_cuts):
    """Run GenReward end to end for one task (paper Fig. 2, Algorithm 1), and the baselines.

    collect expert -> finetune -> generate -> select-frame -> encode-goal -> collect random
    -> train-fb -> train-agent -> evaluate, each stage a `genreward` command on the files of
    the one before it. With --methods and --seeds, train-agent and evaluate run for every
    method and seed (in runs/METHOD/SEED, evals/METHOD-SEED.h5), the shared stages once.
    Stages whose output is up to date (same command, same inputs) are skipped; finetune,
    train-fb and train-agent resume from their checkpoints. Ends with `evaluate --compare`'s
    curves (curves.png, curves.csv) and a report: where everything is, the goal frame, the
    evaluations.

    \b
      genreward pipeline --task pick-place-v3 --out runs/demo
      genreward pipeline --task pick-place-v3 --out runs/fig5 \\
          --methods genreward,env,roboclip,diffusion-reward,tadpole --seeds 0,1,2
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
    from genreward_cli.stages import pipeline as stage

    _warn_unused(methods)
    given = substitutes_and_cuts
    models = {"s3d_model": s3d_model, "tadpole_model": tadpole_model,
              **{_key(flag): given[_key(flag)] for flag, _ in MODEL_OPTIONS}}
    cuts = stage.Cuts(**{_key(flag): given[_key(flag)] for flag, *_ in CUT_OPTIONS})
    import contextlib

    from genreward_cli.store import folder_lock

    # a second pipeline in the same --out is refused (both would train in its runs/); a dry
    # run writes nothing, not even the lock
    with contextlib.nullcontext() if dry_run else folder_lock(out):
        report = stage.run(task, out, preset=preset, steps=steps, reward_mode=reward_mode,
                           videos=videos, video_model=video_model, methods=methods,
                           seeds=seeds, seed=seed, models=models, cuts=cuts, device=device,
                           force=force, dry_run=dry_run, add_env_reward=add_env_reward)
    if dry_run and not as_json:  # the plan is the output: on stdout, for `> plan.txt`
        click.echo(report.line)
        return
    if dry_run:  # the plan on stderr, its summary on stdout
        emit(report, False)
    emit(report, as_json)


def _warn_unused(methods: str) -> None:
    """One warning naming the options given on the command line (or in the environment)
    that none of ``methods`` reads, e.g. ``--s3d-model`` with ``--methods env``, as
    train-agent and score-reward warn about reward options."""
    import warnings

    from click.core import ParameterSource

    from genreward_cli.stages.pipeline import parse_methods, unused_options

    ctx = click.get_current_context()
    given = [n for n in ctx.params if ctx.get_parameter_source(n) in (
        ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    if unused := unused_options(parse_methods(methods), given):
        warnings.warn(f"--methods {methods} does not use {', '.join(unused)}: ignored",
                      stacklevel=2)
