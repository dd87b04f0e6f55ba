"""Parameter merging and CLI value parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyncore.errors import ConfigError, UnknownNameError
from dyncore.params import merge_params, parse_assignments, parse_value, parse_vector


def test_merge_keeps_defaults_and_refuses_unknown_names():
    assert merge_params("system 'x'", "parameter", {"a": 1, "b": 2}, {"b": 3}) == {"a": 1, "b": 3}
    with pytest.raises(UnknownNameError, match="unknown parameter 'sigm'; did you mean 'sigma'.*system 'lorenz'"):
        merge_params("system 'lorenz'", "parameter", {"sigma": 10.0, "rho": 28.0}, {"sigm": 1})


def test_parse_assignments():
    assert parse_assignments(["mu=10", "W=[[0,1],[1,0]]", "name=relu", "flag=true"]) == {
        "mu": 10,
        "W": [[0, 1], [1, 0]],
        "name": "relu",
        "flag": True,
    }
    for bad in ("novalue", "=3"):
        with pytest.raises(ConfigError, match="key=value"):
            parse_assignments([bad])


def test_parse_vector():
    assert parse_vector("1, 2.5,-3") == [1.0, 2.5, -3.0]
    for bad in ("", "1,a", ","):
        with pytest.raises(ConfigError):
            parse_vector(bad)


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans()))
def test_parse_value_round_trips_numbers_and_booleans(value):
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    assert parse_value(text) == value


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.integers(), max_size=5))
def test_parse_assignments_round_trips(mapping):
    assert parse_assignments([f"{k}={v}" for k, v in mapping.items()]) == mapping


@given(st.text(max_size=20))
def test_parse_assignments_never_crashes(text):
    try:
        parse_assignments([text])
    except ConfigError:
        pass
