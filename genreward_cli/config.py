"""One source of defaults: documented dataclass fields that become CLI options.

Every hyperparameter is declared once, with its default and its help text, as a field of a
frozen dataclass::

    size: int = option(64, "Image height and width in pixels.")

``click_options(Cls)`` turns the fields into click options (``--size``), and
``build(Cls, values)`` checks the values strictly: an unknown key or a wrong type is an error,
never a warning. A float field is always finite (``nan`` and ``inf`` are refused) and may have
bounds: ``minimum``/``maximum`` (inclusive) or ``above`` (exclusive, e.g. ``above=0`` for a
learning rate); on the command line its option is a ``FiniteFloat`` with those bounds.
``check(obj)`` checks the fields of an instance made without ``build``. The resolved dataclass
is saved with every artifact (``asdict``).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from genreward_cli.errors import BadInput
from genreward_cli.ranges import range_problem


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None, minimum=None,
           maximum=None, above=None):
    """Declare a config field with its default, help text and optional checks: ``minimum`` and
    ``maximum`` are inclusive bounds, ``above`` an exclusive lower bound (not with ``minimum``)."""
    if minimum is not None and above is not None:
        raise ValueError("option(): give minimum or above, not both")
    meta = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum,
            "above": above}
    return dataclasses.field(default=default, metadata=meta)


def _float_type(meta):
    """The click type of a float field (``options.FiniteFloat``): finite, within the field's
    bounds."""
    from genreward_cli.options import FiniteFloat

    if meta.get("above") is not None:
        return FiniteFloat(meta["above"], meta.get("maximum"), min_open=True)
    return FiniteFloat(meta.get("minimum"), meta.get("maximum"))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def click_options(cls, *, exclude: tuple[str, ...] = ()):
    """A decorator adding one click option per field of ``cls`` (help and default shown)."""
    import click

    hints = typing.get_type_hints(cls)

    def decorate(fn):
        for f in reversed(dataclasses.fields(cls)):
            if f.name in exclude:
                continue
            meta = f.metadata
            kind = hints[f.name]
            if meta.get("choices"):
                click_type = click.Choice(meta["choices"])
            elif kind is float:
                click_type = _float_type(meta)
            else:
                click_type = kind
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
        _check_value(name(key), value, hints[key], names[key].metadata)
    return cls(**values)


def check(obj, name=_flag) -> None:
    """Check every field of the dataclass instance ``obj`` as ``build`` checks a value given
    (for configs made directly, e.g. in ``__post_init__``); BadInput names the first bad one."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        _check_value(name(f.name), getattr(obj, f.name), hints[f.name], f.metadata)


def _check_value(label: str, value: Any, kind, meta) -> None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise BadInput(f"{label}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise BadInput(f"{label}: {value!r} is not one of {', '.join(meta['choices'])}")
    if kind is float or kind is int:
        above = meta.get("above")
        low = above if above is not None else meta.get("minimum")
        problem = range_problem(value, low, meta.get("maximum"), min_open=above is not None)
        if problem:
            raise BadInput(f"{label}: {problem}, got {value}")


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
