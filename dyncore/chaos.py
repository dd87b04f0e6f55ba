"""The ChaosTest interface and its result: is a time series chaotic or regular?"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dyncore.params import merge_params


@dataclass
class ChaosResult:
    """Outcome of a chaos test.

    Args:
        test: the test's registered name.
        statistic: the number the verdict comes from (K for the 0-1 test, lambda_1 for Lyapunov).
        verdict: ``"chaotic"``, ``"regular"`` or ``"inconclusive"``.
        details: test-specific arrays and numbers (e.g. ``p``, ``q``, ``c``, ``K_c``); JSON-able
            after :meth:`as_dict`.
        warnings: problems met on the way (e.g. oversampling), one line each.
    """

    test: str
    statistic: float
    verdict: str
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            return v.tolist() if hasattr(v, "tolist") else v

        return {
            "test": self.test,
            "statistic": float(self.statistic),
            "verdict": self.verdict,
            "warnings": list(self.warnings),
            "details": {k: plain(v) for k, v in self.details.items()},
        }


class ChaosTest(ABC):
    """A test that classifies a series as chaotic or regular. Options are checked keyword arguments."""

    name: ClassVar[str] = ""
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = merge_params(f"chaos test {self.name!r}", "option", self.default_options, options)

    @abstractmethod
    def run(self, series: Any, dt: float | None = None) -> ChaosResult:
        """Test ``series``.

        Args:
            series: observations, shape ``(N,)`` (one observable) or ``(N, dim)``; numpy or torch.
            dt: sampling interval, when the test needs one (e.g. to report rates per unit time).
        Returns:
            A :class:`ChaosResult`.
        Raises:
            DataError: the series is too short (the message says how long it must be), constant, or not finite.
        """

    def plot(self, result: ChaosResult, ax: Any) -> Any:
        """Draw ``result`` on a matplotlib ``ax`` (e.g. the p-q path); returns ``ax``."""
        ax.set_title(f"{self.name}: {result.statistic:.3f} ({result.verdict})")
        return ax
