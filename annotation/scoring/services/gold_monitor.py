"""The hidden-gold monitoring tick (Celery beat, every minute): work only gold needs, kept off the request
path so that serving and answering gold costs what a pool item costs (``next_image.md``).

1. Answers stored since the last tick are scored against the experts, and each affected rater's rolling
   gold error is updated (warn / suspend: qualification's monitor).
2. The skip rule (``annotation/gold_skipping.py``) compares each rater's skipped gold with their pool skip
   rate, flags and suspends.
"""

from __future__ import annotations

from typing import Any

from .. import selectors


def hidden_gold_monitor_run() -> dict[str, Any]:
    from annotation.qualification import contract

    scored = contract.hidden_gold_score_pending()
    review = contract.hidden_gold_skip_review(
        pool_counts=selectors.rater_pool_counts(), holding=selectors.rater_holding()
    )
    return {"scored": scored, **review}
