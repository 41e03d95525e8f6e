"""The paper's encoder architectures with random weights, written as local directories that
`encode-goal --vae` and `--image-encoder` load like downloaded ones (no download needed).

The timings of a network do not depend on its weights, so these stand in for the released
CogVideoX VAE and DINOv3 ViT-S/16+ in benchmarks on machines without the weights.
"""

from __future__ import annotations

import json
from pathlib import Path


def dinov3_vits16plus_config():
    """DINOv3 ViT-S/16+ (384-d, 12 layers, gated MLP, 4 registers)."""
    from transformers import DINOv3ViTConfig

    return DINOv3ViTConfig(hidden_size=384, intermediate_size=1536, num_hidden_layers=12,
                           num_attention_heads=6, use_gated_mlp=True, num_register_tokens=4)


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
    """A transformers directory of DINOv3 ViT-S/16+."""
    import torch
    from transformers import DINOv3ViTModel

    torch.manual_seed(seed)
    DINOv3ViTModel(dinov3_vits16plus_config()).save_pretrained(root)
    return root
