"""Writing frames a person can look at: mp4 or gif videos, png frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genreward_cli.errors import BadInput

VIDEO_SUFFIXES = (".mp4", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_video_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise BadInput(f"{path}: video must end in {' or '.join(VIDEO_SUFFIXES)}")
    return path


def check_image_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadInput(f"{path}: image must end in {', '.join(IMAGE_SUFFIXES)}")
    return path


def write_video(path: str | Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Write uint8 [F,H,W,3] frames as mp4 (H.264) or gif, chosen by the suffix."""
    import imageio.v2 as imageio

    path = check_video_path(path)
    assert frames.dtype == np.uint8 and frames.ndim == 4, (frames.dtype, frames.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        imageio.mimsave(path, list(frames), duration=1000 / fps, loop=0)
    else:
        # macro_block_size=1 keeps odd sizes as they are instead of resizing them.
        imageio.mimsave(path, list(frames), fps=fps, macro_block_size=1)
    return path


def write_image(path: str | Path, frame: np.ndarray) -> Path:
    """Write one uint8 [H,W,3] frame."""
    import imageio.v2 as imageio

    path = check_image_path(path)
    assert frame.dtype == np.uint8 and frame.ndim == 3, (frame.dtype, frame.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, frame)
    return path
