"""The `init-model` stage: a built-in preset, or a paper model with random weights, written as
the directory its loaders read (diffusers for CogVideoX, transformers for DINOv3)."""

from __future__ import annotations

import os
from pathlib import Path

from genreward_cli.errors import BadInput
from genreward_cli.paper_random import COGVIDEOX_RANDOM, RANDOM_PRESETS, CogVideoXSizes
from genreward_cli.stages import Report
from genreward_cli.video.presets import PRESETS

SIZE_OPTIONS = ("layers", "heads", "text_layers", "text_width", "vae_width", "vae_layers")


def run(preset: str = "tiny", *, out: str | os.PathLike, sizes: dict[str, int] | None = None,
        dtype: str = "bfloat16", seed: int = 0, device: str = "cpu",
        force: bool = False) -> Report:
    """Write ``preset`` (a key of ``video.presets.PRESETS`` or of
    ``paper_random.RANDOM_PRESETS``) with random weights drawn from ``seed`` as the directory
    ``out``, atomically (through ``OUT.tmp``). ``sizes`` (keys of SIZE_OPTIONS) shrink
    `cogvideox-5b-i2v-random`, whose transformer and T5 are saved in ``dtype`` and drawn on
    ``device`` (a torch device string, already resolved).

    Raises BadInput (exit code 2) for an unknown preset, ``sizes`` with another preset or
    that the architecture cannot take, and for an existing ``out`` without ``force``.
    """
    if preset not in PRESETS and preset not in RANDOM_PRESETS:
        raise BadInput(f"--preset {preset}: expected one of {', '.join([*PRESETS, *RANDOM_PRESETS])}")
    given = dict(sizes or {})
    unknown = sorted(set(given) - set(SIZE_OPTIONS))
    if unknown:
        raise BadInput(f"unknown size option(s): {', '.join(unknown)}")
    if preset != COGVIDEOX_RANDOM and given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise BadInput(f"{flags}: only for --preset {COGVIDEOX_RANDOM}")
    model_sizes = CogVideoXSizes(**given)
    try:
        model_sizes.check()
    except ValueError as e:
        raise BadInput(f"--{str(e).replace(' ', '-', 1)}") from None
    from genreward_cli import store

    # --force replaces an earlier model folder (diffusers' or transformers'), nothing else
    from genreward_cli.model_files import foreign_entries, holds_only_model

    out = store.check_folder_output(out, force, ("model_index.json", "a model's config.json"),
                                    owns=holds_only_model, foreign=foreign_entries)

    with store.replacing_dir(out) as tmp:
        write(preset, tmp, seed, model_sizes, dtype, device)
    mode = PRESETS.get(preset) or RANDOM_PRESETS[preset]
    summary = {"out": str(out), "preset": preset, "mode": mode, "seed": seed}
    if preset == COGVIDEOX_RANDOM:
        from dataclasses import asdict

        summary |= {"sizes": asdict(model_sizes), "dtype": dtype}
    if preset in PRESETS:
        line = f"wrote {out}: {preset} CogVideoX {mode} pipeline (seed {seed})"
    else:
        line = f"wrote {out}: {preset}, random weights (seed {seed})"
    return Report(line, summary)


def write(preset: str, out: Path, seed: int, sizes: CogVideoXSizes, dtype: str,
          device: str) -> None:
    """Save ``preset``'s model, drawn from ``seed``, into the directory ``out``."""
    from genreward_cli import paper_random
    from genreward_cli.video.presets import write_preset

    if preset in PRESETS:
        write_preset(preset, out, seed=seed)
    elif preset == COGVIDEOX_RANDOM:
        paper_random.write_cogvideox(out, sizes, seed=seed, dtype=dtype, device=device)
    else:
        paper_random.write_dinov3(out, seed=seed)
