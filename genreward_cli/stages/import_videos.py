"""The `import-videos` stage: a folder of real-domain clips (Bridge / RT-1 style mp4 files)
and their prompts as a `videos` artifact, for `finetune`."""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def _is_video_in(path: Path, folder: Path) -> bool:
    """Whether ``path`` is a video file (``VIDEO_SUFFIXES``) inside ``folder`` (not outside
    it through `..` or a link)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return (path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()
            and os.path.commonpath([real, root]) == root)


def _name(path: Path, folder: Path) -> str:
    """A video's name in the CSV: its path from ``folder`` (`/`-separated), in NFC."""
    return _nfc(path.relative_to(folder).as_posix())


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
                if row["prompt"] is None:  # one field: no comma, or `"a.mp4,x` unclosed
                    field = row["file"] or ""
                    start = reader.line_num - field.rstrip("\n").count("\n")
                    if "," in field or "\n" in field:
                        raise BadInput(f"{path}: line {start}: a quote (\") that is not "
                                       "closed; quote a whole field, as in "
                                       "\"a.mp4\",\"pick up the fork\"")
                    raise BadInput(f"{path}: line {start}: {field!r} has no prompt; expected "
                                   "`file,prompt` rows")
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


@dataclass
class ImportedClip:
    frames: np.ndarray  # uint8 [count, height, width, 3]
    fps: float  # the source's frame rate; 0.0 when the file gives none
    length: int  # the source's frame count
    size: tuple[int, int]  # the source's (height, width)


def _reading_failed(path: Path, e: Exception) -> BadInput:
    # ffmpeg's message is its banner and build flags, then the reason: the last line
    if (kinds := stream_kinds(path)) and "Video" not in kinds:  # an audio file named .mp4
        return BadInput(f"{path}: cannot read video: the file has no video stream, only "
                        f"{', '.join(k.lower() for k in kinds)}")
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    reason = (lines[-1] if lines else type(e).__name__)[:200]
    return BadInput(f"{path}: cannot read video: {reason}")


def stream_kinds(path: Path) -> list[str]:
    """The kinds of the streams ffmpeg finds in ``path`` (``Video``, ``Audio``, ``Data``,
    ``Subtitle``), each once, in order; empty when ffmpeg cannot open it."""
    import re
    import subprocess

    import imageio_ffmpeg

    try:
        done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner",
                               "-i", str(path)], capture_output=True, text=True,
                              errors="replace", timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    kinds = re.findall(r"Stream #\d+:\d+\S*: (\w+):", done.stderr)
    return list(dict.fromkeys(kinds))


class _RotatedSizeNote:
    """Drops imageio-ffmpeg's "The frame size for reading (w, h) is different from the
    source frame size (h, w)." for a clip with a rotation in its metadata (a phone's): the
    frames come upright, as they should, and the line on stderr only confused."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("The frame size for reading")


def count_packets(path: Path) -> int | None:
    """The number of video packets of ``path``, counted by ffmpeg without decoding
    (``-c copy -f null``; milliseconds where decoding takes seconds): the frame count for
    nearly every file. None when ffmpeg cannot tell."""
    import re
    import subprocess

    import imageio_ffmpeg

    try:
        done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-i", str(path),
                               "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                              capture_output=True, text=True, errors="replace", timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    counts = re.findall(r"frame=\s*(\d+)", done.stderr)
    return int(counts[-1]) if done.returncode == 0 and counts else None


def read_clip(path: Path, count: int, height: int, width: int) -> ImportedClip:
    """The video file ``path`` uniformly resampled to ``count`` frames
    (``video.clips.uniform_indices``; 0 keeps all) and resized to ``height`` x ``width``
    (``video.clips.resize_frames``; 0 keeps the source's), as ``resample`` would do to the
    whole clip, but streamed: memory holds the ``count`` frames kept, never the whole source
    clip. The frame count comes from ``count_packets``; where decoding gives another count
    (a variable frame rate), the clip is decoded again with the decoded count.

    Raises BadInput (exit code 2) for a file that cannot be decoded, has no frames, or whose
    frames are not RGB uint8.
    """
    import logging

    import imageio.v3 as iio

    ffmpeg_log = logging.getLogger("imageio_ffmpeg")
    if not any(isinstance(f, _RotatedSizeNote) for f in ffmpeg_log.filters):
        ffmpeg_log.addFilter(_RotatedSizeNote())
    try:
        meta = iio.immeta(path)
        fps = float(meta.get("fps", 0.0) or 0.0)
        if not fps and meta.get("duration"):  # a GIF: milliseconds per frame
            fps = 1000.0 / float(meta["duration"])
        length = count_packets(path) if count else None
        frames, decoded, size = _decode_kept(path, count, length, height, width)
        if count and decoded != length:
            frames, decoded, size = _decode_kept(path, count, decoded, height, width)
    except BadInput:
        raise
    except Exception as e:  # a broken or unsupported file is bad input
        raise _reading_failed(path, e) from None
    return ImportedClip(np.stack(frames), fps, decoded, size)


def _decode_kept(path: Path, count: int, length: int | None, height: int, width: int):
    """One decoding pass of ``read_clip``: the frames that ``uniform_indices(length, count)``
    keeps (all when ``count`` is 0), resized; the number of frames decoded; their size.
    With ``length`` None or wrong, the frames kept are wrong but the count decoded is right."""
    import imageio.v3 as iio

    from genreward_cli.video.clips import resize_frames, uniform_indices

    keep = np.bincount(uniform_indices(length, count), minlength=length) if count and length \
        else None
    frames, size, decoded = [], None, 0
    for frame in iio.imiter(path):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise BadInput(f"{path}: expected RGB uint8 frames, got {frame.dtype} "
                           f"{list(frame.shape)} per frame")
        size = tuple(frame.shape[:2])
        if not count:
            repeats = 1  # every frame kept
        elif keep is None or decoded >= len(keep):
            repeats = 0  # a counting pass, or frames past the count
        else:
            repeats = int(keep[decoded])
        if repeats:
            small = resize_frames(frame[None], height or size[0], width or size[1])[0]
            frames.extend([small] * repeats)
        decoded += 1
    if not decoded:
        raise BadInput(f"{path}: cannot read video: no frames")
    return frames, decoded, size


def stretched(source: tuple[int, int], target: tuple[int, int], tolerance: float = 0.02) -> bool:
    """Whether resizing frames of ``source`` (height, width) to ``target`` changes the aspect
    ratio by more than ``tolerance`` (relative): 1920x1080 to 720x480 does (16:9 to 3:2)."""
    return abs((target[1] / target[0]) / (source[1] / source[0]) - 1) > tolerance


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
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    if not Path(prompts).is_file():
        raise BadInput(f"--prompts {prompts}: no such file")
    table = read_prompts(Path(prompts))
    # the folder's own videos, and those of its subfolders that the CSV lists by their path
    # from the folder (`scene1/clip.mp4`, as Bridge-style datasets nest their clips)
    files = video_files(folder)
    files += sorted({folder / name for name in table if "/" in name
                     and _is_video_in(folder / name, folder)})
    # --force never overwrites the CSV or a video; and a video's name in the folder would be
    # read by the next import as a video
    store.check_not_input(out, [prompts, *files])
    if Path(out).suffix.lower() in VIDEO_SUFFIXES and \
            os.path.realpath(Path(out).parent) == os.path.realpath(folder):
        raise BadInput(f"--out {out}: a video's name in {folder}, which the next import of it "
                       "would read as a video; write the `videos` artifact elsewhere (.h5)")
    listing = ("subfolders are read where the CSV lists their files by path from the folder "
               "(`sub/clip.mp4`)")
    if not files:
        sub = [d.name for d in folder.iterdir() if d.is_dir() and video_files(d)]
        raise BadInput(f"{folder}: no video files ({', '.join(VIDEO_GLOBS)})"
                       + (f"; {listing}: {', '.join(sub[:3])} "
                          f"{'holds' if len(sub) == 1 else 'hold'} videos" if sub else ""))
    missing = [_name(p, folder) for p in files if _name(p, folder) not in table]
    if missing:
        raise BadInput(f"{prompts}: no prompt for {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    unknown = sorted(set(table) - {_name(p, folder) for p in files})
    if unknown:
        nested = "/" not in unknown[0] and any(
            d.is_dir() and (d / unknown[0]).is_file() for d in folder.iterdir())
        raise BadInput(f"{prompts}: lists files not in {folder}: {', '.join(unknown[:5])}"
                       + (f"; {listing}" if nested else ""))
    store.check_output(out, force)
    config = {"folder": store.record_path(folder), "prompts": store.record_path(prompts),
              "frames": frames,
              "height": height, "width": width}
    short, reshaped = [], []  # clips with repeated frames, clips resized to another ratio
    with store.write_artifact(out, "videos", config=config, force=force) as h5, \
            progress_bar(len(files), "import") as advance:
        for k, path in enumerate(files):
            clip = read_clip(path, frames, height, width)
            g = h5.create_group(f"videos/{k:06d}")
            store.frames_dataset(g, "frames", clip.frames)
            g.attrs.update(prompt=table[_name(path, folder)], source=store.record_path(path),
                           fps=clip.fps)
            if clip.length < len(clip.frames):
                short.append(f"{_name(path, folder)} ({clip.length})")
            if stretched(clip.size, clip.frames.shape[1:3]):
                reshaped.append(f"{_name(path, folder)} {clip.size[0]}x{clip.size[1]}")
            advance(1)
    # said once for the folder, not per clip: both are how --frames/--height/--width work
    if short:
        warnings.warn(f"{counted(len(short), 'clip')} shorter than --frames {frames}, frames "
                      f"repeated: {', '.join(short[:3])}{' ...' if len(short) > 3 else ''}")
    if reshaped:
        warnings.warn(f"{counted(len(reshaped), 'clip')} stretched to another aspect ratio "
                      f"(--height {height} --width {width}, height x width): "
                      f"{', '.join(reshaped[:3])}{' ...' if len(reshaped) > 3 else ''}; give "
                      "--width/--height of the clips' ratio, or 0 for the source's")
    summary = {"out": str(out), "clips": len(files), "frames": frames, "height": height,
               "width": width}
    return Report(f"wrote {out}: {counted(len(files), 'clip')}", summary)
