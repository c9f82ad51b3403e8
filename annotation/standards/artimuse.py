"""ArtiMuse's 8-attribute aesthetic standard as a plain spec (no Django).

ArtiMuse rates an image on seven attributes and a comprehensive evaluation, each with a written analysis;
here each attribute is a dimension scored on [0, 1] (the same continuous scale as every standard; ArtiMuse's
0-100 figures are score x 100) and every scored attribute requires a comment. The database row is seeded by
``annotation/migrations/0006_seed_artimuse_standard.py`` (a frozen copy of this spec); the spec feeds
``standard_create_from_spec`` as is.
"""

from __future__ import annotations

from typing import Any

KEY = "artimuse-v1"
NAME = "ArtiMuse 8-attribute standard"
MIN_RATINGS = 3

# (key, name, guideline, low anchor, high anchor); "comprehensive" is the root, the other seven its children.
ATTRIBUTES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "composition",
        "Composition & Design",
        "Arrangement of the elements in the frame: balance, framing, visual flow, use of space and focal point.",
        "Cluttered or unbalanced; the eye has nowhere to go.",
        "A deliberate, balanced arrangement that leads the eye to the subject.",
    ),
    (
        "visual_elements",
        "Visual Elements & Structure",
        "Colour, light, tone, line, shape and texture, and how they build the image's structure.",
        "Muddy colour and light; elements fight each other.",
        "Colour, light and form work together into a clear structure.",
    ),
    (
        "technical",
        "Technical Execution",
        "Craft: focus, exposure, rendering or brushwork, processing quality, absence of artefacts.",
        "Blur, noise, bad exposure or visible artefacts spoil the image.",
        "Flawless execution that serves the intent.",
    ),
    (
        "originality",
        "Originality & Creativity",
        "Novelty of the idea, viewpoint or treatment; what the image adds beyond the familiar.",
        "A cliché seen many times, nothing of its own.",
        "A fresh idea or viewpoint that surprises.",
    ),
    (
        "theme",
        "Theme & Communication",
        "How clearly and deeply the image conveys its subject, message or story.",
        "No discernible subject or message.",
        "A clear, rich theme communicated with intent.",
    ),
    (
        "emotion",
        "Emotion & Viewer Response",
        "The mood the image evokes and how strongly it engages the viewer.",
        "Leaves the viewer indifferent.",
        "A strong, lasting emotional response.",
    ),
    (
        "gestalt",
        "Overall Gestalt",
        "How the parts cohere into one unified whole (more than the sum of the attributes above).",
        "Parts that do not belong together.",
        "A unified whole in which every part belongs.",
    ),
    (
        "comprehensive",
        "Comprehensive Evaluation",
        "Your overall aesthetic judgement of the image, informed by the seven attributes. Rate it last.",
        "An aesthetically poor image overall.",
        "An outstanding image overall.",
    ),
)
ATTRIBUTE_KEYS: tuple[str, ...] = tuple(a[0] for a in ATTRIBUTES)
ROOT = "comprehensive"


def spec() -> dict[str, Any]:
    """The standard as a ``standard_create_from_spec`` spec."""
    return {
        "key": KEY,
        "name": NAME,
        "description": "ArtiMuse's fine-grained image aesthetics: seven attributes and a comprehensive "
        "evaluation, each scored in [0, 1] with a required written comment.",
        "score_min": 0.0,
        "score_max": 1.0,
        "min_ratings": MIN_RATINGS,
        "dimensions": [
            {
                "key": key,
                "name": name,
                "parent": None if key == ROOT else ROOT,
                "guideline": guideline,
                "low_anchor": low,
                "high_anchor": high,
                "asks_comment": True,
                "comment_required": True,
            }
            for key, name, guideline, low, high in ATTRIBUTES
        ],
    }
