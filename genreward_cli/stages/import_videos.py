"""The `import-videos` stage: a folder of real-domain clips (Bridge / RT-1 style mp4 files)
and their prompts as a `videos` artifact, for `finetune`."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.progress import counted, progress_bar
from genreward_cli.stages import Report

VIDEO_GLOBS = ("*.mp4", "*.webm", "*.avi", "*.mov", "*.gif")
VIDEO_SUFFIXES = frozenset(g[1:] for g in VIDEO_GLOBS)  # ".mp4", ...: matched in any case


def video_files(folder: Path) -> list[Path]:
    """The videos directly in ``folder``: the suffixes of ``VIDEO_GLOBS`` in any case
    (`CLIP.MP4` from a camera), without macOS's AppleDouble companions (`._clip.mp4`, which
    hold a file's metadata, not a video)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES
                  and not p.name.startswith("._") and p.is_file())


def _nfc(name: str) -> str:
    """A file name in Unicode's composed form (NFC): macOS writes names decomposed (NFD), so
    `café.mp4` on disk and in a CSV typed elsewhere can differ in bytes alone."""
    import unicodedata

    return unicodedata.normalize("NFC", name)


def read_prompts(path: Path) -> dict[str, str]:
    """`file,prompt` rows (with that header); file names relative to the video folder, in
    NFC (``_nfc``).
    Raises BadInput for a file that is not UTF-8 text (e.g. a video or an HDF5 file given by
    mistake), a missing header column or an empty prompt."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"file", "prompt"} <= set(reader.fieldnames):
                raise BadInput(f"{path}: expected a CSV header with columns 'file' and 'prompt'")
            prompts = {}
            for row in reader:
                if not (row["prompt"] or "").strip():
                    raise BadInput(f"{path}: empty prompt for {row['file']!r}")
                name, prompt = _nfc(row["file"]), row["prompt"].strip()
                if prompts.get(name, prompt) != prompt:  # the last one won, silently
                    raise BadInput(f"{path}: {row['file']!r} is listed twice, with different "
                                   f"prompts ({prompts[name]!r}, {prompt!r})")
                prompts[name] = prompt
    except (UnicodeDecodeError, csv.Error) as e:
        raise BadInput(f"{path}: not a UTF-8 CSV file of `file,prompt` rows ({e})") from None
    return prompts


def run(folder: str | os.PathLike, *, prompts: str | os.PathLike, out: str | os.PathLike,
        frames: int = 49, height: int = 480, width: int = 720, force: bool = False) -> Report:
    """Read every video of ``folder`` (VIDEO_GLOBS) with its prompt from the CSV ``prompts``
    into the `videos` artifact ``out`` (videos/<k>/frames u8 [F,H,W,3]; attrs prompt, source,
    fps), each uniformly resampled to ``frames`` frames and resized (bilinear, antialiased,
    aspect ratio not kept) to ``height`` x ``width``; 0 keeps the source's.

    Raises BadInput (exit code 2) for a missing folder or CSV, a folder without videos, a
    video without a prompt or a prompt without a video, an unreadable or non-RGB video, and
    an existing ``out`` without ``force``.
    """
    import imageio.v3 as iio
    import numpy as np

    from genreward_cli.video.clips import resample

    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    if not Path(prompts).is_file():
        raise BadInput(f"--prompts {prompts}: no such file")
    table = read_prompts(Path(prompts))
    files = video_files(folder)
    # --force never overwrites the CSV or a video; and a video's name in the folder would be
    # read by the next import as a video
    store.check_not_input(out, [prompts, *files])
    if Path(out).suffix.lower() in VIDEO_SUFFIXES and \
            os.path.realpath(Path(out).parent) == os.path.realpath(folder):
        raise BadInput(f"--out {out}: a video's name in {folder}, which the next import of it "
                       "would read as a video; write the `videos` artifact elsewhere (.h5)")
    if not files:
        sub = [d.name for d in folder.iterdir() if d.is_dir() and video_files(d)]
        raise BadInput(f"{folder}: no video files ({', '.join(VIDEO_GLOBS)})"
                       + (f"; subfolders are not searched ({', '.join(sub[:3])} "
                          f"{'holds' if len(sub) == 1 else 'hold'} videos)" if sub else ""))
    missing = [p.name for p in files if _nfc(p.name) not in table]
    if missing:
        raise BadInput(f"{prompts}: no prompt for {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    unknown = sorted(set(table) - {_nfc(p.name) for p in files})
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
                meta = iio.immeta(path)
                fps = float(meta.get("fps", 0.0) or 0.0)
                if not fps and meta.get("duration"):  # a GIF: milliseconds per frame
                    fps = 1000.0 / float(meta["duration"])
            except Exception as e:  # a broken or unsupported file is bad input
                # ffmpeg's message is its banner and build flags, then the reason: the last line
                lines = [line.strip() for line in str(e).splitlines() if line.strip()]
                reason = (lines[-1] if lines else type(e).__name__)[:200]
                raise BadInput(f"{path}: cannot read video: {reason}") from None
            if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
                raise BadInput(f"{path}: expected RGB uint8 frames, got {video.dtype} {list(video.shape)}")
            video = resample(video, frames or len(video), height or video.shape[1],
                             width or video.shape[2])
            g = h5.create_group(f"videos/{k:06d}")
            store.frames_dataset(g, "frames", video)
            g.attrs.update(prompt=table[_nfc(path.name)], source=store.record_path(path), fps=fps)
            advance(1)
    summary = {"out": str(out), "clips": len(files), "frames": frames, "height": height,
               "width": width}
    return Report(f"wrote {out}: {counted(len(files), 'clip')}", summary)
