"""One source of defaults: documented dataclass fields that become CLI options.

Every hyperparameter is declared once, with its default and its help text, as a field of a
frozen dataclass::

    size: int = option(64, "Image height and width in pixels.")

``click_options(Cls)`` turns the fields into click options (``--size``), and
``build(Cls, values)`` checks the values strictly: an unknown key or a wrong type is an error,
never a warning. The resolved dataclass is saved with every artifact (``asdict``).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import click

from genreward_cli.errors import BadInput


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None, minimum=None):
    """Declare a config field with its default, help text and optional checks."""
    meta = {"help": help, "choices": choices, "minimum": minimum}
    return dataclasses.field(default=default, metadata=meta)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def click_options(cls, *, exclude: tuple[str, ...] = ()):
    """A decorator adding one click option per field of ``cls`` (help and default shown)."""
    hints = typing.get_type_hints(cls)

    def decorate(fn):
        for f in reversed(dataclasses.fields(cls)):
            if f.name in exclude:
                continue
            meta = f.metadata
            kind = hints[f.name]
            click_type = click.Choice(meta["choices"]) if meta.get("choices") else kind
            fn = click.option(
                _flag(f.name),
                f.name,
                type=click_type,
                default=f.default,
                show_default=True,
                help=meta.get("help", ""),
            )(fn)
        return fn

    return decorate


def build(cls, values: dict[str, Any], name=_flag):
    """Build ``cls`` from ``values``, strictly: unknown keys, wrong types, bad choices fail.
    ``name`` spells a field in the error messages (its command-line flag by default)."""
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise BadInput(f"unknown {cls.__name__} option(s): {', '.join(unknown)}")
    for key, value in values.items():
        kind = hints[key]
        meta = names[key].metadata
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise BadInput(
                f"{name(key)}: expected {kind.__name__}, got {type(value).__name__} {value!r}"
            )
        if meta.get("choices") and value not in meta["choices"]:
            raise BadInput(f"{name(key)}: {value!r} is not one of {', '.join(meta['choices'])}")
        if meta.get("minimum") is not None and value < meta["minimum"]:
            raise BadInput(f"{name(key)}: must be at least {meta['minimum']}, got {value}")
    return cls(**values)


def pick(cls, params: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` (e.g. click's) that are fields of ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in params.items() if k in names}


def to_json(*configs, **extra) -> str:
    """JSON of several resolved configs merged with extra keys (saved as the `config` attr)."""
    merged: dict[str, Any] = {}
    for c in configs:
        merged.update(dataclasses.asdict(c))
    merged.update(extra)
    return json.dumps(merged, sort_keys=True)
