"""Settings of the scoring app with their defaults (override in Django settings or the environment)."""

from __future__ import annotations

from django.conf import settings


def lease_ttl_s() -> int:
    """Lease lifetime: ≈3× the median time to rate one image; the page heartbeats."""
    return int(getattr(settings, "HB_SCORING_LEASE_TTL_S", 300))


def candidate_pool_size() -> int:
    """Random choice among the top-N eligible items (Label Studio breadth-first uses 50)."""
    return int(getattr(settings, "HB_SCORING_CANDIDATES", 50))


def min_short_side_px() -> int:
    return int(getattr(settings, "HB_COLLECTION_MIN_SHORT_SIDE", 256))


def near_duplicate_max_distance() -> int:
    """pHash Hamming distance at or below which two images count as near-duplicates."""
    return int(getattr(settings, "HB_COLLECTION_PHASH_MAX_DISTANCE", 6))


def dominance_ratio() -> float:
    return float(getattr(settings, "HB_COLLECTION_DOMINANCE_RATIO", 2.0))


def head_only_max_area_fraction() -> float:
    return float(getattr(settings, "HB_COLLECTION_HEAD_ONLY_MAX_AREA", 0.25))


def review_undo_window_s() -> int:
    """How long after a review decision it can still be undone (when nothing depends on it yet)."""
    return int(getattr(settings, "HB_REVIEW_UNDO_WINDOW_S", 600))
