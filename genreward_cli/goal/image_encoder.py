"""The frame-level goal's state space: DINOv3 ViT-S/16+ embeddings of images (paper 3.3).

Backends: transformers (``DINOv3ViTModel`` through ``AutoModel.from_pretrained``: a hub id
such as the default, or a local directory) and timm (hub ids ``timm/...``, or a local timm
checkpoint file ``*.safetensors|*.pth|*.bin`` of ``vit_small_plus_patch16_dinov3``). `tiny` is a
DINOv3 ViT of the same family (gated MLP, 4 register tokens, RoPE) at a CPU size with random
weights, materialised once in the cache directory and loaded like any local directory.

Input is RGB uint8, always; the paper's code fed BGR frames, which changes the embedding.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genreward_cli.errors import BadInput

DEFAULT_IMAGE_ENCODER = "facebook/dinov3-vits16plus-pretrain-lvd1689m"
TIMM_ARCH = "vit_small_plus_patch16_dinov3"  # the architecture of local timm checkpoints
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TINY_RESOLUTION = 64


@dataclass(frozen=True)
class ImageEncoderConfig:
    """Everything that determines an image embedding."""

    model: str = DEFAULT_IMAGE_ENCODER
    resolution: int = 224  # square input size after resizing (bilinear, antialiased)
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    output: str = "cls"  # the final-norm CLS token (the pooled output)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ImageEncoderConfig":
        d = json.loads(text)
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**d)

    @classmethod
    def for_model(cls, model: str, resolution: int = 0) -> "ImageEncoderConfig":
        default = TINY_RESOLUTION if model == "tiny" else 224
        return cls(model=model, resolution=resolution or default)


def tiny_dinov3_dir():
    """The tiny DINOv3 preset as a transformers directory (built once, seeded)."""
    import torch
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    from genreward_cli import __version__
    from genreward_cli.model_files import cached_preset

    def write(directory):
        torch.manual_seed(0)
        config = DINOv3ViTConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            use_gated_mlp=True, num_register_tokens=4, image_size=TINY_RESOLUTION, patch_size=16,
        )
        DINOv3ViTModel(config).save_pretrained(directory)

    return cached_preset(f"tiny-dinov3-{__version__}", "config.json", write)


class ImageEncoder:
    """Embeds RGB uint8 images; eval mode, inference only, batched."""

    def __init__(self, config: ImageEncoderConfig, device: str = "cpu", batch_size: int = 64):
        import torch

        from genreward_cli.model_files import quiet_libraries

        quiet_libraries()
        self.config = config
        self.device = device
        self.batch_size = batch_size
        name = config.model
        try:
            if name.endswith((".safetensors", ".pth", ".bin")):
                import timm

                if not Path(name).is_file():
                    raise BadInput(f"--image-encoder {name}: no such checkpoint file")
                self.backend = "timm"
                model = timm.create_model(TIMM_ARCH, pretrained=True, num_classes=0,
                                          global_pool="token",
                                          pretrained_cfg_overlay={"file": name})
            elif name.startswith(("timm/", "hf-hub:timm/")):
                import timm

                self.backend = "timm"
                model = timm.create_model(name if name.startswith("hf-hub:") else "hf-hub:" + name,
                                          pretrained=True, num_classes=0, global_pool="token")
            else:
                from transformers import AutoModel

                self.backend = "transformers"
                source = tiny_dinov3_dir() if name == "tiny" else name
                model = AutoModel.from_pretrained(source)
        except (OSError, ValueError, RuntimeError) as e:
            raise BadInput(f"--image-encoder {name}: cannot load: {e}") from None
        self.model = model.to(device).eval().requires_grad_(False)
        self.mean = torch.tensor(config.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(config.std, device=device).view(1, 3, 1, 1)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Embed images.

        Args:
            images: uint8 [N, H, W, 3], RGB, any size (resized to the configured resolution).
        Returns:
            float32 [N, D] (D = 384 for DINOv3 ViT-S/16+).
        """
        import torch
        import torch.nn.functional as F

        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise BadInput(f"images must be uint8 [N,H,W,3], got {images.dtype} {list(images.shape)}")
        out = []
        r = self.config.resolution
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = torch.from_numpy(images[start:start + self.batch_size]).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0
                if x.shape[-2:] != (r, r):
                    x = F.interpolate(x, size=(r, r), mode="bilinear", antialias=True,
                                      align_corners=False)
                x = (x - self.mean) / self.std
                if self.backend == "timm":
                    z = self.model(x)
                else:
                    z = self.model(pixel_values=x).pooler_output
                out.append(z.float().cpu().numpy())
        return np.concatenate(out, axis=0)


def state_view(images: np.ndarray, size) -> np.ndarray:
    """Frames seen as FB states of ``size`` are: brought to that aspect ratio as the camera
    would show it, then resized (bilinear, antialiased) to ``size``.

    Meta-World's cameras fix the vertical field of view (MuJoCo's ``fovy``): a wider render
    shows more at the sides, a narrower one less, at the same scale. So a wider frame is
    centre-cropped to the columns the states show (the centre 480x480 of a 480x720 render is
    the square render), and a narrower (taller) one is padded with black at the sides it
    does not show. Squashing instead would show B a view no training state had (the paper's
    goal videos were 480x480, square like the agent's frames).

    Args:
        images: uint8 [N, H, W, 3], RGB.
        size: (h, w) of the FB model's training frames (its ``frame_size`` attribute).
    Returns:
        uint8 [N, h, w, 3]; ``images`` itself when already at ``size``.
    Raises:
        BadInput: images that are not uint8 [N, H, W, 3].
    """
    from genreward_cli.video.clips import resize_frames

    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise BadInput(f"images must be uint8 [N,H,W,3], got {images.dtype} {list(images.shape)}")
    h, w = (int(x) for x in size)
    H, W = images.shape[1:3]
    if (H, W) == (h, w):
        return images
    want = max(1, round(H * w / h))  # the columns a frame of height H shows at the target
    if want < W:  # wider: crop the sides
        left = (W - want) // 2
        images = images[:, :, left:left + want]
    elif want > W:  # narrower: the sides it does not show are black
        left = (want - W) // 2
        padded = np.zeros((images.shape[0], H, want, 3), np.uint8)
        padded[:, :, left:left + W] = images
        images = padded
    return resize_frames(np.ascontiguousarray(images), h, w)


def fb_goal_embedding(encoder: "ImageEncoder", frame: np.ndarray, size) -> np.ndarray:
    """psi(I*) for the FB reward and z* = B(psi(I*)): the goal frame embedded as the FB
    states of ``size`` were (:func:`state_view`), float32 [D]. At the states' own size this is
    the goal file's ``frame_embedding``; for a wider goal frame (480x720 against 64x64 states)
    it embeds the frame's centre square instead of the whole frame squashed."""
    return encoder.encode(state_view(frame[None], size))[0].astype(np.float32)
