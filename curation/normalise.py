"""Per-source min-max normalisation to [0, 1] (paper §3.1, Eq. 1) and level assignment.

``y_i = (x_i - min(x)) / (max(x) - min(x))`` where ``x`` is the set of *filtered* scores of one source
(compute it after the face filter, not over the raw import). A source whose filtered scores are all
equal has no scale: by default that raises :class:`DegenerateSourceError`; pass
``on_degenerate="midpoint"`` to map every score of such a source to 0.5 instead.
Pure module: no Django.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from annotation.standards.humanbeauty import level_for

__all__ = [
    "DegenerateSourceError",
    "NormalisedScore",
    "SourceRange",
    "apply_ranges",
    "levels_for",
    "minmax_by_source",
    "normalise_rows",
    "source_ranges",
]


class _Scored(Protocol):
    source: str
    raw_score: float


class DegenerateSourceError(ValueError):
    """A source's filtered scores have min == max, so min-max is undefined."""


@dataclass(frozen=True)
class SourceRange:
    source: str
    min: float
    max: float
    n: int

    @property
    def degenerate(self) -> bool:
        return self.max == self.min

    def to_dict(self) -> dict:
        return {"source": self.source, "min": self.min, "max": self.max, "n": self.n}


@dataclass(frozen=True)
class NormalisedScore:
    source: str
    raw_score: float
    score: float  # in [0, 1]
    level: str


def _pairs(rows: Iterable) -> list[tuple[str, float]]:
    out = []
    for r in rows:
        if isinstance(r, tuple):
            src, raw = r
        else:
            src, raw = r.source, r.raw_score
        raw = float(raw)
        if not math.isfinite(raw):
            raise ValueError(f"non-finite score {raw!r} for source {src!r}")
        out.append((str(src), raw))
    return out


def source_ranges(rows: Iterable[_Scored] | Iterable[tuple[str, float]]) -> dict[str, SourceRange]:
    """min / max / count of the raw scores per source (rows: objects with ``.source``/``.raw_score`` or
    ``(source, raw_score)`` tuples)."""
    acc: dict[str, list[float]] = {}
    for src, raw in _pairs(rows):
        a = acc.setdefault(src, [raw, raw, 0])
        a[0] = min(a[0], raw)
        a[1] = max(a[1], raw)
        a[2] += 1
    return {s: SourceRange(s, a[0], a[1], int(a[2])) for s, a in sorted(acc.items())}


def apply_ranges(
    rows: Iterable[_Scored] | Iterable[tuple[str, float]],
    ranges: Mapping[str, SourceRange],
    *,
    on_degenerate: Literal["error", "midpoint"] = "error",
    clip: bool = True,
) -> list[float]:
    """Normalise with given (e.g. frozen, from a previous release) ranges; values outside a frozen range
    are clipped to [0, 1] when ``clip``."""
    out = []
    for src, raw in _pairs(rows):
        if src not in ranges:
            raise KeyError(f"no range for source {src!r}")
        r = ranges[src]
        if r.degenerate:
            if on_degenerate == "midpoint":
                out.append(0.5)
                continue
            raise DegenerateSourceError(
                f"source {src!r}: all {r.n} filtered scores equal {r.min}; min-max is undefined "
                "(drop the source or use on_degenerate='midpoint')"
            )
        y = (raw - r.min) / (r.max - r.min)
        if clip:
            y = min(1.0, max(0.0, y))
        out.append(y)
    return out


def minmax_by_source(
    rows: Sequence[_Scored] | Sequence[tuple[str, float]],
    *,
    on_degenerate: Literal["error", "midpoint"] = "error",
) -> list[float]:
    """Eq. 1 per source over the given (filtered) rows; returns scores in [0, 1] in input order."""
    rows = list(rows)
    return apply_ranges(rows, source_ranges(rows), on_degenerate=on_degenerate)


def levels_for(scores: Iterable[float]) -> list[str]:
    """Rating level (``annotation.standards.humanbeauty.level_for``) of each normalised score."""
    return [level_for(s) for s in scores]


def normalise_rows(
    rows: Sequence[_Scored] | Sequence[tuple[str, float]],
    *,
    on_degenerate: Literal["error", "midpoint"] = "error",
) -> list[NormalisedScore]:
    """``minmax_by_source`` plus the level, one :class:`NormalisedScore` per input row."""
    pairs = _pairs(rows)
    scores = minmax_by_source(pairs, on_degenerate=on_degenerate)
    return [NormalisedScore(s, raw, y, level_for(y)) for (s, raw), y in zip(pairs, scores, strict=True)]
