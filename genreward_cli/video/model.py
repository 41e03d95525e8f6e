"""Resolving and loading video models: a preset (`tiny`, `tiny-t2v`), a local diffusers
directory, or a hub id; and what a model can take (:class:`ModelInfo`), read from its configs
before any weights are loaded.

Every path goes through ``from_pretrained`` of ``CogVideoXImageToVideoPipeline`` (the
image-to-video mode) or ``CogVideoXPipeline`` (text-to-video): a preset is materialised once
into the cache directory (``$GENREWARD_CACHE``, default ``~/.cache/genreward``) and loaded from
there like any other directory.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from genreward_cli.errors import BadInput
from genreward_cli.model_files import cached_preset, quiet_libraries, read_config
from genreward_cli.video.presets import (
    IMAGE_TO_VIDEO, PRESET_REVISION, PRESETS, T2V_PRESET, TEXT_TO_VIDEO, write_preset,
)

DEFAULT_MODEL = "THUDM/CogVideoX-5b-I2V"  # the paper's model
DEFAULT_T2V_MODEL = "THUDM/CogVideoX-5b"  # CogVideoX's text-to-video model of the same size
MODES = (IMAGE_TO_VIDEO, TEXT_TO_VIDEO)
PIPELINE_CLASSES = {IMAGE_TO_VIDEO: "CogVideoXImageToVideoPipeline", TEXT_TO_VIDEO: "CogVideoXPipeline"}


def model_name(model: str, mode: str) -> str:
    """The model a ``mode`` option names: the word `tiny` for a text-to-video option is the
    `tiny-t2v` preset; anything else is returned as given."""
    return T2V_PRESET.get(model, model) if mode == TEXT_TO_VIDEO else model


def resolve(model: str, option: str = "--model") -> str:
    """A path or hub id that ``from_pretrained`` accepts; builds a preset if needed.

    Raises:
        BadInput: a directory without ``model_index.json``, or a name that is neither a
            preset, an existing directory, nor a hub id (``option`` names the flag).
    """
    from genreward_cli import __version__

    if model in PRESETS:
        kind = "i2v" if PRESETS[model] == IMAGE_TO_VIDEO else "t2v"
        name = f"{model.split('-')[0]}-cogvideox-{kind}-{__version__}-r{PRESET_REVISION}"
        return str(cached_preset(name, "model_index.json", lambda d: write_preset(model, d)))
    path = Path(model)
    if path.exists():
        if not (path / "model_index.json").exists():
            raise BadInput(f"{option} {model}: not a diffusers pipeline directory (no model_index.json)")
        return str(path)
    # a hub id (ORG/NAME): from_pretrained looks in the local hub cache; but ORG an existing
    # local folder means a local path that is not there
    if model.count("/") == 1 and not model.startswith((".", "/", "~")) \
            and not path.parent.is_dir():
        return model
    raise BadInput(f"{option} {model}: no such directory (nor a preset ({', '.join(PRESETS)}), "
                   f"nor a hub id like {DEFAULT_MODEL})")


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


def read_info(model: str, option: str = "--model") -> "ModelInfo":
    """What ``model`` can take, from its configs alone (no weights are loaded).

    Reads ``model_index.json``, ``transformer/config.json`` and ``vae/config.json`` of the
    directory, preset or cached hub id. Raises BadInput when they cannot be read or the
    pipeline is not a CogVideoX image-to-video or text-to-video one.
    """
    source = resolve(model, option)
    try:
        index = read_config(source, "model_index.json")
        transformer = read_config(source, "config.json", "transformer")
        vae = read_config(source, "config.json", "vae")
    except (OSError, ValueError) as e:
        where = "" if Path(source).is_dir() else " (offline, a hub id must be in the local hub cache)"
        raise BadInput(f"{option} {model}: cannot read the model's configs{where}: {e}") from None
    return ModelInfo.from_configs(index.get("_class_name"), transformer, vae, option=f"{option} {model}")


def load_pipeline(model: str, device: str = "cpu", dtype=None, mode: str = IMAGE_TO_VIDEO,
                  option: str = "--model"):
    """Load a CogVideoX pipeline of ``mode`` (``CogVideoXImageToVideoPipeline`` or
    ``CogVideoXPipeline``) from a preset, directory or hub id, in ``dtype`` (default float32).

    Raises:
        BadInput: the model cannot be loaded, or it is a pipeline of the other mode (checked on
            its configs, before the weights are read).
    """
    import torch
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    if mode not in MODES:
        raise BadInput(f"mode {mode!r}: choose {' or '.join(MODES)}")
    quiet_libraries()
    info = read_info(model, option)
    info.require_mode(mode, f"{option} {model}")
    source = resolve(model, option)
    cls = CogVideoXImageToVideoPipeline if mode == IMAGE_TO_VIDEO else CogVideoXPipeline
    try:
        with warnings.catch_warnings():  # diffusers passes huggingface_hub a retired argument
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            pipe = cls.from_pretrained(source, dtype=dtype or torch.float32)
    except (OSError, ValueError, EnvironmentError) as e:
        raise BadInput(f"{option} {model}: cannot load a CogVideoX {mode} pipeline: {e}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def decoded_frames(latent_frames: int, temporal_scale: int, latent_batch: int) -> int:
    """How many frames CogVideoX's VAE decodes ``latent_frames`` latent frames to.

    ``AutoencoderKLCogVideoX._decode`` decodes ``latent_batch`` latent frames at a time, the
    first batch taking the remainder too; its causal temporal upsampling turns a batch of n
    frames into ``temporal_scale * (n - 1) + 1`` frames when n is odd (the first frame is
    kept as is) and ``temporal_scale * n`` when n is even. A video of F = t(L-1)+1 frames
    round-trips only when this returns F.
    """
    batches = max(latent_frames // latent_batch, 1)
    rest = latent_frames % latent_batch
    total = 0
    for i in range(batches):
        start = latent_batch * i + (0 if i == 0 else rest)
        n = min(latent_batch * (i + 1) + rest, latent_frames) - start
        total += temporal_scale * (n - 1) + 1 if n % 2 else temporal_scale * n
    return total


def _tile_aligned(tile: int, overlap: float, scale: int) -> bool:
    """Whether diffusers' tiled encode and decode of a CogVideoX VAE (the same integer
    arithmetic as ``tiled_encode``/``tiled_decode``) put tiles of ``tile`` pixels with overlap
    factor ``overlap`` exactly on the ``scale``-pixel latent grid, so the tiled latent and
    video have the untiled shapes."""
    if tile % scale or tile < scale:
        return False
    latent = int(tile / scale)
    stride = int(tile * (1 - overlap))
    if stride < scale:
        return False
    encode_ok = stride == scale * (latent - int(latent * overlap))
    decode_ok = scale * int(latent * (1 - overlap)) == tile - int(tile * overlap)
    return encode_ok and decode_ok


def plan_tile(size: int, default: int, overlap: float, scale: int) -> int:
    """The tile size, in pixels, for one axis of ``size`` pixels: diffusers' ``default`` when
    it is aligned (see :func:`_tile_aligned`), else the aligned size nearest to it (the larger
    on a tie); when no aligned tile is smaller than ``size``, ``2 * size``: one tile, no seam."""
    aligned = [t for t in range(scale, size, scale) if _tile_aligned(t, overlap, scale)]
    if not aligned:
        return 2 * size
    return min(aligned, key=lambda t: (abs(t - default), -t))


@dataclass(frozen=True)
class ModelInfo:
    """What a video model takes: native size and frame count, constraints on both, its mode.

    Built from the configs (:func:`read_info`, before loading) or from a loaded pipeline
    (:meth:`of`); the two agree.
    """

    height: int
    width: int
    frames: int
    spatial_scale: int
    temporal_scale: int
    fixed_size: bool  # learned positional embeddings: only the native size works
    text_length: int  # T5 tokens the transformer reads (max_text_seq_length)
    mode: str = IMAGE_TO_VIDEO
    patch_size_t: int | None = None  # None: CogVideoX 1.0; 2: CogVideoX 1.5
    latent_batch: int = 2  # latent frames the VAE decodes together (num_latent_frames_batch_size)
    tile_height: int = 0  # the VAE's default tile (diffusers: half its sample size), pixels
    tile_width: int = 0
    tile_overlap_height: float = 1 / 6
    tile_overlap_width: float = 1 / 5

    @classmethod
    def from_configs(cls, class_name: str | None, transformer: dict, vae: dict,
                     latent_batch: int | None = None, tile: tuple | None = None,
                     option: str = "the model") -> "ModelInfo":
        """From a pipeline class name and the transformer's and VAE's config dicts; the VAE's
        decode batch and tile defaults are read from an instance (built on the meta device,
        no memory) unless given as ``latent_batch`` and ``tile`` = (h, w, overlap_h, overlap_w)."""
        modes = {v: k for k, v in PIPELINE_CLASSES.items()}
        if class_name not in modes:
            raise BadInput(f"{option}: a {class_name} pipeline, not a CogVideoX image-to-video "
                           f"or text-to-video one ({', '.join(PIPELINE_CLASSES.values())})")
        mode = modes[class_name]
        latent_channels = vae["latent_channels"]
        want = 2 * latent_channels if mode == IMAGE_TO_VIDEO else latent_channels
        if transformer["in_channels"] != want:
            raise BadInput(f"{option}: its transformer takes {transformer['in_channels']} input channels, "
                           f"a {mode} model with {latent_channels} latent channels takes {want}")
        if latent_batch is None or tile is None:
            import torch
            from diffusers import AutoencoderKLCogVideoX

            with torch.device("meta"):
                empty = AutoencoderKLCogVideoX.from_config(vae)
            latent_batch = empty.num_latent_frames_batch_size
            tile = (empty.tile_sample_min_height, empty.tile_sample_min_width,
                    empty.tile_overlap_factor_height, empty.tile_overlap_factor_width)
        s = 2 ** (len(vae["block_out_channels"]) - 1)
        return cls(
            height=transformer["sample_height"] * s,
            width=transformer["sample_width"] * s,
            frames=transformer["sample_frames"],
            spatial_scale=s,
            temporal_scale=vae["temporal_compression_ratio"],
            fixed_size=bool(transformer.get("use_learned_positional_embeddings", False)),
            text_length=transformer["max_text_seq_length"],
            mode=mode,
            patch_size_t=transformer.get("patch_size_t"),
            latent_batch=int(latent_batch),
            tile_height=int(tile[0]),
            tile_width=int(tile[1]),
            tile_overlap_height=float(tile[2]),
            tile_overlap_width=float(tile[3]),
        )

    @classmethod
    def of(cls, pipe) -> "ModelInfo":
        """From a loaded CogVideoX pipeline (its class, transformer and VAE)."""
        vae = pipe.vae
        tile = (vae.tile_sample_min_height, vae.tile_sample_min_width,
                vae.tile_overlap_factor_height, vae.tile_overlap_factor_width)
        return cls.from_configs(type(pipe).__name__, dict(pipe.transformer.config),
                                dict(vae.config), vae.num_latent_frames_batch_size, tile)

    @property
    def version(self) -> str:
        """``"CogVideoX 1.0"`` or ``"CogVideoX 1.5"`` (temporal patches)."""
        return "CogVideoX 1.0" if self.patch_size_t is None else "CogVideoX 1.5"

    def require_mode(self, mode: str, what: str) -> None:
        """Raise BadInput unless this is a ``mode`` model (``what`` names it in the message)."""
        if self.mode != mode:
            a = {IMAGE_TO_VIDEO: "an", TEXT_TO_VIDEO: "a"}
            raise BadInput(f"{what}: {a[self.mode]} {self.mode} model, where {a[mode]} {mode} "
                           "model is needed")

    def check(self, frames: int, height: int, width: int, decode: bool = False) -> None:
        """Raise BadInput unless the model can take this frame count and size.

        Frames must be ``temporal_scale * k + 1`` (the VAE's causal compression). With
        ``decode`` (generation), the VAE must also decode the latent frames back to exactly
        ``frames`` frames (:func:`decoded_frames`): 8k+1 frames for CogVideoX's VAEs. Height
        and width must be multiples of the VAE scale times the transformer patch (16), and
        the native size with learned positional embeddings.
        """
        t = self.temporal_scale

        def decoded_rule(why: str) -> BadInput:  # generation: what the VAE decodes exactly
            good = [f for f in range(1 + t, 1 + t * 4 * self.latent_batch * 2, t)
                    if decoded_frames((f - 1) // t + 1, t, self.latent_batch) == f]
            step = good[1] - good[0] if len(good) > 1 else t * self.latent_batch
            return BadInput(f"--frames {frames}: {self.version} needs {step}k+1 frames "
                            f"({', '.join(map(str, good[:3]))}, ...; native {self.frames})"
                            + why)

        if frames < 1 or (frames - 1) % t:
            if decode:  # the stricter rule, so that the frames it suggests are accepted
                raise decoded_rule("")
            ok = ", ".join(str(k * t + 1) for k in (2, 4, 8, 12))
            raise BadInput(
                f"--frames {frames}: the model takes {t}k+1 frames "
                f"(e.g. {ok}; native {self.frames})"
            )
        if decode:
            latent = (frames - 1) // t + 1
            out = decoded_frames(latent, t, self.latent_batch)
            if out != frames:
                raise decoded_rule(f": its VAE decodes {latent} latent frames to {out} frames")
        unit = self.spatial_scale * 2  # VAE downsampling x transformer patch size
        if height % unit or width % unit:
            raise BadInput(f"size {height}x{width}: height and width must be multiples of {unit}")
        if self.fixed_size and (height, width) != (self.height, self.width):
            raise BadInput(
                f"size {height}x{width}: this model has learned positional embeddings and only "
                f"takes its native {self.height}x{self.width}"
            )

    def tiling(self, height: int, width: int) -> dict:
        """Keyword arguments of ``vae.enable_tiling`` for ``height`` x ``width`` frames.

        diffusers' default tiles (half the VAE's sample size, overlaps 1/6 and 1/5) are kept
        when they fall on the latent grid, as for CogVideoX's 480x720 VAEs; otherwise (e.g. the
        tiny VAE's 32 px tiles: a 26 px stride, 9x9 latents for 64x64 frames) the nearest
        aligned tile is used (:func:`plan_tile`). Tiled and untiled outputs have the same
        shapes; tiles are blended over their overlap, so values differ slightly at the seams.
        """
        s = self.spatial_scale
        return {
            "tile_sample_min_height": plan_tile(height, self.tile_height, self.tile_overlap_height, s),
            "tile_sample_min_width": plan_tile(width, self.tile_width, self.tile_overlap_width, s),
            "tile_overlap_factor_height": self.tile_overlap_height,
            "tile_overlap_factor_width": self.tile_overlap_width,
        }


def load_tokenizer(model: str, option: str = "--model"):
    """The T5 tokenizer of a CogVideoX pipeline (its ``tokenizer/`` folder), without loading
    any weights; BadInput when it cannot be read."""
    from transformers import AutoTokenizer

    quiet_libraries()
    source = resolve(model, option)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            return AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
    except (OSError, ValueError, EnvironmentError) as e:
        raise BadInput(f"{option} {model}: cannot read the model's tokenizer: {e}") from None
