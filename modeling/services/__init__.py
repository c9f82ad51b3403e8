"""Writes of the modeling app: the only way Django reaches the model core (with ``modeling/tasks.py``).

* ``registry``: create/register/activate model versions (one active), import the authors' checkpoints;
* ``training``: train and evaluate jobs;
* ``scoring``: per-process scorer, predict for an upload, pre-score the pool.
"""

from .registry import (
    json_safe,
    model_version_activate,
    model_version_create,
    model_version_import_upstream,
    model_version_register,
)
from .scoring import (
    predict_image,
    predict_run,
    predict_start,
    prescore_pending,
    prescore_start,
    score_paths,
    scorer_for,
)
from .training import (
    model_evaluate_run,
    model_evaluate_start,
    model_train_run,
    model_train_start,
    release_training_root,
)

__all__ = [
    "json_safe",
    "model_evaluate_run",
    "model_evaluate_start",
    "model_train_run",
    "model_train_start",
    "model_version_activate",
    "model_version_create",
    "model_version_import_upstream",
    "model_version_register",
    "predict_image",
    "predict_run",
    "predict_start",
    "prescore_pending",
    "prescore_start",
    "release_training_root",
    "score_paths",
    "scorer_for",
]
