"""The `train-video-model` stage: a baseline's video model trained on expert videos, written as
a model directory (Diffusion Reward's VQGAN + frame-conditioned VQ-Diffusion, with the reward
statistics its reward needs)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Sequence

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.progress import progress_bar
from genreward_cli.stages import Report

KINDS = ("vqdiffusion",)


def read_videos(videos: Sequence[str | os.PathLike], task: str | None = None):
    """The clips of the `videos` / `episodes` artifacts ``videos``: ``(clips, tasks,
    parents)``, clips u8 [F,H,W,3] each, the task of each clip (``task``, else the episode's
    or the file's `task` attribute), and the files' parent entries. Raises BadInput for a clip
    without a task."""
    clips, tasks, parents = [], [], []
    policies: dict[str, int] = {}  # episodes' policies other than the expert's: how many
    for path in videos:
        with store.open_artifact(path, ("videos", "episodes")) as art:
            kind_name = art.kind.name
            root_task = art.attrs.get("task")
            for k in art.groups():
                g = art.file[f"{kind_name}/{k}"]
                frames = g["image" if kind_name == "episodes" else "frames"][()]
                recorded = g.attrs.get("task", root_task)
                if task is not None and recorded is not None and store.text(recorded) != task:
                    raise BadInput(f"--task {task}: {path} holds episodes of "
                                   f"{store.text(recorded)}; the statistics are keyed by the "
                                   "videos' task")
                t = task or recorded
                if t is None:
                    raise BadInput(f"{path}: {kind_name}/{k} has no task attribute; pass --task")
                policy = store.text(g.attrs.get("policy", "")) or "unknown"
                if kind_name == "episodes" and policy != "expert":
                    policies[policy] = policies.get(policy, 0) + 1
                clips.append(frames)
                tasks.append(store.text(t))
            parents.append(art.ref())
    if policies:
        which = ", ".join(f"{n} {p}" for p, n in sorted(policies.items()))
        warnings.warn(f"{sum(policies.values())} of {len(clips)} episodes are not the scripted "
                      f"expert's ({which}): Diffusion Reward learns the expert videos' "
                      "distribution, and rewards what resembles them", stacklevel=2)
    return clips, tasks, parents


def video_model_folder(path: Path) -> bool:
    """Whether the folder ``path`` is an earlier `train-video-model` output: its
    ``diffusion_reward.json`` (a JSON object) and model folders holding only the files
    save_pretrained writes (``model_files.is_model_files``), nothing else."""
    from genreward_cli.rewards.diffusion_reward import META_NAME

    try:
        meta = json.loads((path / META_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and not foreign_to_video_model(path)


def foreign_to_video_model(path: Path) -> list[str]:
    """The entries of the folder ``path`` that `train-video-model` did not write: all but
    its ``diffusion_reward.json`` and model folders (``model_files.is_model_files``)."""
    from genreward_cli.model_files import is_model_files
    from genreward_cli.rewards.diffusion_reward import META_NAME

    return sorted(e.name for e in path.iterdir()
                  if e.name != META_NAME and not is_model_files(e))


def _batch_within(batch_size: int, clips: list, videos: Sequence) -> int:
    """``batch_size``, or the number of frames in ``clips`` (uint8 [F, H, W, 3] each) when it
    is larger, with a warning: a batch never holds more frames (codec) or windows
    (transformer) than the data has, so `--batch-size 100000000` cannot exhaust memory."""
    frames = sum(len(c) for c in clips)
    if batch_size <= frames:
        return batch_size
    warnings.warn(f"--batch-size {batch_size} is more than the {frames} frames of "
                  f"{', '.join(map(str, videos))}: batches of {frames}", stacklevel=2)
    return frames


def _raw_per_task(scorer, clips: list, tasks: list, advance, chunk: int = 256) -> dict:
    """{task: [raw rewards float32 [F - 1] of each of its clips of F > 1 frames]}: every frame
    after the first scored by ``scorer`` (``EntropyScorer``), ``chunk`` rows at a time, each
    reported to ``advance(rows)``."""
    import numpy as np

    per_task: dict = {}
    for frames, t in zip(clips, tasks):
        if len(frames) < 2:
            continue
        key = scorer.episode_key(frames[0])
        parts = []
        for start in range(1, len(frames), chunk):
            rows = np.arange(start, min(start + chunk, len(frames)))
            parts.append(scorer.raw(frames, rows, key))
            advance(len(rows))
        per_task.setdefault(t, []).append(np.concatenate(parts))
    return per_task


def run(videos: Sequence[str | os.PathLike], *, out: str | os.PathLike,
        kind: str = "vqdiffusion", preset: str = "paper", init: str | None = None,
        task: str | None = None, codec_steps: int = 2000, steps: int = 20000,
        batch_size: int = 32, codec_lr: float = 1e-4, lr: float = 4.5e-4,
        skip_steps: Sequence[int] = (9,), seed: int = 0, device: str = "cpu",
        force: bool = False) -> Report:
    """Train Diffusion Reward's video model (``kind`` `vqdiffusion`, ``preset`` `paper` or
    `tiny`) on the expert clips of ``videos``: ``codec_steps`` VQGAN updates, then ``steps``
    transformer updates, ``batch_size`` frames or windows each; ``init`` starts from a model
    directory this stage wrote or from the authors' checkpoint file.

    Writes the directory ``out`` atomically (vqgan/, transformer/, scheduler/ and
    diffusion_reward.json with, per task and skip step of ``skip_steps``, the mean and std of
    the raw reward over the training videos). ``device`` is a torch device string (already
    resolved).

    Raises BadInput (exit code 2) for an existing ``out`` without ``force``, inputs without
    videos or with frames of another size than the codec reads, a clip without a task, and an
    ``init`` that is neither a model directory nor a checkpoint file, and a skip step the
    model's chain does not have.
    """
    import numpy as np
    import torch

    from genreward_cli.model_files import quiet_libraries
    from genreward_cli.rewards import vqdiffusion_train as vt
    from genreward_cli.rewards.diffusion_reward import (
        META_NAME, EntropyScorer, VideoModel, write_model_dir,
    )

    if task is not None:  # its statistics are keyed by it: train-agent --task must find them
        from genreward_cli.envs.tasks import check_task

        check_task(task)
    quiet_libraries()
    out = Path(out)
    # --force replaces an earlier model folder of this command, nothing else
    out = store.check_folder_output(out, force, (META_NAME,), owns=video_model_folder,
                                    foreign=foreign_to_video_model)
    clips, tasks, parents = read_videos(videos, task)
    if not clips:
        raise BadInput(f"{', '.join(map(str, videos))}: holds no video")
    torch.manual_seed(seed)  # the initial weights too: --seed makes a run reproducible
    vqgan, transformer, scheduler = vt.build_parts(preset)
    r = vqgan.config.resolution
    bad = [c.shape for c in clips if c.shape[1:] != (r, r, 3)]
    if bad:
        raise BadInput(f"{videos[0]}: frames are {bad[0][1]}x{bad[0][2]}; the {preset} codec "
                       f"reads {r}x{r} (collect at --size {r})")
    if steps and not any(len(c) >= 3 for c in clips):  # before the codec's training
        raise BadInput(f"{', '.join(map(str, videos))}: every video has fewer than 3 frames; "
                       "the transformer learns frame i+2 from frames i and i+1")
    batch_size = _batch_within(batch_size, clips, videos)
    if init is not None:
        if Path(init, META_NAME).is_file():
            loaded = VideoModel(init, "cpu", option="--init")
            vqgan, transformer = loaded.vqgan, loaded.transformer
            scheduler = loaded.scheduler
        elif Path(init).is_file():
            vt.load_authors(init, vqgan, transformer)
        else:
            raise BadInput(f"--init {init}: neither a model directory nor a checkpoint file")
    chain = int(scheduler.config.num_train_timesteps)  # checked now, not after the training
    bad = [s for s in skip_steps if not 0 <= s < chain]
    if bad:
        raise BadInput(f"--skip-step {bad[0]}: expected 0 to {chain - 1} (the model's {chain} "
                       "diffusion steps)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    scheduler.set_timesteps(scheduler.config.num_train_timesteps, device)
    with progress_bar(codec_steps + steps, f"train-video-model {kind}") as advance:
        codec_losses = vt.train_codec(vqgan, np.concatenate(clips), codec_steps, batch_size,
                                      codec_lr, rng, device, advance)
        with torch.inference_mode():
            tokens = [torch.cat([vqgan.encode_tokens(
                torch.from_numpy(c[i:i + 64]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1)
                for i in range(0, len(c), 64)]).cpu() for c in clips]
        losses = vt.train_transformer(transformer, scheduler, tokens, steps, batch_size, lr, rng,
                                      device, advance)
    with store.replacing_dir(out) as tmp:
        config = {"kind": kind, "preset": preset, "init": init, "codec_steps": codec_steps,
                  "steps": steps, "batch_size": batch_size, "codec_lr": codec_lr, "lr": lr,
                  "skip_steps": list(skip_steps), "seed": seed, "device": device,
                  "videos": [store.record_path(p) for p in videos]}
        write_model_dir(tmp, vqgan.cpu(), transformer.cpu(), scheduler, {},
                        {"config": config, "parents": parents,
                         "producer": store.command_line(),
                         "written_as": os.path.realpath(out)})
        model = VideoModel(str(tmp), device, option="--out")
        statistics: dict = {}
        rows = sum(max(len(c) - 1, 0) for c in clips) * len(set(skip_steps))
        with progress_bar(rows, "reward statistics (frames scored)") as advance:
            per_step = {s: _raw_per_task(EntropyScorer(model, s, seed=seed), clips, tasks,
                                         advance) for s in sorted(set(skip_steps))}
        for s, per_task in per_step.items():
            for t, values in per_task.items():
                v = np.concatenate(values)
                mean, std = float(v.mean()), float(v.std())
                if not (np.isfinite(mean) and np.isfinite(std)):
                    raise FloatingPointError(
                        f"the reward statistics of {t} at skip step {s} are mean {mean}, std "
                        f"{std}: the trained model's outputs are not finite (lower --lr or "
                        "--codec-lr)")
                statistics.setdefault(t, {})[str(s)] = [mean, std]
        meta = json.loads((tmp / META_NAME).read_text())
        meta["statistics"] = statistics
        (tmp / META_NAME).write_text(json.dumps(meta, indent=1))
    summary = {"out": str(out), "kind": kind, "preset": preset, "videos": len(clips),
               "codec_loss": codec_losses[-1] if codec_losses else None,
               "loss": losses[-1] if losses else None, "statistics": statistics}
    stats = "; ".join(f"{t} skip {s}: mean {m:.4g}, std {d:.4g}"
                      for t, ss in statistics.items() for s, (m, d) in ss.items())
    line = f"wrote {out}: {kind} ({preset}) trained on {len(clips)} videos; {stats}"
    return Report(line, summary)
