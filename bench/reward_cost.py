"""What each reward model costs per env step, on this machine, at the tiny presets and at the
real architectures with random weights (the timings of a network do not depend on its
weights; no weights can be downloaded here).

Each model's work is timed where it happens (``--repeats`` runs, the median):

- genreward: one reward step = the VAE on 16 frames of the history + DINOv3 on one frame
  (+ the FB networks, negligible), every ``interval`` (128) steps;
- vlm-rm: OpenCLIP on one frame, every step;
- clip-video: OpenCLIP on 16 frames, once per episode;
- roboclip: S3D on 32 frames (250x250 centre crops), once per episode (128 steps, the authors');
- tadpole: the VAE on one 512x512 frame + one UNet call on (unconditional, text), every step;
- diffusion-reward: its own model, per frame, when installed (see ``--episode-steps``).

    python bench/reward_cost.py                 # tiny and real architectures
    python bench/reward_cost.py --arms tiny     # quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def genreward_cost(arm: str, root: Path, size: int, repeats: int) -> float:
    """Seconds per reward step: VAE on 16 frames at ``size`` + DINOv3 on one frame."""
    from genreward_cli.goal.image_encoder import ImageEncoder, ImageEncoderConfig
    from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig

    if arm == "tiny":
        vae, image = "tiny", ImageEncoderConfig(model="tiny", resolution=64)
    else:
        from paper_models import write_dinov3, write_vae

        if not (root / "paper_vae" / "vae").exists():
            write_vae(root / "paper_vae")
        if not (root / "paper_dinov3" / "config.json").exists():
            write_dinov3(root / "paper_dinov3")
        vae, image = str(root / "paper_vae"), ImageEncoderConfig(model=str(root / "paper_dinov3"))
    video = VideoEncoder(VideoEncoderConfig(vae=vae, height=size, width=size))
    dino = ImageEncoder(image)
    history, frame = frames(16, size, size), frames(1, 64, 64)
    return timed(lambda: (video.encode_many([history]), dino.encode(frame)), repeats)


def clip_costs(arm: str, repeats: int) -> tuple[float, float]:
    """Seconds of OpenCLIP on one frame (vlm-rm) and on 16 frames (clip-video)."""
    from genreward_cli.goal.clip import FrameScorer

    scorer = FrameScorer("tiny") if arm == "tiny" else FrameScorer("ViT-B-32", None)
    one, sixteen = frames(1, 64, 64), frames(16, 64, 64)
    return (timed(lambda: scorer.encode_images(one), repeats),
            timed(lambda: scorer.encode_images(sixteen), repeats))


def roboclip_cost(arm: str, repeats: int) -> float:
    """Seconds of S3D on one episode's 32 frames of 250x250 (the authors' input)."""
    import torch

    from genreward_cli.rewards.roboclip import video_tensor
    from genreward_cli.rewards.s3d import S3DConfig, S3DMilNCE, load_s3d

    if arm == "tiny":
        model = load_s3d("tiny", "cpu")
    else:  # the published architecture (9.7M video parameters), a small word list
        torch.manual_seed(0)
        model = S3DMilNCE(S3DConfig(), ["robot", "arm", "pick", "place"]).eval()
    clip = video_tensor(frames(32, 250, 250), 1.0)
    return timed(lambda: model.encode_video(clip), repeats)


def tadpole_cost(arm: str, repeats: int) -> float:
    """Seconds of one TADPoLe step: the VAE on one frame at the model's input size and one
    UNet call on a batch of 2 (unconditional, text)."""
    import torch

    from genreward_cli.rewards.tadpole import TADPoLeReward

    if arm == "tiny":
        model = TADPoLeReward("tiny", "pick up the puck")
        frame = frames(1, 64, 64)
        return timed(lambda: model.score(frame, 0, [0]), repeats)
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    # Stable Diffusion 2.1-base: its VAE and UNet configs (stabilityai/stable-diffusion-2-1-base)
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                        latent_channels=4, sample_size=512).eval()
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=1024,
                                attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                                block_out_channels=(320, 640, 1280, 1280)).eval()
    x = torch.randn(1, 3, 512, 512)
    text = torch.randn(2, 77, 1024)
    t = torch.tensor([550])

    def step():
        with torch.inference_mode():
            z = vae.encode(x).latent_dist.mean * 0.18215
            unet(torch.cat([z, z]), t, encoder_hidden_states=text)

    return timed(step, repeats)


def main():
    import torch

    from genreward_cli.machine import describe

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arms", default="tiny,real")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--size", type=int, default=64, help="genreward's goal resolution here")
    p.add_argument("--interval", type=int, default=128)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--root", type=Path, default=Path("bench/out/reward_cost"))
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    a.root.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe()}")
    print("| method | arm | what is timed | when | ms per call | ms per env step |")
    print("|---|---|---|---|---|---|")
    for arm in a.arms.split(","):
        repeats = a.repeats if arm == "tiny" else max(1, a.repeats - 2)
        rows = []
        s = genreward_cost(arm, a.root, a.size, repeats)
        rows.append(("genreward", f"VAE on 16 frames at {a.size}x{a.size} + DINOv3 on 1",
                     f"every {a.interval} steps", s, s / a.interval))
        one, sixteen = clip_costs(arm, repeats)
        rows.append(("vlm-rm", "OpenCLIP on 1 frame", "every step", one, one))
        rows.append(("clip-video", "OpenCLIP on 16 frames", "last step (episode 256)", sixteen,
                     sixteen / 256))
        s = roboclip_cost(arm, repeats)
        rows.append(("roboclip", "S3D on 32 frames of 250x250", "last step (episode 128)", s,
                     s / 128))
        s = tadpole_cost(arm, repeats)
        rows.append(("tadpole", "VAE on 1 frame + UNet on 2", "every step", s, s))
        for name, what, when, call, step in rows:
            print(f"| {name} | {arm} | {what} | {when} | {1000 * call:.1f} | {1000 * step:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
