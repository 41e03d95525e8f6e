"""Baseline reward models under the same backbone.

- ``vlm-rm`` (Rocamonde et al.): r_t = cos(CLIP_I(o_{t+1}), CLIP_L(task text)) every step.
- ``roboclip``-style (Sontakke et al.): one reward at the episode's last step, the similarity
  of the episode video and the task text. RoboCLIP uses S3D video-text embeddings; no S3D
  model ships here, so the video embedding is the mean of CLIP image embeddings of 16
  uniformly sampled frames (normalised), compared with the CLIP text embedding.
"""

from __future__ import annotations

import numpy as np

from genreward_cli.rewards.base import EpisodeRecord, RewardModel
from genreward_cli.video.clips import uniform_indices


class VLMReward(RewardModel):
    def __init__(self, scorer, text: str):
        super().__init__(name="vlm-rm")
        self.scorer, self.text = scorer, text

    def components(self, ep: EpisodeRecord):
        r = self.scorer.scores(ep.image[1:], self.text).astype(np.float32)
        return {"clip": r, "total": r}


class RoboCLIPReward(RewardModel):
    def __init__(self, scorer, text: str, frames: int = 16):
        super().__init__(name="roboclip")
        self.scorer, self.text, self.frames = scorer, text, frames

    def components(self, ep: EpisodeRecord):
        import torch
        from PIL import Image

        picked = ep.image[uniform_indices(len(ep.image), self.frames)]
        m = self.scorer.model
        with torch.inference_mode():
            batch = torch.stack([self.scorer.preprocess(Image.fromarray(f)) for f in picked])
            v = m.encode_image(batch.to(self.scorer.device)).float()
            v = (v / v.norm(dim=-1, keepdim=True)).mean(0)
            t = m.encode_text(self.scorer.tokenizer([self.text]).to(self.scorer.device)).float()[0]
            sim = float((v @ t) / (v.norm() * t.norm()))
        r = np.zeros(ep.length, np.float32)
        r[-1] = sim
        return {"clip": r, "total": r}
