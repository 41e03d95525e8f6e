"""The `tiny` preset: an architecture-faithful CogVideoX image-to-video pipeline, small
enough for a CPU, with random weights, built in code (no download).

The same classes as CogVideoX-5B-I2V (3D causal VAE, 3D transformer with rotary and learned
positional embeddings and the 2x latent-channel image conditioning, T5 text encoder, DPM
scheduler with v-prediction and zero-terminal-SNR), at small sizes: 65k VAE and 20k
transformer parameters. 64x64 frames, 9 frames per video (3 latent frames).

It is saved in diffusers format and loaded back with ``from_pretrained``, the path every
real model takes.
"""

from __future__ import annotations

import string
from pathlib import Path

TINY_HEIGHT = 64
TINY_WIDTH = 64
TINY_FRAMES = 9
TINY_TEXT_LENGTH = 32
PRESETS = ("tiny",)


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


def build_tiny_pipeline(seed: int = 0):
    """The tiny CogVideoX I2V pipeline with random weights drawn from ``seed``."""
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDPMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXTransformer3DModel,
    )
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
        sample_height=TINY_HEIGHT,
        sample_width=TINY_WIDTH,
    )
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=8,  # noisy latents + image latents, as in the I2V models
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
        use_learned_positional_embeddings=True,
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
    return CogVideoXImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
        scheduler=scheduler,
    )


def write_preset(name: str, out: str | Path, seed: int = 0) -> Path:
    """Save preset ``name`` as a diffusers directory at ``out``."""
    assert name in PRESETS, name
    from genreward_cli.video.model import quiet_libraries

    quiet_libraries()
    out = Path(out)
    build_tiny_pipeline(seed).save_pretrained(out)
    return out
