"""Video-model timings: finetune step and generation, ours against plain diffusers.

    .venv/bin/python bench/video.py                       # tiny preset, CPU
    python bench/video.py --preset mid --device cuda      # a CogVideoX-2B-sized random model

`tiny` is the built-in preset. `mid` is a CogVideoX-2B-sized I2V transformer (30 layers,
30 heads x 64) with the full-size CogVideoX VAE and a small T5, random weights, built in code
(no download), at 480x720 and 49 frames: the real model's shapes, hence its cost per step.
Seconds per denoising step are the median gap between step callbacks, so text encoding and
VAE decoding are excluded; "plain diffusers" calls the same pipeline object directly.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from genreward_cli import machine


def build_mid(device, dtype):
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDPMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    from genreward_cli.video.presets import tiny_tokenizer

    with torch.device(device):
        tokenizer = tiny_tokenizer()
        tokenizer.model_max_length = 226
        text = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=512, d_kv=64, d_ff=1024,
                                       num_layers=2, num_heads=8))
        vae = AutoencoderKLCogVideoX()  # the full-size CogVideoX VAE
        transformer = CogVideoXTransformer3DModel(
            num_attention_heads=30, attention_head_dim=64, in_channels=32, out_channels=16,
            time_embed_dim=512, text_embed_dim=512, num_layers=30, sample_width=90,
            sample_height=60, sample_frames=49, max_text_seq_length=226,
            use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True,
        )
    scheduler = CogVideoXDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing",
        clip_sample=False, set_alpha_to_one=True, snr_shift_scale=1.0,
    )
    pipe = CogVideoXImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text, vae=vae,
                                         transformer=transformer, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def step_times(call):
    """Run ``call(callback)``; return the median seconds between denoising-step callbacks."""
    import torch

    stamps = []

    def callback(*_):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    call(callback)
    gaps = np.diff(stamps)
    return statistics.median(gaps) if len(gaps) else float("nan")


def main() -> None:
    import torch
    from accelerate import Accelerator

    from genreward_cli.video.clips import Clip
    from genreward_cli.video.finetune import FinetuneConfig, VideoFinetuner
    from genreward_cli.video.generate import GenerateConfig, generate_video
    from genreward_cli.video.model import ModelInfo, load_pipeline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=("tiny", "mid"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=6, help="denoising steps timed")
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    torch.manual_seed(0)
    t0 = time.perf_counter()
    pipe = build_mid(args.device, dtype) if args.preset == "mid" else load_pipeline(
        "tiny", device=args.device, dtype=dtype)
    info = ModelInfo.of(pipe)
    print(f"# preset {args.preset} on {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else machine.describe()}), "
          f"{dtype}, {info.frames} frames at {info.height}x{info.width}, "
          f"transformer {sum(p.numel() for p in pipe.transformer.parameters()):,} params, "
          f"built in {time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (info.height, info.width, 3), dtype=np.uint8)
    gen = GenerateConfig(frames=info.frames, steps=args.steps)
    prompt = "pick up the blue fork"

    def ours(cb):
        generate_video(pipe, image, prompt, gen, seed=0, on_step=lambda n: cb())

    def plain(cb):
        from PIL import Image

        pipe(image=Image.fromarray(image), prompt=prompt, num_frames=info.frames,
             num_inference_steps=args.steps, guidance_scale=6.0, output_type="np",
             generator=torch.Generator().manual_seed(0), max_sequence_length=info.text_length,
             callback_on_step_end=lambda p, i, t, kw: (cb(), kw)[1])

    plain(lambda: None)  # warm-up
    t_plain = step_times(plain)
    t_ours = step_times(ours)
    start = time.perf_counter()
    ours(lambda: None)
    total = time.perf_counter() - start
    print(f"generate: {t_ours:.4f} s/denoising step (plain diffusers {t_plain:.4f}; "
          f"ratio {t_ours / t_plain:.2f}); whole video with {args.steps} steps {total:.2f} s")
    if torch.cuda.is_available() and args.device == "cuda":
        print(f"generate peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    if args.skip_finetune:
        return
    accel = Accelerator(cpu=args.device == "cpu",
                        mixed_precision="bf16" if args.device == "cuda" else "no")
    pipe.to(dtype=torch.float32) if args.device == "cpu" else None
    tuner = VideoFinetuner(pipe, FinetuneConfig(lora_rank=64, lora_alpha=64,
                                                gradient_checkpointing="auto"), 0, accel)
    clips = [Clip(rng.integers(0, 256, (info.frames, info.height, info.width, 3), dtype=np.uint8),
                  prompt) for _ in range(2)]
    data = tuner.prepare(clips)
    tuner.train_step(data)  # warm-up
    times = []
    for _ in range(args.train_steps):
        if args.device == "cuda":
            torch.cuda.synchronize()
        s = time.perf_counter()
        tuner.train_step(data)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - s)
    print(f"finetune (LoRA r64, batch 1): {statistics.median(times):.4f} s/step "
          f"(median of {len(times)})")
    if args.device == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
