"""The paper's encoder architectures with random weights, written as local directories that
`encode-goal --vae` and `--image-encoder` load like downloaded ones (no download needed).

The timings of a network do not depend on its weights, so these stand in for the released
CogVideoX VAE and DINOv3 ViT-S/16+ in benchmarks on machines without the weights. The whole
CogVideoX-5B-I2V pipeline at random weights is `genreward init-model --preset
cogvideox-5b-i2v-random` (genreward_cli/paper_random.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from genreward_cli import paper_random
from genreward_cli.paper_random import dinov3_vits16plus_config  # noqa: F401 (bench/encoders.py)


def write_vae(root: Path, seed: int = 0) -> Path:
    """A pipeline-shaped directory whose `vae/` is the full CogVideoX VAE (diffusers defaults)."""
    import torch
    from diffusers import AutoencoderKLCogVideoX

    torch.manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    AutoencoderKLCogVideoX().save_pretrained(root / "vae")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "CogVideoXImageToVideoPipeline"}))
    return root


def write_dinov3(root: Path, seed: int = 0) -> Path:
    """A transformers directory of DINOv3 ViT-S/16+ (`init-model --preset
    dinov3-vits16plus-random`)."""
    return paper_random.write_dinov3(root, seed=seed)
