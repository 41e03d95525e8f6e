"""Encoder timings: CogVideoX VAE on 16 frames at several sizes, CLIP frames/s, DINO images/s.

    .venv/bin/python bench/encoders.py                    # tiny presets, CPU
    python bench/encoders.py --size real --device cuda    # real architectures, random weights

`real` builds the paper's architectures with random weights (no download): the full
CogVideoX VAE (diffusers defaults), OpenCLIP ViT-B-32 and DINOv3 ViT-S/16+ (384-d).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from genreward_cli import machine


def timed(fn, repeat: int, device: str) -> float:
    import torch

    fn()  # warm-up
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import torch

    from genreward_cli.goal.clip import FrameScorer
    from genreward_cli.goal.image_encoder import ImageEncoder, ImageEncoderConfig

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resolutions", default="64,128,480")
    args = parser.parse_args()
    dev = args.device
    rng = np.random.default_rng(0)
    name = torch.cuda.get_device_name() if dev == "cuda" else machine.describe()
    print(f"# {args.size} encoders on {dev} ({name}), fp32, median of {args.repeat}")

    from diffusers import AutoencoderKLCogVideoX

    from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig

    if args.size == "tiny":
        vae = VideoEncoder(VideoEncoderConfig(vae="tiny", height=64, width=64), device=dev).vae
    else:
        with torch.device(dev):
            vae = AutoencoderKLCogVideoX().eval().requires_grad_(False)
    print(f"VAE: {sum(p.numel() for p in vae.parameters()):,} params")
    for res in (int(r) for r in args.resolutions.split(",")):
        x = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 16, res, res)).astype(np.float32)).to(dev)

        def encode():
            with torch.inference_mode():
                return vae.encode(x).latent_dist.mean

        shape = list(encode().shape[1:])
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = timed(encode, args.repeat, dev)
        mem = f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if dev == "cuda" else ""
        print(f"VAE encode 16 frames at {res}x{res}: {t:.3f} s -> latent {shape}{mem}")

    frames = rng.integers(0, 256, (64, 224, 224, 3), dtype=np.uint8)
    if args.size == "tiny":
        scorer = FrameScorer("tiny", device=dev)
        image_cfg = ImageEncoderConfig.for_model("tiny")
        image = ImageEncoder(image_cfg, device=dev)
    else:
        scorer = FrameScorer("ViT-B-32", pretrained=None, device=dev)
        from paper_models import dinov3_vits16plus_config
        from transformers import DINOv3ViTModel

        image = ImageEncoder.__new__(ImageEncoder)  # real architecture, random weights
        image.config, image.device, image.batch_size, image.backend = (
            ImageEncoderConfig(), dev, 64, "transformers")
        image.model = DINOv3ViTModel(dinov3_vits16plus_config()).to(dev).eval()
        image.mean = torch.tensor(image.config.mean, device=dev).view(1, 3, 1, 1)
        image.std = torch.tensor(image.config.std, device=dev).view(1, 3, 1, 1)
    t = timed(lambda: scorer.scores(frames, "pick up the blue fork"), args.repeat, dev)
    print(f"CLIP {scorer.name}: {len(frames) / t:.1f} frames/s (64 frames of 224x224, incl. preprocessing)")
    t = timed(lambda: image.encode(frames), args.repeat, dev)
    print(f"DINO ({image.config.model}, {image.config.resolution}px): {len(frames) / t:.1f} images/s "
          f"(dim {image.encode(frames[:1]).shape[1]})")


if __name__ == "__main__":
    main()
