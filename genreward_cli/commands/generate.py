"""`genreward generate`: a goal video from a prompt, and a first frame when there is one
(paper section 3.1)."""

from __future__ import annotations

import click

from genreward_cli import config as cfg
from genreward_cli.envs.config import CAMERAS
from genreward_cli.options import (
    MODEL_SOURCE, UserPath, debug_option, device_option, emit, force_option, json_option,
    out_option, seed_option,
)
from genreward_cli.stages.generate import DTYPES
from genreward_cli.video.generate import GenerateConfig
from genreward_cli.video.model import DEFAULT_MODEL, DEFAULT_T2V_MODEL


@click.command()
@click.option("--prompt", default=None,
              help="Text prompt; with --task it defaults to the task's description. Alone (no "
                   "--image, no --task): text-to-video.")
@click.option("--image", type=UserPath(dir_okay=False), default=None,
              help="First-frame image (png/jpg) of the generation size: image-to-video.")
@click.option("--task", default=None,
              help="Condition on this Meta-World task's rendered initial frame instead of --image.")
@click.option("--camera", type=click.Choice(CAMERAS), default="corner", show_default=True,
              help="Camera of the --task frame.")
@click.option("--model", type=MODEL_SOURCE, default=DEFAULT_MODEL, show_default=True,
              help="Image-to-video model: hub id, local diffusers directory (e.g. from "
                   "`finetune`), or `tiny`. A text-to-video model here is used for --prompt alone.")
@click.option("--t2v-model", type=MODEL_SOURCE, default=DEFAULT_T2V_MODEL, show_default=True,
              help="Text-to-video model (CogVideoXPipeline) for --prompt alone, when --model is an "
                   "image-to-video model: hub id, local directory, or `tiny` (the `tiny-t2v` preset).")
@cfg.click_options(GenerateConfig)
@click.option("--dtype", type=click.Choice(DTYPES), default="auto", show_default=True,
              help="`auto`: bfloat16 on a GPU, float32 on a CPU.")
@click.option("--cpu-offload", is_flag=True, help="Keep idle sub-models on the CPU (small GPUs).")
@click.option("--vae-tiling", is_flag=True,
              help="Encode and decode in overlapping spatial tiles (less memory; tiles on the "
                   "latent grid, blended at the seams).")
@click.option("--vae-slicing", is_flag=True, help="Decode one video at a time (less memory).")
@click.option("--mp4", type=UserPath(dir_okay=False), default=None,
              help="Also write the video as .mp4 (or .gif).")
@out_option("Output `goal_video` artifact (.h5).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
@click.pass_context
def generate(ctx, prompt, image, task, camera, model, t2v_model, dtype, cpu_offload, vae_tiling,
             vae_slicing, mp4, out, seed, device, force, as_json, **gen_options):
    """Generate a goal video from a prompt, conditioned on a first frame or not.

    With --image or --task: image-to-video with --model (the paper's setting). With --task, the
    first frame is the task's initial observation for env seed --seed, rendered at the
    generation size, and the prompt defaults to the task description. With --prompt alone:
    text-to-video with --t2v-model (or with --model, if that is a text-to-video model); the
    artifact's condition_image is then the first generated frame. The artifact records the
    model and the mode (attrs `model`, `mode`), the prompt as given (`prompt`) and the text the
    model read (`prompt_seen`: T5 reads at most 226 tokens, 32 for the tiny presets).

    \b
      genreward generate --task pick-place-v3 --model tiny --out goal_video.h5 --mp4 goal.mp4
      genreward generate --prompt "pick up the blue fork" --image first.png \\
          --model THUDM/CogVideoX-5b-I2V --out goal_video.h5
      genreward generate --prompt "pick up the blue fork" --out goal_video.h5   # text-to-video
      genreward generate --prompt "pick up the blue fork" --t2v-model tiny --out goal_video.h5
    """
    from genreward_cli.options import resolve_device
    from genreward_cli.stages import generate as stage

    def named(param, value):  # None: the default, not named by the user
        return None if ctx.get_parameter_source(param) == click.core.ParameterSource.DEFAULT \
            else value

    from genreward_cli.store import output_lock

    with output_lock(out, mp4):  # a second writer of the same outputs is refused at once
        emit(stage.run(cfg.build(GenerateConfig, gen_options), out=out, prompt=prompt, image=image,
                       task=task, camera=camera, model=named("model", model),
                       t2v_model=named("t2v_model", t2v_model), dtype=dtype,
                       cpu_offload=cpu_offload, vae_tiling=vae_tiling, vae_slicing=vae_slicing,
                       mp4=mp4, seed=seed, device=resolve_device(device), force=force), as_json)
