"""Goal-video generation with a CogVideoX image-to-video pipeline (paper section 3.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from genreward_cli.config import option
from genreward_cli.errors import BadInput
from genreward_cli.video.model import ModelInfo


@dataclass(frozen=True)
class GenerateConfig:
    """Sampler settings; defaults from the paper (section 4.1) and CogVideoX."""

    frames: int = option(49, "Frames to generate (4k+1; the paper: 49). 0 = the model's native count.", minimum=0)
    steps: int = option(50, "Denoising steps.", minimum=1)
    guidance: float = option(6.0, "Classifier-free guidance scale.")
    height: int = option(0, "Frame height; 0 = the model's native height (the paper: 480).", minimum=0)
    width: int = option(0, "Frame width; 0 = the model's native width (the paper: 480).", minimum=0)
    fps: int = option(8, "Frame rate recorded with the video and used for --mp4.", minimum=1)
    negative_prompt: str = option("", "Negative prompt for classifier-free guidance.")


def resolve_size(config: GenerateConfig, info: ModelInfo) -> tuple[int, int, int]:
    """(frames, height, width) with 0 meaning the model's native value, checked."""
    frames = config.frames or info.frames
    height = config.height or info.height
    width = config.width or info.width
    info.check(frames, height, width)
    return frames, height, width


def generate_video(
    pipe,
    image: np.ndarray,
    prompt: str,
    config: GenerateConfig,
    seed: int,
    on_step: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """Generate a goal video conditioned on ``image`` and ``prompt``.

    Args:
        image: uint8 [H, W, 3], the first frame; H, W must be the generation size.
    Returns:
        uint8 [F, H, W, 3] frames.
    """
    import torch
    from PIL import Image

    info = ModelInfo.of(pipe)
    frames, height, width = resolve_size(config, info)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise BadInput(f"condition image must be uint8 [H,W,3], got {image.dtype} {list(image.shape)}")
    if image.shape[:2] != (height, width):
        raise BadInput(
            f"condition image is {image.shape[0]}x{image.shape[1]}, the video is {height}x{width}: "
            "give an image of that size or set --height/--width"
        )
    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(
        image=Image.fromarray(image),
        prompt=prompt,
        negative_prompt=config.negative_prompt or None,
        height=height,
        width=width,
        num_frames=frames,
        num_inference_steps=config.steps,
        guidance_scale=config.guidance,
        generator=generator,
        output_type="np",
        max_sequence_length=info.text_length,
        callback_on_step_end=lambda p, i, t, kw: (on_step(1), kw)[1],
    ).frames[0]
    video = np.clip(np.round(np.asarray(out) * 255.0), 0, 255).astype(np.uint8)
    assert video.shape == (frames, height, width, 3), video.shape
    return video
