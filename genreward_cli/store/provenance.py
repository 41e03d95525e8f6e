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


def resolve_recorded(recorded: str | None, artifact: str | os.PathLike,
                     written_as: str | None = None) -> str | None:
    """A path read from ``artifact``, as usable from the current directory.

    Names that are not local paths (hub ids, ``tiny``) come back as they are. An absolute
    path that exists comes back as it is; one that does not, in an artifact that has moved
    since it was written at ``written_as`` (its ``written_as`` attribute), is looked for at
    the same place relative to the artifact's new folder (a run folder moved between scratch
    and shared storage). A relative path (files written before paths were recorded absolute)
    is tried against the current directory, then against the artifact's own directory. The
    first candidate that exists wins, else the value comes back unchanged.
    """
    for candidate in recorded_candidates(recorded, artifact, written_as):
        if os.path.exists(candidate):
            return candidate
    return recorded


def recorded_candidates(recorded: str | None, artifact: str | os.PathLike,
                        written_as: str | None = None) -> list[str]:
    """Where a recorded path may be: a relative one as given (relative to the current
    directory), then relative to the directory of ``artifact``; an absolute one as given,
    then, when ``artifact`` was written elsewhere (``written_as``), where it lies relative to
    the artifact now."""
    if not recorded:
        return []
    if os.path.isabs(recorded):
        if not written_as:
            return [recorded]
        then = os.path.dirname(str(written_as))
        now = os.path.dirname(os.path.realpath(artifact))
        if then == now:
            return [recorded]
        moved = os.path.normpath(os.path.join(now, os.path.relpath(recorded, then)))
        return [recorded, moved]
    here = os.path.join(os.path.dirname(os.path.abspath(artifact)), recorded)
    return [recorded] if os.path.abspath(here) == os.path.abspath(recorded) else [recorded, here]
