"""`genreward train-video-model`: train a baseline's video model on expert videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from genreward_cli.options import (
    FiniteFloat, debug_option, device_option, force_option, json_option, seed_option,
)

KINDS = ("vqdiffusion",)


@click.command("train-video-model")
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(KINDS), default="vqdiffusion", show_default=True,
              help="`vqdiffusion`: Diffusion Reward's VQGAN + frame-conditioned VQ-Diffusion "
                   "(Huang et al.; TEA-Lab/diffusion_reward), for --reward diffusion-reward.")
@click.option("--preset", type=click.Choice(["paper", "tiny"]), default="paper", show_default=True,
              help="`paper`: the authors' Meta-World config (VQGAN 1024 codes of 8x8 tokens, "
                   "16 transformer layers of width 128, 100 steps); `tiny`: the same classes "
                   "at a small size, for tests and CPUs.")
@click.option("--init", "init", default=None,
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
              help="Frames (stage 1) or frame windows (stage 2) per update.")
@click.option("--codec-lr", type=FiniteFloat(min=0, min_open=True), default=1e-4,
              show_default=True, help="VQGAN Adam learning rate (the authors').")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=4.5e-4,
              show_default=True, help="Transformer AdamW learning rate (the authors' after "
                                      "warm-up).")
@click.option("--skip-step", "skip_steps", type=click.IntRange(min=0), multiple=True,
              default=(9,), show_default=True,
              help="Skip steps to measure the reward statistics at (repeatable; the reward "
                   "refuses a skip step without them).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
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
    import numpy as np
    import torch

    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.options import resolve_device
    from genreward_cli.progress import progress_bar
    from genreward_cli.rewards import vqdiffusion_train as vt
    from genreward_cli.rewards.diffusion_reward import (
        META_NAME, EntropyScorer, VideoModel, write_model_dir,
    )
    from genreward_cli.video.model import quiet_libraries

    quiet_libraries()
    out = Path(out)
    if out.exists() and not force:
        raise BadInput(f"{out}: already exists; pass --force to overwrite")
    device = resolve_device(device)
    clips, tasks, parents = [], [], []
    for path in videos:
        with store.open_artifact(path, ("videos", "episodes")) as art:
            kind_name = art.kind.name
            root_task = art.attrs.get("task")
            for k in art.groups():
                g = art.file[f"{kind_name}/{k}"]
                frames = g["image" if kind_name == "episodes" else "frames"][()]
                t = task or g.attrs.get("task", root_task)
                if t is None:
                    raise BadInput(f"{path}: {kind_name}/{k} has no task attribute; pass --task")
                clips.append(frames)
                tasks.append(t.decode() if isinstance(t, bytes) else str(t))
            parents.append(art.ref())
    if not clips:
        raise BadInput(f"{', '.join(videos)}: holds no video")
    vqgan, transformer, scheduler = vt.build_parts(preset)
    r = vqgan.config.resolution
    bad = [c.shape for c in clips if c.shape[1:] != (r, r, 3)]
    if bad:
        raise BadInput(f"{videos[0]}: frames are {bad[0][1]}x{bad[0][2]}; the {preset} codec "
                       f"reads {r}x{r} (collect at --size {r})")
    if init is not None:
        if Path(init, META_NAME).is_file():
            loaded = VideoModel(init, "cpu", option="--init")
            vqgan, transformer = loaded.vqgan, loaded.transformer
            scheduler = loaded.scheduler
        elif Path(init).is_file():
            vt.load_authors(init, vqgan, transformer)
        else:
            raise BadInput(f"--init {init}: neither a model directory nor a checkpoint file")
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
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        config = {"kind": kind, "preset": preset, "init": init, "codec_steps": codec_steps,
                  "steps": steps, "batch_size": batch_size, "codec_lr": codec_lr, "lr": lr,
                  "skip_steps": list(skip_steps), "seed": seed, "device": device,
                  "videos": [store.record_path(p) for p in videos]}
        write_model_dir(tmp, vqgan.cpu(), transformer.cpu(), scheduler, {},
                        {"config": config, "parents": parents,
                         "producer": store.command_line()})
        model = VideoModel(str(tmp), device, option="--out")
        statistics: dict = {}
        for s in sorted(set(skip_steps)):
            scorer = EntropyScorer(model, s, seed=seed)
            per_task: dict = {}
            for frames, t in zip(clips, tasks):
                if len(frames) > 1:
                    per_task.setdefault(t, []).append(scorer.raw(frames, np.arange(1, len(frames))))
            for t, values in per_task.items():
                v = np.concatenate(values)
                statistics.setdefault(t, {})[str(s)] = [float(v.mean()), float(v.std())]
        meta = json.loads((tmp / META_NAME).read_text())
        meta["statistics"] = statistics
        (tmp / META_NAME).write_text(json.dumps(meta, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {"out": str(out), "kind": kind, "preset": preset, "videos": len(clips),
               "codec_loss": codec_losses[-1] if codec_losses else None,
               "loss": losses[-1] if losses else None, "statistics": statistics}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        stats = "; ".join(f"{t} skip {s}: mean {m:.4g}, std {d:.4g}"
                          for t, ss in statistics.items() for s, (m, d) in ss.items())
        click.echo(f"wrote {out}: {kind} ({preset}) trained on {len(clips)} videos; {stats}",
                   err=True)
