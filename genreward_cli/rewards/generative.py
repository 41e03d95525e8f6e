"""The GenReward reward (eq. 10) on Algorithm 1's schedule.

r_gen = alpha * r_video + beta * r_FB + r_env, added every ``interval`` steps (Table A: 128);
on every other step the agent receives r_env alone. At agent step k (1-based; k = 128, 256):

- r_video: eq. 5, the cosine between the goal's video latent and the latent of 16 frames
  uniformly sampled from the history o_0..o_k, encoded by the goal file's own VideoEncoder
  at the goal's resolution (online, only those 16 frames are rendered at that size).
- r_FB: eq. 9 at (s_{k-1}, a_{k-1}), the state-action that step k took, s = psi(o_{k-1}),
  from a frame of the size the FB model was trained on, and z* = B(psi(I*)) with the goal
  frame I* seen the same way (``goal.image_encoder.state_view``: centre-cropped to the states'
  aspect ratio and resized). Offline, a recorded frame of another size is seen that way too.
"""

from __future__ import annotations


import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord, FramePlan, RewardModel
from genreward_cli.rewards.schedule import RewardSchedule


DEFAULT_ALPHA, DEFAULT_BETA = 1e-2, 1e-5  # Table A's weights of r_video and r_FB
DEFAULT_INTERVAL = 128  # Table A: steps between generative rewards


def _relocated(art, field: str, config, what: str):
    """``config`` with its local model path ``field`` as ``art.resolve`` finds it now (the
    recorded path, or the same place relative to an artifact that has moved, with a
    warning naming ``what``)."""
    import dataclasses

    return dataclasses.replace(config, **{field: art.resolve(getattr(config, field), what)})


def _frame_size(value: str) -> tuple[int, int]:
    """An FB file's ``frame_size`` attribute (JSON ``[height, width]``, the size of the
    frames it was trained on) as a tuple; ValueError for anything else."""
    import json

    size = json.loads(value)
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in size)):
        raise ValueError(f"got {value[:40]}")
    return tuple(size)


class GenerativeReward(RewardModel):
    """Eq. 10 with frozen encoders and FB model, rebuilt from the goal and fb artifacts.

    ``alpha_mode`` ``absolute`` (the paper) weighs r_video and r_FB by ``alpha`` and
    ``beta``; ``relative`` by ``alpha * sigma`` and ``beta * sigma``, sigma the env reward's
    per-step standard deviation, given by ``set_scale`` before the first step is scored
    (``rewards.accounting.relative_scale``)."""

    def __init__(self, goal_art, fb_art=None, alpha: float = DEFAULT_ALPHA,
                 beta: float = DEFAULT_BETA, interval: int = DEFAULT_INTERVAL, use_video: bool = True, use_fb: bool = True,
                 device: str = "cpu", alpha_mode: str = "absolute"):
        import torch

        from genreward_cli.goal.image_encoder import (ImageEncoder, ImageEncoderConfig,
                                                      fb_goal_embedding)
        from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig

        super().__init__(name="genreward", names=("env", "video", "fb", "total"))
        self.given_alpha, self.given_beta, self.interval = alpha, beta, interval
        if alpha_mode not in ("absolute", "relative"):
            raise BadInput(f"--alpha-mode {alpha_mode}: expected absolute or relative")
        self.alpha_mode = alpha_mode
        self.scale = 1.0 if alpha_mode == "absolute" else None
        self.use_video, self.use_fb = use_video, use_fb and fb_art is not None
        if use_fb and fb_art is None:
            raise BadInput("the genreward reward needs --fb (or --no-fb-reward)")
        # local model paths as recorded, found again if the run folder has moved
        self.video_config = _relocated(goal_art, "vae", goal_art.attrs.parsed(
            "video_encoder", VideoEncoderConfig.from_json), "its VAE")
        self.goal_latent = goal_art.file["video_latent"][()]
        self.goal_path = goal_art.path
        self.video_encoder = VideoEncoder(self.video_config, device) if use_video else None
        self.device = device
        self.fb_size = None
        if self.use_fb:
            from genreward_cli.fb.io import read_model

            icfg = _relocated(fb_art, "model", fb_art.attrs.parsed(
                "image_encoder", ImageEncoderConfig.from_json), "its image encoder")
            if icfg != _relocated(goal_art, "model", goal_art.attrs.parsed(
                    "image_encoder", ImageEncoderConfig.from_json), "its image encoder"):
                raise BadInput(f"{fb_art.path}: trained with another image encoder than "
                               f"{goal_art.path}")
            if "frame_size" not in fb_art.attrs:
                raise BadInput(f"{fb_art.path}: no frame_size attribute (written by an older "
                               f"train-fb); train it again")
            self.fb_size = fb_art.attrs.parsed("frame_size", _frame_size,
                                               "is not [height, width] in pixels")
            self.fb = read_model(fb_art, device)
            self.fb_train_config = fb_art.attrs["train_config"]
            goal_dim = goal_art.file["frame_embedding"].shape[0]
            if self.fb.config.obs_dim != goal_dim:
                raise BadInput(f"{fb_art.path}: FB takes {self.fb.config.obs_dim}-d states, the goal "
                               f"embedding has {goal_dim}")
            self.image_encoder = ImageEncoder(icfg, device)
            # psi(I*) as the states are seen: the goal frame cropped to their aspect ratio
            self.goal_embedding = torch.from_numpy(fb_goal_embedding(
                self.image_encoder, goal_art.file["frame"][()], self.fb_size)).to(device)

    def set_scale(self, sigma: float) -> None:
        """``relative`` mode: alpha and beta are fractions of ``sigma`` (env reward units)."""
        if self.alpha_mode != "relative":
            raise RuntimeError("set_scale is for --alpha-mode relative")
        self.scale = float(sigma)

    def _scale(self) -> float:
        if self.scale is None:
            raise RuntimeError("--alpha-mode relative: set_scale(sigma) before scoring")
        return self.scale

    @property
    def alpha(self) -> float:
        """The weight r_video gets (alpha, times sigma in relative mode)."""
        return self.given_alpha * self._scale()

    @property
    def beta(self) -> float:
        """The weight r_FB gets (beta, times sigma in relative mode)."""
        return self.given_beta * self._scale()

    def weights(self):
        w = {"env": 1.0}
        if self.use_video:
            w["video"] = self.alpha
        if self.use_fb:
            w["fb"] = self.beta
        return w

    def weight_labels(self):
        if self.alpha_mode == "relative":
            return {"video": f"--alpha (relative: x sigma_env {self.scale:.3g})",
                    "fb": f"--beta (relative: x sigma_env {self.scale:.3g})"}
        return {"video": "--alpha", "fb": "--beta"}

    def weight_scales(self):
        """{component: its weight / its option's value}: sigma_env for alpha and beta under
        ``--alpha-mode relative``, else none (the options are the weights)."""
        if self.alpha_mode == "relative":
            return {"video": self.scale, "fb": self.scale}
        return {}

    @property
    def video_size(self) -> tuple[int, int]:
        return (self.video_config.height, self.video_config.width)

    def check_frames(self, shape) -> None:
        h, w = shape[-3:-1]
        if (h, w) != self.video_size:
            gh, gw = self.video_size
            raise BadInput(f"frames are {h}x{w}, the goal was encoded at {gh}x{gw}: collect "
                           f"the episodes at that size (--size {gh}"
                           + (f" --width {gw}" if gw != gh else "")
                           + f"), or encode the goal at theirs (encode-goal --height {h} "
                           f"--width {w})")

    def schedule(self, max_steps):
        """Every ``interval`` steps; r_video reads the goal's frame count (16) of o_0..o_{k+1}."""
        return RewardSchedule(max_steps, self.interval,
                              self.video_config.frames if self.use_video else 0)

    def frame_plan(self, max_steps):
        schedule = self.schedule(max_steps)
        plan = {}
        if self.use_video:
            plan["video"] = FramePlan(self.video_size, schedule.frames_read())
        if self.use_fb:
            plan["fb"] = FramePlan(self.fb_size, frozenset(int(k) for k in schedule.steps()))
        return plan

    def _video_rewards(self, histories: list[np.ndarray]) -> np.ndarray:
        from genreward_cli.goal.video_encoder import video_reward

        for h in histories:
            self.check_frames(h.shape)
        latents = self.video_encoder.encode_many(histories)
        if latents.shape[1:] != self.goal_latent.shape:  # a goal edited by hand or another tool
            raise BadInput(f"{self.goal_path}: video_latent is {list(self.goal_latent.shape)}, "
                           f"but its video_encoder settings encode a rollout to "
                           f"{list(latents.shape[1:])}")
        return np.asarray([video_reward(z, self.goal_latent) for z in latents], np.float32)

    def _fb_rewards(self, frames: np.ndarray, actions: np.ndarray) -> np.ndarray:
        import torch

        emb = self.image_encoder.encode(frames)
        return self.fb.reward(torch.from_numpy(emb).to(self.device),
                              torch.from_numpy(np.ascontiguousarray(actions)).to(self.device),
                              self.goal_embedding).cpu().numpy().astype(np.float32)

    def _combine(self, env, video, fb):
        return env + self.alpha * video + self.beta * fb

    def components(self, ep: EpisodeRecord):
        from genreward_cli.goal.image_encoder import state_view

        T = ep.length
        schedule = self.schedule(T)
        steps = schedule.steps()
        video = np.zeros(T, np.float32)
        fb = np.zeros(T, np.float32)
        if self.use_video and len(steps):
            video[steps] = self._video_rewards([ep.image[schedule.history_frames(k)]
                                                for k in steps])
        if self.use_fb and len(steps):
            # s = psi(o_k), o_k seen at the FB states' size (the online path renders it so)
            fb[steps] = self._fb_rewards(state_view(ep.image[steps], self.fb_size),
                                         ep.action[steps])
        env = ep.reward.astype(np.float32)
        return {"env": env, "video": video, "fb": fb,
                "total": self._combine(env, video, fb).astype(np.float32)}

    def step_components(self, ep: EpisodeRecord, k: int, last: bool):
        env, video, fb = float(ep.reward[k]), 0.0, 0.0
        schedule = self.schedule(k + 1)  # the episode so far: whether k is scored, its history
        if schedule.is_scored(k):
            if self.use_video:
                frames = ep.frames["video"]
                history = np.stack([frames[int(i)] for i in schedule.history_frames(k)])
                video = float(self._video_rewards([history])[0])
            if self.use_fb:
                fb = float(self._fb_rewards(ep.frames["fb"][k][None], ep.action[k][None])[0])
        return {"env": env, "video": video, "fb": fb, "total": self._combine(env, video, fb)}
