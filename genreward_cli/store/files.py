"""Reading artifacts strictly and writing them atomically."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import posixpath
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import h5py
import numpy as np

from genreward_cli import __version__
from genreward_cli.errors import BadInput
from genreward_cli.store.provenance import (COMPARED_VERSIONS, command_line,
                                            environment_versions, resolve_recorded, sha256_file)
from genreward_cli.store.schema import (COMPRESSION, KINDS, SCHEMA_VERSION, Attr, Dataset, Kind,
                                        VersionMismatchWarning)

def write_weights(h5: h5py.Group, prefix: str, state_dict: dict) -> None:
    """One dataset per state_dict entry under ``prefix/`` (keys hold no '/')."""
    for name, value in state_dict.items():
        h5.create_dataset(f"{prefix}/{name}", data=value.detach().cpu().numpy())


def read_weights(group: h5py.Group) -> dict:
    """The state_dict written by :func:`write_weights`, as torch tensors."""
    import torch

    return {name: torch.from_numpy(ds[()]) for name, ds in group.items()}


def load_weights(module, group: h5py.Group) -> None:
    """Load the state_dict that :func:`write_weights` stored under ``group`` (of an open
    artifact) into the torch module ``module``.

    Raises:
        BadInput: naming the file and the weight, when a floating-point weight holds NaN or
            inf, or when the stored names or shapes do not fit ``module`` (a damaged or
            hand-edited file).
    """
    import torch

    state = read_weights(group)
    for name, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise BadInput(f"{group.file.filename}: weight "
                           f"'{_display_name(group.name)}/{name}' holds NaN or inf")
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:] if line.strip())
        raise BadInput(f"{group.file.filename}: the weights in '{_display_name(group.name)}' do "
                       f"not fit a {type(module).__name__}: {detail or e}") from None


def stored_config(art: "Artifact", attr: str, cls):
    """The dataclass ``cls`` rebuilt from the JSON attribute ``attr`` of the open artifact
    ``art`` (as a stage wrote it), checked as command-line values are
    (:func:`genreward_cli.config.build`: unknown keys, wrong types, bad choices).

    Raises:
        BadInput: naming the file and the attribute, when it is missing, not JSON, not an
            object, or holds a value ``cls`` refuses.
    """
    from genreward_cli.config import build

    values = art.attrs.json(attr)
    if not isinstance(values, dict):
        raise BadInput(f"{art.path}: attribute '{attr}' is not a JSON object: {values!r}")
    try:
        return build(cls, values, name=str)
    except BadInput as e:
        raise BadInput(f"{art.path}: attribute '{attr}': {e}") from None


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


class MissingInArtifact(BadInput, KeyError):
    """A name that an opened artifact lacks: an attribute, or a group or dataset below its
    root. A BadInput (one line naming the file and the name, exit code 2) and a KeyError, so
    that ``attrs.get(name, default)`` and ``try: ... except KeyError`` still find nothing."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return str(self.args[0])


class ReadAttributes(h5py.AttributeManager):
    """The attributes of an opened artifact's object: reading a missing one raises
    :class:`MissingInArtifact` naming the file, the object and the attribute."""

    def __init__(self, parent):
        super().__init__(parent)
        self._where = (parent.file.filename, parent.name)

    def __getitem__(self, name):
        try:
            return super().__getitem__(name)
        except KeyError:
            filename, obj = self._where
            raise MissingInArtifact(f"{filename}: missing attribute '{name}' on "
                                    f"'{_display_name(obj)}'") from None

    def parsed(self, name: str, parse, problem: str | None = None) -> Any:
        """``parse(text)`` of attribute ``name`` (e.g. a config class's ``from_json``).
        Raises MissingInArtifact, or BadInput naming the file, the attribute and
        ``problem`` (default: the error's kind) when ``parse`` fails with a TypeError,
        ValueError or KeyError."""
        value = text(self[name])
        try:
            return parse(value)
        except (TypeError, ValueError, KeyError) as e:
            filename, obj = self._where
            problem = problem or f"cannot be read: {type(e).__name__}"
            raise BadInput(f"{filename}: attribute '{name}' on '{_display_name(obj)}' "
                           f"{problem}: {e}") from None

    def json(self, name: str, default: Any = None) -> Any:
        """Attribute ``name`` parsed as JSON (``default`` where it is absent and a default is
        given). Raises MissingInArtifact, or BadInput naming the file, the attribute and
        the parse error when it is not JSON."""
        if default is not None and name not in self:
            return default
        return self.parsed(name, json.loads, "is not valid JSON")


def _json_object(parsed) -> dict:
    """``parsed`` (JSON) if it is an object; ValueError for other JSON."""
    if not isinstance(parsed, dict):
        raise ValueError(_json_type(parsed))
    return parsed


def _json_type(value) -> str:
    """What JSON ``value`` is, in JSON's words: 'an array', 'a string', 'null'."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number"}
    return names.get(type(value), "null")


def _parent_list(parsed) -> list[dict[str, str]]:
    """``parsed`` (JSON) if it is a list of parent entries; ValueError for anything else."""
    if not isinstance(parsed, list):
        raise ValueError(_json_type(parsed))
    for entry in parsed:
        if not (isinstance(entry, dict)
                and all(isinstance(entry.get(k), str) for k in ("path", "kind", "sha256"))):
            raise ValueError(f"entry {json.dumps(entry)[:80]}")
    return parsed


class _Reading:
    """``file`` and ``parent`` of a reading-layer object are reading-layer objects too, and
    its ``attrs`` is a :class:`ReadAttributes`."""

    @property
    def file(self):
        return _reading(super().file)

    @property
    def parent(self):
        return _reading(super().parent)

    @property
    def attrs(self):
        return ReadAttributes(self)


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
        except OSError as e:  # a damaged object header
            raise self._object_error(name, e) from None
        except KeyError:  # a missing name: still a KeyError, and a BadInput naming it
            where = name if isinstance(name, str) else "?"
            raise MissingInArtifact(
                f"{self.file.filename}: missing "
                f"'{_display_name(posixpath.join(self.name, where))}'") from None
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
        """The options its stage ran with (attr ``config``, a JSON object).

        Raises:
            BadInput: the attribute is no JSON object (one line naming it)."""
        return self._json_attr("config", _json_object,
                               "is not the JSON object of a stage's options")

    @property
    def parents(self) -> list[dict[str, str]]:
        """The input files it was made from (attr ``parents``): ``{path, kind, sha256}``
        each.

        Raises:
            BadInput: the attribute is not such a JSON list (one line naming it)."""
        return self._json_attr("parents", _parent_list,
                               "is not the JSON list of {path, kind, sha256} entries an "
                               "artifact records")

    @property
    def versions(self) -> dict[str, str]:
        """The package versions it was written with (attr ``versions``; {} without it).

        Raises:
            BadInput: the attribute is no JSON object (one line naming it)."""
        if "versions" not in self.file.attrs:
            return {}
        return self._json_attr("versions", _json_object,
                               "is not the JSON object of package versions")

    def _json_attr(self, name: str, check, problem: str):
        """Root attribute ``name`` as JSON that ``check`` (raising ValueError) accepts.

        Raises:
            BadInput: not JSON ("is not valid JSON"), or JSON that ``check`` refuses
                (``problem``), naming the file and the attribute."""
        self.file.attrs.json(name)
        return self.file.attrs.parsed(name, lambda value: check(json.loads(value)), problem)

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

    def resolve(self, recorded: str | None, what: str | None = None) -> str | None:
        """A path recorded in this artifact (a model, a parent), as usable from here: see
        :func:`resolve_recorded`. With ``what`` (e.g. "its VAE"), an absolute path found
        only at the same place relative to the moved file is said in one warning: a model
        folder has no hash to check that it is the one recorded."""
        found = resolve_recorded(recorded, self.path, self.attrs.get("written_as"))
        if what and found != recorded and recorded and os.path.isabs(recorded):
            warnings.warn(f"{self.path}: {what} {recorded} is gone; using {found}, at the same "
                          "place relative to the moved file")
        return found

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


def _check_dataset(path, h5: h5py.File, spec: Dataset, name: str, bound: dict,
                   bound_in: dict[str, str] | None = None) -> None:
    """Check dataset ``name`` against ``spec``, binding its symbolic dims in ``bound``;
    ``bound_in`` names, per symbol bound before, the group whose dataset bound it (said
    in the error: the group that differs may be the first one)."""
    if name not in h5 or not isinstance(h5[name], h5py.Dataset):
        raise _fail(path, f"missing dataset '{name}' ({spec.doc})")
    ds = h5[name]
    if ds.dtype != np.dtype(spec.dtype):
        raise _fail(path, f"dataset '{name}' has dtype {ds.dtype}, expected {spec.dtype}")
    shape_txt = "[" + ",".join(str(d) for d in spec.shape) + "]"
    if ds.ndim != len(spec.shape):
        raise _fail(path, f"dataset '{name}' has shape {list(ds.shape)}, expected {shape_txt}")
    for axis, (dim, actual) in enumerate(zip(spec.shape, ds.shape)):
        expected = _bind(dim, actual, bound)
        if isinstance(dim, int) and expected is not None:  # a fixed size: say which axis
            raise _fail(path, f"dataset '{name}' has shape {list(ds.shape)}, expected "
                              f"{shape_txt}: axis {axis} is {actual}, not {dim} ({spec.doc})")
        if expected is not None:
            symbol = re.match(r"[A-Za-z]*", str(dim)).group()
            if bound_in and symbol in bound_in:
                expected += f", as in '{bound_in[symbol]}'"
            raise _fail(
                path, f"dataset '{name}' has shape {list(ds.shape)}, expected {shape_txt} with {expected}"
            )
    if spec.finite or spec.bounds:
        data = ds[()]
        if spec.finite and not np.all(np.isfinite(data)):
            raise _fail(path, f"dataset '{name}' contains NaN or inf")
        if spec.bounds and data.size:
            low, high = spec.bounds
            if data.min() < low or data.max() > high:
                raise _fail(path, f"dataset '{name}' has values in [{data.min():g}, "
                                  f"{data.max():g}], expected within [{low:g}, {high:g}]")
    if spec.increasing and len(ds) > 1:
        data = ds[()]
        drops = np.flatnonzero(np.diff(data, axis=0).reshape(len(data) - 1, -1).min(1) < 0)
        if len(drops):
            i = int(drops[0])
            raise _fail(path, f"dataset '{name}' decreases at index {i + 1} ({data[i]} then "
                              f"{data[i + 1]}); it counts env steps and never decreases")


def _attr_problem(value, spec: Attr, h5: h5py.Group, where: str) -> str | None:
    """What is wrong with attribute value ``value`` for ``spec`` (None: nothing)."""
    expected = "expected " + spec.describe()
    if spec.type == "str":
        return None if isinstance(value, (str, bytes)) else expected
    number = (np.integer, int) if spec.type == "int" else (np.integer, np.floating, int, float)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, number):
        return expected
    if np.isnan(value):
        return None if spec.nan else expected
    if not np.isfinite(value) or (spec.minimum is not None and value < spec.minimum) \
            or (spec.maximum is not None and value > spec.maximum):
        return expected
    target = spec.below and (f"{where}/{spec.below}" if where else spec.below)
    if target and target in h5 and value >= len(h5[target]):
        return f"{expected} ({len(h5[target])})"
    return None


def _check_attrs(path, h5: h5py.File, kind: Kind, groups: list[str]) -> None:
    """Check ``kind.checked`` attributes (type, range, presence) in ``h5``, and that a
    group's own ``task`` is the root's where the kind has a root task; raise BadInput
    naming the first problem."""
    root_task = text(h5.attrs["task"]) if kind.task_attr and "task" in h5.attrs else None
    for spec in kind.checked:
        places = ([spec.where.replace("<k>", k) for k in groups] if "<k>" in spec.where
                  else [spec.where])
        for where in places:
            obj = h5[where] if where else h5
            shown = f"'{where}'" if where else "the root"
            if spec.name not in obj.attrs:
                if spec.required:
                    raise _fail(path, f"missing attribute '{spec.name}' on {shown}")
                continue
            value = obj.attrs[spec.name]
            problem = _attr_problem(value, spec, h5, where)
            if problem:
                raise _fail(path, f"attribute '{spec.name}' on {shown} is {text(value)!r}: "
                                  f"{problem}")
            if spec.name == "task" and where and root_task is not None \
                    and text(value) != root_task:
                raise _fail(path, f"'{where}' records task {text(value)!r}, the file's root "
                                  f"task is {root_task!r}")


def validate(path, h5: h5py.File, kind: Kind) -> None:
    """Check every dataset of ``kind`` in ``h5``, and its root ``task`` where the kind has
    one (a known Meta-World task: a reader would fail on it later, or compare it with the
    wrong task); raise BadInput naming the first problem."""
    if kind.task_attr:
        from genreward_cli.envs.tasks import TASKS

        if "task" not in h5.attrs:
            raise _fail(path, "missing root attribute 'task'")
        task = h5.attrs["task"]
        task = task.decode() if isinstance(task, bytes) else str(task)
        if task not in TASKS:
            raise _fail(path, f"root attribute task {task!r} is no Meta-World v3 task")
    if kind.group is None:
        bound: dict[str, int] = {}
        for spec in kind.datasets:
            _check_dataset(path, h5, spec, spec.path, bound)
        _check_attrs(path, h5, kind, [])
        return
    if kind.group not in h5:
        raise _fail(path, f"missing group '{kind.group}'")
    names = sorted(h5[kind.group].keys())
    if len(names) < kind.min_groups:
        raise _fail(path, f"group '{kind.group}' is empty, expected at least {kind.min_groups}")
    across: dict[str, int] = {}
    for k in names:
        bound = {name: across[name] for name in kind.shared if name in across}
        bound_in = {name: f"{kind.group}/{names[0]}" for name in bound}
        for spec in kind.datasets:
            _check_dataset(path, h5, spec, spec.path.replace("<k>", k), bound, bound_in)
        across.update({name: bound[name] for name in kind.shared if name in bound})
    _check_attrs(path, h5, kind, names)


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


def kind_of(path: str | os.PathLike) -> str | None:
    """The artifact kind ``path`` records (its root ``kind`` attribute), unvalidated; None
    where it is no readable HDF5 file or records none. For hints in messages only: a stage
    reads its inputs with :func:`open_artifact`."""
    try:
        with h5py.File(path, "r") as h5:
            found = h5.attrs.get("kind")
    except (OSError, ValueError):
        return None
    return None if found is None else text(found)


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
        if "unable to lock file" in reason:  # HDF5's file lock: another process writes it
            raise BadInput(f"{path}: open for writing in another process (HDF5 file lock); "
                           "wait for it to close the file") from None
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
        found = text(found)
        wanted = (kind,) if isinstance(kind, str) else kind
        if wanted is not None and found not in wanted:
            raise _fail(path, f"artifact kind is '{found}', expected {' or '.join(repr(w) for w in wanted)}")
        if found not in KINDS:
            raise _fail(path, f"unknown artifact kind '{found}' (this genreward knows {', '.join(KINDS)})")
        if "schema_version" not in h5.attrs:
            raise _fail(path, "missing root attribute 'schema_version'")
        version = h5.attrs["schema_version"]
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise _fail(path, f"schema_version {text(version)!r} is not a number") from None
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
        art.config, art.parents, art.versions  # noqa: B018 - their JSON, or BadInput naming it
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


def check_distinct_outputs(**outputs: str | os.PathLike | None) -> None:
    """Refuse two of a command's outputs that name one file (``--out x.mp4 --video x.mp4``:
    the artifact written, then replaced by the video, and the command saying it wrote
    both). Keywords are the options' names without dashes (``out=..., video=...``); ``None``
    entries are skipped; paths compare after links and ``..`` are resolved. Call before any
    other check of the outputs.

    Raises:
        BadInput: ``--A and --B are both PATH: give each its own file``.
    """
    seen: dict[str, str] = {}
    for name, given in outputs.items():
        if given is None:
            continue
        real = os.path.realpath(given)
        if real in seen:
            raise BadInput(f"--{seen[real]} and --{name.replace('_', '-')} are both {given}: "
                           "give each its own file")
        seen[real] = name.replace("_", "-")


def first_repeat(paths: Iterable[str | os.PathLike],
                 key: Callable[[str | os.PathLike], str] = os.path.realpath
                 ) -> tuple[str | os.PathLike, str | os.PathLike] | None:
    """The first input given twice, as ``(earlier, later)`` as they were given, two paths
    being one where ``key`` of them agree (default: links and ``..`` resolved); None when
    every one is distinct. Inputs counted per file (episodes, runs) would count twice."""
    seen: dict[str, str | os.PathLike] = {}
    for path in paths:
        k = key(path)
        if k in seen:
            return seen[k], path
        seen[k] = path
    return None


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


# what genreward writes beside an output adds at most this many bytes to its name:
# ``NAME.tmp`` (a file being written), ``.NAME.lock`` (a folder output's lock)
SIBLING_NAME_EXTRA = len("..lock")


def check_writable(path: str | os.PathLike, shown: str | None = None) -> None:
    """Raise BadInput unless a file ``path`` can be created (its folder made, if missing):
    the nearest existing folder above it must be a folder that takes a new entry, which
    is tried (and removed at once), as permissions alone mislead root and read-only mounts;
    and the name must leave room for the names written beside it (``SIBLING_NAME_EXTRA``
    more bytes) within the file system's limit on a name (255 bytes on most). The message
    starts with ``shown`` (default: ``path``), e.g. the option that names its folder."""
    import tempfile

    path = Path(path)
    shown = shown or str(path)
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"{shown}: cannot be written: {parent} is not a directory")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    size = len(os.fsencode(path.name))
    if size + SIBLING_NAME_EXTRA > name_max:
        raise BadInput(f"{shown}: its name is {size} bytes, too long: the names written beside "
                       f"it while it is made (NAME.tmp, .NAME.lock) must fit this file "
                       f"system's limit of {name_max} bytes; use a name of at most "
                       f"{name_max - SIBLING_NAME_EXTRA} bytes")
    where = (str(parent) if parent == path.absolute().parent else
             f"{parent} (where its folder {path.absolute().parent} would be made)")
    try:
        # the probe's name is short and fixed: the output's own name may be near the limit
        if parent == path.absolute().parent:
            fd, probe = tempfile.mkstemp(prefix=".genreward.", suffix=".probe", dir=parent)
            os.close(fd)
            os.unlink(probe)
        else:  # the folders below it are made when the file is written
            os.rmdir(tempfile.mkdtemp(prefix=".genreward.", suffix=".probe", dir=parent))
    except OSError as e:
        raise BadInput(f"{shown}: cannot be written in {where}: "
                       f"{e.strerror or type(e).__name__}") from None


def _hold_lock(lock: Path, path: Path) -> tuple[int, bool]:
    """Create or open the file ``lock`` and take an exclusive, non-blocking ``flock`` on it
    for writing ``path``: ``(fd, True)``; ``(fd, False)`` on a file system without locks.
    The file locked must still be the one named ``lock``: one that a writer that just
    finished renamed away or removed is let go and the file opened again.

    Raises:
        BadInput: another process holds the lock (it is writing ``path`` now).
        OSError: ``lock`` cannot be created.
    """
    import errno
    import fcntl

    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return fd, False
            os.close(fd)
            raise BadInput(f"{path}: another process is writing it now ({lock.name} is "
                           "locked); wait for it to finish or write elsewhere") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd, True
        os.close(fd)


def lock_tmp(path: str | os.PathLike, force: bool = False) -> tuple[Path, int]:
    """Create or open ``PATH.tmp`` and hold an exclusive lock on it: ``(tmp, fd)``.

    The lock is an ``flock`` on ``fd``: the kernel drops it when the process ends, so the
    stale ``.tmp`` of a killed writer blocks nobody. The file is never truncated or deleted
    here. Raises BadInput (exit code 2) when another process holds the lock (it is writing
    ``PATH`` now), or when ``PATH`` appeared meanwhile and ``force`` is false. The caller
    closes ``fd`` (``os.close``) to release the lock, after renaming or removing ``tmp``.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd, locked = _hold_lock(tmp, path)
    if not locked:
        return tmp, fd  # no locks on this file system: write unguarded, as before
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
    made = make_folders(path.parent)  # removed again if the write fails
    try:
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
            h5.attrs["config"] = (config if isinstance(config, str)
                                  else json.dumps(config, sort_keys=True))
            h5.attrs["created_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(
                timespec="seconds")
            h5.attrs["parents"] = json.dumps(list(parents))
            h5.attrs["versions"] = json.dumps(environment_versions(), sort_keys=True)
            h5.attrs["written_as"] = os.path.realpath(path)
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
    except BaseException:
        remove_folders(made)
        raise


def missing_folders(folder: str | os.PathLike) -> list[Path]:
    """``folder`` and the folders above it that do not exist yet, deepest first: what
    making it makes (for :func:`remove_folders`)."""
    missing, f = [], Path(os.path.abspath(folder))
    while not f.exists() and not f.is_symlink() and f != f.parent:
        missing.append(f)
        f = f.parent
    return missing


def make_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and any missing folder above it; return those it made, deepest
    first (for :func:`remove_folders`)."""
    made = missing_folders(folder)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return made


def remove_folders(made: list[Path]) -> None:
    """Remove the folders :func:`make_folders` made, deepest first, while they are empty: a
    stage that fails or is stopped leaves no empty folder behind its output."""
    for folder in made:
        if not os.path.lexists(folder):  # removed already (with what it held)
            continue
        try:
            folder.rmdir()
        except OSError:  # not empty: another writer's file; left, with the folders above
            return


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


def brief_error(error: BaseException, limit: int = 160) -> str:
    """``Kind: first sentence`` of ``error``, on one line, cut at a word within ``limit``
    characters (torch's zip reader adds lines about its internals)."""
    text = " ".join(str(error).split())
    text = text.split(". ", 1)[0].rstrip(".")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return f"{type(error).__name__}: {text}"


def read_checkpoint(path: str | os.PathLike, hint: str, *, keys: Iterable[str] = (),
                    what: str = "", weights_only: bool = True, mmap: bool = False) -> dict:
    """The dict a stage's checkpoint ``path`` holds (``torch.load`` on the CPU) as
    :func:`replacing` wrote it with ``torch.save``, holding every one of ``keys``. ``what``
    names the checkpoint's kind (``train-fb``) and ``hint`` ends the error line (what the
    user can do instead).

    Raises:
        BadInput: one line naming the file: unreadable, emptied, no zip archive, cut short
            (torch raises a zip reader's RuntimeError or an OSError), or holding something
            other than a checkpoint's dict with ``keys``."""
    import torch

    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise BadInput(f"{path}: cannot read the checkpoint ({e.strerror or e}); {hint}") \
            from None
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        what = "an empty file" if not head else "not a PyTorch checkpoint: no zip archive"
        raise BadInput(f"{path}: a damaged checkpoint ({what}); {hint}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - whatever the bytes are, they are no checkpoint
        # (a file cut short: a zip reader's RuntimeError, or OSError "Invalid argument")
        raise BadInput(f"{path}: a damaged checkpoint (cut short or written over: "
                       f"{brief_error(e)}); {hint}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a checkpoint (a {type(data).__name__}, not the dict a "
                       f"checkpoint holds); {hint}")
    lacking = [k for k in keys if k not in data]
    if lacking:
        raise BadInput(f"{path}: not a {what + ' ' if what else ''}checkpoint (no "
                       f"{', '.join(map(repr, lacking))}); {hint}")
    return data


@contextlib.contextmanager
def replacing_side_output(path: str | os.PathLike) -> Iterator[Path]:
    """Write a side output (a figure, a CSV) as :func:`replacing` does, its folder made
    first (and removed again if the write fails), as an artifact's is: ``--plot figs/score.png`` into a folder that does not exist
    yet is made, not a FileNotFoundError after the work. The yielded ``PATH.tmp`` has no
    image suffix: give matplotlib ``format=`` (as :func:`save_figure` does)."""
    path = Path(path)
    made = make_folders(path.parent)
    try:
        with replacing(path) as tmp:
            yield tmp
    except BaseException:
        remove_folders(made)
        raise


def save_figure(fig, path: str | os.PathLike, **kwargs) -> None:
    """``fig.savefig`` onto ``path`` through :func:`replacing_side_output`, in the format
    named by ``path``'s suffix (png when it has none)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with replacing_side_output(path) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)


def check_folder_output(path: str | os.PathLike, force: bool, made_by: Iterable[str],
                        other: str = "", owns: Callable[[Path], bool] | None = None,
                        foreign: Callable[[Path], list[str]] | None = None) -> Path:
    """For a command whose output is a folder: refuse an existing ``path`` that is a file, a
    folder whose parent takes no new entry (a read-only mount), or a non-empty folder without
    ``force``; with ``force``, refuse a non-empty folder that is not an earlier output of the
    command, finished or not, so that ``--force`` never deletes a folder of the user's own
    (``--out . --force``, ``--out ~/thesis --force``, a project folder that happens to hold a
    ``checkpoints/`` or a ``config.json``). ``owns(path)`` says whether it is one, from what
    the folder holds; without it, holding one of ``made_by`` suffices. ``made_by`` (names of
    files or folders such an output holds) also words the message. ``other`` ends the
    message for a folder that exists without ``force`` (e.g. `` or --resume to continue``).
    ``foreign(path)`` names the entries the command did not write, shown first in the message
    (a ``notes.txt`` among the model's files).

    Returns the folder as an absolute path (use it: ``.`` has no name to write beside).

    Raises:
        BadInput: one line naming the folder and, for a foreign one, a few of its entries.
    """
    path = Path(path)
    if path.is_symlink():  # replaced through PATH.tmp, a link would be emptied or broken
        raise BadInput(f"--out {path}: a symbolic link (to {os.path.realpath(path)}); give the "
                       "folder itself")
    path = Path(os.path.abspath(path))  # `--out .` names the working folder
    if path.exists() and not path.is_dir():
        raise BadInput(f"--out {path}: exists and is not a directory")
    check_writable(path)  # the folder is written beside it (PATH.tmp) or made there
    if not path.is_dir():
        return path
    entries = sorted(e.name for e in path.iterdir())
    if not entries:
        return path
    if not force:
        raise BadInput(f"{path}: already exists; pass --force to overwrite{other}")
    made_by = tuple(made_by)
    if not (owns(path) if owns is not None else set(made_by) & set(entries)):
        theirs = foreign(path) if foreign is not None else []
        listed = theirs or entries
        shown = ", ".join(listed[:3]) + (", ..." if len(listed) > 3 else "")
        holds = (f"this one also holds what it does not write: {shown}" if theirs
                 else f"this one holds {shown}")
        raise BadInput(f"--out {path}: --force replaces only an earlier output of this command "
                       f"(a folder holding {' or '.join(made_by)}); {holds}: "
                       "choose another --out, or empty it yourself")
    return path


def _lock_path(path: Path) -> Path:
    """The lock file of the output ``path`` (resolved): ``.NAME.lock`` beside it."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def output_lock(*paths: str | os.PathLike | None) -> Iterator[None]:
    """Hold, for the block, :func:`_output_lock` on each of ``paths`` (a command's output and
    its side outputs: a figure, a video, a CSV; ``None`` entries skipped, one path given twice
    locked once): two sweep commands with one ``--plot`` are refused as two with one ``--out``
    are, instead of the second silently replacing the first one's figure.

    Raises:
        BadInput: another process holds one of the locks (exit code 2); those taken before
        it are released.
    """
    with contextlib.ExitStack() as stack:
        for path in dict.fromkeys(os.path.realpath(p) for p in paths if p is not None):
            stack.enter_context(_output_lock(path))
        yield


@contextlib.contextmanager
def _output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold, for the block, an exclusive lock on writing the output ``path`` (a folder, or a
    file written at the end of a long command): an ``flock`` on ``.NAME.lock`` beside it,
    removed when the block ends. A second command writing the same output meanwhile (two
    `finetune --out ft` at once, two `train-fb --out fb.h5` whose checkpoints would collide)
    is refused at its start instead of silently replacing the first one's output. The kernel
    drops the lock when a process dies, so a stale lock file blocks nobody. Missing folders
    above ``path`` are made first (a new
    sweep's ``runs/TASK/METHOD/SEED``: without them there was no lock, and two such commands
    both wrote the folder) and removed again when the block leaves them empty. Where the lock
    file cannot be made (a read-only parent: the command's own checks report it) the block
    runs unguarded.

    Raises:
        BadInput: another process holds the lock (exit code 2).
    """
    path = Path(os.path.realpath(path))  # `.`, `..`, a symlink: the folder itself
    if not path.name:  # the root folder: nothing beside it to lock
        yield
        return
    lock = _lock_path(path)
    made: list[Path] = []
    try:
        made = make_folders(path.parent)
        fd, locked = _hold_lock(lock, path)
    except OSError:
        fd, locked = None, False
    except BaseException:  # BadInput: another writer holds the lock
        remove_folders(made)
        raise
    if fd is not None and not locked:  # no locks on this file system: unguarded
        os.close(fd)
        fd = None
    try:
        yield
    finally:
        if fd is not None:
            try:
                lock.unlink()
            except OSError:
                pass
            os.close(fd)
        remove_folders(made)  # those the block left empty (it failed, or wrote elsewhere)


folder_lock = output_lock  # the name the folder-writing commands use


def is_locked(path: str | os.PathLike) -> bool:
    """Whether another process holds :func:`output_lock` on ``path`` now; creates nothing
    (for a dry run, which takes no lock)."""
    import errno
    import fcntl

    lock = _lock_path(Path(os.path.realpath(path)))
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:  # no lock file: nobody writes it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        return e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


@contextlib.contextmanager
def replacing_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Write the directory ``path`` atomically through ``PATH.tmp`` (yielded, created empty;
    a stale one is removed first): when the block ends, an existing ``path`` is removed and
    ``PATH.tmp`` renamed onto it; when the block fails or is interrupted (Ctrl-C, SIGTERM),
    ``PATH.tmp`` is removed, with the folders above it that it made, and ``path`` is left as
    it was. For model directories."""
    import shutil

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    made = missing_folders(path.parent)  # removed again if the block fails
    try:
        tmp.mkdir(parents=True)
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_folders(made)
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
    """A small array dataset, compressed (h5py's automatic chunks; none when empty)."""
    return h5.create_dataset(name, data=data, compression=COMPRESSION if data.size > 0 else None)


def text(value) -> str:
    """An HDF5 string attribute or item as ``str``: bytes (as h5py returns some strings)
    decoded as UTF-8, anything else through ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)
