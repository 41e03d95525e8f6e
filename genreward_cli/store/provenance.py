"""Provenance: the command line, versions and hashes an artifact records, and how recorded
paths are written and found again."""

from __future__ import annotations

import contextvars
import hashlib
import os
import shlex
import sys
from pathlib import Path
from typing import Container

from genreward_cli import __version__

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


# The arguments of the `genreward` command being run, set by the CLI (``cli.StageGroup``)
# for the length of one invocation; None outside one (library use): then ``sys.argv``.
COMMAND_ARGS: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "genreward_command_args", default=None)


def command_line() -> str:
    """The `genreward ...` command being run (``COMMAND_ARGS``), else ``sys.argv`` joined as a
    shell would read it: what an artifact records as its ``producer``."""
    args = COMMAND_ARGS.get()
    if args is not None:
        return shlex.join(["genreward", *args])
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
