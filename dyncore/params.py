"""Keyword parameters: merged over declared defaults, unknown names refused with suggestions."""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from typing import Any

from dyncore.errors import ConfigError, UnknownNameError

#: Largest seed: torch's generators take 64-bit seeds, and one seed serves numpy and torch alike.
MAX_SEED = 2**63 - 1


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


def check_like_defaults(owner: str, kind: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """Refuse a value whose type cannot be what its default is: bad input, not something to coerce.

    A parameter whose default is a number must be given a finite real number (not ``true``, a string,
    a list, ``null``, NaN or Inf); one whose default is a boolean must be given a boolean. Other
    defaults (lists, strings, ``None``) are left to the owner to check.
    """
    for name, value in given.items():
        default = defaults.get(name)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{kind} {name!r} of {owner} must be true or false, got {value!r}")
        elif isinstance(default, numbers.Real):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"{kind} {name!r} of {owner} must be a number such as {default!r}, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"{kind} {name!r} of {owner} must be a finite number, got {value!r}")


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


def resolve_device(name: Any) -> Any:
    """``torch.device`` for ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; anything else is a one-line ConfigError."""
    import torch

    try:
        device = torch.device(str(name))
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} is not supported; use cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available here; use --device cpu")
    return device


#: The words an on/off environment variable (DYNCORE_DEBUG, DYNCORE_STRICT_PLUGINS) accepts, any case.
FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "": False, "0": False, "false": False, "no": False, "off": False}


def env_flag(name: str) -> bool:
    """Read an on/off environment variable; a value that is neither (``0x0``, ``maybe``) is a ConfigError."""
    text = os.environ.get(name, "")
    try:
        return FLAG_WORDS[text.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name}={text!r} is neither on nor off; set it to 1 (or true/yes/on) or 0 (or false/no/off)") from None
