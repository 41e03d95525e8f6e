"""The video-level goal: CogVideoX 3D causal VAE latents and their cosine (paper eq. 3-5).

One :class:`VideoEncoder` serves both the goal video (at `encode-goal`) and the agent's
history (at `train-agent`), rebuilt from the config stored in the goal file, so that the
preprocessing of the two cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.video.clips import resize_frames, uniform_indices

VAE_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class VideoEncoderConfig:
    """Everything that determines a video latent."""

    vae: str  # the diffusers pipeline directory, hub id, or `tiny`, whose `vae/` is used
    height: int  # frames are resized to height x width before encoding
    width: int
    frames: int = 16  # uniformly sampled from any length (the paper)
    latent: str = "mean"  # `mean`: the posterior mean; `sample`: a draw (the paper's code)
    normalisation: str = "[-1,1]"  # uint8 / 127.5 - 1, as CogVideoX's VAE expects
    dtype: str = "float32"  # the VAE's weights and activations; latents are returned as float32

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "VideoEncoderConfig":
        """The config a `goal` artifact records (attr ``video_encoder``).

        Raises:
            TypeError: unknown or missing fields.
            ValueError: not JSON, or a size or frame count that is no positive integer."""
        config = cls(**json.loads(text))
        for name in ("height", "width", "frames"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} = {value!r}, not a positive integer")
        return config


class VideoEncoder:
    """CogVideoX VAE encoder over 16 uniformly sampled frames; pure, eval mode, no grad."""

    def __init__(self, config: VideoEncoderConfig, device: str = "cpu"):
        import torch
        from diffusers import AutoencoderKLCogVideoX

        from genreward_cli.model_files import quiet_libraries
        from genreward_cli.video.model import resolve

        if config.latent not in ("mean", "sample"):
            raise BadInput(f"--latent {config.latent!r}: choose mean or sample")
        if config.dtype not in VAE_DTYPES:
            raise BadInput(f"--dtype {config.dtype!r}: choose one of {', '.join(VAE_DTYPES)}")
        quiet_libraries()
        source = resolve(config.vae, option="--vae")
        try:
            vae = AutoencoderKLCogVideoX.from_pretrained(source, subfolder="vae",
                                                         torch_dtype=getattr(torch, config.dtype))
        except (OSError, ValueError) as e:
            raise BadInput(f"--vae {config.vae}: cannot load a CogVideoX VAE: {e}") from None
        # its encoder halves the frame in every block but the last: a side below that
        # factor leaves no latent pixel (a convolution's RuntimeError, exit 1)
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if min(config.height, config.width) < factor:
            raise BadInput(f"frames of {config.height}x{config.width} (--height, --width): "
                           f"the VAE downsamples by {factor}; give at least {factor} pixels "
                           "a side")
        self.vae = vae.to(device).eval().requires_grad_(False)
        self.config = config
        self.device = device
        self.scaling_factor = float(vae.config.scaling_factor)

    def preprocess(self, frames: np.ndarray) -> "torch.Tensor":
        """uint8 [T,H,W,3] -> float [1, 3, frames, height, width] in [-1, 1]."""
        import torch

        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise BadInput(f"video must be uint8 [T,H,W,3], got {frames.dtype} {list(frames.shape)}")
        if len(frames) == 0:
            raise BadInput("video has no frames")
        picked = frames[uniform_indices(len(frames), self.config.frames)]
        picked = resize_frames(picked, self.config.height, self.config.width)
        x = torch.from_numpy(picked).to(self.device).permute(3, 0, 1, 2).float() / 127.5 - 1.0
        return x[None].to(self.vae.dtype)

    def encode_many(self, videos: list[np.ndarray], seed: int = 0) -> np.ndarray:
        """Encode several videos in one VAE batch: float32 [N, C, F', h, w]."""
        import torch

        x = torch.cat([self.preprocess(v) for v in videos])
        with torch.inference_mode():
            dist = self.vae.encode(x).latent_dist
            gen = torch.Generator(device="cpu").manual_seed(seed)
            z = dist.mean if self.config.latent == "mean" else dist.sample(generator=gen)
        return (z.float() * self.scaling_factor).cpu().numpy()

    def encode(self, frames: np.ndarray, seed: int = 0) -> np.ndarray:
        """Encode a video of any length.

        Args:
            frames: uint8 [T, H, W, 3], RGB, any T >= 1 and any size (resized).
            seed: the draw for ``latent="sample"``.
        Returns:
            float32 [C, F', h, w], the latent (F' = 4 for 16 frames; h, w = size / 8),
            scaled by the VAE's scaling factor.
        """
        import torch

        x = self.preprocess(frames)
        with torch.inference_mode():
            dist = self.vae.encode(x).latent_dist
            if self.config.latent == "mean":
                z = dist.mean
            else:
                z = dist.sample(generator=torch.Generator(device="cpu").manual_seed(seed))
        return (z[0].float() * self.scaling_factor).cpu().numpy()


def video_reward(latent_a: np.ndarray, latent_b: np.ndarray) -> float:
    """Eq. 5: cosine similarity of the flattened latents; shapes must match."""
    a = np.asarray(latent_a, np.float64).ravel()
    b = np.asarray(latent_b, np.float64).ravel()
    if np.shape(latent_a) != np.shape(latent_b):
        raise BadInput(f"latent shapes differ: {list(np.shape(latent_a))} vs {list(np.shape(latent_b))}")
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0
