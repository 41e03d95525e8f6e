"""Diffusion Reward's video model: a VQGAN frame codec and a frame-conditioned VQ-Diffusion.

Architecture from the authors' repository (TEA-Lab/diffusion_reward, commit 384ec68), built
here from diffusers parts:

- codec (``FrameVQGAN``): ``models/codec_models/vqgan/{encoder,decoder,helper,codebook}.py``
  (after dome272/VQGAN-pytorch). 64x64 RGB in [-1, 1] -> 8x8 tokens of 1024 codes
  (``configs/models/video_models/vqdiffusion/dataset/metaworld.yaml``: latent_dim 64,
  channels [128, 128, 256, 256], resolution 64, latent_size 8, beta 0.25). Residual blocks,
  the attention blocks at 16x16 and in the middle, and the up/down-sampling are diffusers'
  ``ResnetBlock2D``, ``Attention``, ``Downsample2D`` (pad right/bottom, stride-2 conv) and
  ``Upsample2D``, laid out in the authors' order so that their ``nn.Sequential`` indices
  are ours. diffusers' ``VQModel`` cannot hold this layout: its encoder never downsamples in
  its last block and its decoder has one more residual block per level.
- denoiser (``FrameConditionedTransformer``): ``modeling/transformers/transformer_utils.py``
  (``Text2ImageTransformer``: 16 blocks of width 128, 16 heads, adaptive layer norms with a
  learned timestep embedding, self- then cross-attention, a feed-forward of two 3x3
  convolutions over the 8x8 grid (``Conv_MLP``, GELU2 = x sigmoid(1.702 x)), hidden 2x) and
  ``modeling/embeddings/frame_embedding.py`` (the condition: the tokens of the two previous
  frames through one ``nn.Embedding(1024, 1024)``). It is diffusers' ``Transformer2DModel``
  over discrete inputs (``num_vector_embeds`` = codes + 1 mask class, ``norm_type
  "ada_norm"``) with each block's feed-forward replaced by the convolutional one.
- noise schedule and posterior: diffusers' ``VQDiffusionScheduler`` (VQ-Diffusion's
  ``alpha1`` schedule, ``modeling/transformers/diffusion_transformer.py`` ``alpha_schedule``:
  cumulative alpha from 0.99999 to 0.000009 and cumulative gamma from 0.000009 to 0.99999,
  linear over 100 steps); its ``q_posterior`` clamped to [-70, 0] as the authors'.

A model directory holds ``vqgan/``, ``transformer/`` and ``scheduler/`` (each diffusers'
``save_pretrained``) and ``diffusion_reward.json`` (conditioning and per-task statistics).
``convert_authors_checkpoint`` maps the authors' ``best.pth`` (``FC_DALLE`` state dict) onto
these parts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ModelMixin, Transformer2DModel, VQDiffusionScheduler
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from torch import nn

LOG_CLAMP = -70.0  # the authors clamp log-probabilities to [-70, 0]


# ---------------------------------------------------------------------------------------------
# Codec


class _Resnet(ResnetBlock2D):
    """diffusers' ``ResnetBlock2D`` without a time embedding, callable in ``nn.Sequential``."""

    def forward(self, x):
        return super().forward(x, None)


def _res(cin, cout, groups):
    return _Resnet(in_channels=cin, out_channels=cout, temb_channels=None, groups=groups,
                         eps=1e-6, non_linearity="swish", dropout=0.0, output_scale_factor=1.0)


def _attn(c, groups):
    return Attention(c, heads=1, dim_head=c, norm_num_groups=groups, eps=1e-6, bias=True,
                     residual_connection=True, upcast_softmax=True)


class FrameVQGAN(ModelMixin, ConfigMixin):
    """The authors' VQGAN (module docstring) from diffusers blocks.

    ``encode_tokens``: float [B, 3, R, R] in [-1, 1] -> int64 [B, L*L] token indices (rows
    first); ``decode_tokens`` the inverse way to [B, 3, R, R]; ``forward`` returns
    (reconstruction, codebook + beta commitment loss, indices) for training.
    """

    @register_to_config
    def __init__(self, channels=(128, 128, 256, 256), latent_dim: int = 64,
                 num_codes: int = 1024, resolution: int = 64, latent_size: int = 8,
                 attn_resolutions=(16,), layers_per_block: int = 2, norm_num_groups: int = 32,
                 beta: float = 0.25):
        super().__init__()
        g, ch = norm_num_groups, list(channels)
        enc, res = [nn.Conv2d(3, ch[0], 3, 1, 1)], resolution
        for i in range(len(ch) - 1):
            cin = ch[i]
            for _ in range(layers_per_block):
                enc.append(_res(cin, ch[i + 1], g))
                cin = ch[i + 1]
                if res in attn_resolutions:
                    enc.append(_attn(cin, g))
            if res > latent_size:
                enc.append(Downsample2D(ch[i + 1], use_conv=True, out_channels=ch[i + 1],
                                        padding=0, name="op"))
                res //= 2
        c = ch[-1]
        enc += [_res(c, c, g), _attn(c, g), _res(c, c, g), nn.GroupNorm(g, c, eps=1e-6),
                nn.SiLU(), nn.Conv2d(c, latent_dim, 3, 1, 1)]
        self.encoder = nn.Sequential(*enc)
        rev = ch[::-1]
        dec, res, cin = [nn.Conv2d(latent_dim, rev[0], 3, 1, 1)], latent_size, rev[0]
        dec += [_res(cin, cin, g), _attn(cin, g), _res(cin, cin, g)]
        for cout in rev:
            for _ in range(layers_per_block):
                dec.append(_res(cin, cout, g))
                cin = cout
                if res in attn_resolutions:
                    dec.append(_attn(cin, g))
            if res < resolution:
                dec.append(Upsample2D(cin, use_conv=True, out_channels=cin))
                res *= 2
        dec += [nn.GroupNorm(g, cin, eps=1e-6), nn.SiLU(), nn.Conv2d(cin, 3, 3, 1, 1)]
        self.decoder = nn.Sequential(*dec)
        self.codebook = nn.Embedding(num_codes, latent_dim)
        self.codebook.weight.data.uniform_(-1.0 / num_codes, 1.0 / num_codes)
        self.quant_conv = nn.Conv2d(latent_dim, latent_dim, 1)
        self.post_quant_conv = nn.Conv2d(latent_dim, latent_dim, 1)

    def _check(self, x: torch.Tensor) -> None:
        r = self.config.resolution
        assert x.ndim == 4 and x.shape[1:] == (3, r, r), (tuple(x.shape), r)
        assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0, \
            f"the codec reads pixels in [-1, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}]"

    def quantize(self, z: torch.Tensor):
        """Nearest codes of latents [B, D, L, L]: (quantised [B, D, L, L], indices [B, L*L])."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        dist = (flat.pow(2).sum(1, keepdim=True) + self.codebook.weight.pow(2).sum(1)
                - 2 * flat @ self.codebook.weight.t())
        idx = dist.argmin(1)
        zq = self.codebook(idx).view(b, h, w, d).permute(0, 3, 1, 2)
        return zq, idx.view(b, h * w)

    def encode_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """float [B, 3, R, R] in [-1, 1] -> int64 [B, L*L] (asserts the range)."""
        self._check(x)
        return self.quantize(self.quant_conv(self.encoder(x)))[1]

    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 [B, L*L] -> float [B, 3, R, R] (about [-1, 1])."""
        side = self.config.latent_size
        z = self.codebook(tokens).view(len(tokens), side, side, -1).permute(0, 3, 1, 2)
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor):
        """Training pass: (reconstruction [B, 3, R, R], VQ loss (scalar), indices [B, L*L]);
        the loss is ||sg(zq) - z||^2 + beta ||zq - sg(z)||^2 (``codebook.py``), straight-through."""
        self._check(x)
        z = self.quant_conv(self.encoder(x))
        zq, idx = self.quantize(z)
        loss = F.mse_loss(zq.detach(), z) + self.config.beta * F.mse_loss(zq, z.detach())
        zq = z + (zq - z).detach()
        return self.decoder(self.post_quant_conv(zq)), loss, idx


# ---------------------------------------------------------------------------------------------
# Denoiser


class ConvFeedForward(nn.Module):
    """The authors' ``Conv_MLP``: tokens [B, L*L, D] as a grid, 3x3 conv to ``mult`` D,
    GELU2 (x sigmoid(1.702 x)), 3x3 conv back to D."""

    def __init__(self, dim: int, mult: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, mult * dim, 3, 1, 1)
        self.conv2 = nn.Conv2d(mult * dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        side = math.isqrt(n)
        assert side * side == n, n
        h = x.transpose(1, 2).reshape(b, d, side, side)
        h = self.conv1(h)
        h = self.conv2(h * torch.sigmoid(1.702 * h))
        return h.reshape(b, d, n).transpose(1, 2)


class FrameConditionedTransformer(Transformer2DModel):
    """diffusers' discrete ``Transformer2DModel`` with the authors' convolutional feed-forward
    and their frame-token condition embedding (module docstring).

    ``predict_x0(x_t, condition, t)``: x_t int64 [B, L*L] (codes, ``num_vector_embeds - 1``
    the mask), condition int64 [B, F*L*L] (the F conditioning frames' tokens, oldest first),
    t an int -> log p(x_0 | x_t, condition) float32 [B, num_vector_embeds - 1, L*L].
    """

    @register_to_config
    def __init__(self, num_attention_heads: int = 16, attention_head_dim: int = 8,
                 num_layers: int = 16, cross_attention_dim: int = 1024, sample_size: int = 8,
                 num_vector_embeds: int = 1025, num_embeds_ada_norm: int = 100,
                 condition_codes: int = 1024, num_condition_frames: int = 2, ff_mult: int = 2):
        super().__init__(num_attention_heads=num_attention_heads,
                         attention_head_dim=attention_head_dim, num_layers=num_layers,
                         cross_attention_dim=cross_attention_dim, attention_bias=True,
                         sample_size=sample_size, num_vector_embeds=num_vector_embeds,
                         activation_fn="gelu", num_embeds_ada_norm=num_embeds_ada_norm,
                         norm_type="ada_norm")
        for block in self.transformer_blocks:
            block.ff = ConvFeedForward(self.inner_dim, ff_mult)
        self.condition_embedding = nn.Embedding(condition_codes, cross_attention_dim)

    # Transformer2DModel's legacy mixins remap it by class name; this class has no remap
    @classmethod
    def from_pretrained(cls, path, **kwargs):
        return ModelMixin.from_pretrained.__func__(cls, path, **kwargs)

    @classmethod
    def from_config(cls, config=None, **kwargs):
        return ConfigMixin.from_config.__func__(cls, config, **kwargs)

    def predict_x0(self, x_t: torch.Tensor, condition: torch.Tensor, t: int) -> torch.Tensor:
        n = self.config.sample_size ** 2
        assert x_t.ndim == 2 and x_t.shape[1] == n, (tuple(x_t.shape), n)
        assert condition.shape == (len(x_t), self.config.num_condition_frames * n), \
            (tuple(condition.shape), self.config.num_condition_frames * n)
        cond = self.condition_embedding(condition)  # B x F*L*L x cross_attention_dim
        step = torch.tensor(int(t), device=x_t.device)
        return self(x_t, encoder_hidden_states=cond, timestep=step, return_dict=False)[0]


# ---------------------------------------------------------------------------------------------
# The diffusion chain


def make_scheduler(num_codes: int, steps: int = 100) -> VQDiffusionScheduler:
    """VQ-Diffusion's schedule over ``num_codes`` + 1 classes (the authors' ``alpha1``)."""
    return VQDiffusionScheduler(num_vec_classes=num_codes + 1, num_train_timesteps=steps)


def posterior(scheduler: VQDiffusionScheduler, log_x0: torch.Tensor, x_t: torch.Tensor,
              t: int) -> torch.Tensor:
    """log q(x_{t-1} | x_t, x_0 ~ exp(log_x0)), float [B, K + 1, N], clamped to [-70, 0] as
    the authors' ``q_posterior`` (diffusion_transformer.py). log_x0: float [B, K, N] (no mask
    row); x_t: int64 [B, N]; t: int in [0, steps)."""
    assert 0 <= t < scheduler.config.num_train_timesteps, t
    return scheduler.q_posterior(log_x0, x_t, int(t)).clamp(LOG_CLAMP, 0.0)


def log_onehot(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 [B, N] -> float [B, num_classes, N]: log one-hot, zeros as log(1e-30)."""
    return torch.log(F.one_hot(x, num_classes).permute(0, 2, 1).float().clamp(min=1e-30))


def strided_steps(steps: int, skip_step: int) -> list[int]:
    """The denoiser's timesteps: steps - 1 down by skip_step + 1, and 0 last (the authors'
    ``diffusion_list``). skip_step 9 of 100: [99, 89, ..., 9, 0], 11 calls."""
    out = list(range(steps - 1, -1, -1 - skip_step))
    return out if out[-1] == 0 else out + [0]


def gumbel_argmax(logits: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """argmax over dim 1 of logits + Gumbel(uniform) (the authors' ``log_sample_categorical``)."""
    return (logits - torch.log(-torch.log(uniform + 1e-30) + 1e-30)).argmax(1)


def entropy_reward(transformer: FrameConditionedTransformer, scheduler: VQDiffusionScheduler,
                   condition: torch.Tensor, skip_step: int, uniforms: torch.Tensor) -> torch.Tensor:
    """The authors' ``calc_vlb`` with ``reward_type: entropy``, ``num_sample: 1``: sample the
    next frame's tokens from the model on the strided chain, then the variational bound of
    that sample, sum over steps of -KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) and the last
    step's log p(x_0 | x_1), summed over tokens: an estimate of -H(next frame | condition).

    Args:
        condition: int64 [B, F*N], the conditioning frames' tokens.
        skip_step: the chain's stride minus one (9: 11 denoiser calls of 100 steps).
        uniforms: float [S, B, K + 1, N] in [0, 1), the Gumbel draws of the S steps.
    Returns:
        float32 [B], nats.
    Source: TEA-Lab/diffusion_reward ``models/reward_models/diffusion_reward.py``
    (``calc_vlb``, l. 146-200).
    """
    steps = strided_steps(scheduler.config.num_train_timesteps, skip_step)
    assert uniforms.shape[0] == len(steps), (tuple(uniforms.shape), len(steps))
    b, n = len(condition), transformer.config.sample_size ** 2
    k = transformer.config.num_vector_embeds  # codes + mask
    x_t = torch.full((b, n), k - 1, dtype=torch.long, device=condition.device)  # all masked
    chain = []
    for i, d in enumerate(steps):
        log_x0 = transformer.predict_x0(x_t, condition, d)
        t = d - skip_step if d > skip_step else d
        model = posterior(scheduler, log_x0, x_t, t)
        chain.append((x_t, t, model))
        x_t = gumbel_argmax(model, uniforms[i])
    x0 = x_t
    onehot = log_onehot(x0, k)
    total = (model * onehot.exp()).sum((1, 2))  # log p(x_0 | x_1) of the sample
    for x_i, t, model_i in chain[:-1]:
        true = posterior(scheduler, onehot[:, :-1], x_i, t)
        kl = (true.exp() * (true - model_i)).sum(1)  # B x N
        total = total - kl.sum(1)
    return total.float()


# ---------------------------------------------------------------------------------------------
# The authors' checkpoints


def _module_map(ours: nn.Sequential, prefix_theirs: str, prefix_ours: str) -> dict[str, str]:
    """{their key: our key} for one of the codec's ``nn.Sequential`` (same indices)."""
    out = {}
    for i, m in enumerate(ours):
        t, o = f"{prefix_theirs}.{i}", f"{prefix_ours}.{i}"
        if isinstance(m, nn.Conv2d):
            pairs = {"": ""}
        elif isinstance(m, nn.GroupNorm):
            pairs = {"gn.": ""}
        elif isinstance(m, ResnetBlock2D):
            pairs = {"block.0.gn.": "norm1.", "block.2.": "conv1.", "block.3.gn.": "norm2.",
                     "block.5.": "conv2."}
            if m.conv_shortcut is not None:
                pairs["channel_up."] = "conv_shortcut."
        elif isinstance(m, Attention):
            pairs = {"gn.gn.": "group_norm.", "q.": "to_q.", "k.": "to_k.", "v.": "to_v.",
                     "proj_out.": "to_out.0."}
        elif isinstance(m, (Downsample2D, Upsample2D)):
            pairs = {"conv.": "conv."}
        else:
            continue
        for a, b in pairs.items():
            for p in ("weight", "bias"):
                out[f"{t}.{a}{p}"] = f"{o}.{b}{p}"
    return out


def vqgan_key_map(vqgan: FrameVQGAN) -> dict[str, str]:
    """{key in the authors' ``VQGAN`` state dict: key in ``FrameVQGAN``'s}."""
    out = {**_module_map(vqgan.encoder, "encoder.model", "encoder"),
           **_module_map(vqgan.decoder, "decoder.model", "decoder"),
           "codebook.embedding.weight": "codebook.weight"}
    for name in ("quant_conv", "post_quant_conv"):
        for p in ("weight", "bias"):
            out[f"{name}.{p}"] = f"{name}.{p}"
    return out


def transformer_key_map(transformer: FrameConditionedTransformer) -> dict[str, str]:
    """{key in the authors' ``DiffusionTransformer`` state dict: ours}."""
    out = {"condition_emb.emb.weight": "condition_embedding.weight",
           "transformer.content_emb.emb.weight": "latent_image_embedding.emb.weight",
           "transformer.content_emb.height_emb.weight": "latent_image_embedding.height_emb.weight",
           "transformer.content_emb.width_emb.weight": "latent_image_embedding.width_emb.weight"}
    for p in ("weight", "bias"):
        out[f"transformer.to_logits.0.{p}"] = f"norm_out.{p}"
        out[f"transformer.to_logits.1.{p}"] = f"out.{p}"
    for i in range(len(transformer.transformer_blocks)):
        t, o = f"transformer.blocks.{i}", f"transformer_blocks.{i}"
        for a, b in (("ln1", "norm1"), ("ln1_1", "norm2")):
            out[f"{t}.{a}.emb.weight"] = f"{o}.{b}.emb.weight"
            out[f"{t}.{a}.linear.weight"], out[f"{t}.{a}.linear.bias"] = \
                f"{o}.{b}.linear.weight", f"{o}.{b}.linear.bias"
        for p in ("weight", "bias"):
            out[f"{t}.ln2.{p}"] = f"{o}.norm3.{p}"
            out[f"{t}.mlp.conv1.{p}"] = f"{o}.ff.conv1.{p}"
            out[f"{t}.mlp.conv2.{p}"] = f"{o}.ff.conv2.{p}"
            for a in ("attn1", "attn2"):
                for x, y in (("query", "to_q"), ("key", "to_k"), ("value", "to_v"),
                             ("proj", "to_out.0")):
                    out[f"{t}.{a}.{x}.{p}"] = f"{o}.{a}.{y}.{p}"
    return out


def _remap(state: dict, mapping: dict, shapes: dict, what: str) -> dict:
    missing = [k for k in mapping if k not in state]
    if missing:
        raise KeyError(f"{what}: {len(missing)} keys missing, e.g. {missing[:3]}")
    out = {}
    for theirs, ours in mapping.items():
        v = state[theirs]
        if v.ndim == 4 and len(shapes[ours]) == 2:  # a 1x1 conv of theirs, a linear of ours
            v = v[:, :, 0, 0]
        if tuple(v.shape) != tuple(shapes[ours]):
            raise ValueError(f"{what}: {theirs} is {tuple(v.shape)}, {ours} needs "
                             f"{tuple(shapes[ours])}")
        out[ours] = v
    return out


def convert_authors_checkpoint(state: dict, vqgan: FrameVQGAN,
                               transformer: FrameConditionedTransformer) -> tuple[dict, dict]:
    """Their ``FC_DALLE`` state dict (``best.pth``'s ``"model"``: ``content_codec.model.*``
    and ``transformer.*``) -> (``vqgan`` state dict, ``transformer`` state dict) for the
    given models, whose configs must match theirs. Buffers of theirs (the schedule,
    ``Lt_history``) are dropped: the scheduler recomputes the schedule.

    Raises:
        KeyError: a parameter of theirs is missing; ValueError: a shape differs."""
    codec = {k[len("content_codec.model."):]: v for k, v in state.items()
             if k.startswith("content_codec.model.")}
    trans = {k[len("transformer."):]: v for k, v in state.items() if k.startswith("transformer.")}
    vs = {k: v.shape for k, v in vqgan.state_dict().items()}
    ts = {k: v.shape for k, v in transformer.state_dict().items()}
    return (_remap(codec, vqgan_key_map(vqgan), vs, "codec"),
            _remap(trans, transformer_key_map(transformer), ts, "transformer"))


def to_authors_checkpoint(vqgan: FrameVQGAN, transformer: FrameConditionedTransformer) -> dict:
    """The inverse of ``convert_authors_checkpoint``: our weights in their key layout
    (1x1 convs where they have them), e.g. to check the converter."""
    out = {}
    for prefix, model, mapping in (("content_codec.model.", vqgan, vqgan_key_map(vqgan)),
                                   ("transformer.", transformer, transformer_key_map(transformer))):
        state = model.state_dict()
        for theirs, ours in mapping.items():
            v = state[ours]
            if v.ndim == 2 and (".q." in theirs or ".k." in theirs or ".v." in theirs
                                or ".proj_out." in theirs):
                v = v[:, :, None, None]
            out[prefix + theirs] = v.clone()
    return out
