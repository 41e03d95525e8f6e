"""HDF5 artifacts: the kinds, their schema, provenance, strict reading and atomic writing.

Every file a stage writes is one *artifact*: an HDF5 file whose root attrs say what it is
(``kind``, ``schema_version``), who made it (``producer``, ``config``, ``created_at``,
``versions``) and from what (``parents``: path, kind and sha256 of each input artifact).

- ``schema``: the kinds (:data:`KINDS`), their datasets, dtypes and shapes; the single source
  of ``docs/artifacts.md`` (``python -m genreward_cli.store.docs``; a test keeps the two equal).
- ``files``: :func:`open_artifact` checks kind, version, required datasets, dtypes, shapes and
  finiteness, and fails with one line naming the file, the dataset and what was expected; any
  later read of a damaged dataset fails the same way (:class:`ReadFile`).
  :func:`write_artifact` writes ``NAME.tmp``, checks it against the schema, flushes and
  renames, so an interrupted stage leaves nothing that looks finished; it refuses to overwrite
  an existing file unless ``force``, and ``NAME.tmp`` is locked while written, so a second
  writer of the same file is refused instead of destroying the first one's work.
  :func:`replacing` is the same atomic write for files that are not artifacts (checkpoints,
  JSON, model directories).
- ``provenance``: paths are recorded absolute (:func:`record_path`); relative ones in older
  files are found against the reader's directory, then the artifact's own
  (:func:`resolve_recorded`).

Nothing here depends on click: the CLI tells the store its command line through
``provenance.COMMAND_ARGS``.
"""

from genreward_cli.store.files import (
    Artifact, MissingInArtifact, ReadFile, array_dataset, brief_error, check_distinct_outputs,
    check_folder_output, folder_lock, check_not_input, check_output,
    check_writable, first_repeat, frames_dataset, has_hdf5_signature, is_locked, kind_of,
    load_weights, lock_tmp,
    open_artifact, output_lock,
    read_checkpoint, read_error, read_weights, replacing, replacing_dir, replacing_side_output,
    save_figure,
    stored_config, text, validate, make_folders, missing_folders, remove_folders,
    write_artifact, write_weights,
)
from genreward_cli.store.provenance import (
    command_line, environment_versions, record_path, recorded_candidates, resolve_recorded,
    sha256_file,
)
from genreward_cli.store.schema import (
    COMPRESSION, KINDS, SCHEMA_VERSION, Dataset, Kind, VersionMismatchWarning,
)


def markdown() -> str:
    """``docs/artifacts.md`` (:func:`genreward_cli.store.docs.markdown`), imported when
    called: ``python -m genreward_cli.store.docs`` then runs a module not yet imported by the
    package (runpy's RuntimeWarning otherwise)."""
    from genreward_cli.store.docs import markdown as generate

    return generate()


__all__ = [
    "Artifact", "MissingInArtifact", "ReadFile", "load_weights", "stored_config",
    "array_dataset", "brief_error", "check_distinct_outputs", "check_folder_output", "folder_lock",
    "check_not_input", "check_output", "check_writable", "first_repeat",
    "frames_dataset", "has_hdf5_signature", "is_locked", "kind_of", "lock_tmp", "open_artifact",
    "output_lock",
    "read_error",
    "read_checkpoint", "read_weights", "replacing", "replacing_dir", "replacing_side_output",
    "save_figure",
    "validate", "write_artifact", "write_weights", "make_folders", "missing_folders",
    "remove_folders",
    "text", "command_line",
    "environment_versions", "record_path", "recorded_candidates", "resolve_recorded",
    "sha256_file", "COMPRESSION", "KINDS", "SCHEMA_VERSION", "Dataset", "Kind",
    "VersionMismatchWarning", "markdown",
]
