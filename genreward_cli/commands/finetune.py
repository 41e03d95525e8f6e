"""`genreward finetune`: adapt a CogVideoX image-to-video model to domain clips."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click

from genreward_cli import config as cfg
from genreward_cli.options import debug_option, device_option, force_option, json_option, seed_option
from genreward_cli.video.finetune import FinetuneConfig
from genreward_cli.video.model import DEFAULT_MODEL


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("step-*.pt"))
    return found[-1] if found else None


@click.command()
@click.option("--videos", "inputs", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="`episodes` or `videos` artifact(s) with the training clips (repeatable).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Base model: hub id, local diffusers directory, or `tiny`.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
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
    import torch
    from accelerate import Accelerator

    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.options import resolve_device
    from genreward_cli.progress import progress_bar
    from genreward_cli.video.clips import read_clips
    from genreward_cli.video.finetune import VideoFinetuner
    from genreward_cli.video.model import load_pipeline

    config = cfg.build(FinetuneConfig, options)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory")
    checkpoint = None
    if resume:
        checkpoint = latest_checkpoint(out) if out.is_dir() else None
        if checkpoint is None:
            raise BadInput(f"--resume: no checkpoint in {out}/checkpoints")
    else:
        # --force removes the folder: never one that holds a clip file or the model
        store.check_not_input(out, [*inputs, model], replaces_folder=True)
    if not resume and out.exists() and any(out.iterdir()):
        if not force:
            raise BadInput(f"{out}: already exists; pass --force to overwrite or --resume to continue")
    clips, parents = [], []
    for path in inputs:
        with store.open_artifact(path, ("episodes", "videos")) as art:
            clips += read_clips(art)
            parents.append(art.ref())
    device = resolve_device(device)
    precision = config.mixed_precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "no"
    accelerator = Accelerator(mixed_precision=precision, cpu=device == "cpu")
    torch.manual_seed(seed)

    pipe = load_pipeline(model, device=str(accelerator.device))
    tuner = VideoFinetuner(pipe, config, seed, accelerator)
    if force and not resume and accelerator.is_main_process:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    with progress_bar(len(clips), "encode clips") as advance:
        data = tuner.prepare(clips, on_clip=advance)
    if checkpoint is not None:
        tuner.load_checkpoint(checkpoint)
    start_step, start = tuner.step, time.perf_counter()
    with progress_bar(config.steps, "finetune") as advance:
        advance(min(tuner.step, config.steps))
        while tuner.step < config.steps:
            tuner.train_step(data)
            advance(1)
            if tuner.step % config.checkpoint_every == 0 and accelerator.is_main_process:
                tuner.save_checkpoint(out / "checkpoints")
    elapsed = time.perf_counter() - start
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    if tuner.step % config.checkpoint_every:
        tuner.save_checkpoint(out / "checkpoints")
    tuner.export(model, out, load_pipeline)

    import numpy as np

    steps, losses, lrs = (np.array(c) for c in zip(*tuner.history)) if tuner.history else ([],) * 3
    from genreward_cli.video.presets import PRESETS

    base = store.record_path(model, builtin=PRESETS)  # local paths absolute, names as given
    run_config = cfg.to_json(config, model=base, inputs=[store.record_path(p) for p in inputs],
                             seed=seed, device=device,
                             mixed_precision_resolved=precision, frames_resolved=tuner.frames,
                             height_resolved=tuner.height, width_resolved=tuner.width,
                             clips=len(clips), processes=accelerator.num_processes)
    with store.write_artifact(out / "finetune_log.h5", "finetune_log", config=run_config,
                                  parents=parents, force=True) as h5:
        store.array_dataset(h5, "metrics/step", np.asarray(steps, np.int64))
        store.array_dataset(h5, "metrics/loss", np.asarray(losses, np.float32))
        store.array_dataset(h5, "metrics/lr", np.asarray(lrs, np.float32))
        h5.attrs.update(model=base, trainable=config.trainable)
    trained = tuner.step - start_step
    tail = max(1, len(losses) // 10)
    summary = {
        "out": str(out), "steps": tuner.step, "clips": len(clips),
        "first_loss": float(losses[0]) if len(losses) else None,
        "final_loss": float(np.mean(losses[-tail:])) if len(losses) else None,
        "s_per_step": elapsed / trained if trained else None,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {out}: {config.trainable} finetune of {model}, {tuner.step} steps on "
                   f"{len(clips)} clips, loss {summary['first_loss']:.4f} -> "
                   f"{summary['final_loss']:.4f}", err=True)
