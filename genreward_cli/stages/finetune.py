"""The `finetune` stage: adapt a CogVideoX image-to-video model to domain clips (paper section
3.1), writing a diffusers directory with its resumable checkpoints and a `finetune_log`.

The objective and the model surgery are :class:`genreward_cli.video.finetune.VideoFinetuner`'s;
here are the output folder, the training loop, its checkpoints and the log.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

from genreward_cli import config as cfg
from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.progress import counted, progress_bar
from genreward_cli.stages import Report
from genreward_cli.video.finetune import RESUME_HINT, FinetuneConfig
from genreward_cli.video.model import DEFAULT_MODEL


def latest_checkpoint(out: Path) -> Path | None:
    """The newest ``out/checkpoints/step-*.pt`` (by step), or None when there is none."""
    found = sorted((out / "checkpoints").glob("step-*.pt"))
    return found[-1] if found else None


def _finetune_entry(entry: Path) -> bool:
    """Whether ``entry``, beside the saved pipeline, is a finetune's own: its log (or the
    log's unfinished ``.tmp``), the checkpoints folder (step-NNNNNNN.pt files and their
    temporary copies only), the LoRA adapter folder (its weights only), or the export's
    staging folder (a saved pipeline, finished or not)."""
    import re

    from genreward_cli.model_files import holds_only_model

    if entry.is_symlink():
        return False
    if entry.name in ("finetune_log.h5", "finetune_log.h5.tmp"):
        return entry.is_file()
    if entry.name == "checkpoints":
        names = [e.name for e in entry.iterdir()] if entry.is_dir() else [None]
        return all(n and re.fullmatch(r"\.?step-\d+\.pt(\..*)?", n) for n in names)
    if entry.name == "lora":
        return entry.is_dir() and all(e.is_file() and e.name == "pytorch_lora_weights.safetensors"
                                      for e in entry.iterdir())
    if entry.name in (".export", ".export.tmp") and entry.is_dir():
        return not any(entry.iterdir()) or holds_only_model(entry)
    return False


def finetune_folder(path: Path) -> bool:
    """Whether the folder ``path`` is an earlier output of `finetune`, finished or not: every
    entry is the saved pipeline's or the finetune's own (``_finetune_entry``)."""
    from genreward_cli.model_files import holds_only_model

    return holds_only_model(path, extra=_finetune_entry)


def foreign_to_finetune(path: Path) -> list[str]:
    """The entries of the folder ``path`` that neither a saved pipeline nor `finetune` wrote."""
    from genreward_cli.model_files import foreign_entries

    return foreign_entries(path, extra=_finetune_entry)


def check_resume(checkpoint: Path, run_info: dict) -> None:
    """Refuse to continue ``checkpoint`` with another --model, --seed or other input files
    (compared by content: moved files are the same inputs); the options of the finetune
    itself are checked when it is loaded (``VideoFinetuner.load_checkpoint``). Checkpoints
    written before these were saved are not checked. The checkpoint is memory-mapped: its
    weights are not read here.

    Raises:
        BadInput: one line naming each difference."""
    saved = store.read_checkpoint(checkpoint, RESUME_HINT, mmap=True).get("run")
    if not saved:
        return
    changed = ["the input files" if k == "inputs"
               else f"{k}={saved[k]!r} (now {run_info.get(k)!r})"
               for k in saved if saved[k] != run_info.get(k)]
    if changed:
        raise BadInput(f"--resume: {checkpoint} was made with other options: "
                       f"{', '.join(changed)}; give its model, seed and inputs to continue it, "
                       "or --force to start over")


def run(config: FinetuneConfig, *, inputs: Sequence[str | os.PathLike],
        out: str | os.PathLike, model: str = DEFAULT_MODEL, resume: bool = False,
        seed: int = 0, device: str = "cpu", force: bool = False) -> Report | None:
    """Finetune ``model`` (hub id, local diffusers directory or `tiny`) on the clips of the
    `episodes` / `videos` artifacts ``inputs`` for ``config.steps`` steps, under accelerate
    (one process, or each of ``accelerate launch``'s).

    ``out`` receives the finetuned pipeline (plain diffusers; a LoRA run also keeps its
    adapter in ``out/lora``), ``checkpoints/step-*.pt`` every ``config.checkpoint_every``
    steps and at the end, and ``finetune_log.h5`` (metrics/step, loss, lr). ``resume``
    continues from the latest checkpoint in ``out``; ``force`` replaces an ``out`` that is not
    empty. ``device`` is a torch device string (``cuda`` or ``cpu``, already resolved).

    Returns the report on the main process, None on the others.
    Raises BadInput (exit code 2) for an ``out`` that is a file, holds an input, or is not
    empty without ``force`` or ``resume``; ``resume`` without a checkpoint; a checkpoint made
    with other options; a model or clip size the model cannot take.
    """
    import numpy as np
    import torch
    from accelerate import Accelerator

    from genreward_cli.video.clips import read_clips
    from genreward_cli.video.finetune import VideoFinetuner
    from genreward_cli.video.model import load_pipeline
    from genreward_cli.video.presets import PRESETS

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory")
    checkpoint = None
    if resume:
        out = Path(os.path.abspath(out))  # the summary's `out`, as check_folder_output's
        checkpoint = latest_checkpoint(out) if out.is_dir() else None
        if checkpoint is None:
            raise BadInput(f"--resume: no checkpoint in {out}/checkpoints")
        store.check_writable(out / "finetune_log.h5")  # it writes into the folder
    else:
        # --force removes the folder: never one that holds a clip file or the model
        store.check_not_input(out, [*inputs, model], replaces_folder=True)
    if not resume:  # --force removes the folder: only an earlier finetune's, finished or not
        out = store.check_folder_output(out, force, ("model_index.json", "checkpoints",
                                                     "lora", "finetune_log.h5"),
                                        other=" or --resume to continue", owns=finetune_folder,
                                        foreign=foreign_to_finetune)
    clips, parents = [], []
    for path in inputs:
        with store.open_artifact(path, ("episodes", "videos")) as art:
            clips += read_clips(art)
            parents.append(art.ref())
    precision = config.mixed_precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "no"
    accelerator = Accelerator(mixed_precision=precision, cpu=device == "cpu")
    torch.manual_seed(seed)

    run_info = {"model": store.record_path(model), "seed": seed,
                "inputs": sorted(p["sha256"] for p in parents)}
    if checkpoint is not None:  # before the model is loaded and the clips encoded
        check_resume(checkpoint, run_info)
    pipe = load_pipeline(model, device=str(accelerator.device))
    tuner = VideoFinetuner(pipe, config, seed, accelerator)
    tuner.run_info = run_info
    import shutil

    if force and not resume and accelerator.is_main_process:
        shutil.rmtree(out, ignore_errors=True)
    made = store.missing_folders(out)  # the folders this run makes (--out and above)
    out.mkdir(parents=True, exist_ok=True)

    try:
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
    except BaseException as e:  # Ctrl-C, SIGTERM or an error: the checkpoints so far stay
        if latest_checkpoint(out) is not None:
            if isinstance(e, KeyboardInterrupt):
                e.note = f"checkpoints kept in {out}/checkpoints: rerun with --resume to continue"
        elif accelerator.is_main_process and (made or force) and not resume:
            shutil.rmtree(out, ignore_errors=True)  # nothing to resume: no empty folder left
            store.remove_folders(made)
        raise
    elapsed = time.perf_counter() - start
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return None
    try:
        if tuner.step % config.checkpoint_every:
            tuner.save_checkpoint(out / "checkpoints")
        tuner.export(model, out, load_pipeline)
    except KeyboardInterrupt as e:  # during the export: the checkpoints stay, and say so
        if latest_checkpoint(out) is not None:
            e.note = (f"checkpoints kept in {out}/checkpoints: rerun with --resume to export "
                      "the model")
        raise

    steps, losses, lrs = (np.array(c) for c in zip(*tuner.history)) if tuner.history else ([],) * 3
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
    loss = (f"loss {summary['first_loss']:.4f} -> {summary['final_loss']:.4f}" if len(losses)
            else "no loss recorded")
    line = (f"wrote {out}: {config.trainable} finetune of {model}, "
            f"{counted(tuner.step, 'step')} on {counted(len(clips), 'clip')}, {loss}")
    return Report(line, summary)
