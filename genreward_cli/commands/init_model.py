"""`genreward init-model`: write a built-in preset, or a paper model with random weights, as
the directory its loaders read (diffusers for CogVideoX, transformers for DINOv3)."""

from __future__ import annotations

import click

from genreward_cli.options import (
    UserPath, debug_option, device_option, emit, force_option, json_option, seed_option,
)
from genreward_cli.paper_random import COGVIDEOX_RANDOM, DTYPES, RANDOM_PRESETS, CogVideoXSizes
from genreward_cli.stages.init_model import SIZE_OPTIONS
from genreward_cli.video.presets import PRESETS

_REAL = CogVideoXSizes()


def _size(name, help):
    return click.option(f"--{name.replace('_', '-')}", type=click.IntRange(min=1), default=None,
                        help=f"{COGVIDEOX_RANDOM}: {help} (default {getattr(_REAL, name)}, "
                             "the real model's).")


@click.command("init-model")
@click.option("--preset", type=click.Choice([*PRESETS, *RANDOM_PRESETS]), default="tiny",
              show_default=True,
              help="`tiny`: architecture-faithful CogVideoX image-to-video (CogVideoX-5B-I2V's "
                   "layout) at 64x64, random weights; `tiny-t2v`: the text-to-video layout "
                   "(CogVideoX-5B's), same text encoder and VAE. `cogvideox-5b-i2v-random`: "
                   "CogVideoX-5B-I2V's architecture and configs (transformer, full 3D VAE, "
                   "T5-v1.1-XXL, tokenizer, DDIM scheduler), 480x720, 49 frames, random "
                   "weights; `dinov3-vits16plus-random`: DINOv3 ViT-S/16+ (transformers), "
                   "random weights.")
@click.option("--out", type=UserPath(file_okay=False), required=True,
              help="Output directory (diffusers pipeline, or transformers model for DINOv3).")
@_size("layers", "transformer blocks")
@_size("heads", "transformer attention heads of dim 64")
@_size("text_layers", "T5 encoder blocks")
@_size("text_width", "T5 width d_model, a multiple of 64 (also the transformer's text_embed_dim)")
@_size("vae_width", "VAE channels of the first block (blocks w, 2w, 2w, 4w), even")
@_size("vae_layers", "VAE resnet layers per block")
@click.option("--dtype", type=click.Choice(DTYPES), default="bfloat16", show_default=True,
              help=f"{COGVIDEOX_RANDOM}: the saved precision of the transformer and T5 (the "
                   "VAE is saved in float32).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def init_model(preset, out, layers, heads, text_layers, text_width, vae_width, vae_layers, dtype,
               seed, device, force, as_json):
    """Write a CogVideoX or DINOv3 model with random weights (no download).

    It loads with plain diffusers: CogVideoXImageToVideoPipeline.from_pretrained(OUT) for
    `tiny` and `cogvideox-5b-i2v-random`, CogVideoXPipeline.from_pretrained(OUT) for
    `tiny-t2v`; `dinov3-vits16plus-random` with transformers' AutoModel.from_pretrained(OUT).
    Every model option of the stages takes OUT (`--model`, `--vae`, `--image-encoder`).

    At its real sizes `cogvideox-5b-i2v-random` has 5.6B transformer and 4.8B T5 parameters:
    about 21 GB on disk in bfloat16, and the largest part drawn in float32 (22 GB) in memory,
    on --device (a GPU draws it in seconds). The size options shrink it for smaller machines
    while keeping every shape the pipeline's files depend on (480x720, 49 frames, 16 latent
    channels, 226 text tokens).

    \b
      genreward init-model --preset tiny --out models/tiny
      genreward init-model --preset cogvideox-5b-i2v-random --device cuda --out models/cogvideox
      genreward init-model --preset cogvideox-5b-i2v-random --layers 2 --heads 2 \\
          --text-layers 1 --text-width 64 --vae-width 8 --vae-layers 1 --out models/small
      genreward init-model --preset dinov3-vits16plus-random --out models/dinov3
    """
    from genreward_cli.options import resolve_device
    from genreward_cli.store import folder_lock
    from genreward_cli.stages import init_model as stage

    given = {k: v for k, v in zip(SIZE_OPTIONS, (layers, heads, text_layers, text_width,
                                                  vae_width, vae_layers)) if v is not None}
    with folder_lock(out):  # a second writer of the same folder is refused
        emit(stage.run(preset, out=out, sizes=given, dtype=dtype, seed=seed,
                       device=resolve_device(device), force=force), as_json)
