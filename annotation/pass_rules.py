"""Qualification pass rules as objects (pure: no Django; docs/qualification.md, "Pass rules").

Each rule kind is a small frozen dataclass with one ``threshold``: ``validate()`` lists what is wrong with
it (field-level messages for the API and the admin page, through one serializer:
``annotation/qualification/rule_serializers.py``), ``evaluate(metrics)`` lists the reasons an exam fails
it (empty: passed), and ``description()`` says it in words. ``PASS_RULES`` registers the kinds by name;
the name is also the ``Protocol`` column that stores the threshold, so protocols keep their columns (and
their database bounds, derived from the registry) and clients keep their fields.

``PassRule`` is the set an exam is scored against (``annotation.exam_scoring.score_exam``): every
registered rule must hold. Its reason texts are the ones volunteers have always seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

__all__ = [
    "PASS_RULES",
    "ExamMetrics",
    "MaxAbsBias",
    "MaxMae",
    "MinMeanSrcc",
    "PassRule",
    "RuleBase",
    "rule_for",
]


@dataclass(frozen=True)
class ExamMetrics:
    """What a rule looks at: pooled MAE, the mean over dimensions of SRCC, the signed bias per dimension."""

    mae: float
    mean_srcc: float
    bias_per_dim: Sequence[float]
    dimension_keys: Sequence[str]


@dataclass(frozen=True)
class RuleBase:
    """One pass rule: a threshold within ``bounds`` (inclusive)."""

    threshold: float
    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)
    default: ClassVar[float] = 0.0
    explanation: ClassVar[str] = ""

    def validate(self) -> list[str]:
        """Messages about the threshold (empty: valid)."""
        lo, hi = self.bounds
        value = self.threshold
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{self.label} must be a number."]
        if not math.isfinite(value):
            return [f"{self.label} must be a finite number."]
        if not lo <= value <= hi:
            return [f"{self.label} must be between {lo:g} and {hi:g} (got {value:g}); {self.explanation}"]
        return []

    def evaluate(self, metrics: ExamMetrics) -> list[str]:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def description(self) -> str:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class MaxMae(RuleBase):
    kind: ClassVar[str] = "max_mae"
    label: ClassVar[str] = "Max MAE"
    default: ClassVar[float] = 0.17
    explanation: ClassVar[str] = "it is the largest mean absolute error, on the 0–1 scale, that still passes."

    def evaluate(self, metrics: ExamMetrics) -> list[str]:
        if metrics.mae <= self.threshold:  # NaN fails
            return []
        return [f"mean absolute error {metrics.mae:.3f} is above the limit {self.threshold:.2f}"]

    def description(self) -> str:
        return f"mean absolute error against the experts ≤ {self.threshold:.2f}"


@dataclass(frozen=True)
class MinMeanSrcc(RuleBase):
    kind: ClassVar[str] = "min_mean_srcc"
    label: ClassVar[str] = "Min mean SRCC"
    bounds: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    default: ClassVar[float] = 0.60
    explanation: ClassVar[str] = "a rank correlation lies between −1 and 1."

    def evaluate(self, metrics: ExamMetrics) -> list[str]:
        if metrics.mean_srcc >= self.threshold:
            return []
        return [
            f"mean rank correlation with the experts {metrics.mean_srcc:.2f} "
            f"is below the minimum {self.threshold:.2f}"
        ]

    def description(self) -> str:
        return f"rank correlation (SRCC) with the experts, averaged over dimensions, ≥ {self.threshold:.2f}"


@dataclass(frozen=True)
class MaxAbsBias(RuleBase):
    kind: ClassVar[str] = "max_abs_bias"
    label: ClassVar[str] = "Max |bias| per dimension"
    default: ClassVar[float] = 0.15
    explanation: ClassVar[str] = "it is the largest mean signed error of one dimension, on the 0–1 scale."

    def evaluate(self, metrics: ExamMetrics) -> list[str]:
        reasons = []
        for key, bias in zip(metrics.dimension_keys, metrics.bias_per_dim, strict=True):
            if math.isfinite(bias) and abs(bias) > self.threshold:
                direction = "higher" if bias > 0 else "lower"
                reasons.append(
                    f"{key}: scores are on average {abs(bias):.2f} {direction} than the experts "
                    f"(limit {self.threshold:.2f})"
                )
        return reasons

    def description(self) -> str:
        return f"on every dimension, the mean signed error (bias) is at most ±{self.threshold:.2f}"


PASS_RULES: dict[str, type[RuleBase]] = {cls.kind: cls for cls in (MaxMae, MinMeanSrcc, MaxAbsBias)}


def rule_for(kind: str, threshold: float) -> RuleBase:
    """The rule object of a registered kind (``KeyError`` names the unknown kind)."""
    try:
        cls = PASS_RULES[kind]
    except KeyError:
        raise KeyError(f"unknown pass rule {kind!r}: one of {', '.join(PASS_RULES)}") from None
    return cls(threshold=threshold)


@dataclass(frozen=True)
class PassRule:
    """The rule set of a protocol: pass if every registered rule holds. ``weak_dimension_srcc`` is no pass
    rule: dimensions below it get targeted retraining after a failed exam."""

    max_mae: float = MaxMae.default
    min_mean_srcc: float = MinMeanSrcc.default
    max_abs_bias: float = MaxAbsBias.default
    weak_dimension_srcc: float = 0.3

    def rules(self) -> list[RuleBase]:
        return [rule_for(kind, getattr(self, kind)) for kind in PASS_RULES]

    def validate(self) -> dict[str, list[str]]:
        """Messages per rule kind (empty: every threshold is valid)."""
        return {r.kind: msgs for r in self.rules() if (msgs := r.validate())}

    def evaluate(self, metrics: ExamMetrics) -> list[str]:
        """Every reason the exam fails, in the rules' order (empty: passed)."""
        return [reason for r in self.rules() for reason in r.evaluate(metrics)]

    def descriptions(self) -> list[str]:
        return [r.description() for r in self.rules()]


# Each registered kind is a PassRule field (the rule set's constructor names them).
assert set(PASS_RULES) <= {f.name for f in fields(PassRule)}
