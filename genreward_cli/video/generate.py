"""Goal-video generation with CogVideoX (paper section 3.1): image-to-video from a first frame
and a prompt (the paper's setting), or text-to-video from a prompt alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from genreward_cli.config import option
from genreward_cli.errors import BadInput
from genreward_cli.video.model import IMAGE_TO_VIDEO, TEXT_TO_VIDEO, ModelInfo


@dataclass(frozen=True)
class GenerateConfig:
    """Sampler settings: CogVideoX-5B-I2V's defaults (the paper gives its resolution, 480x480,
    and none of these)."""

    frames: int = option(49, "Frames to generate (8k+1 for CogVideoX's VAEs; CogVideoX-5B-I2V: 49). "
                             "0 = the model's native count.", minimum=0)
    steps: int = option(50, "Denoising steps.", minimum=1)
    guidance: float = option(6.0, "Classifier-free guidance scale.", minimum=0)
    height: int = option(0, "Frame height; 0 = the model's native height (the paper: 480).", minimum=0)
    width: int = option(0, "Frame width; 0 = the model's native width (the paper: 480).", minimum=0)
    fps: int = option(8, "Frame rate recorded with the video and used for --mp4.", minimum=1)
    negative_prompt: str = option("", "Negative prompt for classifier-free guidance.")


def resolve_size(config: GenerateConfig, info: ModelInfo) -> tuple[int, int, int]:
    """(frames, height, width) with 0 meaning the model's native value, checked for
    generation (``info.check(..., decode=True)``); raises BadInput naming the rule broken."""
    frames = config.frames or info.frames
    height = config.height or info.height
    width = config.width or info.width
    info.check(frames, height, width, decode=True)
    return frames, height, width


@dataclass(frozen=True)
class SeenText:
    """A text and what of it a T5 text encoder reads.

    ``seen`` is the decoded token sequence the model is given (special tokens dropped): the
    whole text, in the tokenizer's normalisation, when ``tokens <= limit``; otherwise its first
    ``limit - 1`` tokens (the last place holds the end-of-sequence token), as diffusers'
    CogVideoX pipelines truncate.
    """

    text: str
    seen: str
    tokens: int  # tokens of the whole text, end-of-sequence token included
    limit: int  # tokens the model reads (the transformer's max_text_seq_length)
    unknown: int = 0  # tokens read that are the tokenizer's unknown token (characters lost)

    @property
    def truncated(self) -> bool:
        return self.tokens > self.limit


def seen_text(tokenizer, text: str, limit: int) -> SeenText:
    """What of ``text`` the model reads, tokenized as CogVideoX's pipelines do
    (``padding="max_length", max_length=limit, truncation=True``)."""
    whole = tokenizer(text, add_special_tokens=True).input_ids
    kept = tokenizer(text, padding="max_length", max_length=limit, truncation=True,
                     add_special_tokens=True).input_ids
    unk = getattr(tokenizer, "unk_token_id", None)
    return SeenText(text=text, seen=tokenizer.decode(kept, skip_special_tokens=True).strip(),
                    tokens=len(whole), limit=limit,
                    unknown=sum(1 for t in kept if unk is not None and t == unk))


def unknown_warning(flag: str, seen: SeenText, attr: str = "prompt_seen") -> str:
    """One line saying that the tokenizer has no token for some of ``flag``'s characters, and
    what the model reads instead (recorded as ``attr``)."""
    lost = "".join(sorted({c for c in seen.text if not c.isspace()} - set(seen.seen)))
    shown = f" ({', '.join(lost)})" if lost else ""
    unk = "one <unk> token" if seen.unknown == 1 else f"{seen.unknown} <unk> tokens"
    # adjacent characters without a token become one <unk>: the counts differ
    return (f"{flag}: the tokenizer has no token for some of the text{shown}, read as {unk}: "
            f"the video is made from {seen.seen!r} (recorded as {attr})")


def truncation_warning(flag: str, seen: SeenText, attr: str = "prompt_seen") -> str:
    """One line saying that ``flag``'s text was cut, what the model reads, and the artifact
    attribute ``attr`` that records it."""
    return (f"{flag} is {seen.tokens} tokens, the model reads {seen.limit}: the video is made "
            f"from {seen.seen!r} only (recorded as {attr}; shorten the text to use all of it)")


def check_condition(image: np.ndarray, height: int, width: int) -> None:
    """Raise BadInput unless ``image`` is a uint8 [height, width, 3] RGB first frame."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise BadInput(f"condition image must be uint8 [H,W,3] (RGB), got {image.dtype} {list(image.shape)}")
    if image.shape[:2] != (height, width):
        raise BadInput(
            f"condition image is {image.shape[0]}x{image.shape[1]}, the video is {height}x{width} "
            "(height x width): resize the image to that size first (generate does not resize "
            "it); --height/--width choose another video size only for a model that takes one"
        )


def generate_video(
    pipe,
    image: np.ndarray | None,
    prompt: str,
    config: GenerateConfig,
    seed: int,
    on_step: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """Generate a goal video from ``prompt``, and from ``image`` with an image-to-video pipeline.

    Args:
        pipe: a ``CogVideoXImageToVideoPipeline`` (then ``image`` is required) or a
            ``CogVideoXPipeline`` (text-to-video; then ``image`` must be None).
        image: uint8 [H, W, 3], the first frame; H, W must be the generation size.
        prompt: the text; T5 reads at most ``ModelInfo.text_length`` tokens of it
            (see :func:`seen_text`).
        seed: seeds the initial noise (a CPU generator: the same video on any device).
        on_step: called with 1 after each denoising step.
    Returns:
        uint8 [F, H, W, 3] frames, with F, H, W as resolved by :func:`resolve_size`.
    Raises:
        BadInput: a frame count or size the model cannot take, a missing or unexpected image,
            or an image of the wrong dtype, shape or size.
    """
    import torch

    info = ModelInfo.of(pipe)
    frames, height, width = resolve_size(config, info)
    if info.mode == IMAGE_TO_VIDEO and image is None:
        raise BadInput("an image-to-video model needs a first-frame image")
    if info.mode == TEXT_TO_VIDEO and image is not None:
        raise BadInput("a text-to-video model takes no first-frame image")
    kwargs = {}
    if image is not None:
        from PIL import Image

        check_condition(image, height, width)
        kwargs["image"] = Image.fromarray(image)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(
        **kwargs,
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
    if video.shape != (frames, height, width, 3):
        raise RuntimeError(f"the pipeline returned a video of shape {list(video.shape)}, "
                           f"expected {[frames, height, width, 3]}")
    return video
