"""Re-export of :mod:`annotation.standards.humanbeauty`, kept only for ``curation/`` until its imports move.

New code imports ``annotation.standards.humanbeauty`` directly (the standard lives on the ground floor).
"""

from annotation.standards.humanbeauty import (  # noqa: F401
    DEFAULT_SCORE_QUESTION,
    DIMENSION_KEYS,
    DIMENSIONS,
    EXPERT_QUESTIONS,
    LEVEL_CLASS_ID,
    LEVEL_CUTS,
    LEVELS,
    NUM_DIMENSIONS,
    OVERALL_QUESTIONS,
    STANDARD_KEY,
    DimensionSpec,
    expert_answer,
    level_for,
    overall_answer,
)
