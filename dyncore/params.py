"""Keyword parameters: merged over declared defaults, unknown names refused with suggestions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dyncore.errors import ConfigError, UnknownNameError


def merge_params(owner: str, kind: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``{**defaults, **given}``; a name not in ``defaults`` raises :class:`UnknownNameError`.

    Args:
        owner: what the parameters belong to, e.g. ``"system 'lorenz'"`` (used in the message).
        kind: ``"parameter"``, ``"option"`` or ``"hyperparameter"``.
    """
    for name in given:
        if name not in defaults:
            raise UnknownNameError(kind, name, defaults, f"for {owner}")
    return {**defaults, **given}


def parse_value(text: str) -> Any:
    """Parse a CLI value: JSON (numbers, lists, true/false/null) when it parses, else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def parse_assignments(items: Iterable[str], what: str = "--param") -> dict[str, Any]:
    """Turn ``["k=v", ...]`` into a dict, parsing each value with :func:`parse_value`."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {item!r} is not of the form key=value")
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_vector(text: str, what: str = "--x0") -> list[float]:
    """Parse ``"a,b,c"`` into floats; a malformed entry is a :class:`ConfigError`."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} {text!r} must be comma-separated numbers, e.g. 1,0,0") from None
    if not values:
        raise ConfigError(f"{what} is empty; give comma-separated numbers, e.g. 1,0,0")
    return values
