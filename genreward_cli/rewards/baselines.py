"""Baseline reward models under the same backbone.

- ``vlm-rm`` (Rocamonde et al., ICLR 2024): every step, the CLIP reward of the frame o_{t+1}
  with goal-baseline regularisation, r = 1 - ||(x - g) P||^2 / 2 (``VLMReward``); at
  strength 0 it is the plain cosine cos(CLIP_I(o_{t+1}), CLIP_L(task text)).
- ``clip-video``, a RoboCLIP-like variant under CLIP: one reward at the episode's last step,
  the similarity of the episode video and the task text, where the video embedding is the
  mean of CLIP image embeddings of 16 uniformly sampled frames (normalised), compared with
  the CLIP text embedding. RoboCLIP itself (S3D video-text embeddings, Sontakke et al.) is
  ``rewards.roboclip``.

Both read frames and text through ``goal.clip.FrameScorer``, as ``select-frame`` does: the
whole frame by default (the scorer's ``crop``), and a text longer than CLIP's 77 tokens
warns once and is cut (``FrameScorer.text_seen`` is the part the model reads); VLM-RM's
baseline prompt goes the same way.
"""

from __future__ import annotations

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord, RewardModel
from genreward_cli.rewards.schedule import RewardSchedule
from genreward_cli.video.clips import uniform_indices

# VLM-RM's defaults (see VLMReward): the authors' configs describe the scene without the goal
# ("a humanoid robot" for "a humanoid robot kneeling"); Meta-World's scene is a Sawyer arm.
DEFAULT_BASELINE_PROMPT = "a robot arm"
DEFAULT_BASELINE_STRENGTH = 0.5  # alpha of every config the authors ship


def check_baseline_strength(strength: float) -> float:
    """``strength`` as a float if it lies in [0, 1]; else BadInput (one line)."""
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:  # NaN fails too
        raise BadInput(f"--baseline-strength {strength:g}: expected a value in [0, 1] "
                       f"(0: the plain CLIP cosine, 1: projected onto goal - baseline)")
    return strength


class VLMReward(RewardModel):
    """VLM-RM with goal-baseline regularisation: r_t = 1 - ||(x - g) P||^2 / 2, every step.

    x is CLIP_I(o_{t+1}), g = CLIP_L(task text), b = CLIP_L(baseline prompt), each
    L2-normalised; d = g - b and P = a d d^T / ||d||^2 + (1 - a) I, a = ``strength`` in [0, 1].
    a = 0 gives 1 - ||x - g||^2 / 2 = x . g, the plain CLIP cosine (the baseline as the
    GenReward paper describes it); a = 1 keeps only the component along d,
    r = 1 - ((x - g) . d)^2 / (2 ||d||^2). Rewards are float32 [T] (``clip`` and ``total``),
    computed in float64 from the float32 embeddings.

    Follows the authors' code, AlignmentResearch/vlmrm (commit 811d820),
    src/vlmrm/reward_model.py: prompt embeddings normalised (``embed_prompts``, l. 95-100),
    d = target - baseline (l. 62-64), P (``compute_projection``, l. 74-78), image embedding
    normalised and r = 1 - ||(x - target) P||^2 / 2 (``forward``, l. 85-88). Differences:

    - one target text (the task description) and one baseline prompt. The authors take lists
      and use the mean of the normalised embeddings, not normalised again (l. 62-63); with one
      prompt each that is the same vector.
    - P is applied in closed form, (1 - a) v + a (v . u) u with u = d / ||d|| and v = x - g,
      not as a D x D matrix: the same values.
    - frames and text go through ``FrameScorer``: the whole frame squashed to CLIP's square
      input by default, as the authors' transform does (contrib/open_clip/transform.py,
      l. 45-46: Resize to (size, size), a no-op centre crop), in float32 (the authors
      autocast on CUDA); a text past 77 tokens warns (the authors' ``open_clip.tokenize``
      cuts it silently).
    - a task text and baseline prompt that CLIP embeds alike (d = 0) are refused when a > 0;
      the authors' code would divide by zero.

    Defaults (``DEFAULT_BASELINE_STRENGTH``, ``DEFAULT_BASELINE_PROMPT``): the authors' code
    has none (``CLIPRewardConfig.alpha`` and ``baseline_prompts`` are required,
    src/vlmrm/trainer/config.py l. 156-158); every config they ship uses alpha 0.5
    (README.md l. 142, the Humanoid example) and a baseline that describes the scene without
    the goal ("a humanoid robot", README.md l. 145-146). No Meta-World config exists; the
    baseline here is "a robot arm".

    Args:
        scorer: a ``goal.clip.FrameScorer``.
        text: the task description (the target prompt).
        baseline: the baseline prompt.
        strength: a, the regularisation strength in [0, 1].
    Raises:
        BadInput: ``strength`` outside [0, 1], or d = 0 with ``strength`` > 0.
    """

    def __init__(self, scorer, text: str, baseline: str = DEFAULT_BASELINE_PROMPT,
                 strength: float = DEFAULT_BASELINE_STRENGTH):
        super().__init__(name="vlm-rm", names=("clip", "total"))
        self.scorer, self.text, self.baseline = scorer, text, baseline
        self.strength = check_baseline_strength(strength)
        self.goal = self._unit(scorer.encode_text(text))
        self.baseline_embedding = self._unit(scorer.encode_text(baseline))
        d = self.goal - self.baseline_embedding
        norm = float(np.linalg.norm(d))
        if self.strength > 0 and norm < 1e-6:
            raise BadInput(f"--baseline-prompt {baseline!r}: CLIP embeds it as the task text "
                           f"{text!r}, so goal - baseline has no direction; give another prompt "
                           f"or --baseline-strength 0")
        self.direction = d / norm if norm > 0 else d  # u, float64 [D]

    @staticmethod
    def _unit(v) -> np.ndarray:
        v = v.detach().cpu().numpy().astype(np.float64)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    def rewards(self, frames: np.ndarray) -> np.ndarray:
        """The reward of each frame: uint8 [F, H, W, 3] -> float32 [F] (class docstring).

        Raises:
            BadInput: frames of the wrong dtype or shape, or none (``FrameScorer``)."""
        v = self._unit(self.scorer.encode_images(frames)) - self.goal  # x - g, [F, D]
        a, u = self.strength, self.direction
        projected = (1.0 - a) * v + a * (v @ u)[:, None] * u[None]  # (x - g) P
        return (1.0 - 0.5 * np.sum(projected ** 2, axis=-1)).astype(np.float32)

    def components(self, ep: EpisodeRecord):
        r = self.rewards(ep.image[1:])
        return {"clip": r, "total": r}

    def schedule(self, max_steps):
        return RewardSchedule.every_step(max_steps)

    def step_components(self, ep, k, last):
        r = float(self.rewards(ep.image[k + 1][None])[0])
        return {"clip": r, "total": r}


class CLIPVideoReward(RewardModel):
    """``clip-video``: one reward at the episode's last step, the cosine of the mean CLIP
    embedding of 16 frames and the task text (module docstring); float32 [T] components
    ``clip`` and ``total``, 0 but at the last step.

    ``scorer`` is a ``goal.clip.FrameScorer``; ``frames`` how many frames are averaged."""

    def __init__(self, scorer, text: str, frames: int = 16):
        super().__init__(name="clip-video", names=("clip", "total"))
        self.scorer, self.text, self.frames = scorer, text, frames

    def schedule(self, max_steps):
        return RewardSchedule.last_step(max_steps)

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
