"""Writing frames a person can look at: mp4 or gif videos, png frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genreward_cli.errors import BadInput, GenrewardError

VIDEO_SUFFIXES = (".mp4", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FIGURE_SUFFIXES = (*IMAGE_SUFFIXES, ".pdf", ".svg")  # matplotlib writes these too


def check_video_path(path: str | Path) -> Path:
    """``path`` as a Path; raises BadInput unless it ends in .mp4 or .gif."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise BadInput(f"{path}: video must end in {' or '.join(VIDEO_SUFFIXES)}")
    return path


def check_image_path(path: str | Path) -> Path:
    """``path`` as a Path; raises BadInput unless it ends in .png, .jpg or .jpeg."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadInput(f"{path}: image must end in {', '.join(IMAGE_SUFFIXES)}")
    return path


def check_figure_path(path: str | Path) -> Path:
    """``path`` as a Path for a matplotlib figure; raises BadInput unless it ends in .png,
    .jpg, .jpeg, .pdf or .svg (the format follows the suffix)."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise BadInput(f"{path}: a figure must end in {', '.join(FIGURE_SUFFIXES)}")
    return path


def even_size(frames: np.ndarray) -> np.ndarray:
    """``frames`` (uint8 [F,H,W,3]) padded to an even height and width by repeating the last
    row and column: H.264 in the yuv420p pixel format that players expect needs even sizes."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def write_video(path: str | Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Write uint8 [F,H,W,3] frames as mp4 (H.264) or gif, chosen by the suffix.

    An mp4 of an odd height or width is padded by one row or column (:func:`even_size`),
    so a video of H x W frames is (H + H % 2) x (W + W % 2). The video is written next to
    ``path`` and renamed into place when complete: a failed write leaves no file, and raises
    GenrewardError (exit code 1) naming the path. Raises BadInput for another suffix or for
    no frames.
    """
    import imageio.v2 as imageio

    path = check_video_path(path)
    assert frames.dtype == np.uint8 and frames.ndim == 4, (frames.dtype, frames.shape)
    if len(frames) == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise BadInput(f"{path}: no frames to write (frames of shape {list(frames.shape)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # imageio picks the format by suffix
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(tmp, list(frames), duration=1000 / fps, loop=0)
        else:
            # macro_block_size=1: no resizing by imageio; even_size made the sizes valid.
            imageio.mimsave(tmp, list(even_size(frames)), fps=fps, macro_block_size=1)
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OSError("the encoder wrote nothing")
        tmp.replace(path)
    except BaseException as e:  # Ctrl-C and SIGTERM too: no half-written video left
        tmp.unlink(missing_ok=True)
        if not isinstance(e, Exception):
            raise
        reason = " ".join(str(e).split()) or type(e).__name__
        raise GenrewardError(f"{path}: could not write the video: {reason}") from None
    return path


def write_image(path: str | Path, frame: np.ndarray) -> Path:
    """Write one uint8 [H,W,3] frame."""
    import imageio.v2 as imageio

    path = check_image_path(path)
    assert frame.dtype == np.uint8 and frame.ndim == 3, (frame.dtype, frame.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, frame)
    return path
