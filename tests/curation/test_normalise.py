"""Per-source min-max (Eq. 1) and levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.importers import SourceRow
from curation.normalise import (
    DegenerateSourceError,
    apply_ranges,
    levels_for,
    minmax_by_source,
    normalise_rows,
    source_ranges,
)


def test_minmax_per_source_in_order():
    rows = [("a", 1.0), ("b", 10.0), ("a", 5.0), ("b", 0.0), ("a", 3.0)]
    assert minmax_by_source(rows) == [0.0, 1.0, 1.0, 0.0, 0.5]


def test_accepts_source_rows():
    rows = [SourceRow(Path("/x"), s, "scut", str(i), {}) for i, s in enumerate([1.0, 2.0, 5.0])]
    out = normalise_rows(rows)
    assert [n.score for n in out] == [0.0, 0.25, 1.0]
    assert [n.level for n in out] == ["bad", "poor", "excellent"]
    assert levels_for([0.2, 0.39999, 0.8]) == ["poor", "poor", "excellent"]


def test_degenerate_source():
    rows = [("a", 1.0), ("a", 1.0), ("b", 0.0), ("b", 2.0)]
    with pytest.raises(DegenerateSourceError, match="'a'"):
        minmax_by_source(rows)
    assert minmax_by_source(rows, on_degenerate="midpoint") == [0.5, 0.5, 0.0, 1.0]


def test_frozen_ranges_clip_and_nonfinite():
    r = source_ranges([("a", 2.0), ("a", 4.0)])
    assert r["a"].n == 2 and (r["a"].min, r["a"].max) == (2.0, 4.0)
    assert apply_ranges([("a", 5.0), ("a", 3.0)], r) == [1.0, 0.5]
    assert apply_ranges([("a", 5.0)], r, clip=False) == [1.5]
    with pytest.raises(KeyError):
        apply_ranges([("z", 1.0)], r)
    with pytest.raises(ValueError):
        minmax_by_source([("a", float("nan"))])
