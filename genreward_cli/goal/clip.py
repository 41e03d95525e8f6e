"""Goal-frame selection with OpenCLIP (paper eq. 6).

I* = argmax_i cos(CLIP_L(G), CLIP_I(I_i)) over the frames of the goal video. Ties go to the
earliest frame. `tiny` is an OpenCLIP ViT at a CPU size (64 px, 2 layers) with random weights,
whose config and checkpoint are materialised in the cache directory and loaded through
``open_clip.create_model_and_transforms(name, pretrained=<checkpoint path>)``, the path a real
local checkpoint takes.
"""

from __future__ import annotations

import json

import numpy as np

from genreward_cli.errors import BadInput

DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "laion2b_s34b_b79k"  # as the paper's code
TINY_NAME = "genreward-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def _tiny_checkpoint() -> str:
    import open_clip
    import torch

    from genreward_cli import __version__
    from genreward_cli.video.model import cached_preset

    def write(directory):
        directory.mkdir(parents=True)
        (directory / f"{TINY_NAME}.json").write_text(json.dumps(TINY_CONFIG))
        open_clip.add_model_config(directory / f"{TINY_NAME}.json")
        torch.manual_seed(0)
        model = open_clip.create_model(TINY_NAME, pretrained=None)
        torch.save(model.state_dict(), directory / "open_clip_model.pt")

    folder = cached_preset(f"tiny-clip-{__version__}", "open_clip_model.pt", write)
    open_clip.add_model_config(folder / f"{TINY_NAME}.json")
    return str(folder / "open_clip_model.pt")


class FrameScorer:
    """CLIP text-image cosine for every frame of a video; eval mode, batched."""

    def __init__(self, model: str = DEFAULT_CLIP_MODEL, pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
                 device: str = "cpu", batch_size: int = 64):
        import logging

        import open_clip

        logging.getLogger().setLevel(logging.ERROR)  # open_clip logs through the root logger
        name = model
        if model == "tiny":
            name, pretrained = TINY_NAME, _tiny_checkpoint()
        try:
            clip, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained or None, device=device)
        except (RuntimeError, OSError, ValueError) as e:
            raise BadInput(f"--clip-model {model} --clip-pretrained {pretrained}: cannot load: "
                           f"{' '.join(str(e).split())[:300]}") from None
        self.model = clip.eval().requires_grad_(False)
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.device = device
        self.batch_size = batch_size
        self.name = model
        self.pretrained = pretrained if model != "tiny" else "tiny"

    def scores(self, frames: np.ndarray, text: str) -> np.ndarray:
        """Eq. 6's similarities.

        Args:
            frames: uint8 [F, H, W, 3], RGB.
            text: the task description G.
        Returns:
            float32 [F], cos(CLIP_L(G), CLIP_I(I_i)) for each frame.
        """
        import torch
        from PIL import Image

        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise BadInput(f"frames must be uint8 [F,H,W,3], got {frames.dtype} {list(frames.shape)}")
        if len(frames) == 0:
            raise BadInput("the video has no frames")
        with torch.inference_mode():
            t = self.model.encode_text(self.tokenizer([text]).to(self.device)).float()
            t = t / t.norm(dim=-1, keepdim=True)  # 1 x D
            out = []
            for start in range(0, len(frames), self.batch_size):
                batch = torch.stack([self.preprocess(Image.fromarray(f))
                                     for f in frames[start:start + self.batch_size]])
                v = self.model.encode_image(batch.to(self.device)).float()
                v = v / v.norm(dim=-1, keepdim=True)  # B x D
                out.append((v @ t.T)[:, 0].cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def select(scores: np.ndarray, k: int = 5) -> tuple[int, np.ndarray]:
    """The argmax (earliest on ties) and the top-k indices, best first (stable on ties)."""
    order = np.argsort(-scores, kind="stable")
    return int(order[0]), order[:k].astype(np.int64)
