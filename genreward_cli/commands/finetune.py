"""`genreward finetune`: adapt a CogVideoX image-to-video model to domain clips."""

from __future__ import annotations

import click

from genreward_cli import config as cfg
from genreward_cli.options import (
    MODEL_SOURCE, UserPath, debug_option, device_option, emit, force_option, json_option,
    seed_option,
)
from genreward_cli.video.finetune import FinetuneConfig
from genreward_cli.video.model import DEFAULT_MODEL


@click.command()
@click.option("--videos", "inputs", multiple=True, required=True, type=UserPath(dir_okay=False),
              help="`episodes` or `videos` artifact(s) with the training clips (repeatable).")
@click.option("--model", type=MODEL_SOURCE, default=DEFAULT_MODEL, show_default=True,
              help="Base model: hub id, local diffusers directory, or `tiny`.")
@click.option("--out", type=UserPath(file_okay=False), required=True,
              help="Output directory: the finetuned diffusers pipeline, checkpoints/, finetune_log.h5.")
@cfg.click_options(FinetuneConfig)
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in --out.")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def finetune(inputs, model, out, resume, seed, device, force, as_json, **options):
    """Finetune a video diffusion model on domain clips (paper section 3.1).

    Each episode of an `episodes` artifact is one clip, prompted with its task description;
    a `videos` artifact (from `import-videos`) holds clips with their own prompts. Clips are
    uniformly resampled to the model's frame count and size (see --frames/--height/--width).
    Multi-GPU: `accelerate launch -m genreward_cli finetune ...`.

    \b
      genreward finetune --videos expert.h5 --model tiny --steps 200 --out models/ft
      genreward generate --task pick-place-v3 --model models/ft --out goal_video.h5
    """
    import contextlib
    import os

    from genreward_cli.options import resolve_device
    from genreward_cli.store import folder_lock
    from genreward_cli.stages import finetune as stage

    # a second writer of the same folder is refused (the main process of accelerate's holds it)
    main = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
    with folder_lock(out) if main else contextlib.nullcontext():
        report = stage.run(cfg.build(FinetuneConfig, options), inputs=inputs, out=out,
                           model=model, resume=resume, seed=seed,
                           device=resolve_device(device), force=force)
    if report is not None:  # None on the other processes of `accelerate launch`
        emit(report, as_json)
