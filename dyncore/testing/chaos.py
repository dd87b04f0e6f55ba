"""Conformance checks for chaos tests: one behaviour each, run in the order of :data:`CHECKS`.

Each check takes a :class:`~dyncore.ChaosTest` instance built with its default options and raises
``AssertionError`` with a message that says what is wrong.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np

from dyncore.chaos import ChaosResult, ChaosTest
from dyncore.errors import DataError

VERDICTS = ("chaotic", "regular", "inconclusive")


def logistic_series(r: float = 4.0, n: int = 3000, x0: float = 0.4, transient: int = 500) -> np.ndarray:
    """The logistic map x -> r x (1 - x) after ``transient`` iterations, shape ``(n,)`` (chaotic at r = 4)."""
    x = x0
    out = np.empty(n)
    for i in range(transient + n):
        x = r * x * (1.0 - x)
        if i >= transient:
            out[i - transient] = x
    return out


def quasiperiodic_series(n: int = 3000) -> np.ndarray:
    """sin(j) + sin(sqrt(2) j), j = 1..n: regular (quasi-periodic), shape ``(n,)``."""
    j = np.arange(1, n + 1)
    return np.sin(j) + np.sin(np.sqrt(2.0) * j)


def _run_quietly(test: ChaosTest, series: np.ndarray) -> ChaosResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return test.run(series)


def _expect_data_error(test: ChaosTest, series: np.ndarray, what: str) -> DataError:
    try:
        _run_quietly(test, series)
    except DataError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"{test.name}: the DataError for {what} must be one line, got {message!r}"
        return exc
    raise AssertionError(f"{test.name}: {what} must raise dyncore.DataError")


def check_result_is_json_serialisable(test: ChaosTest) -> None:
    """``run`` returns a ChaosResult whose ``as_dict()`` is JSON and whose verdict is a known word."""
    result = _run_quietly(test, logistic_series())
    assert isinstance(result, ChaosResult), f"{test.name}: run() returned {type(result).__name__}, not a ChaosResult"
    assert result.test == test.name, f"{test.name}: result.test is {result.test!r}"
    assert result.verdict in VERDICTS, f"{test.name}: verdict {result.verdict!r} is not one of {VERDICTS}"
    text = json.dumps(result.as_dict())
    assert json.loads(text)["verdict"] == result.verdict


def check_regular_signal(test: ChaosTest) -> None:
    """A quasi-periodic signal, sin(j) + sin(sqrt(2) j), gets the verdict "regular"."""
    result = _run_quietly(test, quasiperiodic_series())
    assert result.verdict == "regular", f"{test.name}: quasi-periodic signal judged {result.verdict!r} (statistic {result.statistic:.4g})"


def check_chaotic_signal(test: ChaosTest) -> None:
    """The logistic map at r = 4 gets "chaotic"; i.i.d. noise is never "regular".

    (The built-in tests call noise chaotic; a test that can tell noise apart may say "inconclusive".)
    """
    result = _run_quietly(test, logistic_series())
    assert result.verdict == "chaotic", f"{test.name}: logistic map r = 4 judged {result.verdict!r} (statistic {result.statistic:.4g})"
    noise = np.random.default_rng(0).standard_normal(3000)
    result = _run_quietly(test, noise)
    assert result.verdict != "regular", f"{test.name}: white noise judged 'regular' (statistic {result.statistic:.4g})"


def check_short_series_raises(test: ChaosTest) -> None:
    """A 10-sample series raises a one-line DataError that says how many samples are needed."""
    exc = _expect_data_error(test, logistic_series(n=10), "a 10-sample series")
    assert re.search(r"at least \d+", str(exc)), f"{test.name}: the message must say the minimum length ('at least N'), got {exc}"


def check_nan_raises(test: ChaosTest) -> None:
    """A series containing NaN raises a one-line DataError."""
    series = logistic_series()
    series[100] = np.nan
    _expect_data_error(test, series, "a series containing NaN")


def check_constant_raises(test: ChaosTest) -> None:
    """A constant series raises a one-line DataError."""
    _expect_data_error(test, np.full(3000, 0.5), "a constant series")


def check_deterministic(test: ChaosTest) -> None:
    """Two runs, and a fresh instance with the same options, give the same statistic and verdict."""
    series = logistic_series(r=3.9)
    first = _run_quietly(test, series)
    again = _run_quietly(test, series)
    fresh = _run_quietly(type(test)(**test.options), series)
    for other in (again, fresh):
        assert other.statistic == first.statistic or (np.isnan(other.statistic) and np.isnan(first.statistic)), (
            f"{test.name}: statistic changed between runs ({first.statistic!r} then {other.statistic!r}); seed every random draw"
        )
        assert other.verdict == first.verdict


def check_plot(test: ChaosTest) -> None:
    """``plot(result, ax)`` draws on a matplotlib axes and returns it."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    result = _run_quietly(test, logistic_series())
    fig, ax = plt.subplots()
    try:
        assert test.plot(result, ax) is ax, f"{test.name}: plot() must return the axes it drew on"
    finally:
        plt.close(fig)


CHECKS = [
    check_result_is_json_serialisable,
    check_regular_signal,
    check_chaotic_signal,
    check_short_series_raises,
    check_nan_raises,
    check_constant_raises,
    check_deterministic,
    check_plot,
]
#: Checks that need a declared capability (none here: every check applies to every component of this kind).
REQUIRES: dict = {}
