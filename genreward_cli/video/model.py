"""Resolving and loading video models: `tiny`, a local diffusers directory, or a hub id.

Every path goes through ``CogVideoXImageToVideoPipeline.from_pretrained``: `tiny` is
materialised once into the cache directory (``$GENREWARD_CACHE``, default
``~/.cache/genreward``) and loaded from there like any other directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from genreward_cli.errors import BadInput
from genreward_cli.video.presets import PRESETS, write_preset

DEFAULT_MODEL = "THUDM/CogVideoX-5b-I2V"  # the paper's model


def cache_dir() -> Path:
    return Path(os.environ.get("GENREWARD_CACHE", Path.home() / ".cache" / "genreward"))


def cached_preset(name: str, marker: str, write) -> Path:
    """``cache_dir()/name``, written once by ``write(tmp_dir)`` and renamed into place;
    ``marker`` is the file whose presence means the preset is complete."""
    path = cache_dir() / name
    if not (path / marker).exists():
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        try:
            tmp.rename(path)
        except OSError:  # another process built it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def resolve(model: str) -> str:
    """A path or hub id that ``from_pretrained`` accepts; builds the preset if needed."""
    from genreward_cli import __version__

    if model in PRESETS:
        name = f"{model}-cogvideox-i2v-{__version__}"
        return str(cached_preset(name, "model_index.json", lambda d: write_preset(model, d)))
    path = Path(model)
    if path.exists():
        if not (path / "model_index.json").exists():
            raise BadInput(f"--model {model}: not a diffusers pipeline directory (no model_index.json)")
        return str(path)
    if model.count("/") == 1 and not model.startswith((".", "/")):
        return model  # a hub id: from_pretrained looks in the local hub cache
    raise BadInput(f"--model {model}: no such directory (nor `tiny`, nor a hub id like {DEFAULT_MODEL})")


def fingerprint(path: str) -> str:
    """A short id of a model directory: sha256 of its configs and its weight files' sizes."""
    root = Path(path)
    if not root.is_dir():
        return path  # a hub id: the id is what is known
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(root)).encode())
            if f.suffix == ".json":
                h.update(f.read_bytes())
            else:
                h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def quiet_libraries() -> None:
    """No progress bars or info logs from diffusers/transformers; ours go to stderr."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def load_pipeline(model: str, device: str = "cpu", dtype=None):
    """Load a CogVideoX image-to-video pipeline; one clear error if it cannot be loaded."""
    import torch
    from diffusers import CogVideoXImageToVideoPipeline

    quiet_libraries()
    source = resolve(model)
    dtype = dtype or torch.float32
    try:
        pipe = CogVideoXImageToVideoPipeline.from_pretrained(source, torch_dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as e:
        raise BadInput(f"--model {model}: cannot load a CogVideoX image-to-video pipeline: {e}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@dataclass(frozen=True)
class ModelInfo:
    """What a video model takes: native size and frame count, constraints on both."""

    height: int
    width: int
    frames: int
    spatial_scale: int
    temporal_scale: int
    fixed_size: bool  # learned positional embeddings: only the native size works
    text_length: int

    @classmethod
    def of(cls, pipe) -> "ModelInfo":
        cfg = pipe.transformer.config
        s = pipe.vae_scale_factor_spatial
        return cls(
            height=cfg.sample_height * s,
            width=cfg.sample_width * s,
            frames=cfg.sample_frames,
            spatial_scale=s,
            temporal_scale=pipe.vae_scale_factor_temporal,
            fixed_size=bool(cfg.use_learned_positional_embeddings),
            text_length=cfg.max_text_seq_length,
        )

    def check(self, frames: int, height: int, width: int) -> None:
        """Raise BadInput unless the model can take this frame count and size."""
        if frames < 1 or (frames - 1) % self.temporal_scale:
            ok = ", ".join(str(k * self.temporal_scale + 1) for k in (2, 4, 8, 12))
            raise BadInput(
                f"--frames {frames}: the model takes 4k+1 frames "
                f"(k*{self.temporal_scale}+1, e.g. {ok}; native {self.frames})"
            )
        unit = self.spatial_scale * 2  # VAE downsampling x transformer patch size
        if height % unit or width % unit:
            raise BadInput(f"size {height}x{width}: height and width must be multiples of {unit}")
        if self.fixed_size and (height, width) != (self.height, self.width):
            raise BadInput(
                f"size {height}x{width}: this model has learned positional embeddings and only "
                f"takes its native {self.height}x{self.width}"
            )

    def to_json(self) -> str:
        return json.dumps(self.__dict__)
