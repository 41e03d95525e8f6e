"""Baseline reward models under the same backbone.

- ``vlm-rm`` (Rocamonde et al.): r_t = cos(CLIP_I(o_{t+1}), CLIP_L(task text)) every step.
- ``roboclip``-style (Sontakke et al.): one reward at the episode's last step, the similarity
  of the episode video and the task text. RoboCLIP uses S3D video-text embeddings; no S3D
  model ships here, so the video embedding is the mean of CLIP image embeddings of 16
  uniformly sampled frames (normalised), compared with the CLIP text embedding.

Both read frames and text through ``goal.clip.FrameScorer``, as ``select-frame`` does: the
whole frame by default (the scorer's ``crop``), and a task text longer than CLIP's 77 tokens
warns once and is cut (``FrameScorer.text_seen`` is the part the model reads).
"""

from __future__ import annotations

import numpy as np

from genreward_cli.rewards.base import EpisodeRecord, RewardModel
from genreward_cli.video.clips import uniform_indices


class VLMReward(RewardModel):
    """VLM-RM: r_t = cos(CLIP_I(o_{t+1}), CLIP_L(text)), float32, every step.

    ``scorer`` is a ``goal.clip.FrameScorer``; ``text`` the task description."""

    def __init__(self, scorer, text: str):
        super().__init__(name="vlm-rm", names=("clip", "total"))
        self.scorer, self.text = scorer, text

    def components(self, ep: EpisodeRecord):
        r = self.scorer.scores(ep.image[1:], self.text).astype(np.float32)
        return {"clip": r, "total": r}

    def scored_steps(self, max_steps):
        return np.arange(max_steps)

    def step_components(self, ep, k, last):
        r = float(self.scorer.scores(ep.image[k + 1][None], self.text)[0])
        return {"clip": r, "total": r}


class RoboCLIPReward(RewardModel):
    """RoboCLIP-style: one reward at the episode's last step (see module docstring).

    ``scorer`` is a ``goal.clip.FrameScorer``; ``frames`` how many frames are averaged."""

    def __init__(self, scorer, text: str, frames: int = 16):
        super().__init__(name="roboclip", names=("clip", "total"))
        self.scorer, self.text, self.frames = scorer, text, frames

    def scored_steps(self, max_steps):
        return np.asarray([max_steps - 1])

    def step_components(self, ep, k, last):
        r = self._similarity(ep.image[: k + 2]) if last else 0.0
        return {"clip": r, "total": r}

    def components(self, ep: EpisodeRecord):
        r = np.zeros(ep.length, np.float32)
        r[-1] = self._similarity(ep.image)
        return {"clip": r, "total": r}

    def _similarity(self, video: np.ndarray) -> float:
        """Cosine of the mean CLIP embedding of 16 frames of ``video`` (uint8 [T, H, W, 3])
        and the task text; frames and text are prepared as ``FrameScorer`` prepares them."""
        import torch

        picked = video[uniform_indices(len(video), self.frames)]
        v = self.scorer.encode_images(picked).mean(0)
        t = self.scorer.encode_text(self.text)
        with torch.inference_mode():
            return float((v @ t) / v.norm())
