"""HDF5 artifacts: the kinds, their schema, provenance, strict reading and atomic writing.

Every file a stage writes is one *artifact*: an HDF5 file whose root attrs say what it is
(``kind``, ``schema_version``), who made it (``producer``, ``config``, ``created_at``,
``versions``) and from what (``parents``: path, kind and sha256 of each input artifact).

- :func:`open_artifact` checks kind, version, required datasets, dtypes, shapes and finiteness,
  and fails with one line naming the file, the dataset and what was expected; any later read
  of a damaged dataset fails the same way (:class:`ReadFile`).
- :func:`write_artifact` writes ``NAME.tmp``, checks it against the schema, flushes and renames,
  so an interrupted stage leaves nothing that looks finished; it refuses to overwrite an
  existing file unless ``force``, and ``NAME.tmp`` is locked while written, so a second
  writer of the same file is refused instead of destroying the first one's work.
- Paths are recorded absolute (:func:`record_path`); relative ones in older files are found
  against the reader's directory, then the artifact's own (:func:`resolve_recorded`).

The schema below is the single source of ``docs/artifacts.md`` (``python -m
genreward_cli.artifacts``); a test keeps the two equal.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import posixpath
import re
import shlex
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Container, Iterable, Iterator

import h5py
import numpy as np

from genreward_cli import __version__
from genreward_cli.errors import BadInput

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


ROOT_ATTRS = {
    "kind": "the artifact kind (this page's section name)",
    "schema_version": f"integer, currently {SCHEMA_VERSION}; readers refuse versions they don't know",
    "producer": "`genreward <version>` and the full command line",
    "config": "JSON of every resolved option, defaults included",
    "created_at": "ISO 8601 UTC time of writing",
    "parents": "JSON list of `{path, kind, sha256}` of the input artifacts",
    "versions": "JSON of the writer's python, genreward, torch, metaworld, mujoco, h5py, numpy",
}

KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


register(
    Kind(
        name="episodes",
        written_by="`collect`",
        doc="Recorded episodes of a Meta-World task: N+1 observations, N actions per episode "
        "(Minari's convention). Images are uint8 RGB, channels last, upright.",
        group="episodes",
        min_groups=1,
        frames="episodes/<k>/image",
        datasets=(
            Dataset("episodes/<k>/image", "uint8", ("T+1", "H", "W", 3), "observation frames", False),
            Dataset("episodes/<k>/state", "float32", ("T+1", "S"), "Meta-World state vector (S=39)", True),
            Dataset("episodes/<k>/action", "float32", ("T", "A"), "actions in [-1, 1] (A=4)", True),
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
        },
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
            "root task, seed": "with `--task`: the task and env seed of the condition frame",
        },
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
            Dataset("frame_embedding", "float32", ("D",), "image-encoder embedding of I*", True),
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
            Dataset("goal_embedding", "float32", ("D",), "psi(I*), from the goal file", True),
            Dataset("goal_z", "float32", ("Z",), "z* = B(psi(I*))", True),
        ),
        attrs={
            "root fb_config": "JSON FBConfig (obs_dim, action_dim, z_dim, hidden_dim, layers)",
            "root train_config": "JSON FBTrainConfig (lr, tau, gamma, objective, ...)",
            "root image_encoder": "JSON ImageEncoderConfig of the state space",
            "root frame_size": "JSON [H, W] of the training frames (online rewards render states at it)",
            "weights/<module>/<param>": "forward_net, backward_net, actor parameters",
            "cache/embeddings/<k>": "float32 [T+1, D] embeddings of each training episode",
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
            "components/<name>": "float32 [N]: each component's return per episode",
            "shares/<name>": "float32 [N]: each component's share of the episode's return, "
                             "sum_t |w c_t| / sum_t |total_t| (NaN: a zero return)",
            "root shares": "JSON: each component's share over all episodes' steps",
            "root weights": "JSON: each component's weight w in total",
            "root sigma_env": "the env reward's per-step standard deviation (--alpha-mode "
                              "relative only)",
            "root cost": "JSON: the reward model's calls, seconds, ms per call and per env step",
        },
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
        written_by="`train-agent` (as `log.h5` in its run directory)",
        doc="A DreamerV3 training run: every episode's env return (dense, whatever the agent "
        "learned from, so methods compare on one scale), success and length; the reward "
        "model's components at the steps it scored; the periodic evaluations; and the "
        "policy's weights, so `evaluate` needs this file alone.",
        datasets=(
            Dataset("episodes/step", "int64", ("E",), "env steps done at the episode's end"),
            Dataset("episodes/return", "float32", ("E",), "dense env return", True),
            Dataset("episodes/success", "bool", ("E",), "Meta-World success at any step"),
            Dataset("episodes/length", "int64", ("E",), "steps"),
            Dataset("episodes/learn_return", "float32", ("E",), "the return the agent learned from", True),
            Dataset("rewards/step", "int64", ("R",), "env step (0-based) of each scored step"),
            Dataset("eval/step", "int64", ("V",), "env steps done at each evaluation"),
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
            "root cost": "JSON: the reward model's calls, seconds, ms per call and per env step",
        },
    )
)

register(
    Kind(
        name="eval",
        written_by="`evaluate`",
        doc="Episodes of a trained policy (acting on the mode of its action distribution), "
        "scored by the dense env return and Meta-World success.",
        datasets=(
            Dataset("return", "float32", ("N",), "dense env return per episode", True),
            Dataset("success", "bool", ("N",), "success at any step"),
            Dataset("length", "int64", ("N",), "steps"),
            Dataset("seed", "int64", ("N",), "the env seed of each episode"),
        ),
        attrs={
            "root mean, std": "mean and standard deviation of the return",
            "root success_rate": "fraction of successful episodes",
            "root task, reward, step": "the run's task, reward model and env steps trained",
        },
    )
)


def write_weights(h5: h5py.Group, prefix: str, state_dict: dict) -> None:
    """One dataset per state_dict entry under ``prefix/`` (keys hold no '/')."""
    for name, value in state_dict.items():
        h5.create_dataset(f"{prefix}/{name}", data=value.detach().cpu().numpy())


def read_weights(group: h5py.Group) -> dict:
    """The state_dict written by :func:`write_weights`, as torch tensors."""
    import torch

    return {name: torch.from_numpy(ds[()]) for name, ds in group.items()}


# --------------------------------------------------------------------------- provenance


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def environment_versions() -> dict[str, str]:
    """Versions of what shapes an artifact's content, recorded by writers, compared by readers."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "genreward": __version__}
    for pkg in ("torch", "metaworld", "mujoco", "h5py", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


COMPARED_VERSIONS = ("metaworld", "mujoco", "torch")


def command_line() -> str:
    """The `genreward ...` command being run (from click's context), else ``sys.argv``."""
    import click

    from genreward_cli.options import ARGV_KEY

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ARGV_KEY in ctx.meta:
        return shlex.join(["genreward", *ctx.meta[ARGV_KEY]])
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


# --------------------------------------------------------------------------- recorded paths


def record_path(value: str | os.PathLike | None,
                builtin: Container[str] = ("tiny",)) -> str | None:
    """How a stage records a path it was given (a model, an input, a checkpoint): a local
    file or directory that exists becomes absolute (symlinks resolved), so a later stage
    finds it from any working directory; anything else (a hub id, ``None``) and the names
    in ``builtin`` (built-in presets, which win over a folder of that name) are kept as
    given."""
    if value is None:
        return None
    value = os.fspath(value)
    if value and value not in builtin and os.path.exists(value):
        return os.path.realpath(value)
    return value


def resolve_recorded(recorded: str | None, artifact: str | os.PathLike) -> str | None:
    """A path read from ``artifact``, as usable from the current directory.

    Absolute paths and names that are not local paths (hub ids, ``tiny``) come back as they
    are. A relative path (files written before paths were recorded absolute) is tried against
    the current directory, then against the artifact's own directory; the first that exists
    wins, else the value comes back unchanged.
    """
    for candidate in recorded_candidates(recorded, artifact):
        if os.path.exists(candidate):
            return candidate
    return recorded


def recorded_candidates(recorded: str | None, artifact: str | os.PathLike) -> list[str]:
    """Where a recorded relative path may be: as given (relative to the current directory),
    then relative to the directory of ``artifact``. An absolute path is its only candidate."""
    if not recorded:
        return []
    if os.path.isabs(recorded):
        return [recorded]
    here = os.path.join(os.path.dirname(os.path.abspath(artifact)), recorded)
    return [recorded] if os.path.abspath(here) == os.path.abspath(recorded) else [recorded, here]


# --------------------------------------------------------------------------- reading


def _display_name(name: str) -> str:
    return name.lstrip("/") or "/"


def read_error(filename: str | os.PathLike, name: str, error: BaseException,
               what: str = "dataset") -> BadInput:
    """The one-line BadInput for HDF5 data that cannot be read (a damaged or truncated chunk):
    ``FILE: dataset 'NAME' cannot be read (damaged or truncated file?): REASON``."""
    reason = " ".join(str(error).split()) or type(error).__name__
    return BadInput(f"{filename}: {what} '{_display_name(name)}' cannot be read "
                    f"(damaged or truncated file?): {reason}")


def _reading(obj):
    """``obj`` (an h5py object of an opened artifact) as its reading-layer class."""
    if isinstance(obj, h5py.File):
        obj.__class__ = ReadFile
    elif isinstance(obj, h5py.Dataset):
        obj.__class__ = ReadDataset
    elif isinstance(obj, h5py.Group):
        obj.__class__ = ReadGroup
    return obj


class _Reading:
    """``file`` and ``parent`` of a reading-layer object are reading-layer objects too."""

    @property
    def file(self):
        return _reading(super().file)

    @property
    def parent(self):
        return _reading(super().parent)


class ReadDataset(_Reading, h5py.Dataset):
    """An h5py.Dataset of an opened artifact whose reads turn HDF5's anonymous OSError
    (a damaged compressed chunk, a cut file) into :func:`read_error`'s BadInput."""

    def _read_error(self, error: OSError) -> BadInput:
        return read_error(self.file.filename, self.name, error)

    def __getitem__(self, args, new_dtype=None):
        try:
            return super().__getitem__(args, new_dtype=new_dtype)
        except OSError as e:
            raise self._read_error(e) from None

    def read_direct(self, *args, **kwargs):
        try:
            return super().read_direct(*args, **kwargs)
        except OSError as e:
            raise self._read_error(e) from None

    def __array__(self, *args, **kwargs):
        try:
            return super().__array__(*args, **kwargs)
        except OSError as e:
            raise self._read_error(e) from None


class ReadGroup(_Reading, h5py.Group):
    """An h5py.Group whose members are :class:`ReadGroup` and :class:`ReadDataset`, so every
    read below an opened artifact names the file and the dataset when it fails."""

    def _object_error(self, name, error: OSError) -> BadInput:
        where = name if isinstance(name, str) else "?"
        return read_error(self.file.filename, posixpath.join(self.name, where), error,
                          what="object")

    def __getitem__(self, name):
        try:
            obj = super().__getitem__(name)
        except OSError as e:  # a damaged object header; a missing name stays a KeyError
            raise self._object_error(name, e) from None
        return _reading(obj)

    def get(self, name, default=None, *args, **kwargs):
        """As h5py's ``get`` (which ``values()`` and ``items()`` use), through this layer."""
        try:
            obj = super().get(name, default, *args, **kwargs)
        except OSError as e:
            raise self._object_error(name, e) from None
        return _reading(obj) if isinstance(obj, h5py.HLObject) else obj


class ReadFile(ReadGroup, h5py.File):
    """A read-only h5py.File of an artifact, reading through :class:`ReadGroup`."""


class Artifact:
    """An open, validated artifact. Use as a context manager, or call :meth:`close`.

    ``file`` is a :class:`ReadFile`: reading a damaged dataset raises BadInput naming the
    file and the dataset (exit code 2), never an anonymous OSError.
    """

    def __init__(self, path: Path, file: h5py.File, kind: Kind):
        self.path = path
        self.file = file
        self.kind = kind
        self.warnings: list[str] = []

    @property
    def attrs(self) -> h5py.AttributeManager:
        return self.file.attrs

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.file.attrs["config"])

    @property
    def parents(self) -> list[dict[str, str]]:
        return json.loads(self.file.attrs["parents"])

    @property
    def versions(self) -> dict[str, str]:
        return json.loads(self.file.attrs.get("versions", "{}"))

    def groups(self) -> list[str]:
        """Names of the per-item groups (e.g. episodes), in order."""
        if self.kind.group is None:
            return []
        return sorted(self.file[self.kind.group].keys())

    def ref(self) -> dict[str, str]:
        """This file as a parent entry: {path, kind, sha256}; the path is absolute (see
        :func:`record_path`), so it names the same file from any working directory."""
        return {"path": os.path.realpath(self.path), "kind": self.kind.name,
                "sha256": sha256_file(self.path)}

    def resolve(self, recorded: str | None) -> str | None:
        """A path recorded in this artifact (a model, a parent), as usable from here: see
        :func:`resolve_recorded`."""
        return resolve_recorded(recorded, self.path)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "Artifact":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fail(path, message: str) -> BadInput:
    return BadInput(f"{path}: {message}")


def _bind(dim, actual: int, bound: dict[str, int]) -> str | None:
    """Check one dimension against its symbol; return an expectation string on mismatch."""
    if isinstance(dim, int):
        return None if actual == dim else str(dim)
    m = re.fullmatch(r"([A-Za-z]+)([+-]\d+)?", dim)
    assert m, dim
    name, offset = m.group(1), int(m.group(2) or 0)
    if name not in bound:
        bound[name] = actual - offset
        return None if bound[name] >= 0 else f"{dim} >= 0"
    expected = bound[name] + offset
    return None if actual == expected else f"{dim} = {expected}"


def _check_dataset(path, h5: h5py.File, spec: Dataset, name: str, bound: dict) -> None:
    if name not in h5 or not isinstance(h5[name], h5py.Dataset):
        raise _fail(path, f"missing dataset '{name}' ({spec.doc})")
    ds = h5[name]
    if ds.dtype != np.dtype(spec.dtype):
        raise _fail(path, f"dataset '{name}' has dtype {ds.dtype}, expected {spec.dtype}")
    shape_txt = "[" + ",".join(str(d) for d in spec.shape) + "]"
    if ds.ndim != len(spec.shape):
        raise _fail(path, f"dataset '{name}' has shape {list(ds.shape)}, expected {shape_txt}")
    for dim, actual in zip(spec.shape, ds.shape):
        expected = _bind(dim, actual, bound)
        if expected is not None:
            raise _fail(
                path, f"dataset '{name}' has shape {list(ds.shape)}, expected {shape_txt} with {expected}"
            )
    if spec.finite:
        data = ds[()]
        if not np.all(np.isfinite(data)):
            raise _fail(path, f"dataset '{name}' contains NaN or inf")


def validate(path, h5: h5py.File, kind: Kind) -> None:
    """Check every dataset of ``kind`` in ``h5``; raise BadInput naming the first problem."""
    if kind.group is None:
        bound: dict[str, int] = {}
        for spec in kind.datasets:
            _check_dataset(path, h5, spec, spec.path, bound)
        return
    if kind.group not in h5:
        raise _fail(path, f"missing group '{kind.group}'")
    names = sorted(h5[kind.group].keys())
    if len(names) < kind.min_groups:
        raise _fail(path, f"group '{kind.group}' is empty, expected at least {kind.min_groups}")
    for k in names:
        bound = {}
        for spec in kind.datasets:
            _check_dataset(path, h5, spec, spec.path.replace("<k>", k), bound)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def has_hdf5_signature(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts like an HDF5 file: its 8-byte signature at offset 0, 512,
    1024, 2048, ... (a user block may come first), wherever the file is long enough.
    Raises OSError when the file cannot be read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else 2 * offset
    return False


def open_artifact(path: str | os.PathLike, kind: str | tuple[str, ...] | None = None) -> Artifact:
    """Open and validate an artifact; ``kind`` restricts which kinds are accepted.

    Raises BadInput (one line: file, dataset, expectation) on a missing or unreadable file,
    a wrong kind, an unknown schema version, or a dataset of the wrong dtype or shape.
    A difference between the writer's and this environment's metaworld/mujoco/torch versions
    is recorded in ``Artifact.warnings`` and issued as a :class:`VersionMismatchWarning`.
    """
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory, expected an HDF5 file")
    try:
        h5 = ReadFile(path, "r")
    except OSError as e:
        reason = " ".join(str(e).split())
        try:
            hdf5 = has_hdf5_signature(path)
        except OSError as e2:  # e.g. no permission to read it
            raise BadInput(f"{path}: cannot be read: {e2.strerror or e2}") from None
        if not hdf5:
            empty = " (it is empty)" if path.stat().st_size == 0 else ""
            raise BadInput(f"{path}: not an HDF5 file{empty}: genreward reads the HDF5 "
                           "artifacts its stages write") from None
        raise BadInput(f"{path}: not a readable HDF5 file (truncated or corrupt?): "
                       f"{reason}") from None
    try:
        found = h5.attrs.get("kind")
        if found is None:
            raise _fail(path, "not a genreward artifact (no 'kind' attribute)")
        if isinstance(found, bytes):
            found = found.decode()
        wanted = (kind,) if isinstance(kind, str) else kind
        if wanted is not None and found not in wanted:
            raise _fail(path, f"artifact kind is '{found}', expected {' or '.join(repr(w) for w in wanted)}")
        if found not in KINDS:
            raise _fail(path, f"unknown artifact kind '{found}' (this genreward knows {', '.join(KINDS)})")
        version = int(h5.attrs.get("schema_version", -1))
        if version != SCHEMA_VERSION:
            raise _fail(
                path,
                f"schema_version {version} is not supported by genreward {__version__} "
                f"(it reads version {SCHEMA_VERSION})",
            )
        for attr in ("config", "parents"):
            if attr not in h5.attrs:
                raise _fail(path, f"missing root attribute '{attr}'")
        art = Artifact(path, h5, KINDS[found])
        validate(path, h5, art.kind)
    except BaseException:
        h5.close()
        raise
    mine = environment_versions()
    for pkg in COMPARED_VERSIONS:
        theirs = art.versions.get(pkg)
        if theirs is not None and theirs != mine.get(pkg):
            msg = f"{path}: written with {pkg} {theirs}, reading with {pkg} {mine.get(pkg)}"
            art.warnings.append(msg)
            warnings.warn(msg, VersionMismatchWarning, stacklevel=2)
    return art


# --------------------------------------------------------------------------- writing


def check_output(path: str | os.PathLike, force: bool,
                 inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse an output that is one of the command's ``inputs`` (``--force`` or not), an
    existing one without ``force``, and one that cannot be written; call before doing any
    work, for the artifact a stage writes and for its side outputs (figures, videos, CSV)."""
    path = Path(path)
    check_not_input(path, inputs)
    if path.exists() and not force:
        raise BadInput(f"{path}: already exists; pass --force to overwrite")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory, expected a file path")
    check_writable(path)
    return path


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def check_not_input(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None],
                    replaces_folder: bool = False) -> None:
    """Raise BadInput when the output ``out`` is the same file as one of ``inputs`` (links
    and relative paths resolved; ``None`` entries and names that are no local path are
    skipped), so ``--force`` never overwrites what a command reads. With
    ``replaces_folder`` (an output folder removed and written anew) an input inside ``out``
    is refused too."""
    if not os.path.exists(out):
        return
    real = os.path.realpath(out)
    for given in inputs:
        if given is None or not os.path.exists(given):
            continue
        same = os.path.samefile(out, given)
        if same or (replaces_folder and _inside(os.path.realpath(given), real)):
            where = "is" if same else "holds"
            named = "" if os.fspath(given) == os.fspath(out) else f" ({given})"
            raise BadInput(f"{out}: {where} an input of this command{named}; write the "
                           "output elsewhere (--force never overwrites an input)")


def check_writable(path: str | os.PathLike) -> None:
    """Raise BadInput unless a file ``path`` can be created (its folder made, if missing):
    the nearest existing folder above it must be a folder that takes a new entry, which
    is tried (and removed at once), as permissions alone mislead root and read-only mounts."""
    import tempfile

    path = Path(path)
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"{path}: cannot be written: {parent} is not a directory")
    try:
        if parent == path.absolute().parent:
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
            os.close(fd)
            os.unlink(probe)
        else:  # the folders below it are made when the file is written
            os.rmdir(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".probe", dir=parent))
    except OSError as e:
        raise BadInput(f"{path}: cannot be written in {parent}: "
                       f"{e.strerror or type(e).__name__}") from None


def lock_tmp(path: str | os.PathLike, force: bool = False) -> tuple[Path, int]:
    """Create or open ``PATH.tmp`` and hold an exclusive lock on it: ``(tmp, fd)``.

    The lock is an ``flock`` on ``fd``: the kernel drops it when the process ends, so the
    stale ``.tmp`` of a killed writer blocks nobody. The file is never truncated or deleted
    here. Raises BadInput (exit code 2) when another process holds the lock (it is writing
    ``PATH`` now), or when ``PATH`` appeared meanwhile and ``force`` is false. The caller
    closes ``fd`` (``os.close``) to release the lock, after renaming or removing ``tmp``.
    """
    import errno
    import fcntl

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    while True:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return tmp, fd  # no locks on this file system: write unguarded, as before
            os.close(fd)
            raise BadInput(f"{path}: another process is writing it now ({tmp.name} is locked); "
                           "wait for it to finish or choose another --out") from None
        # The file locked must still be the one named tmp: a writer that just finished
        # renamed its tmp away (then PATH exists) or a failed one removed it.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(tmp))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    if path.exists() and not force:
        os.close(fd)
        raise BadInput(f"{path}: already exists (written meanwhile by another process); "
                       "pass --force to overwrite")
    return tmp, fd


@contextlib.contextmanager
def write_artifact(
    path: str | os.PathLike,
    kind: str,
    *,
    config: str | dict,
    parents: list[dict[str, str]] = (),
    force: bool = False,
) -> Iterator[h5py.File]:
    """Write an artifact atomically: yields an h5py.File on ``PATH.tmp``; on success the file
    is validated against its kind, flushed and renamed to ``PATH``; on any error it is removed.

    ``PATH.tmp`` is locked for the whole write (:func:`lock_tmp`): a second writer of the same
    ``PATH`` fails at once with BadInput and leaves the first one's file alone. Raises BadInput
    for an existing ``PATH`` without ``force`` and for content that breaks the kind's schema.
    """
    spec = KINDS[kind]
    path = check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = lock_tmp(path, force)
    try:
        # HDF5's own lock would be a second flock on the file we hold: keep only ours.
        h5 = h5py.File(tmp, "w", locking=False)
    except BaseException:
        tmp.unlink(missing_ok=True)
        os.close(fd)
        raise
    try:
        h5.attrs["kind"] = kind
        h5.attrs["schema_version"] = SCHEMA_VERSION
        h5.attrs["producer"] = f"genreward {__version__}: {command_line()}"
        h5.attrs["config"] = config if isinstance(config, str) else json.dumps(config, sort_keys=True)
        h5.attrs["created_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        h5.attrs["parents"] = json.dumps(list(parents))
        h5.attrs["versions"] = json.dumps(environment_versions(), sort_keys=True)
        yield h5
        validate(path, h5, spec)
        h5.flush()
        h5.close()
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        h5.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Write ``path`` atomically through ``PATH.tmp`` (yielded): renamed onto ``path`` when
    the block ends, removed when it fails or is interrupted (Ctrl-C, SIGTERM), so no
    half-written file stays behind. For checkpoints and other files that are no artifact."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def frames_dataset(h5: h5py.Group, name: str, frames: np.ndarray) -> h5py.Dataset:
    """A uint8 [N,H,W,3] dataset chunked one frame per chunk, compressed."""
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3, (
        frames.dtype,
        frames.shape,
    )
    return h5.create_dataset(
        name, data=frames, chunks=(1, *frames.shape[1:]), compression=COMPRESSION
    )


def array_dataset(h5: h5py.Group, name: str, data: np.ndarray) -> h5py.Dataset:
    """A small array dataset (one chunk), compressed."""
    return h5.create_dataset(name, data=data, compression=COMPRESSION if data.size > 0 else None)


# --------------------------------------------------------------------------- docs


def markdown() -> str:
    """docs/artifacts.md, generated from the schema above."""
    lines = [
        "# Artifact kinds",
        "",
        "<!-- generated by `python -m genreward_cli.artifacts`; do not edit by hand -->",
        "",
        "Every stage writes one HDF5 file. Images and videos are `uint8`, channels last",
        f"(`[..., H, W, 3]`), chunked one frame per chunk and {COMPRESSION}-compressed. Files open",
        "with `h5ls -r` and `h5dump -H` as well as with h5py; `genreward inspect FILE` summarises",
        "any of them and checks the hashes of its parents.",
        "",
        "## Root attributes (every kind)",
        "",
        "| attr | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in ROOT_ATTRS.items()]
    lines += [
        "",
        "Shapes: a name (`T`, `H`) is bound by its first use inside one group and must agree",
        "elsewhere in it; `T+1` means one more than `T`. Float datasets marked finite must hold",
        "no NaN or inf.",
    ]
    for kind in KINDS.values():
        lines += ["", f"## `{kind.name}`", "", f"Written by {kind.written_by}. {kind.doc}", ""]
        lines += ["| dataset | dtype | shape | meaning |", "|---|---|---|---|"]
        for d in kind.datasets:
            shape = "[" + ", ".join(str(s) for s in d.shape) + "]"
            doc = d.doc + (" (finite)" if d.finite else "")
            lines.append(f"| `{d.path}` | {d.dtype} | {shape} | {doc} |")
        if kind.attrs:
            lines += ["", "| attr (where, name) | meaning |", "|---|---|"]
            lines += [f"| `{k}` | {v} |" for k, v in kind.attrs.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
