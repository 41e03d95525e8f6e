"""`genreward train-video-model`: train a baseline's video model on expert videos."""

from __future__ import annotations

import click

from genreward_cli.options import (
    MODEL_SOURCE, FiniteFloat, UserPath, debug_option, device_option, emit, force_option,
    json_option, seed_option,
)
from genreward_cli.stages.train_video_model import KINDS


@click.command("train-video-model")
@click.argument("videos", nargs=-1, required=True, type=UserPath(dir_okay=False))
@click.option("--kind", type=click.Choice(KINDS), default="vqdiffusion", show_default=True,
              help="`vqdiffusion`: Diffusion Reward's VQGAN + frame-conditioned VQ-Diffusion "
                   "(Huang et al.; TEA-Lab/diffusion_reward), for --reward diffusion-reward.")
@click.option("--preset", type=click.Choice(["paper", "tiny"]), default="paper", show_default=True,
              help="`paper`: the authors' Meta-World config (VQGAN 1024 codes of 8x8 tokens, "
                   "16 transformer layers of width 128, 100 steps); `tiny`: the same classes "
                   "at a small size, for tests and CPUs.")
@click.option("--init", "init", type=MODEL_SOURCE, default=None,
              help="Start from these weights: a model directory this command wrote, or the "
                   "authors' checkpoint (best.pth of their vqdiffusion run, --preset paper).")
@click.option("--task", default=None,
              help="The task the videos show (their statistics are keyed by it); default: "
                   "each episode's or the file's `task` attribute.")
@click.option("--codec-steps", type=click.IntRange(min=0), default=2000, show_default=True,
              help="VQGAN updates (stage 1).")
@click.option("--steps", type=click.IntRange(min=0), default=20000, show_default=True,
              help="VQ-Diffusion transformer updates (stage 2).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Frames (stage 1) or frame windows (stage 2) per update; at most the "
                   "frames (windows) the videos hold.")
@click.option("--codec-lr", type=FiniteFloat(min=0, min_open=True), default=1e-4,
              show_default=True, help="VQGAN Adam learning rate (the authors').")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=4.5e-4,
              show_default=True, help="Transformer AdamW learning rate (the authors' after "
                                      "warm-up).")
@click.option("--skip-step", "skip_steps", type=click.IntRange(min=0), multiple=True,
              default=(9,), show_default=True,
              help="Skip steps to measure the reward statistics at (repeatable; the reward "
                   "refuses a skip step without them).")
@click.option("--out", type=UserPath(file_okay=False), required=True,
              help="Output model directory (diffusers parts + diffusion_reward.json).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def train_video_model(videos, kind, preset, init, task, codec_steps, steps, batch_size, codec_lr,
                      lr, skip_steps, out, seed, device, force, as_json):
    """Train Diffusion Reward's video model on expert `episodes` or `videos` files.

    Writes a directory with vqgan/, transformer/ and scheduler/ (diffusers' save_pretrained)
    and diffusion_reward.json: the conditioning and, per task and skip step, the mean and
    std of the raw reward over the training videos, which --reward diffusion-reward needs.

    \b
      genreward train-video-model expert.h5 --kind vqdiffusion --out models/dr-reach
      genreward train-agent --task reach-v3 --reward diffusion-reward \\
          --diffusion-reward-model models/dr-reach --out runs/dr
    """
    from genreward_cli.options import resolve_device
    from genreward_cli.store import folder_lock
    from genreward_cli.stages import train_video_model as stage

    with folder_lock(out):  # a second writer of the same folder is refused
        emit(stage.run(videos, out=out, kind=kind, preset=preset, init=init, task=task,
                       codec_steps=codec_steps, steps=steps, batch_size=batch_size,
                       codec_lr=codec_lr, lr=lr, skip_steps=skip_steps, seed=seed,
                       device=resolve_device(device), force=force), as_json)
