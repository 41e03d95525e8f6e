"""`genreward encode-goal`: the goal video's VAE latent and the goal frame's DINOv3 embedding."""

from __future__ import annotations

import json
import warnings

import click

from genreward_cli.goal.image_encoder import DEFAULT_IMAGE_ENCODER
from genreward_cli.goal.video_encoder import VAE_DTYPES
from genreward_cli.options import (
    debug_option, device_option, force_option, json_option, out_option, seed_option,
)


@click.command("encode-goal", short_help="Encode the goal video (VAE latent) and goal frame (DINOv3).")
@click.argument("goal_video", type=click.Path(dir_okay=False))
@click.argument("goal_frame", type=click.Path(dir_okay=False))
@click.option("--episode", type=click.IntRange(min=0), default=0, show_default=True,
              help="With an `episodes` file as GOAL_VIDEO (a recorded demonstration): which one.")
@click.option("--vae", default=None,
              help="Diffusers directory, hub id or `tiny` whose VAE encodes videos; "
                   "default: the model that generated the goal video.")
@click.option("--image-encoder", default=DEFAULT_IMAGE_ENCODER, show_default=True,
              help="DINOv3: transformers hub id or directory, a `timm/...` hub id, or `tiny`.")
@click.option("--image-resolution", type=click.IntRange(min=0), default=0, show_default=True,
              help="Image-encoder input size; 0 = 224 (64 for `tiny`).")
@click.option("--frames", type=click.IntRange(min=1), default=16, show_default=True,
              help="Frames uniformly sampled from a video before encoding (the paper: 16).")
@click.option("--height", type=click.IntRange(min=0), default=0, show_default=True,
              help="Height frames are resized to before VAE encoding; 0 = the goal video's.")
@click.option("--width", type=click.IntRange(min=0), default=0, show_default=True,
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
    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.goal.image_encoder import ImageEncoder, ImageEncoderConfig
    from genreward_cli.goal.source import load_goal_video
    from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig
    from genreward_cli.options import resolve_device

    store.check_output(out, force, [goal_video, goal_frame, vae, image_encoder])
    source = load_goal_video(goal_video, episode)
    video, prompt, model, video_ref = source.frames, source.prompt, source.model, source.ref
    if vae is None and model is None:
        raise BadInput(f"{goal_video}: a recorded episode has no video model; pass --vae")
    with store.open_artifact(goal_frame, "goal_frame") as art:
        frame = art.file["frame"][()]
        frame_ref = art.ref()
        sources = [p for p in art.parents if p.get("kind") in ("goal_video", "episodes")]
    if len(video) == 0:
        raise BadInput(f"{goal_video}: the goal video has no frames")
    if frame.shape != video.shape[1:]:
        raise BadInput(f"{goal_frame}: frame is {frame.shape[0]}x{frame.shape[1]}, but the frames of "
                       f"{goal_video} are {video.shape[1]}x{video.shape[2]}: mismatched resolutions")
    if sources and sources[0]["sha256"] != video_ref["sha256"]:
        warnings.warn(f"{goal_frame} was selected from {sources[0]['path']}, not from this "
                      f"{goal_video} (different sha256)")
    device = resolve_device(device)
    if vae is None:  # the goal video's model, as recorded (older files: relative to it)
        vae = store.resolve_recorded(model, goal_video)
    vae = store.record_path(vae)  # a local model: absolute, so the goal file works anywhere
    video_config = VideoEncoderConfig(vae=vae, height=height or video.shape[1],
                                      width=width or video.shape[2], frames=frames, latent=latent,
                                      dtype=dtype)
    image_encoder = store.record_path(image_encoder)
    image_config = ImageEncoderConfig.for_model(image_encoder, image_resolution)
    z = VideoEncoder(video_config, device=device).encode(video, seed=seed)
    e = ImageEncoder(image_config, device=device).encode(frame[None])[0]
    config = {"episode": episode, "video_encoder": json.loads(video_config.to_json()),
              "image_encoder": json.loads(image_config.to_json()), "seed": seed, "device": device}
    with store.write_artifact(out, "goal", config=config, parents=[video_ref, frame_ref],
                                  force=force) as h5:
        store.array_dataset(h5, "video_latent", z)
        store.array_dataset(h5, "frame_embedding", e)
        store.array_dataset(h5, "frame", frame)
        h5.attrs.update(video_encoder=video_config.to_json(), image_encoder=image_config.to_json(),
                        prompt=prompt)
        if source.task:  # train-agent refuses a goal made for another task or camera
            h5.attrs["task"] = source.task
        if source.camera:
            h5.attrs["camera"] = source.camera
    summary = {"out": str(out), "video_latent": list(z.shape), "frame_embedding": list(e.shape)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {out}: video latent {list(z.shape)}, frame embedding {list(e.shape)}",
                   err=True)
