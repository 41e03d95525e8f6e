"""Model files, whichever library reads them: built-in presets materialised once in the cache
directory, JSON configs read from a local directory or the local hub cache, and quiet loading
(no progress bars or info logs from diffusers and transformers).

Video models (``video.model``), the goal encoders (``goal``) and the reward models
(``rewards``) all load their weights through these, so none of them imports another's loader.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Callable


def cache_dir() -> Path:
    """Where built-in presets are materialised: ``$GENREWARD_CACHE``, default (also when it is
    set but empty) ``~/.cache/genreward``."""
    value = os.environ.get("GENREWARD_CACHE", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "genreward"


def cached_preset(name: str, marker: str, write: Callable[[Path], object]) -> Path:
    """``cache_dir()/name``, written once by ``write(tmp_dir)`` and renamed into place;
    ``marker`` is the file whose presence means the preset is complete.

    The temporary folder is named after this process (``NAME.tmp<pid>``), so processes that
    build the same preset at once never write into each other's folder; the first rename wins
    and the others discard their copy. An error, Ctrl-C or SIGTERM in ``write`` leaves no
    half-built preset behind.

    Raises:
        BadInput: the cache folder cannot be made or written (GENREWARD_CACHE names a file,
            a read-only or missing mount), before anything is built.
    """
    path = cache_dir() / name
    if not (path / marker).exists():
        _check_cache(path.parent)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            tmp.rename(path)
        except OSError:  # another process built it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _check_cache(folder: Path) -> None:
    """Raise BadInput unless ``folder`` (the cache) exists or can be made, and takes a new
    entry (tried, and removed at once)."""
    import tempfile

    from genreward_cli.errors import BadInput

    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".probe", dir=folder))
    except OSError as e:
        raise BadInput(f"the model cache {folder} cannot be written ({e.strerror or e}): set "
                       "GENREWARD_CACHE to a writable folder (default ~/.cache/genreward)"
                       ) from None


_hub_checked: list[bool] = []  # hub_access() ran in this process


def _resolves(host: str, timeout: float = 2.0) -> bool | None:
    """Whether ``host`` has an address: True, False, or None when the resolver has not
    answered within ``timeout`` seconds (asked on a daemon thread, so never waited on longer)."""
    import socket
    import threading

    answer: list[bool] = []

    def ask():
        try:
            socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout)
    return answer[0] if answer else None


def hub_access() -> None:
    """Prepare this process for loading from the Hugging Face hub (once per process).

    huggingface_hub's retry warnings go unprinted (a load that fails is one line of ours).
    When the hub's host does not resolve (a node without network), the hub is used as with
    ``HF_HUB_OFFLINE=1``: models come from the local hub cache, and one that is not there is
    an error at once. Without this each file was requested six times with waits between
    (about 50 s and 44 lines of warnings before the error). A host that resolves, or a
    resolver that does not answer within 2 s, changes nothing. diffusers, transformers,
    open_clip and timm all download through huggingface_hub, which reads the setting when it
    is called (huggingface_hub ``constants.is_offline_mode``)."""
    if _hub_checked:
        return
    _hub_checked.append(True)
    from urllib.parse import urlparse

    import huggingface_hub
    from huggingface_hub import constants

    huggingface_hub.utils.logging.set_verbosity_error()
    if constants.HF_HUB_OFFLINE:
        return
    host = urlparse(constants.ENDPOINT).hostname
    if host and _resolves(host) is False:
        constants.HF_HUB_OFFLINE = True


def _no_fetch_error(record: logging.LogRecord) -> bool:
    """A logging filter: False for diffusers' "An error occurred while trying to fetch"."""
    return not str(record.msg).startswith("An error occurred while trying to fetch")


def quiet_libraries() -> None:
    """No progress bars or info logs from diffusers/transformers; ours go to stderr. Loads
    from the hub as :func:`hub_access` says."""
    import diffusers
    import transformers

    hub_access()

    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    # a missing weights file is logged at error level before the OSError we report in one
    # line (``ModelMixin.from_pretrained``): the log would be a second, longer line
    logging.getLogger("diffusers.models.modeling_utils").addFilter(_no_fetch_error)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def read_config(source: str, filename: str, subfolder: str | None = None) -> dict:
    """A JSON config of a model directory or of a hub id (from the local hub cache when
    offline), read without loading anything else. Raises OSError or ValueError."""
    path = Path(source)
    if path.is_dir():
        file = path / (subfolder or "") / filename
        if not file.is_file():
            raise OSError(f"no {file.relative_to(path)} in {source}")
    else:
        from huggingface_hub import hf_hub_download

        hub_access()
        file = hf_hub_download(source, filename, subfolder=subfolder)
    with open(file) as f:
        return json.load(f)


# the files save_pretrained writes for a model, a scheduler or a T5 tokenizer (weights whole,
# sharded or indexed), and nothing a user would keep beside them
MODEL_FILE = re.compile(
    r"(config|scheduler_config|generation_config|preprocessor_config|tokenizer_config"
    r"|special_tokens_map|added_tokens|tokenizer)\.json|spiece\.model"
    r"|(model|diffusion_pytorch_model|pytorch_model)(-\d+-of-\d+)?\.(safetensors|bin)"
    r"|(model|diffusion_pytorch_model|pytorch_model)\.(safetensors|bin)\.index\.json")


def is_model_files(folder: Path) -> bool:
    """Whether ``folder`` holds only files that save_pretrained writes (``MODEL_FILE``), and
    at least one: a model's, a scheduler's or a tokenizer's folder, nothing of a user's."""
    entries = list(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []
    return bool(entries) and all(e.is_file() and not e.is_symlink()
                                 and MODEL_FILE.fullmatch(e.name) for e in entries)


def _json_object(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def saved_model_entries(path: str | os.PathLike) -> set[str] | None:
    """The top-level entries of the folder ``path`` that a saved model is made of, when it
    holds one, else None: for a diffusers pipeline (``model_index.json`` naming its
    ``_class_name``), the index and those component folders it lists that hold only model
    files (``is_model_files``); for one diffusers or transformers model (``config.json``
    with ``_diffusers_version``, ``model_type`` or ``architectures``), its top-level model
    files (``MODEL_FILE``).

    Used so that ``--force`` replaces a model folder and nothing else: a folder is a model
    only when every entry is one of these, down to the files in its component folders."""
    path = Path(path)
    index = _json_object(path / "model_index.json")
    if index is not None and index.get("_class_name"):
        return {"model_index.json"} | {k for k in index if not k.startswith("_")
                                       and is_model_files(path / k)}
    config = _json_object(path / "config.json")
    if config is not None and any(k in config for k in ("_diffusers_version", "model_type",
                                                         "architectures")):
        return {e.name for e in path.iterdir()
                if e.is_file() and not e.is_symlink() and MODEL_FILE.fullmatch(e.name)}
    return None


def foreign_entries(path: str | os.PathLike, extra: Callable[[Path], bool] = lambda e: False,
                    ) -> list[str]:
    """The names, sorted, of the entries of the folder ``path`` that belong to no saved model
    (:func:`saved_model_entries`) and fail ``extra`` (a command's own files beside it): what
    keeps ``--force`` from replacing the folder, for its message."""
    path = Path(path)
    model = saved_model_entries(path) or set()
    return sorted(e.name for e in path.iterdir() if e.name not in model and not extra(e))


def holds_only_model(path: str | os.PathLike, extra: Callable[[Path], bool] = lambda e: False,
                     ) -> bool:
    """Whether the folder ``path`` is not empty and every entry belongs to a saved model
    (:func:`saved_model_entries`) or passes ``extra`` (a command's own files beside it)."""
    return any(Path(path).iterdir()) and not foreign_entries(path, extra)
