"""RoboCLIP (Sontakke et al., NeurIPS 2023): one reward at the episode's end from S3D.

r_t = 0 for every step but the last; at the last step r = S3D_V(episode video) . target, the
dot product (not the cosine) of the episode's video embedding with the task text's embedding,
or with a demonstration video's embedding when a demo is given (``rewards.s3d``: S3D-G with
its MIL-NCE text tower, HowTo100M weights).

What the video is, as the authors' Meta-World code makes it (sumedh7/RoboCLIP, commit
2d3f779, ``metaworld_envs.py``):

- the frames rendered after each step, o_1..o_T (``step``, l. 136: appended after
  ``env.step``; the reset frame is not kept), for an episode of T = 128 steps (l. 64);
- rendered at 640x480 (width x height; their Metaworld fork's ``render`` default,
  ``metaworld/envs/mujoco/mujoco_env.py`` l. 125: gym 0.21's ``TimeLimit.render()`` passes
  its mode "human" as ``offscreen``, a true value, so the camera is corner2);
- the centre 250x250 of each (``preprocess_metaworld``, l. 109-114: centre (240, 320)),
  no resize (the resize is commented out, l. 113);
- every 4th frame from the first (l. 118-119: ``frames[:, :, ::4]``): o_1, o_5, ..., o_125,
  32 frames for 128 steps;
- pixel values 0..255 as floats (the division by 255 is commented out, l. 120; the S3D
  README asks for [0, 1], and the authors' Kitchen code divides: ``scale`` offers that);
- the reward: ``th.matmul(target, video_embedding.t())`` (l. 151-153).

Differences: frames come from this project's env, upright, from the agent's camera
(``--camera``, ``corner`` by default); the authors' corner2 camera picture came from
mujoco_py's offscreen render, which is bottom row first, and they did not flip it. An
episode of any length is taken whole at the same stride; when that gives an odd number of
frames, the last picked frame is repeated once (S3D's stem takes frame pairs; the authors'
128 steps always give 32). Online, only the strided frames are rendered at 480x640; offline,
a recorded episode must have been rendered at that size (``collect --size 480 --width 640``).

Demonstration: the authors' default run uses a human demonstration GIF (l. 222,
``human=True``): its frames whole, every one, RGB (``preprocess_human_demo`` l. 102-106 and
l. 90-91); here the first clip of a ``videos`` or ``episodes`` artifact, taken the same way.
"""

from __future__ import annotations

import warnings

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord, FramePlan, RewardModel
from genreward_cli.rewards.schedule import RewardSchedule

RENDER_SIZE = (480, 640)  # (height, width) of the authors' Meta-World renders
CROP = (250, 250)  # the centre window they keep
STRIDE = 4  # every 4th frame
FRAMES = "roboclip"  # the name of the frames read at RENDER_SIZE (frame_plan)


def picked_frames(length: int, stride: int = STRIDE) -> np.ndarray:
    """Indices into o_0..o_T (``length`` = T steps) of the frames RoboCLIP reads: o_1,
    o_{1+stride}, ... up to o_T. int64 [ceil(T / stride)]."""
    return np.arange(1, length + 1, stride, dtype=np.int64)


def centre_crop(frames: np.ndarray, crop=CROP) -> np.ndarray:
    """The centre ``crop`` (height, width) of uint8 [F, H, W, 3] frames: rows from
    (H - h) // 2, columns from (W - w) // 2 (115 and 195 for 480x640, as the authors)."""
    h, w = crop
    y, x = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
    return frames[:, y: y + h, x: x + w]


def video_tensor(frames: np.ndarray, scale: float = 1.0):
    """uint8 [F, H, W, 3] -> float32 [1, 3, F', H, W] times ``scale``; F' = F rounded up to
    even by repeating the last frame (S3D reads frame pairs).

    Raises:
        BadInput: not uint8 [F, H, W, 3] with F >= 1, or H or W odd."""
    import torch

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise BadInput(f"expected uint8 frames [F, H, W, 3], got {frames.dtype} {list(frames.shape)}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise BadInput(f"S3D reads frames of even height and width; got "
                       f"{frames.shape[1]}x{frames.shape[2]}")
    if len(frames) % 2:
        frames = np.concatenate([frames, frames[-1:]])
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float()
    return x * scale if scale != 1.0 else x


def check_prompt(model, text: str) -> None:
    """Refuse a prompt the text tower would read as padding only; warn (one line) about the
    words it ignores (not in the dictionary, or past its ``max_words``).

    Raises:
        BadInput: none of the prompt's words is in the dictionary."""
    tokens = model.tokenize(text)
    if not tokens.known:
        raise BadInput(f"roboclip: no word of the prompt {text!r} is in the S3D dictionary "
                       f"({len(model.vocabulary)} words): the text tower would read padding only")
    notes = []
    if tokens.unknown:
        notes.append(f"{len(tokens.unknown)} word(s) not in the S3D dictionary "
                     f"({', '.join(tokens.unknown[:5])}{', ...' if len(tokens.unknown) > 5 else ''})")
    if tokens.cut:
        notes.append(f"{len(tokens.cut)} word(s) past the {model.config.max_words} it reads "
                     f"(from {tokens.cut[0]!r})")
    if notes:
        warnings.warn(f"roboclip: the prompt {text!r} has {' and '.join(notes)}; S3D ignores "
                      f"them", stacklevel=2)


class RoboCLIPReward(RewardModel):
    """RoboCLIP's sparse reward (module docstring): 0 at every step but the last, there
    S3D_V(video) . target. Components ``s3d`` and ``total``, float32 [T].

    Args:
        model: an ``s3d.S3DMilNCE`` (``s3d.load_s3d``), in eval mode.
        text: the task description; the target unless ``demo`` is given.
        demo: uint8 [F, H, W, 3], a demonstration video, taken whole (module docstring).
        stride, crop, render_size, scale: the preprocessing (module docstring; defaults: the
            authors').
    Raises:
        BadInput: a prompt with no word in the dictionary (with no demo), a demo S3D cannot
            read, or a crop larger than the render.
    """

    def __init__(self, model, text: str, demo: np.ndarray | None = None, *,
                 stride: int = STRIDE, crop=CROP, render_size=RENDER_SIZE, scale: float = 1.0):
        super().__init__(name="roboclip", names=("s3d", "total"))
        self.model, self.text, self.stride, self.scale = model, text, stride, scale
        self.crop, self.render_size = tuple(crop), tuple(render_size)
        if self.crop[0] > self.render_size[0] or self.crop[1] > self.render_size[1]:
            raise BadInput(f"roboclip: a {self.crop} crop of {self.render_size} renders")
        if demo is None:
            check_prompt(model, text)
            self.target = model.encode_text([text])[0]
        else:
            self.target = model.encode_video(video_tensor(demo, scale))[0]

    def check_frames(self, shape) -> None:
        """Refuse frames not at ``render_size`` (one line saying how to record them)."""
        h, w = shape[-3:-1]
        if (h, w) != self.render_size:
            raise BadInput(f"frames are {h}x{w}; roboclip reads {self.render_size[0]}x"
                           f"{self.render_size[1]} renders, as the authors (collect with --size "
                           f"{self.render_size[0]} --width {self.render_size[1]})")

    def video(self, frames: np.ndarray):
        """The S3D input of an episode's picked frames, uint8 [F, H, W, 3] at ``render_size``:
        float32 [1, 3, F', crop h, crop w] (``video_tensor`` of the centre crop)."""
        self.check_frames(frames.shape)
        return video_tensor(centre_crop(frames, self.crop), self.scale)

    def similarity(self, frames: np.ndarray) -> float:
        """S3D_V(video(frames)) . target, a float (the reward at the last step)."""
        return float(self.model.encode_video(self.video(frames))[0] @ self.target)

    def schedule(self, max_steps):
        return RewardSchedule.last_step(max_steps)

    def frame_plan(self, max_steps):
        return {FRAMES: FramePlan(self.render_size,
                                  frozenset(int(i) for i in picked_frames(max_steps, self.stride)))}

    def components(self, ep: EpisodeRecord):
        r = np.zeros(ep.length, np.float32)
        r[-1] = self.similarity(ep.image[picked_frames(ep.length, self.stride)])
        return {"s3d": r, "total": r}

    def step_components(self, ep, k, last):
        r = 0.0
        if last:
            frames = ep.frames[FRAMES]
            r = self.similarity(np.stack([frames[int(i)]
                                          for i in picked_frames(k + 1, self.stride)]))
        return {"s3d": r, "total": r}
