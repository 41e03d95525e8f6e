"""The GenReward reward (eq. 10) on Algorithm 1's schedule.

r_gen = alpha * r_video + beta * r_FB + r_env, added every ``interval`` steps (Table A: 128);
on every other step the agent receives r_env alone. At agent step k (1-based; k = 128, 256):

- r_video: eq. 5, the cosine between the goal's video latent and the latent of 16 frames
  uniformly sampled from the history o_0..o_k, encoded by the goal file's own VideoEncoder.
- r_FB: eq. 9 at (s_{k-1}, a_{k-1}), the state-action that step k took, s = psi(o_{k-1}).
"""

from __future__ import annotations

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord, RewardModel


def reward_steps(length: int, interval: int) -> np.ndarray:
    """0-based indices of the steps that get the generative reward: k = interval, 2*interval..."""
    return np.arange(interval, length + 1, interval) - 1


class GenerativeReward(RewardModel):
    """Eq. 10 with frozen encoders and FB model, rebuilt from the goal and fb artifacts."""

    def __init__(self, goal_art, fb_art=None, alpha: float = 1e-2, beta: float = 1e-5,
                 interval: int = 128, use_video: bool = True, use_fb: bool = True,
                 device: str = "cpu"):
        import torch

        from genreward_cli.goal.image_encoder import ImageEncoder, ImageEncoderConfig
        from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig

        super().__init__(name="genreward")
        self.alpha, self.beta, self.interval = alpha, beta, interval
        self.use_video, self.use_fb = use_video, use_fb and fb_art is not None
        if use_fb and fb_art is None:
            raise BadInput("the genreward reward needs --fb (or --no-fb-reward)")
        self.video_config = VideoEncoderConfig.from_json(goal_art.attrs["video_encoder"])
        self.goal_latent = goal_art.file["video_latent"][()]
        self.video_encoder = VideoEncoder(self.video_config, device) if use_video else None
        self.device = device
        if self.use_fb:
            from genreward_cli.fb.io import read_model

            icfg = ImageEncoderConfig.from_json(fb_art.attrs["image_encoder"])
            if icfg != ImageEncoderConfig.from_json(goal_art.attrs["image_encoder"]):
                raise BadInput(f"{fb_art.path}: trained with another image encoder than "
                               f"{goal_art.path}")
            self.fb = read_model(fb_art, device)
            self.goal_embedding = torch.from_numpy(goal_art.file["frame_embedding"][()]).to(device)
            if self.fb.config.obs_dim != self.goal_embedding.shape[0]:
                raise BadInput(f"{fb_art.path}: FB takes {self.fb.config.obs_dim}-d states, the goal "
                               f"embedding has {self.goal_embedding.shape[0]}")
            self.image_encoder = ImageEncoder(icfg, device)

    def check_frames(self, shape) -> None:
        h, w = shape[-3:-1]
        if (h, w) != (self.video_config.height, self.video_config.width):
            raise BadInput(f"frames are {h}x{w}, the goal was encoded at "
                           f"{self.video_config.height}x{self.video_config.width}")

    def components(self, ep: EpisodeRecord):
        import torch

        from genreward_cli.goal.video_encoder import video_reward

        T = ep.length
        steps = reward_steps(T, self.interval)
        video = np.zeros(T, np.float32)
        fb = np.zeros(T, np.float32)
        if self.use_video and len(steps):
            self.check_frames(ep.image.shape)
            latents = self.video_encoder.encode_many([ep.image[: k + 2] for k in steps])
            video[steps] = [video_reward(z, self.goal_latent) for z in latents]
        if self.use_fb and len(steps):
            emb = self.image_encoder.encode(ep.image[steps])  # s = psi(o_k) before a_k
            fb[steps] = self.fb.reward(torch.from_numpy(emb).to(self.device),
                                       torch.from_numpy(ep.action[steps]).to(self.device),
                                       self.goal_embedding).cpu().numpy()
        env = ep.reward.astype(np.float32)
        total = env + self.alpha * video + self.beta * fb
        return {"env": env, "video": video, "fb": fb, "total": total.astype(np.float32)}
