"""The paper's model architectures with random weights, written as the same local directories
(``save_pretrained``) that the real models are loaded from, so that every stage loads them
exactly as it would load the released weights, on machines that cannot download those.

- ``cogvideox-5b-i2v-random``: a ``CogVideoXImageToVideoPipeline`` directory with the layout
  of THUDM/CogVideoX-5b-I2V (paper section 3.1): the 3D transformer (42 layers, 48 heads of
  dim 64, in_channels 32 = 16 noisy + 16 image latent channels, rotary and learned positional
  embeddings, patch 2, no temporal patch, no ofs embedding, sample 60x90 latents x 49 frames,
  226 text tokens, text_embed_dim 4096, time_embed_dim 512), the full 3D causal VAE (blocks
  128/256/256/512, 3 layers each, 16 latent channels, 8x spatial and 4x temporal compression,
  scaling factor 0.7), the T5-v1.1-XXL text encoder (d_model 4096, d_ff 10240, 64 heads of
  dim 64, 24 layers, gated-GELU, vocabulary 32128), a T5 (Unigram) tokenizer of the same
  vocabulary size (32000 pieces + 100 sentinels; its pieces are made up, so texts tokenize
  differently from the real SentencePiece model) with model_max_length 226, and the
  ``CogVideoXDDIMScheduler`` (v-prediction, zero terminal SNR, trailing spacing,
  snr_shift_scale 1.0 for the 5B models). Source: diffusers
  ``scripts/convert_cogvideox_to_diffusers.py`` (``--i2v --version 1.0``, 5B: 42 layers,
  48 heads, RoPE, scaling factor 0.7, snr shift 1.0) and google/t5-v1_1-xxl's config.
- ``dinov3-vits16plus-random``: a transformers ``DINOv3ViTModel`` directory of DINOv3
  ViT-S/16+ (384-d, 12 layers, 6 heads, gated MLP 1536, 4 register tokens), the paper's
  image encoder psi (section 3.3).

OpenCLIP ViT-B-32 needs no directory: ``--clip-model ViT-B-32 --clip-pretrained ''`` builds
it with random weights offline.

``CogVideoXSizes`` cuts the cost without touching the shapes the pipeline's files depend on
(the 480x720 native size, 49 frames, 16 latent channels, the compression ratios, 226 text
tokens): fewer transformer or T5 layers, fewer transformer heads, a narrower T5 (its width is
also the transformer's text_embed_dim), narrower VAE blocks and fewer VAE layers per block. The defaults are the real
sizes: 5.6B transformer and 4.76B T5 parameters, about 21 GB in bfloat16, which must be built
on a machine with the memory for them (``device="cuda"`` draws the weights on the GPU).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

COGVIDEOX_RANDOM = "cogvideox-5b-i2v-random"
DINOV3_RANDOM = "dinov3-vits16plus-random"
RANDOM_PRESETS = {COGVIDEOX_RANDOM: "image-to-video", DINOV3_RANDOM: "image-encoder"}

T5_XXL_VOCAB = 32128  # T5-v1.1 embedding rows (the tokenizer has 32100 of them)
T5_PIECES = 32000  # SentencePiece pieces; plus 100 sentinel ids <extra_id_N>
T5_EXTRA_IDS = 100
TEXT_LENGTH = 226  # CogVideoX's max_text_seq_length and tokenizer model_max_length
HEAD_DIM = 64  # CogVideoX attention_head_dim and T5-v1.1-XXL d_kv
DTYPES = ("bfloat16", "float32")


@dataclass(frozen=True)
class CogVideoXSizes:
    """The sizes of ``cogvideox-5b-i2v-random``; the defaults are CogVideoX-5B-I2V's."""

    layers: int = 42  # transformer blocks
    heads: int = 48  # transformer attention heads, each of dim 64 (inner width 64 x heads)
    text_layers: int = 24  # T5 encoder blocks
    text_width: int = 4096  # T5 d_model (d_ff 2.5x, heads of dim 64) = transformer text_embed_dim
    vae_width: int = 128  # the VAE's first block channels; blocks w, 2w, 2w, 4w
    vae_layers: int = 3  # the VAE's resnet layers per block

    def check(self) -> None:
        """Raises ValueError for a size the architecture cannot take."""
        for name in ("layers", "heads", "text_layers", "text_width", "vae_width", "vae_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: must be >= 1")
        if self.text_width % HEAD_DIM:
            raise ValueError(f"text width {self.text_width}: must be a multiple of {HEAD_DIM} "
                             f"(T5 heads of dim {HEAD_DIM})")
        if self.vae_width % 2:
            raise ValueError(f"vae width {self.vae_width}: must be even (group norms)")


def t5_xxl_config(sizes: CogVideoXSizes = CogVideoXSizes()):
    """google/t5-v1_1-xxl's ``T5Config`` (dropout as released), at ``sizes.text_layers``
    blocks and ``sizes.text_width`` d_model (d_ff = 2.5 d_model, heads of dim 64)."""
    from transformers import T5Config

    w = sizes.text_width
    return T5Config(vocab_size=T5_XXL_VOCAB, d_model=w, d_kv=HEAD_DIM, d_ff=w * 5 // 2,
                    num_layers=sizes.text_layers, num_heads=w // HEAD_DIM,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128,
                    dropout_rate=0.1, layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu",
                    is_encoder_decoder=True, tie_word_embeddings=False, pad_token_id=0,
                    eos_token_id=1, decoder_start_token_id=0)


def t5_tokenizer():
    """A T5 tokenizer with the T5-v1.1 vocabulary's size and special ids (pad 0, eos 1, unk 2,
    100 sentinels) and model_max_length 226, built from an explicit Unigram vocabulary (no
    download): the tiny preset's word pieces, then filler pieces up to 32000."""
    from transformers import T5Tokenizer

    from genreward_cli.video.presets import tiny_tokenizer

    base = tiny_tokenizer()
    pieces = sorted(base.get_vocab().items(), key=lambda kv: kv[1])
    names = [p for p, _ in pieces if not p.startswith("<extra_id_")]
    names += [f"<unused_{i}>" for i in range(T5_PIECES - len(names))]
    vocab = [(p, 0.0 if i < 3 else -float(i) / 10) for i, p in enumerate(names)]
    return T5Tokenizer(vocab=vocab, extra_ids=T5_EXTRA_IDS, model_max_length=TEXT_LENGTH)


def transformer_config(sizes: CogVideoXSizes = CogVideoXSizes()) -> dict:
    """``CogVideoXTransformer3DModel`` keyword arguments of CogVideoX-5B-I2V at ``sizes``
    (diffusers' defaults for the rest: time_embed_dim 512, gelu-approximate, norm eps 1e-5,
    attention bias, spatial interpolation 1.875)."""
    return dict(num_attention_heads=sizes.heads, attention_head_dim=HEAD_DIM, in_channels=32,
                out_channels=16, num_layers=sizes.layers, text_embed_dim=sizes.text_width,
                time_embed_dim=512, sample_height=60, sample_width=90, sample_frames=49,
                patch_size=2, patch_size_t=None, patch_bias=True, ofs_embed_dim=None,
                max_text_seq_length=TEXT_LENGTH, temporal_compression_ratio=4,
                use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True)


def vae_config(sizes: CogVideoXSizes = CogVideoXSizes()) -> dict:
    """``AutoencoderKLCogVideoX`` keyword arguments of CogVideoX-5B(-I2V) at ``sizes``."""
    w = sizes.vae_width
    return dict(block_out_channels=(w, 2 * w, 2 * w, 4 * w), latent_channels=16,
                layers_per_block=sizes.vae_layers, norm_num_groups=math.gcd(w, 32), temporal_compression_ratio=4,
                sample_height=480, sample_width=720, scaling_factor=0.7,
                invert_scale_latents=False, use_quant_conv=False, use_post_quant_conv=False)


SCHEDULER_CONFIG = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                        num_train_timesteps=1000, prediction_type="v_prediction",
                        rescale_betas_zero_snr=True, timestep_spacing="trailing",
                        clip_sample=False, set_alpha_to_one=True, snr_shift_scale=1.0)


def write_cogvideox(out: str | Path, sizes: CogVideoXSizes = CogVideoXSizes(), seed: int = 0,
                    dtype: str = "bfloat16", device: str = "cpu") -> Path:
    """Write ``cogvideox-5b-i2v-random`` at ``sizes`` as a diffusers directory at ``out``.

    Each part is drawn on ``device`` (seeded by ``seed``, then the part's index), cast to
    ``dtype`` (the transformer and T5; the VAE stays float32, as diffusers' converter keeps
    it), saved, and freed before the next, so peak memory is about the largest part in
    float32 (the 5.6B transformer: 22 GB). ``model_index.json`` names the classes so that
    ``CogVideoXImageToVideoPipeline.from_pretrained(out)`` loads it.

    Raises:
        ValueError: a size the architecture cannot take, or an unknown dtype.
    """
    import torch
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler,
                           CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel)
    from transformers import T5EncoderModel

    from genreward_cli.model_files import quiet_libraries

    sizes.check()
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    quiet_libraries()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cast = getattr(torch, dtype)

    def part(index, name, make, part_dtype):
        torch.manual_seed(seed * 1000 + index)
        with torch.device(device):
            model = make()
        model = model.to(dtype=part_dtype).to("cpu")
        model.save_pretrained(out / name)
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

    part(0, "transformer", lambda: CogVideoXTransformer3DModel(**transformer_config(sizes)), cast)
    part(1, "vae", lambda: AutoencoderKLCogVideoX(**vae_config(sizes)), torch.float32)
    part(2, "text_encoder", lambda: T5EncoderModel(t5_xxl_config(sizes)), cast)
    t5_tokenizer().save_pretrained(out / "tokenizer")
    CogVideoXDDIMScheduler(**SCHEDULER_CONFIG).save_pretrained(out / "scheduler")
    import diffusers
    import transformers

    index = {"_class_name": CogVideoXImageToVideoPipeline.__name__,
             "_diffusers_version": diffusers.__version__,
             "scheduler": ["diffusers", "CogVideoXDDIMScheduler"],
             "text_encoder": ["transformers", "T5EncoderModel"],
             "tokenizer": ["transformers", "T5Tokenizer"],
             "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
             "vae": ["diffusers", "AutoencoderKLCogVideoX"]}
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "random_weights.json").write_text(json.dumps(
        {"preset": COGVIDEOX_RANDOM, "seed": seed, "dtype": dtype, "sizes": asdict(sizes),
         "transformers": transformers.__version__}, indent=2) + "\n")
    return out


def dinov3_vits16plus_config():
    """DINOv3 ViT-S/16+'s ``DINOv3ViTConfig`` (384-d, 12 layers, 6 heads, gated MLP 1536,
    4 register tokens; facebook/dinov3-vits16plus-pretrain-lvd1689m)."""
    from transformers import DINOv3ViTConfig

    return DINOv3ViTConfig(hidden_size=384, intermediate_size=1536, num_hidden_layers=12,
                           num_attention_heads=6, use_gated_mlp=True, num_register_tokens=4)


def write_dinov3(out: str | Path, seed: int = 0) -> Path:
    """Write ``dinov3-vits16plus-random`` (28.7M parameters, float32) as a transformers
    directory at ``out``, loadable by ``AutoModel.from_pretrained`` and `--image-encoder`."""
    import torch
    from transformers import DINOv3ViTModel

    torch.manual_seed(seed)
    out = Path(out)
    DINOv3ViTModel(dinov3_vits16plus_config()).save_pretrained(out)
    return out
