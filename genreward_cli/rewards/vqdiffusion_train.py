"""Train Diffusion Reward's video model on expert videos, and measure its reward statistics.

Two stages as the authors' (TEA-Lab/diffusion_reward, commit 384ec68): the VQGAN codec
(``scripts/train_vqgan.py``, ``configs/models/codec_models/vqgan/default.yaml``: Adam lr 1e-4,
betas (0.5, 0.9)), then the VQ-Diffusion transformer on windows of three consecutive frames,
the first two conditioning the third (``models/video_models/vqdiffusion/data/dataset.py``,
``frames_per_sample: 3``, ``frame_skip: 1``; ``configs/.../vqdiffusion/default.yaml``: AdamW
betas (0.9, 0.96), weight decay 4.5e-2, gradient norm clipped at 0.5, lr 4.5e-4 after warm-up;
the loss of ``diffusion_transformer.py`` ``_train_loss``: the KL of the true and the model's
posterior at a random step, the decoder NLL at step 0, plus 1e-3 (2 - t/T) times the KL of
x_0 and the model's prediction of it).

Differences: the codec loss is the L1 reconstruction plus the codebook and commitment terms
(no LPIPS, whose VGG weights need a download, and no GAN term); one diffusion step per batch
drawn uniformly (theirs: one per sample, importance-sampled once every step has 10 draws;
diffusers' ``AdaLayerNorm`` takes one timestep per batch); a constant learning rate (no
warm-up, no plateau decay) and no EMA of the weights.

Statistics: the mean and std (ddof 0) of the raw reward of rows 1..F-1 of every training
video of a task (the rows that reward transitions), keyed by task and skip step, as the
authors' ``statistics/diffusion_reward/entropy/metaworld.yaml``.
"""

from __future__ import annotations

import math

import numpy as np

from genreward_cli.errors import BadInput


def build_parts(preset: str):
    """(vqgan, transformer, scheduler) of ``preset``: ``paper`` (the authors' Meta-World
    config) or ``tiny`` (the ``tiny`` preset's config), random weights."""
    from genreward_cli.rewards.vqdiffusion import (
        FrameConditionedTransformer, FrameVQGAN, make_scheduler,
    )

    if preset == "paper":
        return FrameVQGAN(), FrameConditionedTransformer(), make_scheduler(1024)
    if preset == "tiny":
        return (FrameVQGAN(channels=(8, 8, 16, 16), latent_dim=8, num_codes=32,
                           norm_num_groups=4),
                FrameConditionedTransformer(num_attention_heads=2, attention_head_dim=8,
                                            num_layers=1, cross_attention_dim=16,
                                            num_vector_embeds=33, condition_codes=32),
                make_scheduler(32))
    raise BadInput(f"--preset {preset}: expected tiny or paper")


def load_authors(path: str, vqgan, transformer) -> None:
    """Load the authors' ``best.pth`` (``{"model": FC_DALLE state dict, "ema": ...}``) into
    ``vqgan`` and ``transformer`` (their EMA transformer weights when present, as their
    reward does with ``ema=True``).

    Raises:
        BadInput: unreadable, not a PyTorch checkpoint, without a ``model`` state dict, or
            keys or shapes that do not fit the paper preset."""
    import torch

    from genreward_cli.rewards.vqdiffusion import convert_authors_checkpoint

    try:  # torch.load raises what its unpickler meets: KeyError(101) for a text file
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise BadInput(f"--init {path}: {e.strerror or e}") from None
    except Exception:  # noqa: BLE001 - whatever the bytes were, they are not a checkpoint
        raise BadInput(f"--init {path}: not a PyTorch checkpoint (the authors' best.pth) "
                       "nor a model directory") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise BadInput(f"--init {path}: a PyTorch file without the authors' \"model\" "
                       "state dict")
    try:
        state = dict(ckpt["model"])
        if "ema" in ckpt:  # the EMA of the DiffusionTransformer, keys without "transformer."
            state.update({f"transformer.{k}": v for k, v in ckpt["ema"].items()})
        v, t = convert_authors_checkpoint(state, vqgan, transformer)
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as e:
        raise BadInput(f"--init {path}: not an authors' checkpoint for this preset: "
                       f"{' '.join(str(e).split())[:300]}") from None
    vqgan.load_state_dict(v)
    transformer.load_state_dict(t)


def _finite(loss: float, part: str, step: int, option: str) -> float:
    """``loss``, or FloatingPointError naming the part, the step and the learning rate's
    option when it is NaN or inf (the training diverged)."""
    if not math.isfinite(loss):
        raise FloatingPointError(f"the {part} loss is {loss} at step {step}: the training "
                                 f"diverged (lower {option})")
    return loss


def train_codec(vqgan, frames: np.ndarray, steps: int, batch_size: int, lr: float, rng,
                device: str, advance=lambda n: None) -> list[float]:
    """``steps`` Adam steps on random batches of ``frames`` (uint8 [N, R, R, 3]); the losses."""
    import torch
    import torch.nn.functional as F

    vqgan.to(device).train().requires_grad_(True)
    opt = torch.optim.Adam(vqgan.parameters(), lr=lr, betas=(0.5, 0.9))
    losses = []
    for _ in range(steps):
        idx = rng.integers(0, len(frames), min(batch_size, len(frames)))
        x = torch.from_numpy(frames[idx]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        rec, q_loss, _ = vqgan(x)
        loss = F.l1_loss(rec, x) + q_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(_finite(loss.item(), "codec", len(losses) + 1, "--codec-lr"))
        advance(1)
    vqgan.eval().requires_grad_(False)
    return losses


def diffusion_loss(transformer, scheduler, x0, condition, t: int, aux_weight: float = 1e-3):
    """VQ-Diffusion's training loss at step t for the batch (``_train_loss``), per token.

    x0: int64 [B, N]; condition: int64 [B, F*N]. Returns a scalar tensor."""
    import torch

    from genreward_cli.rewards.vqdiffusion import gumbel_argmax, log_onehot, posterior

    k = transformer.config.num_vector_embeds
    steps = scheduler.config.num_train_timesteps
    onehot = log_onehot(x0, k)
    a, b, c = (scheduler.log_cumprod_at[t], scheduler.log_cumprod_bt[t],
               scheduler.log_cumprod_ct[t])
    q_xt = torch.cat([(onehot[:, :-1] + a).logaddexp(b),
                      c.expand(len(x0), 1, x0.shape[1])], 1)  # q(x_t | x_0)
    x_t = gumbel_argmax(q_xt, torch.rand_like(q_xt))
    log_x0 = transformer.predict_x0(x_t, condition, t)
    model = posterior(scheduler, log_x0, x_t, t)
    if t == 0:
        loss = -(onehot.exp() * model).sum((1, 2))
    else:
        true = posterior(scheduler, onehot[:, :-1], x_t, t)
        loss = (true.exp() * (true - model)).sum((1, 2))
    aux = (onehot[:, :-1].exp() * (onehot[:, :-1] - log_x0)).sum((1, 2))
    loss = steps * loss + aux_weight * (2.0 - t / steps) * steps * aux  # / p(t) = T
    return loss.mean() / x0.shape[1]


def train_transformer(transformer, scheduler, tokens: list, steps: int, batch_size: int,
                      lr: float, rng, device: str, advance=lambda n: None) -> list[float]:
    """``steps`` AdamW steps on windows (o_i, o_{i+1} -> o_{i+2}) of the videos' tokens
    (``tokens``: a list of int64 tensors [F, N], F >= 3), ``batch_size`` of them (at most the
    number of windows) each; the losses."""
    import torch

    windows = [(v, i) for v, t in enumerate(tokens) for i in range(len(t) - 2)]
    if not windows:
        raise BadInput("train-video-model: every video has fewer than 3 frames")
    transformer.to(device).train().requires_grad_(True)
    opt = torch.optim.AdamW(transformer.parameters(), lr=lr, betas=(0.9, 0.96),
                            weight_decay=4.5e-2)
    losses = []
    for _ in range(steps):
        pick = rng.integers(0, len(windows), min(batch_size, len(windows)))
        win = [tokens[windows[j][0]][windows[j][1]: windows[j][1] + 3] for j in pick]
        win = torch.stack(win).to(device)  # B x 3 x N
        cond, x0 = win[:, :2].reshape(len(win), -1), win[:, 2]
        t = int(rng.integers(0, scheduler.config.num_train_timesteps))
        loss = diffusion_loss(transformer, scheduler, x0, cond, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 0.5)
        opt.step()
        losses.append(_finite(loss.item(), "transformer", len(losses) + 1, "--lr"))
        advance(1)
    transformer.eval().requires_grad_(False)
    return losses
