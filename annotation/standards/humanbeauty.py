"""The HumanBeauty aesthetic standard as plain constants (no Django, no torch).

Single source of truth for the 12-dimension order (the order of the public
``prepare_data_for_swift.py`` label vector), the five rating levels and the
question/answer templates used for QA pairs and prompts. The database's ``Standard`` rows are seeded
from here by a data migration; everything that needs the order without a database imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STANDARD_KEY = "humanbeauty-v1"


@dataclass(frozen=True)
class DimensionSpec:
    index: int
    key: str
    name: str  # the name used in the public answer templates
    parent: str | None  # key of the parent dimension, None for the root (overall)


DIMENSIONS: tuple[DimensionSpec, ...] = (
    DimensionSpec(0, "facial_brightness", "Facial Brightness", "facial_aesthetic"),
    DimensionSpec(1, "facial_feature_clarity", "Facial Feature Clarity", "facial_aesthetic"),
    DimensionSpec(2, "facial_skin_tone", "Facial Skin Tone", "facial_aesthetic"),
    DimensionSpec(3, "facial_structure", "Facial Structure", "facial_aesthetic"),
    DimensionSpec(4, "facial_contour_clarity", "Facial Contour Clarity", "facial_aesthetic"),
    DimensionSpec(5, "facial_aesthetic", "Facial Aesthetic Score", "overall"),
    DimensionSpec(6, "outfit", "Outfit", "general_appearance"),
    DimensionSpec(7, "body_shape", "Body Shape", "general_appearance"),
    DimensionSpec(8, "looks", "Looks", "general_appearance"),
    DimensionSpec(9, "environment", "Environment", "overall"),
    DimensionSpec(10, "general_appearance", "General Appearance Aesthetic Score", "overall"),
    DimensionSpec(11, "overall", "Comprehensive Aesthetic Score", None),
)
DIMENSION_KEYS: tuple[str, ...] = tuple(d.key for d in DIMENSIONS)
NUM_DIMENSIONS = len(DIMENSIONS)  # 12
OVERALL_INDEX = 11
LEAF_INDICES: tuple[int, ...] = (0, 1, 2, 3, 4, 6, 7, 8, 9)  # the 9 leaves
FACIAL_LEAF_INDICES: tuple[int, ...] = (0, 1, 2, 3, 4)  # -> index 5
APPEARANCE_LEAF_INDICES: tuple[int, ...] = (6, 7, 8)  # -> index 10
FACIAL_INDEX = 5
APPEARANCE_INDEX = 10
ENVIRONMENT_INDEX = 9

# Rating levels, lower bounds inclusive: <0.2 bad, [0.2,0.4) poor, [0.4,0.6) fair, [0.6,0.8) good, >=0.8 excellent.
LEVELS: tuple[str, ...] = ("bad", "poor", "fair", "good", "excellent")  # ascending quality
LEVEL_CUTS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
# Class ids used by the public judge_answer.py: excellent 0, good 1, fair 2, poor 3, bad 4.
LEVEL_CLASS_ID: dict[str, int] = {"excellent": 0, "good": 1, "fair": 2, "poor": 3, "bad": 4}


def level_for(score: float) -> str:
    """Rating level of a score in [0, 1] (lower bound inclusive)."""
    if not math.isfinite(score):
        raise ValueError(f"score must be finite, got {score!r}")
    for cut, level in zip(LEVEL_CUTS, LEVELS, strict=False):
        if score < cut:
            return level
    return LEVELS[-1]


OVERALL_QUESTIONS: tuple[str, ...] = (
    "Can you evaluate the aesthetics of the human image?",
    "Rate the aesthetics of this human picture.",
    "How is the aesthetics of this human image?",
    "Can you rate the aesthetics of this human picture?",
    "Please evaluate the aesthetics of the human image.",
)
_EXPERT_SUFFIX = " from 12 different dimensions"
EXPERT_QUESTIONS: tuple[str, ...] = tuple(q[:-1] + _EXPERT_SUFFIX + q[-1] for q in OVERALL_QUESTIONS)
DEFAULT_SCORE_QUESTION = "Rate the aesthetics of this human picture."


def overall_answer(score: float) -> str:
    """Answer template for overall-only samples (no trailing period, as the public code)."""
    return f"The aesthetics of the human image is {level_for(score)}"


def expert_answer(scores: list[float] | tuple[float, ...]) -> str:
    """Answer template for 12-dimension samples: 12 lines '{i}. {Name} : {level}'."""
    if len(scores) != NUM_DIMENSIONS:
        raise ValueError(f"expected {NUM_DIMENSIONS} scores, got {len(scores)}")
    return "\n".join(
        f"{d.index + 1}. {d.name} : {level_for(s)}" for d, s in zip(DIMENSIONS, scores, strict=True)
    )
