"""The artifact kinds: their datasets, dtypes, shapes and attrs (the single source of
``docs/artifacts.md``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SCHEMA_VERSION = 1
COMPRESSION = "gzip"  # readable by every HDF5 build, h5ls/h5dump included


class VersionMismatchWarning(UserWarning):
    """The reading environment's simulator or library differs from the writer's."""


@dataclass(frozen=True)
class Dataset:
    """One dataset of a kind. ``path`` may hold ``<k>``: one per group under that prefix.

    ``shape`` entries are ints (fixed), names (``"T"``, bound on first use inside one
    group) or ``"T+1"`` (a name plus a constant).
    """

    path: str
    dtype: str
    shape: tuple
    doc: str
    finite: bool = False  # float data must have no NaN/inf
    bounds: tuple[float, float] | None = None  # every value within [low, high]
    increasing: bool = False  # never decreasing along the first axis (env steps)


@dataclass(frozen=True)
class Attr:
    """A checked attribute of a kind: ``where`` is ``""`` (the root) or a group path that may
    hold ``<k>``; ``type`` is ``"int"``, ``"number"`` (an int or float; NaN only with
    ``nan``) or ``"str"``. ``minimum``/``maximum`` bound a number (inclusive); ``below``
    names a dataset whose length an int must be under (an index into it). A ``required``
    attribute must be present; another is checked where it is."""

    name: str
    type: str
    where: str = ""
    minimum: float | None = None
    maximum: float | None = None
    below: str | None = None
    nan: bool = False
    required: bool = True

    def describe(self) -> str:
        """The expectation in words: 'an integer >= 0', 'a number in [0, 1]', 'a string'."""
        text = {"int": "an integer", "number": "a number", "str": "a string"}[self.type]
        if self.minimum is not None and self.maximum is not None:
            text += f" in [{self.minimum:g}, {self.maximum:g}]"
        elif self.minimum is not None:
            text += f" >= {self.minimum:g}"
        elif self.maximum is not None:
            text += f" <= {self.maximum:g}"
        if self.below:
            text += f" below the length of '{self.below}'"
        if self.nan:
            text += " (or NaN)"
        return text


@dataclass(frozen=True)
class Kind:
    name: str
    written_by: str
    doc: str
    datasets: tuple[Dataset, ...]
    attrs: dict[str, str] = field(default_factory=dict)  # group or root attrs, documented
    group: str | None = None  # the ``<k>`` group prefix, if per-item groups exist
    min_groups: int = 0
    frames: str | None = None  # the dataset holding a video, for export (may hold ``<k>``)
    task_attr: bool = False  # a root ``task`` attribute naming a known Meta-World task
    shared: tuple[str, ...] = ()  # shape symbols bound once for all groups (one image size)
    checked: tuple[Attr, ...] = ()  # attributes whose type and range are checked on reading


ROOT_ATTRS = {
    "kind": "the artifact kind (this page's section name)",
    "schema_version": f"integer, currently {SCHEMA_VERSION}; readers refuse versions they don't know",
    "producer": "`genreward <version>` and the full command line",
    "config": "JSON of every resolved option, defaults included",
    "created_at": "ISO 8601 UTC time of writing",
    "parents": "JSON list of `{path, kind, sha256}` of the input artifacts",
    "versions": "JSON of the writer's python, genreward, torch, metaworld, mujoco, h5py, numpy",
    "written_as": "the file's absolute path when written: a path recorded in it (a model, a "
    "parent) that no longer exists is looked for at the same place relative to where the file "
    "is now, so a run folder can move (absent in older files)",
}

KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


register(
    Kind(
        name="episodes",
        task_attr=True,
        shared=("H", "W", "S"),
        written_by="`collect`",
        doc="Recorded episodes of a Meta-World task: N+1 observations, N actions per episode "
        "(Minari's convention). Images are uint8 RGB, channels last, upright.",
        group="episodes",
        min_groups=1,
        frames="episodes/<k>/image",
        datasets=(
            Dataset("episodes/<k>/image", "uint8", ("T+1", "H", "W", 3), "observation frames", False),
            Dataset("episodes/<k>/state", "float32", ("T+1", "S"), "Meta-World state vector (S=39)", True),
            Dataset("episodes/<k>/action", "float32", ("T", 4), "Meta-World's 4-d actions: "
                    "end-effector displacement xyz and gripper", True,
                    bounds=(-1.0, 1.0)),
            Dataset("episodes/<k>/reward", "float32", ("T",), "reward the agent received (dense or sparse mode)", True),
            Dataset("episodes/<k>/env_reward", "float32", ("T",), "dense env reward, whatever the mode", True),
            Dataset("episodes/<k>/success", "bool", ("T",), "Meta-World success flag after each step"),
        ),
        attrs={
            "episodes/<k> task": "Meta-World task name",
            "episodes/<k> seed": "the seed of `reset(seed=...)`; replays the initial scene",
            "episodes/<k> prompt": "the task description (CLIP text, generation prompt)",
            "episodes/<k> policy": "`random`, `expert` or the agent that acted",
            "root task": "Meta-World task name",
            "root prompt": "the task description (as on each episode)",
        },
        checked=(Attr("task", "str", "episodes/<k>", required=False),
                 Attr("seed", "int", "episodes/<k>", required=False),
                 Attr("policy", "str", "episodes/<k>", required=False)),
    )
)


register(
    Kind(
        name="videos",
        written_by="`import-videos`",
        doc="Domain video clips with their prompts, for `finetune` (e.g. Bridge or RT-1 clips).",
        group="videos",
        min_groups=1,
        frames="videos/<k>/frames",
        datasets=(Dataset("videos/<k>/frames", "uint8", ("F", "H", "W", 3), "clip frames"),),
        attrs={
            "videos/<k> prompt": "the clip's text description",
            "videos/<k> source": "the file the clip was read from",
            "videos/<k> fps": "the source's frame rate (before temporal resampling)",
        },
        checked=(Attr("fps", "number", "videos/<k>", minimum=0, required=False),),
    )
)

register(
    Kind(
        name="goal_video",
        written_by="`generate`",
        doc="A generated goal video (paper section 3.1) and the image it was conditioned on.",
        frames="frames",
        datasets=(
            Dataset("frames", "uint8", ("F", "H", "W", 3), "generated frames"),
            Dataset("condition_image", "uint8", ("H", "W", 3),
                    "the first-frame condition (text-to-video: the first generated frame)"),
        ),
        attrs={
            "root prompt": "the text prompt, as typed",
            "root prompt_seen, prompt_truncated": "the part of the prompt the text encoder read "
                                                  "(T5: 226 tokens for CogVideoX), and whether "
                                                  "it was cut",
            "root negative_prompt_seen": "with `--negative-prompt`: the part of it that was read",
            "root mode": "`image-to-video` or `text-to-video` (a prompt alone)",
            "root model": "the model that made it: hub id, local directory, `tiny` or `tiny-t2v`",
            "root model_revision": "fingerprint of the model directory (configs, weight sizes)",
            "root fps": "frame rate",
            "root seed": "the seed of the generation's noise (with `--task`, also the env "
                         "seed of the condition frame's scene)",
            "root task": "with `--task`: the task of the condition frame",
        },
        checked=(Attr("fps", "number", minimum=1, required=False),
                 Attr("seed", "int", required=False)),
    )
)

register(
    Kind(
        name="goal_frame",
        written_by="`select-frame`",
        doc="The goal frame I* picked from a goal video by CLIP (paper eq. 6).",
        datasets=(
            Dataset("frame", "uint8", ("H", "W", 3), "the selected frame"),
            Dataset("scores", "float32", ("F",), "CLIP text-image cosine of every frame", True),
            Dataset("topk", "int64", ("K",), "indices of the best frames, best first"),
        ),
        attrs={
            "root index": "the selected frame's index (ties: the earliest)",
            "root text": "the text G scored against, as typed",
            "root text_seen": "the part of the text CLIP read (its tokenizer's 77-token context, "
                              "lower-cased); equal to `text` when it fits",
            "root clip_crop": "how frames met CLIP's square input: `none` (the whole frame "
                              "resized), `pad` (letterboxed) or `center` (OpenCLIP's centre crop)",
            "root clip_model, clip_pretrained": "the OpenCLIP model and weights",
        },
        checked=(Attr("index", "int", minimum=0, below="scores"),),
    )
)

register(
    Kind(
        name="goal",
        written_by="`encode-goal`",
        doc="The encoded goals: the video latent of the goal video (eq. 4) and the DINOv3 "
        "embedding psi(I*) of the goal frame, with both encoders' full configurations.",
        datasets=(
            Dataset("video_latent", "float32", ("C", "Fz", "h", "w"), "3D VAE latent (scaled)", True),
            Dataset("frame_embedding", "float32", ("D",), "image-encoder embedding of the "
                    "whole I*; the FB reward embeds I* as its states are seen (fb's "
                    "goal_embedding)", True),
            Dataset("frame", "uint8", ("H", "W", 3), "the goal frame I*"),
        ),
        attrs={
            "root video_encoder": "JSON VideoEncoderConfig: vae, height, width, frames, latent, ...",
            "root image_encoder": "JSON ImageEncoderConfig: model, resolution, mean, std, output",
            "root prompt": "the goal video's prompt",
            "root task, camera": "the Meta-World task and camera the goal video shows, when known",
        },
    )
)

register(
    Kind(
        name="fb",
        written_by="`train-fb`",
        doc="A trained forward-backward model (paper eq. 7-9): F, B and actor weights, one "
        "dataset per state_dict entry under `weights/<module>/`, the loss curves, the goal, "
        "and the cached embeddings of the training frames.",
        datasets=(
            Dataset("metrics/step", "int64", ("N",), "update step"),
            Dataset("metrics/loss", "float32", ("N",), "total loss", True),
            Dataset("metrics/fb", "float32", ("N",), "FB objective (eq. 8 or standard)", True),
            Dataset("metrics/ortho", "float32", ("N",), "orthonormality loss", True),
            Dataset("metrics/actor", "float32", ("N",), "actor loss (0 without an actor)", True),
            Dataset("goal_embedding", "float32", ("D",), "psi(I*): the goal file's frame, "
                    "centre-cropped to the training frames' aspect ratio and resized to "
                    "frame_size, then embedded (the goal's frame_embedding when sizes agree)",
                    True),
            Dataset("goal_z", "float32", ("Z",), "z* = B(psi(I*))", True),
        ),
        attrs={
            "root fb_config": "JSON FBConfig (obs_dim, action_dim, z_dim, hidden_dim, layers)",
            "root train_config": "JSON FBTrainConfig (lr, tau, gamma, objective, ...)",
            "root image_encoder": "JSON ImageEncoderConfig of the state space",
            "root frame_size": "JSON [H, W] of the training frames (online rewards render states at it)",
            "weights/<module>/<param>": "forward_net, backward_net, actor parameters",
            "cache/embeddings/<k>": "float32 [T+1, D] embeddings of each training episode, "
                                    "numbered over the `episodes` inputs in command-line order, "
                                    "each file's episodes in order",
        },
    )
)

register(
    Kind(
        name="reward_score",
        written_by="`score-reward`",
        doc="A reward model run over recorded episodes: per-episode returns, how well they "
        "separate expert from random episodes, and their rank correlation with the env return.",
        datasets=(
            Dataset("episode_return", "float32", ("N",), "the reward model's return per episode", True),
            Dataset("env_return", "float32", ("N",), "the dense env return per episode", True),
            Dataset("expert", "bool", ("N",), "whether the episode came from the scripted expert"),
        ),
        attrs={
            "root reward": "the reward model",
            "root auc": "ROC-AUC of episode_return, expert vs random (NaN without both)",
            "root spearman": "Spearman correlation of episode_return with env_return",
            "root components": "JSON: the same two figures for each reward component alone",
            "components/<name>": "float32 [N]: each component's return per episode, the "
                                 "reward model's components and `total` (their weighted sum: "
                                 "episode_return again)",
            "shares/<name>": "float32 [N]: each component's share of the episode's return, "
                             "sum_t |w c_t| / sum_t |total_t| (NaN: a zero return)",
            "root shares": "JSON: each component's share over all episodes' steps",
            "root weights": "JSON: each component's weight w in total",
            "root sigma_env": "the env reward's per-step standard deviation (--alpha-mode "
                              "relative only)",
            "root cost": "JSON: the reward model's calls, seconds, ms per call and per env step",
        },
        checked=(Attr("reward", "str"), Attr("auc", "number", minimum=0, maximum=1, nan=True),
                 Attr("spearman", "number", minimum=-1, maximum=1, nan=True),
                 Attr("sigma_env", "number", minimum=0, required=False)),
    )
)

register(
    Kind(
        name="finetune_log",
        written_by="`finetune` (as `finetune_log.h5` in its output directory)",
        doc="The training curve of a video-model finetuning run.",
        datasets=(
            Dataset("metrics/step", "int64", ("N",), "optimisation step"),
            Dataset("metrics/loss", "float32", ("N",), "training loss (v-prediction MSE)", True),
            Dataset("metrics/lr", "float32", ("N",), "learning rate", True),
        ),
        attrs={"root model": "the base model", "root trainable": "`lora` or `full`"},
    )
)


register(
    Kind(
        name="agent_log",
        task_attr=True,
        written_by="`train-agent` (as `log.h5` in its run directory)",
        doc="A DreamerV3 training run: every episode's env return (dense, whatever the agent "
        "learned from, so methods compare on one scale), success and length; the reward "
        "model's components at the steps it scored; the periodic evaluations; and the "
        "policy's weights, so `evaluate` needs this file alone.",
        datasets=(
            Dataset("episodes/step", "int64", ("E",), "env steps done at the episode's end",
                    bounds=(0, math.inf), increasing=True),
            Dataset("episodes/return", "float32", ("E",), "dense env return", True),
            Dataset("episodes/success", "bool", ("E",), "Meta-World success at any step"),
            Dataset("episodes/length", "int64", ("E",), "steps", bounds=(1, math.inf)),
            Dataset("episodes/learn_return", "float32", ("E",), "the return the agent learned from", True),
            Dataset("rewards/step", "int64", ("R",), "env step (0-based) of each scored step",
                    bounds=(0, math.inf)),
            Dataset("eval/step", "int64", ("V",), "env steps done at each evaluation",
                    bounds=(0, math.inf), increasing=True),
            Dataset("eval/return", "float32", ("V", "N"), "dense env return per eval episode", True),
            Dataset("eval/success", "bool", ("V", "N"), "success per eval episode"),
        ),
        attrs={
            "rewards/<component>": "float32 [R]: each reward component at the scored steps "
            "(genreward: env, video, fb, total at every --reward-interval steps)",
            "shares/<component>": "float32 [E]: each weighted component's share of the "
            "episode's learned-from return, sum |w c| / sum |total| (NaN: none logged)",
            "root weights": "JSON: each component's weight in the total at the run's end",
            "weights/agent/<param>": "the DreamerV3 agent's state_dict, one dataset per entry",
            "root task, reward": "the Meta-World task and the reward model",
            "root env_config, agent_config, behavior_config, loop_config": "JSON configs",
            "root steps, updates": "env steps and updates done",
            "root action_dim": "the action size the agent was built for (4)",
            "root cost": "JSON: the reward model's calls, seconds, ms per call and per env step",
        },
        checked=(Attr("reward", "str"), Attr("steps", "int", minimum=0),
                 Attr("updates", "int", minimum=0, required=False),
                 Attr("action_dim", "int", minimum=1, required=False)),
    )
)

register(
    Kind(
        name="eval",
        task_attr=True,
        written_by="`evaluate`",
        doc="Episodes of a trained policy (acting on the mode of its action distribution), "
        "scored by the dense env return and Meta-World success.",
        datasets=(
            Dataset("return", "float32", ("N",), "dense env return per episode", True),
            Dataset("success", "bool", ("N",), "success at any step"),
            Dataset("length", "int64", ("N",), "steps", bounds=(1, math.inf)),
            Dataset("seed", "int64", ("N",), "the env seed of each episode"),
        ),
        attrs={
            "root mean, std": "mean and standard deviation of the return",
            "root success_rate": "fraction of successful episodes",
            "root task, reward, step": "the run's task, reward model and env steps trained",
            "root method": "the run's label in `evaluate --compare`: the reward model with "
                           "its ablations and settings that are not the defaults (e.g. "
                           "`genreward -fb`; absent in older files)",
        },
        checked=(Attr("reward", "str"), Attr("step", "int", minimum=0),
                 Attr("mean", "number"), Attr("std", "number", minimum=0),
                 Attr("success_rate", "number", minimum=0, maximum=1)),
    )
)
