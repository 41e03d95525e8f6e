"""TADPoLe (Luo et al., NeurIPS 2024): a text-to-image diffusion model as a per-step reward.

Every step, the frame o_{t+1} is encoded to a latent z of the model's VAE, noised once at a
timestep t drawn once per episode in [n, n + 100) (``--tadpole-noise-level`` n, 500 in the
authors' Meta-World command), and one UNet call predicts the noise with the task text and
without it (the empty prompt). With eps the noise that was added:

    alignment      = symlog(2000 * mean((eps_text - eps_uncond)^2))
    reconstruction = symlog(200 * (mean((eps_uncond - eps)^2) - mean((eps_text - eps)^2)))
    success        = 2 * success_t          (the authors' Meta-World setup)
    total          = alignment + reconstruction + success

symlog(x) = sign(x) log(1 + |x|); the means run over the latent's channels and pixels.

Source: brown-palm/tadpole (commit f3475bb), ``src/utils.py`` (class ``TADPoLe``: text
embeddings l. 45-48 and 58-64, ``encode_imgs`` l. 66-75, ``get_reward`` l. 77-101) and
``src/train_mw.py`` (the per-episode timestep l. 95, one reward per step l. 96-110 with
``cfg.sparse_scale * success`` l. 110), configs ``cfgs/default.yaml`` (align_scale 2000,
recon_scale 200, noise_level_range 100, sparse_scale 2) and ``README.md`` (Meta-World:
``noise_level_base=500``). What is followed, and where this differs, is listed on
:class:`TADPoLeReward`.

The model is a Stable Diffusion directory read part by part (``AutoencoderKL``,
``UNet2DConditionModel``, ``CLIPTextModel`` + ``CLIPTokenizer``, and a ``DDIMScheduler``
built from its scheduler config): a hub id (from the local hub cache), a local path, or
``tiny`` (:func:`build_tiny_pipeline`, random weights, materialised once in the cache
directory like the other presets and loaded back through ``from_pretrained``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord, FramePlan, RewardModel
from genreward_cli.rewards.schedule import RewardSchedule

# The authors' default (src/utils.py l. 22). Stability AI withdrew this repository from the
# hub; a local copy or a mirror (a diffusers directory with model_index.json) works the same.
DEFAULT_TADPOLE_MODEL = "stabilityai/stable-diffusion-2-1-base"
DEFAULT_NOISE_LEVEL = 500  # README.md, the Meta-World command (cfgs/default.yaml has 400)
NOISE_LEVEL_RANGE = 100  # cfgs/default.yaml noise_level_range
ALIGN_SCALE = 2000.0  # cfgs/default.yaml align_scale
RECON_SCALE = 200.0  # cfgs/default.yaml recon_scale
SUCCESS_SCALE = 2.0  # cfgs/default.yaml sparse_scale, used by src/train_mw.py only
RENDER_SIZE = 448  # src/train_mw.py l. 58: Meta-World frames are rendered at 448x448
TINY_PRESET = "tiny"
TINY_REVISION = 1  # part of the cached preset's name: bump when the preset changes
_TINY_WORDS = ("a", "robot", "arm", "the", "goal", "to", "and", "with", "gripper", "of")


def symlog(x):
    """sign(x) log(1 + |x|), elementwise (src/utils.py l. 6-7); a tensor or an array."""
    import torch

    if isinstance(x, torch.Tensor):
        return torch.sign(x) * torch.log1p(torch.abs(x))
    x = np.asarray(x)
    return np.sign(x) * np.log1p(np.abs(x))


def tadpole_terms(eps_uncond, eps_text, noise):
    """The two TADPoLe terms per sample, from the UNet's two predictions and the true noise.

    Args:
        eps_uncond, eps_text, noise: float tensors [B, C, H, W] (the empty-prompt prediction,
            the task-text prediction, the noise added to the latent).
    Returns:
        (alignment, reconstruction): float32 tensors [B],
        symlog(2000 mean((eps_text - eps_uncond)^2)) and
        symlog(200 (mean((eps_uncond - noise)^2) - mean((eps_text - noise)^2))),
        as ``get_reward`` of brown-palm/tadpole src/utils.py (l. 93-99), computed in float32.
    """
    u, c, n = (x.float() for x in (eps_uncond, eps_text, noise))
    dims = tuple(range(1, u.dim()))
    alignment = ((c - u) ** 2).mean(dims)
    recon = ((u - n) ** 2).mean(dims) - ((c - n) ** 2).mean(dims)
    return symlog(ALIGN_SCALE * alignment), symlog(RECON_SCALE * recon)


# ---------------------------------------------------------------------------------------------
# The `tiny` preset


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins of byte-level BPE (GPT-2 / CLIP), in byte order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1),
            *range(ord("\xae"), ord("\xff") + 1)]
    symbols, extra = {}, 0
    for b in range(256):
        if b in keep:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def tiny_clip_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary and merges for a tiny ``CLIPTokenizer``, built offline.

    Every byte alone and at a word's end (``</w>``), so any text tokenizes; the words of the
    Meta-World task descriptions (and a few more) as whole tokens through one merge chain each;
    ``<|startoftext|>`` and ``<|endoftext|>`` last. Returns (vocab: token -> id, merges)."""
    from genreward_cli.envs.tasks import TASKS

    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": 256 + i for i, s in enumerate(symbols)})
    words = {w for text in TASKS.values() for w in text.lower().replace(",", " ").split()}
    words = sorted(w for w in words | set(_TINY_WORDS) if w.isalpha() and w.isascii())
    merges: list[tuple[str, str]] = []
    seen = set()
    for w in words:
        cur = w[0]
        for i, ch in enumerate(w[1:]):
            nxt = ch + ("</w>" if i == len(w) - 2 else "")
            if (cur, nxt) not in seen:
                seen.add((cur, nxt))
                merges.append((cur, nxt))
            cur += nxt
            vocab.setdefault(cur, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def build_tiny_pipeline(seed: int = 0):
    """A tiny Stable Diffusion 2 layout with random weights drawn from ``seed``: returns the
    diffusers ``StableDiffusionPipeline`` (no safety checker).

    The same classes as stable-diffusion-2-1-base at small sizes: ``AutoencoderKL`` with four
    blocks (8x spatial compression, 4 latent channels, 64 px samples), ``UNet2DConditionModel``
    (8x8 latents, cross-attention on 16-d text states, linear projections as in SD 2),
    ``CLIPTextModel`` (1 layer, 16-d, 77 positions) with a byte-level ``CLIPTokenizer``
    (:func:`tiny_clip_vocabulary`), and a ``DDIMScheduler`` with SD's training schedule
    (1000 steps, scaled-linear betas 0.00085-0.012, epsilon prediction). The model's input is
    64x64 frames."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    vocab, merges = tiny_clip_vocabulary()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges,
                              model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, projection_dim=16,
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"], hidden_act="gelu"))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8), norm_num_groups=4, sample_size=64)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=16,
        attention_head_dim=(2, 4), use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
        steps_offset=1, prediction_type="epsilon")
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def _write_tiny(out: Path) -> None:
    """Save the tiny preset at ``out``; the tokenizer as vocab.json + merges.txt, the files a
    Stable Diffusion directory carries."""
    from genreward_cli.model_files import quiet_libraries

    quiet_libraries()
    pipe = build_tiny_pipeline()
    pipe.save_pretrained(out)
    tok = out / "tokenizer"
    for f in tok.iterdir():
        f.unlink()
    vocab, merges = tiny_clip_vocabulary()
    (tok / "vocab.json").write_text(json.dumps(vocab))
    (tok / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    (tok / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77}))


def resolve_model(model: str) -> str:
    """A directory or hub id for ``from_pretrained``; ``tiny`` is built once into the cache.

    Raises:
        BadInput: an existing path without ``model_index.json``, or a name that is neither
            ``tiny``, a directory nor a hub id (one line, naming ``--tadpole-model``)."""
    from genreward_cli import __version__
    from genreward_cli.model_files import cached_preset

    if model == TINY_PRESET:
        name = f"tiny-tadpole-sd-{__version__}-r{TINY_REVISION}"
        return str(cached_preset(name, "model_index.json", _write_tiny))
    path = Path(model)
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise BadInput(f"--tadpole-model {model}: not a diffusers Stable Diffusion directory "
                           f"(no model_index.json)")
        return str(path)
    if model.count("/") == 1 and not model.startswith((".", "/", "~")):
        return model
    raise BadInput(f"--tadpole-model {model}: no such directory (nor `tiny`, nor a hub id like "
                   f"{DEFAULT_TADPOLE_MODEL})")


def _unloadable(model: str, source: str, error: Exception) -> BadInput:
    """The one-line error for a model that ``from_pretrained`` cannot read."""
    from huggingface_hub import constants

    where = ""
    if not Path(source).is_dir():
        offline = constants.HF_HUB_OFFLINE  # set, or set by hub_access: no network here
        if model == DEFAULT_TADPOLE_MODEL:  # withdrawn: the cache is its only source
            where = (" (" + ("not in the local hub cache, and " if offline else "")
                     + "withdrawn from the hub: give a local copy or a mirror with "
                     "--tadpole-model)")
        elif offline:
            where = " (offline, a hub id must be in the local hub cache)"
    return BadInput(f"--tadpole-model {model}: cannot load{where}: "
                    f"{' '.join(str(error).split())[:300]}")


def check_model(model: str) -> None:
    """Check, before a long run that uses it later, that ``model`` can be read: its
    ``model_index.json`` from the directory, the local hub cache or the hub (one small file;
    nothing else is loaded).

    Raises:
        BadInput: as :func:`resolve_model`, or the index cannot be read (one line)."""
    from genreward_cli.model_files import read_config

    source = resolve_model(model)
    try:
        read_config(source, "model_index.json")
    except (OSError, ValueError) as e:
        raise _unloadable(model, source, e) from None


def load_parts(model: str, device: str = "cpu", dtype=None) -> dict:
    """The Stable Diffusion parts TADPoLe uses, loaded with ``from_pretrained``.

    Returns {"vae", "unet", "text_encoder", "tokenizer", "scheduler"}; the networks in eval
    mode without gradients, on ``device`` in ``dtype`` (default float32); the scheduler is a
    ``DDIMScheduler`` from the model's scheduler config, as the authors build it
    (src/utils.py l. 50).
    Raises:
        BadInput: the model cannot be resolved or loaded (one line)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from genreward_cli.model_files import quiet_libraries

    quiet_libraries()
    source = resolve_model(model)
    dtype = dtype or torch.float32
    try:
        with warnings.catch_warnings():  # diffusers passes huggingface_hub a retired argument
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            parts = {
                "vae": AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype),
                "unet": UNet2DConditionModel.from_pretrained(source, subfolder="unet",
                                                             torch_dtype=dtype),
                "text_encoder": CLIPTextModel.from_pretrained(source, subfolder="text_encoder",
                                                              torch_dtype=dtype),
                "tokenizer": CLIPTokenizer.from_pretrained(source, subfolder="tokenizer"),
                "scheduler": DDIMScheduler.from_pretrained(source, subfolder="scheduler"),
            }
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
        raise _unloadable(model, source, e) from None
    for name in ("vae", "unet", "text_encoder"):
        parts[name] = parts[name].to(device).eval().requires_grad_(False)
    return parts


# ---------------------------------------------------------------------------------------------
# The reward model


class TADPoLeReward(RewardModel):
    """TADPoLe, every step: ``alignment``, ``reconstruction``, ``success`` and ``total``
    (module docstring), float32 [T] offline, floats online; both paths give the same values.

    Followed (brown-palm/tadpole, commit f3475bb):

    - text states: the CLIP text encoder's last hidden states of the task text and of "",
      each padded to the tokenizer's ``model_max_length`` (src/utils.py l. 45-48, 58-64);
    - frames resized to the model's input size (512 for SD 2.1-base) by bilinear
      interpolation (align_corners False), scaled to [-1, 1], encoded by the VAE; the latent
      is a sample of the VAE's posterior (not its mean) times ``scaling_factor``
      (``encode_imgs``, l. 66-75);
    - one timestep per episode, uniform in [n, n + 100) (src/train_mw.py l. 95); fresh
      noise for every step (``get_reward``: ``noise = torch.randn_like(latent)``, l. 80-81);
      the scheduler's ``add_noise`` (DDIM's alphas_cumprod, l. 84); one UNet call on the
      batch [noisy, noisy] with [empty, text] states (l. 85-91);
    - the two terms with scales 2000 and 200 (l. 93-99), and 2 x success added every step
      (src/train_mw.py l. 110, ``sparse_scale: 2``), each step scoring o_{t+1};
    - fp16 on CUDA (``fp16: True``), float32 on a CPU.

    Differences:

    - frames are uint8 and divided by 255 before the [-1, 1] scaling. The authors' image
      TADPoLe feeds raw 0-255 renders to ``2 * imgs - 1`` (src/utils.py l. 71, with
      src/train_mw.py l. 62), so its VAE sees values up to 509; their ``VideoTADPoLe``
      divides by 255 (l. 152). This follows the video variant.
    - randomness is keyed, not drawn from the global RNG: the timestep from (``seed``, the
      episode's first frame), the posterior sample and the noise of step k from (``seed``,
      first frame, k). So a step scores the same online and offline, and a run resumed
      mid-episode continues with the same draws.
    - Meta-World frames are rendered at 448x448 (src/train_mw.py l. 58) online; a model whose
      input is smaller (``tiny``: 64) reads renders at its own size. Offline, the recorded
      frames are resized, whatever their size: they match the online values when recorded
      at the render size (:attr:`render_size`).
    - the errors are averaged in float32 (the authors in the model's dtype, fp16 by default);
      the text is cut at the tokenizer's length with a warning (the authors would fail);
      a model that predicts something other than the noise (v-prediction) is refused.
    - the environment's success flags come with the episode (``EpisodeRecord.success``);
      without them the ``success`` term is 0 (one warning).

    Args:
        model: ``tiny``, a local diffusers Stable Diffusion directory, or a hub id.
        text: the task text (the authors' ``text_prompt``).
        noise_level: n; the timestep is drawn in [n, n + 100).
        device: torch device string.
        seed: keys the random draws (see Differences).
        batch_size: frames per VAE/UNet call offline (the UNet sees twice as many).
    Raises:
        BadInput: a model that cannot be loaded, predicts v, or whose schedule has no room
            for [n, n + 100).
    """

    def __init__(self, model: str, text: str, noise_level: int = DEFAULT_NOISE_LEVEL,
                 device: str = "cpu", seed: int = 0, batch_size: int = 8):
        import torch

        super().__init__(name="tadpole", names=("alignment", "reconstruction", "success", "total"))
        self.device, self.seed, self.batch_size = device, int(seed), int(batch_size)
        self.text, self.model_name = text, model
        self.dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        parts = load_parts(model, device, self.dtype)
        self.vae, self.unet, self.scheduler = parts["vae"], parts["unet"], parts["scheduler"]
        config = self.scheduler.config
        if config.prediction_type != "epsilon":
            raise BadInput(f"--tadpole-model {model}: predicts {config.prediction_type}; TADPoLe "
                           f"compares noise predictions (an epsilon model, e.g. SD 2.1-base)")
        steps = int(config.num_train_timesteps)
        if not 0 <= noise_level <= steps - NOISE_LEVEL_RANGE:
            raise BadInput(f"--tadpole-noise-level {noise_level}: expected 0 to "
                           f"{steps - NOISE_LEVEL_RANGE} (timesteps in [n, n + "
                           f"{NOISE_LEVEL_RANGE}) of the model's {steps})")
        self.noise_level = int(noise_level)
        down = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.input_size = int(self.unet.config.sample_size) * down  # 512 for SD 2.1-base
        self.render_size = min(RENDER_SIZE, self.input_size)
        self.text_embedding = self._embed(parts["tokenizer"], parts["text_encoder"], text)
        self.uncond_embedding = self._embed(parts["tokenizer"], parts["text_encoder"], "")
        del parts  # the text encoder is not needed any more (as in src/utils.py l. 52-54)
        self._warned_success = False

    @staticmethod
    def _embed(tokenizer, text_encoder, text: str):
        """The text encoder's last hidden states [1, L, D] of ``text`` padded to L tokens."""
        import torch

        length = tokenizer.model_max_length
        n = len(tokenizer(text).input_ids)
        if n > length:
            warnings.warn(f"tadpole: the text has {n} tokens, the text encoder reads {length}; "
                          f"the rest is cut", stacklevel=3)
        ids = tokenizer([text], padding="max_length", max_length=length, truncation=True,
                        return_tensors="pt").input_ids.to(text_encoder.device)
        with torch.inference_mode():
            return text_encoder(ids)[0].clone()

    # -- keyed randomness ---------------------------------------------------------------------

    @staticmethod
    def episode_key(first_frame: np.ndarray) -> int:
        """An integer naming an episode: the first 8 bytes of sha256 of its first frame."""
        digest = hashlib.sha256(np.ascontiguousarray(first_frame).tobytes()).digest()
        return int.from_bytes(digest[:8], "little")

    def _generator(self, *key: int):
        import torch

        state = np.random.SeedSequence([self.seed, *key]).generate_state(2, np.uint64)
        return torch.Generator("cpu").manual_seed(int(state[0] >> np.uint64(1)))

    def timestep(self, key: int) -> int:
        """The episode's timestep, uniform in [n, n + 100) (int)."""
        import torch

        g = self._generator(key, 0)
        lo = self.noise_level
        return int(torch.randint(lo, lo + NOISE_LEVEL_RANGE, (1,), generator=g))

    def draws(self, key: int, k: int, shape) -> tuple:
        """Step k's standard normal draws (float32 CPU tensors of ``shape``, the latent's
        [C, h, w]): the VAE posterior's sample and the diffusion noise eps."""
        import torch

        g = self._generator(key, 1, k)
        return torch.randn(shape, generator=g), torch.randn(shape, generator=g)

    # -- scoring ------------------------------------------------------------------------------

    def _pixels(self, frames: np.ndarray):
        """uint8 [B, H, W, 3] -> [B, 3, S, S] in [-1, 1], S = ``input_size``, on the device."""
        import torch
        import torch.nn.functional as F

        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise BadInput(f"tadpole: expected uint8 frames [N, H, W, 3], got {frames.dtype} "
                           f"{list(frames.shape)}")
        x = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, (self.input_size, self.input_size), mode="bilinear",
                              align_corners=False)
        return (2.0 * x - 1.0).to(self.dtype)

    def score(self, frames: np.ndarray, key: int, steps) -> tuple[np.ndarray, np.ndarray]:
        """The two terms of ``frames`` (uint8 [B, H, W, 3], o_{k+1} of each step k in
        ``steps``) in the episode ``key``: (alignment, reconstruction), float32 [B] each."""
        import torch

        t = self.timestep(key)
        timesteps = torch.tensor([t], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            dist = self.vae.encode(self._pixels(frames)).latent_dist
            shape = tuple(dist.mean.shape[1:])
            draws = [self.draws(key, int(k), shape) for k in steps]
            sample = torch.stack([d[0] for d in draws]).to(self.device, self.dtype)
            noise = torch.stack([d[1] for d in draws]).to(self.device, self.dtype)
            latent = (dist.mean + dist.std * sample) * self.vae.config.scaling_factor
            noisy = self.scheduler.add_noise(latent, noise, timesteps)
            b = len(noisy)
            states = torch.cat([self.uncond_embedding.expand(b, -1, -1),
                                self.text_embedding.expand(b, -1, -1)]).to(self.dtype)
            pred = self.unet(torch.cat([noisy, noisy]), timesteps, encoder_hidden_states=states).sample
            eps_uncond, eps_text = pred.chunk(2)
            align, recon = tadpole_terms(eps_uncond, eps_text, noise)
        return align.cpu().numpy().astype(np.float32), recon.cpu().numpy().astype(np.float32)

    def _success(self, ep: EpisodeRecord, steps) -> np.ndarray:
        if ep.success is None:
            if not self._warned_success:
                warnings.warn("tadpole: the episode carries no success flags; the success term "
                              "(2 x success) is 0", stacklevel=3)
                self._warned_success = True
            return np.zeros(len(steps), np.float32)
        return SUCCESS_SCALE * np.asarray(ep.success, np.float32)[np.asarray(steps)]

    def _parts(self, align, recon, success) -> dict:
        return {"alignment": align, "reconstruction": recon, "success": success,
                "total": (align + recon + success).astype(np.float32)}

    def components(self, ep: EpisodeRecord):
        """Offline: every step of a recorded episode, its frames ``ep.image`` (any size)."""
        T = ep.length
        key = self.episode_key(ep.image[0])
        align, recon = np.zeros(T, np.float32), np.zeros(T, np.float32)
        for start in range(0, T, self.batch_size):
            steps = np.arange(start, min(T, start + self.batch_size))
            align[steps], recon[steps] = self.score(ep.image[steps + 1], key, steps)
        return self._parts(align, recon, self._success(ep, np.arange(T)))

    def _frame(self, ep: EpisodeRecord, i: int) -> np.ndarray:
        frames = ep.frames.get("tadpole")
        return frames[i] if frames is not None else ep.image[i]

    def step_components(self, ep: EpisodeRecord, k: int, last: bool):
        """Online: step k scores o_{k+1}, from the renders of ``frame_plan`` when present."""
        key = self.episode_key(self._frame(ep, 0))
        align, recon = self.score(self._frame(ep, k + 1)[None], key, [k])
        parts = self._parts(align, recon, self._success(ep, [k]))
        return {n: float(v[0]) for n, v in parts.items()}

    def schedule(self, max_steps):
        return RewardSchedule.every_step(max_steps)

    def frame_plan(self, max_steps):
        """Every frame o_0..o_T at ``render_size`` (o_0 names the episode's random draws)."""
        size = (self.render_size, self.render_size)
        return {"tadpole": FramePlan(size, frozenset(range(max_steps + 1)))}
