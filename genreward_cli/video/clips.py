"""Video clips: uniform temporal sampling, resizing, and reading clips from artifacts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.store import text


def uniform_indices(length: int, count: int) -> np.ndarray:
    """``count`` frame indices spread uniformly over ``length`` frames, first and last
    included (the paper's "uniformly sample 16 frames"). With fewer frames than ``count``,
    frames repeat.

    Returns:
        int64 [count], non-decreasing, from 0 to length - 1.
    """
    if length < 1 or count < 1:
        raise BadInput(f"cannot sample {count} frames from a video of {length}")
    return np.round(np.linspace(0, length - 1, count)).astype(np.int64)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 [F,H,W,3] frames (bilinear, antialiased); a no-op at the same size."""
    import torch
    import torch.nn.functional as F

    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3, frames.shape
    if frames.shape[1:3] == (height, width):
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def resample(frames: np.ndarray, count: int, height: int, width: int) -> np.ndarray:
    """Uniformly sample ``count`` frames and resize them to ``height`` x ``width``."""
    return resize_frames(frames[uniform_indices(len(frames), count)], height, width)


@dataclass
class Clip:
    frames: np.ndarray  # uint8 [F, H, W, 3]
    prompt: str


def read_clips(art) -> list[Clip]:
    """The clips of an `episodes` (each episode's images, its prompt) or `videos` artifact."""
    kind = art.kind.name
    if kind not in ("episodes", "videos"):
        raise BadInput(f"{art.path}: kind '{kind}' holds no training clips (need episodes or videos)")
    clips = []
    for k in art.groups():
        g = art.file[f"{kind}/{k}"]
        frames = g["image" if kind == "episodes" else "frames"][()]
        prompt = g.attrs.get("prompt", art.attrs.get("prompt", ""))
        prompt = text(prompt)
        if not prompt:
            raise BadInput(f"{art.path}: {kind}/{k} has no prompt attribute")
        clips.append(Clip(frames, str(prompt)))
    return clips
