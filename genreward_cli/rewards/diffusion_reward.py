"""Diffusion Reward (Huang et al., ECCV 2024): minus a conditional entropy of the next frame,
estimated by a video diffusion model trained on expert videos, plus an RND novelty bonus.

Source: TEA-Lab/diffusion_reward (commit 384ec68):
``diffusion_reward/models/reward_models/diffusion_reward.py`` (``imgs_to_batch``,
``calc_reward``, ``calc_vlb``), ``models/reward_models/expl_rewards/rnd.py`` (RND),
``configs/rl/reward/diffusion_reward.yaml`` (skip_step 9, noise true, num_sample 1,
use_std true, expl_scale 0.95, use_env_reward true), ``rl/drqv2/replay_buffer.py``
(``ReplayCache.pop``: the reward of a whole episode relabels its transitions),
``rl/drqv2/agent.py`` l. 238-242 (the RND bonus added to each sampled batch),
``scripts/train_drqv2.py`` and ``scripts/run/rl/drqv2_metaworld_diffusion_reward.sh``
(RND trained on every agent batch), ``envs/wrapper.py`` (the env reward: success).
What is followed and what differs is listed on :class:`DiffusionReward`. The video model is
``rewards.vqdiffusion``; its directory, the ``tiny`` preset and statistics are read here.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord, RewardModel
from genreward_cli.rewards.schedule import RewardSchedule

META_NAME = "diffusion_reward.json"  # conditioning and per-task statistics of a model dir
FORMAT = 1
DEFAULT_SKIP_STEP = 9  # configs/rl/reward/diffusion_reward.yaml
DEFAULT_EXPL_SCALE = 0.95  # same file: (1 - 0.95) x standardised entropy + 0.95 x RND
RND_LR = 1e-4  # expl_rewards/rnd.py default (the config does not pass expl_lr)
RND_BATCH = 256  # configs/rl/default.yaml batch_size: RND trains on the agent's batches
RND_EVERY = 2  # configs/rl/default.yaml update_every_steps (expl_update_interval=1 in the script)
RND_BUFFER = 10_000  # frames kept for RND's batches (a reservoir over the frames seen)
TINY_PRESET = "tiny"
TINY_REVISION = 1


# ---------------------------------------------------------------------------------------------
# The model directory


def condition_rows(num_frames: int, num_condition_frames: int = 2, frame_skip: int = 1):
    """For each frame r of o_0..o_{F-1}, the indices of the frames that condition the
    prediction of the frame after it: int64 [F, num_condition_frames], oldest first.

    Rows from (C - 1) * skip on are r - (C - 1) * skip, ..., r - skip, r; the first rows
    repeat frame r (the authors' ``imgs_to_batch`` with ``reward_type: entropy``; for C = 2,
    skip 1: row 0 is [0, 0], row r is [r - 1, r]). Row r scores the history ending at o_r,
    so the transition o_{k} -> o_{k+1} gets row k + 1 and needs no frame after o_{k+1}."""
    c, s = num_condition_frames, frame_skip
    rows = np.zeros((num_frames, c), np.int64)
    pad = (c - 1) * s
    for r in range(num_frames):
        rows[r] = r if r < pad else [r - (c - 1 - j) * s for j in range(c)]
    return rows


def _write_tiny(path: Path) -> None:
    """The ``tiny`` preset: the same classes at a small size, random weights (seed 0)."""
    import torch

    from genreward_cli.rewards.vqdiffusion import (
        FrameConditionedTransformer, FrameVQGAN, make_scheduler,
    )

    torch.manual_seed(0)
    vqgan = FrameVQGAN(channels=(8, 8, 16, 16), latent_dim=8, num_codes=32, norm_num_groups=4)
    transformer = FrameConditionedTransformer(num_attention_heads=2, attention_head_dim=8,
                                              num_layers=1, cross_attention_dim=16,
                                              num_vector_embeds=33, condition_codes=32)
    write_model_dir(path, vqgan, transformer, make_scheduler(32), {})


def write_model_dir(path, vqgan, transformer, scheduler, statistics: dict,
                    extra: dict | None = None) -> None:
    """Save the three parts with ``save_pretrained`` and ``diffusion_reward.json``
    (``statistics``: {task: {skip_step (str): [mean, std]}} of the raw reward)."""
    path = Path(path)
    vqgan.save_pretrained(path / "vqgan")
    transformer.save_pretrained(path / "transformer")
    scheduler.save_pretrained(path / "scheduler")
    meta = {"format": FORMAT, "num_condition_frames": transformer.config.num_condition_frames,
            "frame_skip": 1, "statistics": statistics, **(extra or {})}
    (path / META_NAME).write_text(json.dumps(meta, indent=1))


def resolve_model(model: str, option: str = "--diffusion-reward-model") -> Path:
    """The directory a model option names (``tiny`` is built once in the cache).

    Raises:
        BadInput: not ``tiny`` nor a directory holding ``diffusion_reward.json``."""
    from genreward_cli import __version__
    from genreward_cli.model_files import cached_preset

    if model == TINY_PRESET:
        return cached_preset(f"tiny-diffusion-reward-{__version__}-r{TINY_REVISION}", META_NAME,
                             _write_tiny)
    path = Path(model)
    if not (path / META_NAME).is_file():
        what = "no such directory" if not path.exists() else f"not a model directory (no {META_NAME})"
        raise BadInput(f"{option} {model}: {what}; `train-video-model --kind vqdiffusion` "
                       f"writes one (`--preset tiny` on a CPU)")
    return path


def meta_problem(meta: dict, num_condition_frames: int) -> str | None:
    """What is wrong with a model directory's ``diffusion_reward.json`` (None: nothing):
    ``num_condition_frames`` must be the transformer's, ``frame_skip`` an integer >= 1, and
    ``statistics`` {task: {skip step: [mean, std]}} with a finite mean and a std > 0."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if meta.get("num_condition_frames") != num_condition_frames \
            or not is_int(meta.get("num_condition_frames")):
        return (f"num_condition_frames is {meta.get('num_condition_frames')!r}, the "
                f"transformer conditions on {num_condition_frames} frames")
    if not is_int(meta.get("frame_skip")) or meta["frame_skip"] < 1:
        return f"frame_skip is {meta.get('frame_skip')!r}, expected an integer >= 1"
    stats = meta.get("statistics", {})
    if not isinstance(stats, dict) or not all(isinstance(v, dict) for v in stats.values()):
        return "statistics is not {task: {skip step: [mean, std]}}"
    for task, per_skip in stats.items():
        for skip, entry in per_skip.items():
            ok = (isinstance(entry, list) and len(entry) == 2
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v in entry)
                  and math.isfinite(entry[0]) and math.isfinite(entry[1]) and entry[1] > 0)
            if not ok or not skip.isdigit():
                return (f"statistics of {task} at skip step {skip} are {json.dumps(entry)}, "
                        "expected [mean, std] with a finite mean and a finite std > 0")
    return None


class VideoModel:
    """The loaded parts of a model directory, in eval mode without gradients: ``vqgan``
    (``FrameVQGAN``), ``transformer`` (``FrameConditionedTransformer``), ``scheduler``
    (``VQDiffusionScheduler``) and ``meta`` (the JSON)."""

    def __init__(self, model: str, device: str = "cpu", option: str = "--diffusion-reward-model"):
        from diffusers import VQDiffusionScheduler

        from genreward_cli.rewards.vqdiffusion import FrameConditionedTransformer, FrameVQGAN
        from genreward_cli.model_files import quiet_libraries

        quiet_libraries()
        self.name, self.path = model, resolve_model(model, option)
        try:
            try:
                self.meta = json.loads((self.path / META_NAME).read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"{META_NAME}: {e}") from None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.vqgan = FrameVQGAN.from_pretrained(self.path / "vqgan")
                self.transformer = FrameConditionedTransformer.from_pretrained(
                    self.path / "transformer")
                self.scheduler = VQDiffusionScheduler.from_pretrained(self.path / "scheduler")
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
            raise BadInput(f"{option} {model}: cannot load: {' '.join(str(e).split())[:300]}") from None
        if not isinstance(self.meta, dict):
            raise BadInput(f"{option} {model}: {META_NAME} is not a JSON object")
        if self.meta.get("format") != FORMAT:
            raise BadInput(f"{option} {model}: {META_NAME} format {self.meta.get('format')}, "
                           f"this version reads {FORMAT}")
        problem = meta_problem(self.meta, self.transformer.config.num_condition_frames)
        if problem:
            raise BadInput(f"{option} {model}: {META_NAME}: {problem}")
        for net in (self.vqgan, self.transformer):
            net.to(device).eval().requires_grad_(False)
        self.scheduler.set_timesteps(self.scheduler.config.num_train_timesteps, device)
        self.device = device

    def statistics(self, task: str, skip_step: int) -> tuple[float, float]:
        """(mean, std) of the raw reward of ``task``'s training videos at ``skip_step``.

        Raises:
            BadInput: none recorded for that task and skip step (one line)."""
        stats = self.meta.get("statistics", {})
        entry = stats.get(task, {}).get(str(int(skip_step)))
        if entry is None:
            have = ", ".join(f"{t} (skip {', '.join(sorted(s))})" for t, s in sorted(stats.items()))
            raise BadInput(f"--diffusion-reward-model {self.name}: no reward statistics for task "
                           f"{task} at skip step {skip_step} (it has: {have or 'none'}); run "
                           f"train-video-model --kind vqdiffusion on that task's expert videos")
        mean, std = float(entry[0]), float(entry[1])
        if not std > 0:
            raise BadInput(f"--diffusion-reward-model {self.name}: the reward's std for {task} "
                           f"is {std}; cannot standardise")
        return mean, std

    def tokens(self, frames: np.ndarray):
        """uint8 [B, R, R, 3] -> int64 [B, L*L] on the device (the codec sees [-1, 1])."""
        import torch

        r = self.vqgan.config.resolution
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (r, r, 3):
            raise BadInput(f"diffusion-reward: the codec reads uint8 frames [N, {r}, {r}, 3], got "
                           f"{frames.dtype} {list(frames.shape)} (collect at --size {r})")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # the authors' imgs / 127.5 - 1
        with torch.inference_mode():
            return self.vqgan.encode_tokens(x)

    def raw_reward(self, condition, uniforms, skip_step: int):
        """``vqdiffusion.entropy_reward`` in inference mode: float32 numpy [B]."""
        import torch

        from genreward_cli.rewards.vqdiffusion import entropy_reward

        with torch.inference_mode():
            r = entropy_reward(self.transformer, self.scheduler, condition, skip_step, uniforms)
        return r.cpu().numpy().astype(np.float32)


class EntropyScorer:
    """The raw Diffusion Reward of frames' rows (``vqdiffusion.entropy_reward``), with keyed
    Gumbel draws and a token cache: ``raw(frames, rows)`` -> float32 [len(rows)] nats.

    Args:
        video: a loaded ``VideoModel``; skip_step: the chain's stride - 1; seed: keys draws;
        batch_size: rows per denoiser batch."""

    def __init__(self, video: VideoModel, skip_step: int, seed: int = 0, batch_size: int = 32):
        steps = int(video.scheduler.config.num_train_timesteps)
        if not 0 <= skip_step < steps:
            raise BadInput(f"--diffusion-reward-skip-step {skip_step}: expected 0 to {steps - 1}")
        self.video, self.skip_step, self.seed = video, int(skip_step), int(seed)
        self.batch_size, self.device = int(batch_size), video.device
        self.num_cond = int(video.meta["num_condition_frames"])
        self.frame_skip = int(video.meta["frame_skip"])
        self._cache: dict = {}  # {frame digest: tokens [L*L]}

    @staticmethod
    def episode_key(first_frame: np.ndarray) -> int:
        """An integer naming an episode: the first 8 bytes of sha256 of its first frame."""
        digest = hashlib.sha256(np.ascontiguousarray(first_frame).tobytes()).digest()
        return int.from_bytes(digest[:8], "little")

    def uniforms(self, key: int, row: int):
        """Row ``row``'s uniform draws for the chain's Gumbel samples, float32 [S, K + 1, N]."""
        import torch

        from genreward_cli.rewards.vqdiffusion import strided_steps

        tr = self.video.transformer.config
        s = len(strided_steps(self.video.scheduler.config.num_train_timesteps, self.skip_step))
        state = np.random.SeedSequence([self.seed, key, row]).generate_state(2, np.uint64)
        g = torch.Generator("cpu").manual_seed(int(state[0] >> np.uint64(1)))
        return torch.rand((s, tr.num_vector_embeds, tr.sample_size ** 2), generator=g)

    def _tokens(self, frames: np.ndarray, indices) -> dict:
        """{frame index: tokens int64 [L*L]} of ``indices``; tokens are cached by the frame's
        content (online each frame is encoded once)."""
        keys = {int(i): hashlib.blake2b(np.ascontiguousarray(frames[int(i)]).tobytes(),
                                        digest_size=16).digest() for i in indices}
        need = sorted({i for i, h in keys.items() if h not in self._cache})
        if len(self._cache) + len(need) > 4096:
            self._cache = {}
            need = sorted(keys)
        for start in range(0, len(need), 64):
            part = need[start:start + 64]
            for i, t in zip(part, self.video.tokens(frames[part])):
                self._cache[keys[i]] = t
        return {i: self._cache[h] for i, h in keys.items()}

    def raw(self, frames: np.ndarray, rows, key: int | None = None) -> np.ndarray:
        """The raw reward (nats) of ``rows`` of ``frames`` (uint8 [F, R, R, 3], o_0..): row r
        conditions on ``condition_rows``' frames ending at o_r. float32 [len(rows)]."""
        import torch

        rows = np.asarray(rows, np.int64)
        key = self.episode_key(frames[0]) if key is None else key
        table = condition_rows(len(frames), self.num_cond, self.frame_skip)[rows]
        tokens = self._tokens(frames, table.ravel())
        out = np.zeros(len(rows), np.float32)
        for start in range(0, len(rows), self.batch_size):
            part = slice(start, start + self.batch_size)
            cond = torch.stack([torch.cat([tokens[int(i)] for i in r]) for r in table[part]])
            u = torch.stack([self.uniforms(key, int(r)) for r in rows[part]], 1).to(self.device)
            out[part] = self.video.raw_reward(cond, u, self.skip_step)
        return out


# ---------------------------------------------------------------------------------------------
# RND


def _rnd_trunk():
    import torch.nn as nn

    return [nn.Conv2d(3, 32, 6, 3), nn.LeakyReLU(), nn.Conv2d(32, 64, 4, 2), nn.LeakyReLU(),
            nn.Conv2d(64, 64, 3, 1), nn.LeakyReLU(), nn.Flatten()]


class RND:
    """Random network distillation on 64x64 frames (``expl_rewards/rnd.py``): a fixed random
    target (3 convolutions, a linear to 512) and a predictor (the same convolutions, three
    linears); orthogonal initialisation (gain sqrt 2), zero biases; frames x / 255 - 0.5.

    ``bonus``: uint8 [B, 64, 64, 3] -> float32 [B], ||target - predictor||^2 / 2;
    ``update``: one Adam step (lr 1e-4) on the mean squared error, returns the loss."""

    def __init__(self, device: str = "cpu", seed: int = 0, lr: float = RND_LR):
        import torch
        import torch.nn as nn

        feat = 7 * 7 * 64
        self.target = nn.Sequential(*_rnd_trunk(), nn.Linear(feat, 512))
        self.predictor = nn.Sequential(*_rnd_trunk(), nn.Linear(feat, 512), nn.ReLU(),
                                       nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512))
        g = torch.Generator().manual_seed(int(seed))
        for net in (self.target, self.predictor):
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.orthogonal_(m.weight, np.sqrt(2), generator=g)
                    nn.init.zeros_(m.bias)
        self.target.to(device).requires_grad_(False)
        self.predictor.to(device)
        self.optim = torch.optim.Adam(self.predictor.parameters(), lr=lr)
        self.device = device

    def _input(self, frames: np.ndarray):
        import torch

        if frames.dtype != np.uint8 or frames.shape[1:] != (64, 64, 3):
            raise BadInput(f"diffusion-reward: RND reads uint8 frames [N, 64, 64, 3], got "
                           f"{frames.dtype} {list(frames.shape)}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        return x.permute(0, 3, 1, 2).float() / 255.0 - 0.5

    def bonus(self, frames: np.ndarray) -> np.ndarray:
        import torch

        x = self._input(frames)
        with torch.inference_mode():
            d = self.target(x) - self.predictor(x)
        return (d.pow(2).sum(1) / 2).cpu().numpy().astype(np.float32)

    def update(self, frames: np.ndarray) -> float:
        import torch.nn.functional as F

        x = self._input(frames)
        loss = F.mse_loss(self.predictor(x), self.target(x))
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        return loss.item()


# ---------------------------------------------------------------------------------------------
# The reward model


class DiffusionReward(RewardModel):
    """Diffusion Reward, every step: components ``diffusion``, ``rnd``, ``success`` and
    ``total`` = (1 - expl_scale) diffusion + expl_scale rnd + success, float32 [T] offline,
    floats online; both paths give the same values.

    Followed (TEA-Lab/diffusion_reward, module docstring):

    - the codec reads frames / 127.5 - 1 (asserted in [-1, 1]); each step's transition
      o_k -> o_{k+1} gets the reward of row k + 1 of ``condition_rows`` (the tokens of
      o_k and o_{k+1}, for the authors' 2 conditioning frames at frame skip 1), as
      ``ReplayCache.pop`` gives reward i of the episode's frames to time step i;
    - raw reward: ``calc_vlb`` with ``reward_type: entropy``: one sample of the next frame's
      tokens drawn on the strided chain (skip_step 9: 11 denoiser calls at 99, 89, ..., 9, 0),
      and the variational bound of that sample, -KL summed over the chain plus the last step's
      log-likelihood, summed over the 64 tokens (``vqdiffusion.entropy_reward``);
    - ``diffusion`` = (raw - mean) / std with the task's statistics at that skip step
      (``use_std``; the authors' ``statistics/diffusion_reward/entropy/metaworld.yaml``; here
      written by ``train-video-model``); a task without statistics is refused;
    - ``rnd``: RND's ||f(o_{k+1}) - f^(o_{k+1})||^2 / 2 of the next frame, unnormalised
      (``expl_std`` is read by no code of theirs); RND trains with Adam (lr 1e-4) every 2
      steps on a batch of 256 frames seen so far;
    - weights: (1 - expl_scale) on the standardised entropy and expl_scale on RND, 0.95 in
      their config (``calc_reward`` and ``calc_expl_reward``), plus the env's success reward
      (``use_env_reward``; their Meta-World wrapper pays int(success)).

    Differences:

    - one reward per step as the step is taken, rather than the whole episode's at its end:
      row k + 1 needs only o_k and o_{k+1}, so the values are those of the batched
      computation; offline (``components``) the rows are batched.
    - the sampling's Gumbel draws are keyed by (seed, the episode's first frame, the row), not
      drawn from the global RNG, so a step scores the same online, offline and after a resume.
    - RND: the authors add the bonus to each batch the agent samples, with the predictor of
      that update, and train it on those batches (DrQ-v2, batch 256). The agent here learns
      from rewards stored in its replay, so the bonus of a transition is computed when it is
      taken, with the predictor of that time, and the predictor trains on a reservoir of up
      to 10,000 frames seen so far (``rnd_batch`` of them every 2 steps). Offline
      (``score-reward``) each episode is scored from RND's initial state, its predictor
      training the same way on that episode's frames alone, so that an episode's score does
      not depend on which episodes were scored before it (trained across the episodes, the
      bonus fell episode after episode and the first file scored won); a resumed
      ``train-agent`` run starts RND afresh (its state is not checkpointed).
    - success: the env's success flag of the step (1 or 0; theirs, with action repeat 2, sums
      two flags); without recorded flags it is 0 (one warning).
    - ``expl_scale`` is an option (``--diffusion-reward-expl-scale``): 0.95 weighs RND by
      0.95 and the entropy by 0.05, as their config; the paper's text was not at hand to
      compare.

    Args:
        model: a model directory (``train-video-model --kind vqdiffusion``); not ``tiny``,
            whose random weights come with no statistics.
        task: the task whose statistics standardise the raw reward.
        skip_step, expl_scale: as above (defaults 9 and 0.95).
        rnd_batch: frames per RND update (256).
        device: torch device string; seed: keys the draws and RND's initialisation.
        batch_size: rows per denoiser batch offline.
    Raises:
        BadInput: ``tiny``, a model that cannot be loaded, no statistics for ``task`` at
            ``skip_step``,
            ``skip_step`` or ``expl_scale`` out of range, frames not at the codec's size.
    """

    def __init__(self, model: str, task: str, *, skip_step: int = DEFAULT_SKIP_STEP,
                 expl_scale: float = DEFAULT_EXPL_SCALE, rnd_batch: int = RND_BATCH,
                 device: str = "cpu", seed: int = 0, batch_size: int = 32):
        super().__init__(name="diffusion-reward", names=("diffusion", "rnd", "success", "total"))
        if not 0.0 <= expl_scale <= 1.0:
            raise BadInput(f"--diffusion-reward-expl-scale {expl_scale}: expected 0 to 1")
        if model == TINY_PRESET:
            raise BadInput("--diffusion-reward-model tiny: the built-in preset has random weights "
                           "and no reward statistics to standardise with; train one on the "
                           "task's expert episodes: train-video-model EXPERT.h5 --kind "
                           "vqdiffusion --preset tiny --codec-steps 50 --steps 50 --out DIR "
                           "(the tiny pipeline's, under a minute on a CPU)")
        self.video = VideoModel(model, device)
        self.scorer = EntropyScorer(self.video, skip_step, seed, batch_size)
        self.task, self.skip_step, self.expl_scale = task, int(skip_step), float(expl_scale)
        self.mean, self.std = self.video.statistics(task, skip_step)
        self.device, self.seed, self.batch_size = device, int(seed), int(batch_size)
        self.rnd_batch = int(rnd_batch)
        self.rnd_frames = np.zeros((RND_BUFFER, 64, 64, 3), np.uint8)
        self.fresh_rnd()
        self._warned_success = False

    def fresh_rnd(self) -> None:
        """RND as at the start: its initial networks (from ``seed``), an empty reservoir."""
        self.rnd = RND(self.device, self.seed)
        self.rnd_seen = 0
        self.rnd_rng = np.random.default_rng([self.seed, 11])
        self.rnd_loss = float("nan")

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """(raw - mean) / std with the task's statistics."""
        return ((np.asarray(raw, np.float32) - self.mean) / self.std).astype(np.float32)

    # -- RND ----------------------------------------------------------------------------------

    def observe(self, frame: np.ndarray) -> None:
        """Add o_{k+1} to RND's reservoir; every ``RND_EVERY`` frames, one RND update."""
        n = self.rnd_seen
        if n < RND_BUFFER:
            self.rnd_frames[n] = frame
        else:
            j = int(self.rnd_rng.integers(0, n + 1))
            if j < RND_BUFFER:
                self.rnd_frames[j] = frame
        self.rnd_seen = n + 1
        if self.rnd_seen % RND_EVERY == 0:
            size = min(self.rnd_seen, RND_BUFFER)
            idx = self.rnd_rng.integers(0, size, min(self.rnd_batch, size))
            self.rnd_loss = self.rnd.update(self.rnd_frames[idx])

    # -- components ---------------------------------------------------------------------------

    def _success(self, ep: EpisodeRecord, steps) -> np.ndarray:
        if ep.success is None:
            if not self._warned_success:
                warnings.warn("diffusion-reward: the episode carries no success flags; the "
                              "success term is 0", stacklevel=3)
                self._warned_success = True
            return np.zeros(len(steps), np.float32)
        return np.asarray(ep.success, np.float32)[np.asarray(steps)]

    def _parts(self, diffusion, rnd, success) -> dict:
        total = (1.0 - self.expl_scale) * diffusion + self.expl_scale * rnd + success
        return {"diffusion": diffusion, "rnd": rnd, "success": success,
                "total": np.asarray(total, np.float32)}

    def components(self, ep: EpisodeRecord):
        """Offline: the diffusion term of every step in batches; RND step by step from its
        initial state, training as it goes (the class docstring)."""
        T = ep.length
        self.fresh_rnd()  # each episode alike, whichever order they are scored in
        diffusion = self.standardise(self.scorer.raw(ep.image, np.arange(1, T + 1)))
        rnd = np.zeros(T, np.float32)
        for k in range(T):
            rnd[k] = self.rnd.bonus(ep.image[k + 1: k + 2])[0]
            self.observe(ep.image[k + 1])
        return self._parts(diffusion, rnd, self._success(ep, np.arange(T)))

    def step_components(self, ep: EpisodeRecord, k: int, last: bool):
        """Online: step k's reward from o_k and o_{k+1} (row k + 1); RND sees o_{k+1}."""
        key = EntropyScorer.episode_key(ep.image[0])
        diffusion = self.standardise(self.scorer.raw(ep.image[: k + 2], [k + 1], key))
        rnd = self.rnd.bonus(ep.image[k + 1: k + 2])
        self.observe(ep.image[k + 1])
        parts = self._parts(diffusion, rnd, self._success(ep, [k]))
        return {n: float(v[0]) for n, v in parts.items()}

    def schedule(self, max_steps):
        return RewardSchedule.every_step(max_steps)

    def weights(self):
        # 1 - 0.95 is 0.050000000000000044 in binary; the weight is recorded as 0.05
        return {"diffusion": round(1.0 - self.expl_scale, 12), "rnd": self.expl_scale,
                "success": 1.0}

    def weight_complements(self):
        return {"diffusion": "rnd"}  # 1 - expl_scale and expl_scale

    def weight_labels(self):
        return {"diffusion": "1 - --diffusion-reward-expl-scale =",
                "rnd": "--diffusion-reward-expl-scale"}
