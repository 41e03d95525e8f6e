"""`genreward generate`: a goal video from a prompt and a first frame (paper section 3.1)."""

from __future__ import annotations

import json
import time

import click

from genreward_cli import config as cfg
from genreward_cli.envs.config import CAMERAS
from genreward_cli.options import (
    debug_option, device_option, force_option, json_option, out_option, seed_option,
)
from genreward_cli.video.generate import GenerateConfig
from genreward_cli.video.model import DEFAULT_MODEL

DTYPES = ("auto", "float32", "bfloat16", "float16")


@click.command()
@click.option("--prompt", default=None,
              help="Text prompt; with --task it defaults to the task's description.")
@click.option("--image", type=click.Path(dir_okay=False), default=None,
              help="First-frame image (png/jpg) of the generation size.")
@click.option("--task", default=None,
              help="Condition on this Meta-World task's rendered initial frame instead of --image.")
@click.option("--camera", type=click.Choice(CAMERAS), default="corner", show_default=True,
              help="Camera of the --task frame.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Hub id, local diffusers directory (e.g. from `finetune`), or `tiny`.")
@cfg.click_options(GenerateConfig)
@click.option("--dtype", type=click.Choice(DTYPES), default="auto", show_default=True,
              help="`auto`: bfloat16 on a GPU, float32 on a CPU.")
@click.option("--cpu-offload", is_flag=True, help="Keep idle sub-models on the CPU (small GPUs).")
@click.option("--vae-tiling", is_flag=True, help="Decode the video in tiles (less memory).")
@click.option("--vae-slicing", is_flag=True, help="Decode one video at a time (less memory).")
@click.option("--mp4", type=click.Path(dir_okay=False), default=None,
              help="Also write the video as .mp4 (or .gif).")
@out_option("Output `goal_video` artifact (.h5).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def generate(prompt, image, task, camera, model, dtype, cpu_offload, vae_tiling, vae_slicing,
             mp4, out, seed, device, force, as_json, **gen_options):
    """Generate a goal video conditioned on a first frame and a prompt.

    With --task, the first frame is the task's initial observation for env seed --seed,
    rendered at the generation size, and the prompt defaults to the task description.

    \b
      genreward generate --task pick-place-v3 --model tiny --out goal_video.h5 --mp4 goal.mp4
      genreward generate --prompt "pick up the blue fork" --image first.png \\
          --model THUDM/CogVideoX-5b-I2V --out goal_video.h5
    """
    import numpy as np
    import torch

    from genreward_cli import artifacts, media
    from genreward_cli.errors import BadInput
    from genreward_cli.options import resolve_device
    from genreward_cli.progress import progress_bar
    from genreward_cli.video.generate import generate_video, resolve_size
    from genreward_cli.video.model import ModelInfo, fingerprint, load_pipeline, resolve

    gen = cfg.build(GenerateConfig, gen_options)
    if (image is None) == (task is None):
        raise BadInput("give exactly one of --image and --task")
    if task is not None:
        from genreward_cli.envs.tasks import describe

        prompt = prompt or describe(task)
    if not prompt:
        raise BadInput("--prompt is required with --image")
    if image is not None:
        media.check_image_path(image)
        from pathlib import Path

        if not Path(image).is_file():
            raise BadInput(f"--image {image}: no such file")
    if mp4:
        media.check_video_path(mp4)
    artifacts.check_output(out, force)
    device = resolve_device(device)
    if cpu_offload and device != "cuda":
        raise BadInput("--cpu-offload keeps sub-models on the CPU between GPU calls; it needs a GPU")
    torch_dtype = {
        "auto": torch.bfloat16 if device == "cuda" else torch.float32,
        "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
    }[dtype]

    pipe = load_pipeline(model, device="cpu" if cpu_offload else device, dtype=torch_dtype)
    if cpu_offload:
        pipe.enable_model_cpu_offload()
    if vae_tiling:
        pipe.vae.enable_tiling()
    if vae_slicing:
        pipe.vae.enable_slicing()
    info = ModelInfo.of(pipe)
    frames, height, width = resolve_size(gen, info)

    extra = {}
    if task is not None:
        from genreward_cli.envs import EnvConfig
        from genreward_cli.envs.metaworld_env import initial_frame

        condition = initial_frame(EnvConfig(task=task, size=height, width=width, camera=camera), seed)
        extra = {"task": task, "seed": seed}
    else:
        import imageio.v2 as imageio

        condition = np.asarray(imageio.imread(image))
        if condition.ndim == 3 and condition.shape[-1] == 4:
            raise BadInput(f"--image {image}: has an alpha channel; give an RGB image")

    start = time.perf_counter()
    with progress_bar(gen.steps, "generate") as advance:
        video = generate_video(pipe, condition, prompt, gen, seed, on_step=advance)
    elapsed = time.perf_counter() - start

    config = cfg.to_json(gen, prompt=prompt, image=image, task=task, camera=camera, model=model,
                         dtype=dtype, device=device, seed=seed, cpu_offload=cpu_offload,
                         vae_tiling=vae_tiling, vae_slicing=vae_slicing, frames_resolved=frames,
                         height_resolved=height, width_resolved=width,
                         scheduler=type(pipe.scheduler).__name__)
    with artifacts.write_artifact(out, "goal_video", config=config, force=force) as h5:
        artifacts.frames_dataset(h5, "frames", video)
        artifacts.array_dataset(h5, "condition_image", condition)
        h5.attrs.update(prompt=prompt, model=model, model_revision=fingerprint(resolve(model)),
                        fps=gen.fps, **extra)
    if mp4:
        media.write_video(mp4, video, fps=gen.fps)
    summary = {"out": str(out), "frames": frames, "height": height, "width": width,
               "prompt": prompt, "seconds": elapsed, "s_per_step": elapsed / gen.steps}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {out}: {frames} frames {height}x{width} for {prompt!r} "
                   f"in {elapsed:.1f} s ({elapsed / gen.steps:.2f} s/step)", err=True)
