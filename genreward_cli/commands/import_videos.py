"""`genreward import-videos`: a folder of mp4 clips and their prompts into a `videos` artifact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from genreward_cli.options import debug_option, force_option, json_option, out_option

VIDEO_GLOBS = ("*.mp4", "*.webm", "*.avi", "*.mov", "*.gif")


def read_prompts(path: Path) -> dict[str, str]:
    """`file,prompt` rows (with that header); file names relative to the video folder."""
    from genreward_cli.errors import BadInput

    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"file", "prompt"} <= set(reader.fieldnames):
            raise BadInput(f"{path}: expected a CSV header with columns 'file' and 'prompt'")
        prompts = {}
        for row in reader:
            if not (row["prompt"] or "").strip():
                raise BadInput(f"{path}: empty prompt for {row['file']!r}")
            prompts[row["file"]] = row["prompt"].strip()
    return prompts


@click.command("import-videos")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--prompts", type=click.Path(dir_okay=False), required=True,
              help="CSV with columns file,prompt (one row per video in FOLDER).")
@click.option("--frames", type=click.IntRange(min=0), default=49, show_default=True,
              help="Frames per clip, uniformly sampled (49 = CogVideoX); 0 keeps all.")
@click.option("--height", type=click.IntRange(min=0), default=480, show_default=True,
              help="Frame height after resizing; 0 keeps the source's.")
@click.option("--width", type=click.IntRange(min=0), default=720, show_default=True,
              help="Frame width after resizing (720 = CogVideoX-5B-I2V); 0 keeps the source's.")
@out_option("Output `videos` artifact (.h5).")
@force_option
@json_option
@debug_option
def import_videos(folder, prompts, frames, height, width, out, force, as_json):
    """Read real-domain clips (Bridge / RT-1 style mp4 files) for `finetune`.

    Each clip is uniformly resampled to --frames frames and resized (bilinear, antialiased,
    aspect ratio not kept) to --height x --width; use the model's native values.

    \b
      genreward import-videos bridge/ --prompts bridge/prompts.csv --out bridge.h5
    """
    import imageio.v3 as iio
    import numpy as np

    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.progress import progress_bar
    from genreward_cli.video.clips import resample

    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    if not Path(prompts).is_file():
        raise BadInput(f"--prompts {prompts}: no such file")
    table = read_prompts(Path(prompts))
    files = sorted({p for g in VIDEO_GLOBS for p in folder.glob(g)})
    if not files:
        raise BadInput(f"{folder}: no video files ({', '.join(VIDEO_GLOBS)})")
    missing = [p.name for p in files if p.name not in table]
    if missing:
        raise BadInput(f"{prompts}: no prompt for {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    unknown = sorted(set(table) - {p.name for p in files})
    if unknown:
        raise BadInput(f"{prompts}: lists files not in {folder}: {', '.join(unknown[:5])}")
    store.check_output(out, force)
    config = {"folder": store.record_path(folder), "prompts": store.record_path(prompts),
              "frames": frames,
              "height": height, "width": width}
    with store.write_artifact(out, "videos", config=config, force=force) as h5, \
            progress_bar(len(files), "import") as advance:
        for k, path in enumerate(files):
            try:
                video = np.asarray(iio.imread(path, index=None))
                fps = float(iio.immeta(path).get("fps", 0.0) or 0.0)
            except Exception as e:  # a broken or unsupported file is bad input
                raise BadInput(f"{path}: cannot read video: {e}") from None
            if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
                raise BadInput(f"{path}: expected RGB uint8 frames, got {video.dtype} {list(video.shape)}")
            video = resample(video, frames or len(video), height or video.shape[1],
                             width or video.shape[2])
            g = h5.create_group(f"videos/{k:06d}")
            store.frames_dataset(g, "frames", video)
            g.attrs.update(prompt=table[path.name], source=store.record_path(path), fps=fps)
            advance(1)
    summary = {"out": str(out), "clips": len(files), "frames": frames, "height": height,
               "width": width}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {out}: {len(files)} clips", err=True)
