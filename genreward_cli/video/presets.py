"""The built-in presets: architecture-faithful CogVideoX pipelines, small enough for a CPU,
with random weights, built in code (no download).

- `tiny`: image-to-video. The same classes as CogVideoX-5B-I2V (3D causal VAE, 3D transformer
  with rotary and learned positional embeddings and the 2x latent-channel image conditioning,
  T5 text encoder, DPM scheduler with v-prediction and zero-terminal-SNR), at small sizes:
  65k VAE and 20k transformer parameters. 64x64 frames, 9 frames per video (3 latent frames).
- `tiny-t2v`: text-to-video, the layout of CogVideoX-5B (`CogVideoXPipeline`): the
  transformer takes the noisy latents alone (in_channels = the VAE's latent channels) and has
  rotary positional embeddings only, so any size that is a multiple of 16 works. Its
  tokenizer, T5 encoder, VAE and scheduler are the same, with the same weights, as `tiny`'s.

Each is saved in diffusers format and loaded back with ``from_pretrained``, the path every
real model takes.
"""

from __future__ import annotations

import string
from pathlib import Path

TINY_HEIGHT = 64
TINY_WIDTH = 64
TINY_FRAMES = 9
TINY_TEXT_LENGTH = 32
# The VAE's sample size only sets diffusers' default tiles (half of it, overlaps 1/6 and 1/5 of
# a tile). 64x64 would give 32 px tiles stepping 26 px, off the 8-px latent grid (9x9 latents
# for 64x64 frames); 96x80 gives 48x40 px tiles stepping 40x32 px, on the grid, so plain
# diffusers' `vae.enable_tiling()` keeps the shapes.
TINY_VAE_SAMPLE = (96, 80)
IMAGE_TO_VIDEO = "image-to-video"
TEXT_TO_VIDEO = "text-to-video"
PRESETS = {"tiny": IMAGE_TO_VIDEO, "tiny-t2v": TEXT_TO_VIDEO}  # name -> mode
T2V_PRESET = {"tiny": "tiny-t2v"}  # the word `tiny` for a text-to-video option
PRESET_REVISION = 2  # part of the cached presets' names: bump when a preset's definition changes


def tiny_tokenizer():
    """A T5 (Unigram) tokenizer over whole words of the task descriptions plus single
    characters, so any text tokenizes; built from an explicit vocabulary (no download)."""
    from transformers import T5Tokenizer

    from genreward_cli.envs.tasks import TASKS

    words = sorted({w for text in TASKS.values() for w in text.replace(",", " ").split()})
    words += ["blue", "fork", "red", "green", "apple", "cup", "robot", "arm"]
    chars = string.ascii_lowercase + string.digits + string.punctuation
    pieces = ["<pad>", "</s>", "<unk>", "\u2581"]
    pieces += ["\u2581" + w for w in dict.fromkeys(words)] + list(chars)
    pieces += ["\u2581" + c for c in chars]
    # Unigram scores: whole words first (higher), then characters.
    vocab = [(p, 0.0 if i < 3 else -float(i) / 10) for i, p in enumerate(dict.fromkeys(pieces))]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=TINY_TEXT_LENGTH)


def build_tiny_pipeline(seed: int = 0, mode: str = IMAGE_TO_VIDEO):
    """A tiny CogVideoX pipeline with random weights drawn from ``seed``.

    Args:
        mode: ``"image-to-video"`` (a ``CogVideoXImageToVideoPipeline``, the `tiny` preset) or
            ``"text-to-video"`` (a ``CogVideoXPipeline``, the `tiny-t2v` preset). Both draw the
            tokenizer, text encoder and VAE first, so those are identical for one seed.
    Raises:
        ValueError: an unknown mode.
    """
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDPMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    if mode not in (IMAGE_TO_VIDEO, TEXT_TO_VIDEO):
        raise ValueError(f"mode {mode!r}: expected {IMAGE_TO_VIDEO!r} or {TEXT_TO_VIDEO!r}")
    i2v = mode == IMAGE_TO_VIDEO
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
            relative_attention_num_buckets=8,
        )
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        sample_height=TINY_VAE_SAMPLE[0],
        sample_width=TINY_VAE_SAMPLE[1],
    )
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=8 if i2v else 4,  # I2V: noisy latents + image latents; T2V: noisy latents
        out_channels=4,
        time_embed_dim=8,
        text_embed_dim=32,
        num_layers=1,
        sample_width=TINY_WIDTH // 8,
        sample_height=TINY_HEIGHT // 8,
        sample_frames=TINY_FRAMES,
        patch_size=2,
        max_text_seq_length=TINY_TEXT_LENGTH,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=i2v,  # as in CogVideoX-5B-I2V / CogVideoX-5B
    )
    scheduler = CogVideoXDPMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,
        snr_shift_scale=1.0,
    )
    cls = CogVideoXImageToVideoPipeline if i2v else CogVideoXPipeline
    return cls(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
        scheduler=scheduler,
    )


def write_preset(name: str, out: str | Path, seed: int = 0) -> Path:
    """Save preset ``name`` (a key of ``PRESETS``) as a diffusers directory at ``out``.

    Raises:
        ValueError: an unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"preset {name!r}: expected one of {', '.join(PRESETS)}")
    from genreward_cli.model_files import quiet_libraries

    quiet_libraries()
    out = Path(out)
    build_tiny_pipeline(seed, PRESETS[name]).save_pretrained(out)
    return out
