"""`genreward encode-goal`: the goal video's VAE latent and the goal frame's DINOv3 embedding."""

from __future__ import annotations

import click

from genreward_cli.goal.image_encoder import DEFAULT_IMAGE_ENCODER
from genreward_cli.goal.video_encoder import VAE_DTYPES
from genreward_cli.options import (
    MAX_SIDE, MODEL_SOURCE, UserPath, debug_option, device_option, emit, force_option, json_option,
    out_option, seed_option,
)


@click.command("encode-goal", short_help="Encode the goal video (VAE latent) and goal frame (DINOv3).")
@click.argument("goal_video", type=UserPath(dir_okay=False))
@click.argument("goal_frame", type=UserPath(dir_okay=False))
@click.option("--episode", type=click.IntRange(min=0), default=0, show_default=True,
              help="With an `episodes` file as GOAL_VIDEO (a recorded demonstration): which one.")
@click.option("--vae", type=MODEL_SOURCE, default=None,
              help="Diffusers directory, hub id or `tiny` whose VAE encodes videos; "
                   "default: the model that generated the goal video.")
@click.option("--image-encoder", type=MODEL_SOURCE,
              default=DEFAULT_IMAGE_ENCODER, show_default=True,
              help="DINOv3: transformers hub id or directory, a `timm/...` hub id, or `tiny`.")
@click.option("--image-resolution", type=click.IntRange(min=0), default=0, show_default=True,
              help="Image-encoder input size; 0 = 224 (64 for `tiny`).")
@click.option("--frames", type=click.IntRange(min=1), default=16, show_default=True,
              help="Frames uniformly sampled from a video before encoding (the paper: 16).")
@click.option("--height", type=click.IntRange(min=0, max=MAX_SIDE), default=0, show_default=True,
              help="Height frames are resized to before VAE encoding; 0 = the goal video's.")
@click.option("--width", type=click.IntRange(min=0, max=MAX_SIDE), default=0, show_default=True,
              help="Width frames are resized to before VAE encoding; 0 = the goal video's.")
@click.option("--latent", type=click.Choice(["mean", "sample"]), default="mean", show_default=True,
              help="`mean`: the VAE posterior mean (deterministic); `sample`: a draw (paper's code).")
@click.option("--dtype", type=click.Choice(VAE_DTYPES), default="float32", show_default=True,
              help="The VAE's precision, stored in the goal file: `train-agent` encodes the "
                   "agent's videos in it too (on an H200, bfloat16 took 18% less time per reward step).")
@out_option("Output `goal` artifact (.h5).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def encode_goal(goal_video, goal_frame, episode, vae, image_encoder, image_resolution, frames, height,
                width, latent, dtype, out, seed, device, force, as_json):
    """Encode the video-level goal (eq. 4) and the frame-level goal psi(I*).

    GOAL_VIDEO is a `goal_video`, or an `episodes` file whose --episode is the goal video
    (then --vae is required). The encoders' full configurations are stored in the file, so `train-fb` and
    `train-agent` rebuild identical encoders from it alone.

    \b
      genreward encode-goal goal_video.h5 goal_frame.h5 --out goal.h5
      genreward encode-goal goal_video.h5 goal_frame.h5 --image-encoder tiny --out goal.h5
    """
    from genreward_cli.options import resolve_device
    from genreward_cli.stages import encode_goal as stage

    from genreward_cli.store import output_lock

    with output_lock(out):  # a second writer of the same --out is refused at once
        emit(stage.run(goal_video, goal_frame, out=out, episode=episode, vae=vae,
                       image_encoder=image_encoder, image_resolution=image_resolution,
                       frames=frames, height=height, width=width, latent=latent, dtype=dtype,
                       seed=seed,
                       device=resolve_device(device), force=force), as_json)
