"""Finetuning a CogVideoX image-to-video model on domain clips (paper section 3.1, eq. 1-2).

Objective. CogVideoX is trained with v-prediction (``prediction_type="v_prediction"`` in its
scheduler), and so are we: x_t = alpha_t x_0 + sigma_t eps (eq. 1); the transformer predicts
v = alpha_t eps - sigma_t x_0; from it x0_hat = alpha_t x_t - sigma_t v_hat, and the loss is
||x0_hat - x_0||^2 / sigma_t^2 = ||v_hat - v||^2. The paper writes eq. 2 in epsilon form;
since eps - eps_hat = alpha_t (v - v_hat), our loss is eq. 2 with the per-timestep weight
1 / alpha_t^2, i.e. the objective the pretrained model was trained with (changing it while
finetuning would fight the pretraining).

Conditioning follows the I2V model: the first frame, lightly noised (sigma = exp(N(-3, 0.5))),
is VAE-encoded and concatenated on the channel axis with the noisy latents, zero-padded to
every latent frame; the text is encoded once by the frozen T5.

Trainable: LoRA adapters on the attention projections (peft, the default) or the whole
transformer. The VAE and text encoder stay frozen. Runs under accelerate, so
``accelerate launch genreward finetune ...`` trains data-parallel on several GPUs or nodes.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from genreward_cli.config import option
from genreward_cli.errors import BadInput
from genreward_cli.video.clips import Clip, resample

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def long_prompt_warning(prompts: list[str], tokenizer, limit: int) -> str | None:
    """Warn (one line) when training prompts are longer than the ``limit`` tokens the
    transformer reads (T5, cut as CogVideoX's pipelines cut: ``video.generate.seen_text``):
    the model is finetuned on their first ``limit - 1`` tokens only, as `generate` would
    read them. Returns the warning's text (None when every prompt fits)."""
    import warnings

    from genreward_cli.video.generate import seen_text

    cut = [t for t in (seen_text(tokenizer, p, limit) for p in dict.fromkeys(prompts))
           if t.truncated]
    if not cut:
        return None
    first = cut[0]
    line = (f"{len(cut)} training prompt{'s are' if len(cut) > 1 else ' is'} longer than the "
            f"{limit} tokens the model reads, e.g. {first.tokens} tokens of which it learns "
            f"{first.seen!r} only; shorten the prompts (generate reads them cut the same way)")
    warnings.warn(line, stacklevel=2)
    return line

@dataclass(frozen=True)
class FinetuneConfig:
    """Finetuning hyperparameters; defaults follow diffusers' CogVideoX I2V LoRA recipe."""

    steps: int = option(1000, "Optimisation steps.", minimum=1)
    batch_size: int = option(1, "Clips per step (per process).", minimum=1)
    lr: float = option(1e-4, "AdamW learning rate.", above=0)
    trainable: str = option("lora", "`lora`: LoRA adapters (peft); `full`: every transformer weight.",
                            choices=("lora", "full"))
    lora_rank: int = option(64, "LoRA rank.", minimum=1)
    lora_alpha: int = option(64, "LoRA alpha (scale = alpha / rank).", minimum=1)
    weight_decay: float = option(1e-4, "AdamW weight decay.", minimum=0)
    max_grad_norm: float = option(1.0, "Gradient clipping norm.", above=0)
    frames: int = option(0, "Frames per training clip, uniformly sampled; 0 = the model's native count.",
                         minimum=0)
    height: int = option(0, "Training height; 0 = the model's native height.", minimum=0)
    width: int = option(0, "Training width; 0 = the model's native width.", minimum=0)
    checkpoint_every: int = option(500, "Save a resumable checkpoint every N steps.", minimum=1)
    gradient_checkpointing: str = option("auto", "`auto`: on for GPUs, off on a CPU; `on`; `off`.",
                                         choices=("auto", "on", "off"))
    mixed_precision: str = option("auto", "`auto`: bf16 on a GPU, fp32 on a CPU; `no`; `bf16`.",
                                  choices=("auto", "no", "bf16"))


@dataclass
class Prepared:
    """Frozen-model encodings of the training set, computed once."""

    latent_mean: "torch.Tensor"  # [N, F', C, h, w] float32
    latent_std: "torch.Tensor"  # [N, F', C, h, w]
    first_frame: "torch.Tensor"  # [N, 3, H, W] in [-1, 1]
    prompt_embeds: "torch.Tensor"  # [N, L, D]


# FinetuneConfig fields a resumed run may change (--steps, --checkpoint-every)
RESUMABLE = ("steps", "checkpoint_every")
# a damaged latest checkpoint: the one before it still resumes the run
RESUME_HINT = "remove it to resume from the checkpoint before it, or start over with --force"


class VideoFinetuner:
    """Owns the pipeline's frozen parts, the trainable transformer, optimiser and RNG."""

    def __init__(self, pipe, config: FinetuneConfig, seed: int, accelerator):
        import torch

        from genreward_cli.video.model import ModelInfo

        if pipe.transformer.config.patch_size_t is not None:
            raise BadInput("finetuning CogVideoX 1.5 models (temporal patches) is not supported; "
                           "use a CogVideoX 1.0 I2V model such as THUDM/CogVideoX-5b-I2V")
        self.pipe = pipe
        self.config = config
        self.accelerator = accelerator
        self.run_info: dict = {}  # what else the run was made from (model, seed, inputs)
        info = ModelInfo.of(pipe)
        self.frames = config.frames or info.frames
        self.height = config.height or info.height
        self.width = config.width or info.width
        info.check(self.frames, self.height, self.width)
        self.info = info
        self.device = accelerator.device
        pipe.vae.requires_grad_(False)
        pipe.text_encoder.requires_grad_(False)
        transformer = pipe.transformer
        transformer.requires_grad_(False)
        if config.trainable == "lora":
            from peft import LoraConfig

            # peft draws the A matrices from torch's global RNG: seed it here, in a fork, so the
            # initial adapter depends on ``seed`` alone, not on what ran before (building a
            # preset on first use, loading a model).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                transformer.add_adapter(LoraConfig(
                    r=config.lora_rank, lora_alpha=config.lora_alpha, init_lora_weights=True,
                    target_modules=LORA_TARGETS,
                ))
        else:
            transformer.requires_grad_(True)
        use_ckpt = config.gradient_checkpointing == "on" or (
            config.gradient_checkpointing == "auto" and self.device.type == "cuda")
        if use_ckpt:
            transformer.enable_gradient_checkpointing()
        self.params = [p for p in transformer.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(self.params, lr=config.lr, betas=(0.9, 0.95),
                                      weight_decay=config.weight_decay)
        self.transformer, self.optimizer = accelerator.prepare(transformer, optimizer)
        self.generator = torch.Generator().manual_seed(seed + 1000 * accelerator.process_index)
        self.step = 0
        self.history: list[tuple[int, float, float]] = []
        alphas = pipe.scheduler.alphas_cumprod
        self.alphas_cumprod = alphas.to(self.device, torch.float32)

    # ----------------------------------------------------------------- data

    def prepare(self, clips: list[Clip], on_clip: Callable[[int], None] = lambda n: None) -> Prepared:
        """Resample clips to the training size and encode them with the frozen VAE and T5."""
        import torch

        pipe, dev = self.pipe, self.device
        vae_dtype = pipe.vae.dtype
        means, stds, firsts, embeds = [], [], [], {}
        for clip in clips:
            frames = resample(clip.frames, self.frames, self.height, self.width)
            x = torch.from_numpy(frames).to(dev).permute(3, 0, 1, 2).float() / 127.5 - 1.0  # [3,F,H,W]
            with torch.no_grad():
                dist = pipe.vae.encode(x[None].to(vae_dtype)).latent_dist
            means.append(dist.mean[0].permute(1, 0, 2, 3).float().cpu())  # [F', C, h, w]
            stds.append(dist.std[0].permute(1, 0, 2, 3).float().cpu())
            firsts.append(x[:, 0].cpu())
            if clip.prompt not in embeds:
                with torch.no_grad():
                    e, _ = pipe.encode_prompt(
                        clip.prompt, do_classifier_free_guidance=False,
                        max_sequence_length=self.info.text_length, device=dev,
                    )
                embeds[clip.prompt] = e[0].float().cpu()
            on_clip(1)
        if self.accelerator.is_main_process:
            long_prompt_warning([c.prompt for c in clips], pipe.tokenizer, self.info.text_length)
        return Prepared(
            latent_mean=torch.stack(means),
            latent_std=torch.stack(stds),
            first_frame=torch.stack(firsts),
            prompt_embeds=torch.stack([embeds[c.prompt] for c in clips]),
        )

    # ----------------------------------------------------------------- loss

    def loss(self, data: Prepared, generator) -> "torch.Tensor":
        """The v-prediction loss on a batch drawn with ``generator`` (see module docstring)."""
        import torch

        pipe, dev = self.pipe, self.device
        n = data.latent_mean.shape[0]
        b = self.config.batch_size
        idx = torch.randint(0, n, (b,), generator=generator)
        scale = pipe.vae_scaling_factor_image
        eps_latent = torch.randn(data.latent_mean[idx].shape, generator=generator)
        latents = (data.latent_mean[idx] + data.latent_std[idx] * eps_latent).to(dev) * scale
        # first-frame condition with noise augmentation, as the I2V models were trained
        image = data.first_frame[idx]
        sigma = torch.exp(torch.randn(b, generator=generator) * 0.5 - 3.0)[:, None, None, None]
        image = (image + sigma * torch.randn(image.shape, generator=generator)).to(dev)
        with torch.no_grad():
            img_lat = pipe.vae.encode(image[:, :, None].to(pipe.vae.dtype)).latent_dist.sample(
                generator=generator).float()
        img_lat = img_lat.permute(0, 2, 1, 3, 4) * scale  # [B, 1, C, h, w]
        padding = torch.zeros_like(latents[:, 1:])
        img_lat = torch.cat([img_lat, padding], dim=1)  # [B, F', C, h, w]

        t = torch.randint(0, pipe.scheduler.config.num_train_timesteps, (b,), generator=generator)
        noise = torch.randn(latents.shape, generator=generator).to(dev)
        t = t.to(dev)
        noisy = pipe.scheduler.add_noise(latents, noise, t)
        model_input = torch.cat([noisy, img_lat], dim=2)
        rotary = None
        if self.transformer_config.use_rotary_positional_embeddings:
            rotary = pipe._prepare_rotary_positional_embeddings(
                self.height, self.width, latents.shape[1], dev)
        ofs = None
        if self.transformer_config.ofs_embed_dim is not None:
            ofs = model_input.new_full((b,), fill_value=2.0)
        with self.accelerator.autocast():
            v_hat = self.transformer(
                hidden_states=model_input,
                encoder_hidden_states=data.prompt_embeds[idx].to(dev),
                timestep=t,
                ofs=ofs,
                image_rotary_emb=rotary,
                return_dict=False,
            )[0].float()
        x0_hat = pipe.scheduler.get_velocity(v_hat, noisy, t)  # alpha x_t - sigma v_hat
        alpha_bar = self.alphas_cumprod[t].view(b, 1, 1, 1, 1)
        weights = 1.0 / (1.0 - alpha_bar)
        return (weights * (x0_hat - latents) ** 2).mean()

    @property
    def transformer_config(self):
        return self.accelerator.unwrap_model(self.transformer).config

    # ----------------------------------------------------------------- training

    def train_step(self, data: Prepared) -> float:
        self.transformer.train()
        loss = self.loss(data, self.generator)
        self.accelerator.backward(loss)
        if self.accelerator.sync_gradients:
            self.accelerator.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"finetune loss is {value} at step {self.step}")
        self.history.append((self.step, value, self.optimizer.param_groups[0]["lr"]))
        return value

    def eval_loss(self, data: Prepared, seed: int = 12345, batches: int = 4) -> float:
        """The loss on fixed draws (batch, noise, timestep): comparable across training."""
        import torch

        g = torch.Generator().manual_seed(seed)
        self.transformer.eval()
        with torch.no_grad():
            return float(np.mean([float(self.loss(data, g)) for _ in range(batches)]))

    # ----------------------------------------------------------------- checkpoints

    def trainable_state(self) -> dict:
        model = self.accelerator.unwrap_model(self.transformer)
        return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}

    def save_checkpoint(self, directory: Path) -> Path:
        """Trainable weights, optimiser, RNG and step, written atomically."""
        import torch

        directory.mkdir(parents=True, exist_ok=True)
        from genreward_cli.store import replacing

        path = directory / f"step-{self.step:07d}.pt"
        with replacing(path) as tmp:  # removed if interrupted
            torch.save({
                "step": self.step,
                "trainable": self.trainable_state(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "history": self.history,
                "config": asdict(self.config),
                "run": self.run_info,
            }, tmp)
        return path

    def load_checkpoint(self, path: Path) -> None:
        import torch

        from genreward_cli.store import read_checkpoint

        state = read_checkpoint(path, RESUME_HINT, what="finetune",
                                keys=("step", "trainable", "optimizer", "generator",
                                      "history", "config"))
        mine = asdict(self.config)
        # the run's length and how often it saves may change on resume; nothing else may
        changed = sorted(k for k in mine if k not in RESUMABLE
                         and state["config"].get(k) != mine[k])
        if changed:
            raise BadInput(f"{path}: checkpoint was made with other options: {', '.join(changed)}")
        model = self.accelerator.unwrap_model(self.transformer)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state["trainable"].items():
                params[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step = state["step"]
        self.history = [tuple(h) for h in state["history"]]

    # ----------------------------------------------------------------- export

    def export(self, model: str, out: Path, load_pipeline: Callable) -> None:
        """Write the finetuned pipeline as a plain diffusers directory into ``out``.

        LoRA: the adapter goes to ``out/lora`` (diffusers' LoRA format) with its peft config
        (rank, alpha, targets) as adapter metadata, so ``load_lora_weights(out / "lora")``
        applies it at its training scale alpha / rank, and it is fused at that scale into a
        fresh copy of the base model: the exported transformer computes what the trained one
        did, and ``from_pretrained(out)`` needs no peft. ``model_index.json`` is moved in last:
        a directory without it is unfinished.

        Args:
            model: the base model's preset, directory or hub id (what ``load_pipeline`` takes).
            out: the output directory (created by the caller).
            load_pipeline: ``video.model.load_pipeline``, or a stand-in with its signature.
        """
        from genreward_cli.store import replacing_dir

        staging = out / ".export"
        with replacing_dir(staging) as tmp:  # an error, Ctrl-C or SIGTERM: no half-written copy
            self._save_staged(model, out, tmp, load_pipeline)
        for entry in sorted(staging.iterdir(), key=lambda p: p.name == "model_index.json"):
            target = out / entry.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            entry.rename(target)
        staging.rmdir()

    def _save_staged(self, model: str, out: Path, staging: Path, load_pipeline: Callable) -> None:
        """The finetuned pipeline saved into ``staging`` (the LoRA adapter into out/lora)."""
        from diffusers import CogVideoXImageToVideoPipeline

        trained = self.accelerator.unwrap_model(self.transformer)
        if self.config.trainable == "lora":
            from peft.utils import get_peft_model_state_dict

            shutil.rmtree(out / "lora", ignore_errors=True)
            lora_dir = out / "lora"
            # Without its config the adapter would reload with peft's defaults (alpha = rank:
            # scale 1), not the alpha / rank it was trained at.
            # peft keeps target_modules as a set, whose order changes from run to run: sorted,
            # the same training writes the same file (a hash of it names the model)
            metadata = next(iter(trained.peft_config.values())).to_dict()
            if isinstance(metadata.get("target_modules"), (set, list, tuple)):
                metadata["target_modules"] = sorted(metadata["target_modules"])
            CogVideoXImageToVideoPipeline.save_lora_weights(
                lora_dir, transformer_lora_layers=get_peft_model_state_dict(trained),
                transformer_lora_adapter_metadata=metadata)
            fresh = load_pipeline(model)
            fresh.load_lora_weights(lora_dir, adapter_name="genreward")
            fresh.fuse_lora(components=["transformer"], lora_scale=1.0)
            fresh.unload_lora_weights()
            fresh.save_pretrained(staging)
        else:
            self.pipe.transformer = trained
            self.pipe.save_pretrained(staging)
