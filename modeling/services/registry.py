"""Model versions: register a trained checkpoint, activate one version (exactly one is active)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Job, User
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import Evaluation, ModelVersion


def json_safe(value: Any) -> Any:
    """Non-finite floats -> None (PostgreSQL's jsonb rejects NaN), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def model_version_create(
    *,
    version: str,
    name: str = "humanaesexpert",
    backbone_path: str = "",
    config: dict[str, Any] | None = None,
    release_version: str = "",
    created_by: User | None = None,
    job: Job | None = None,
) -> ModelVersion:
    """A version row in ``training`` state (reserves the tag while its job runs)."""
    if ModelVersion.objects.filter(version=version).exists():
        raise ConflictError(f"Model version {version!r} already exists.", extra={"version": version})
    mv = ModelVersion(
        version=version,
        name=name,
        backbone_path=backbone_path,
        config=json_safe(config or {}),
        release_version=release_version,
        created_by=created_by,
        job=job,
    )
    mv.full_clean()
    try:
        with transaction.atomic():
            mv.save()
    except IntegrityError as exc:
        raise ConflictError(f"Model version {version!r} already exists.") from exc
    return mv


def model_version_register(
    *,
    model_version: ModelVersion,
    checkpoint_path: str | Path,
    metrics: dict[str, Any] | None = None,
    job: Job | None = None,
) -> ModelVersion:
    """Mark a trained checkpoint ready: config, release version and code revision come from the
    checkpoint itself (``meta.json``, ``humanaesexpert_config.json``, ``training_args.json``)."""
    from modeling.checkpoint import ARGS_FILE, read_meta
    from modeling.configuration import HumanAesExpertConfig

    ckpt = Path(checkpoint_path)
    meta = read_meta(ckpt)
    config = HumanAesExpertConfig.from_json(ckpt).to_dict()
    args_file = ckpt / ARGS_FILE
    training = {}
    if args_file.is_file():
        import json

        training = json.loads(args_file.read_text(encoding="utf-8"))
    model_version.checkpoint_path = str(ckpt)
    model_version.backbone_path = str(config.get("backbone_path", ""))
    model_version.config = json_safe(config)
    model_version.release_version = str(meta.get("release_version", ""))[:64]
    model_version.code_revision = str(meta.get("code_revision", ""))[:80]
    model_version.training = json_safe(training)
    model_version.metrics = json_safe(metrics or {})
    model_version.status = ModelVersion.Status.READY
    model_version.full_clean()
    with transaction.atomic():
        model_version.save(
            update_fields=[
                "checkpoint_path",
                "backbone_path",
                "config",
                "release_version",
                "code_revision",
                "training",
                "metrics",
                "status",
            ]
        )
        if metrics:
            Evaluation.objects.create(
                model_version=model_version,
                dataset=f"{model_version.release_version}:{metrics.get('split', 'test')}",
                n=int(metrics.get("n", 0)),
                metrics=json_safe(metrics),
                job=job,
            )
    return model_version


def model_version_fail(*, model_version: ModelVersion) -> None:
    ModelVersion.objects.filter(pk=model_version.pk).update(
        status=ModelVersion.Status.FAILED, is_active=False
    )


def model_version_activate(
    *, model_version: ModelVersion, by: User | None = None, prescore: bool = True
) -> ModelVersion:
    """Make ``model_version`` the one active version (one transaction; the database refuses a second
    active row), then queue pre-scoring of the pool with it."""
    if model_version.status != ModelVersion.Status.READY:
        raise ConflictError(
            f"Version {model_version.version!r} is {model_version.status}; only a ready version can be active."
        )
    if not Path(model_version.checkpoint_path).is_dir():
        raise ApplicationError(
            f"Checkpoint directory {model_version.checkpoint_path!r} is missing.", status=409
        )
    try:
        with transaction.atomic():
            list(ModelVersion.objects.select_for_update().filter(is_active=True))
            ModelVersion.objects.filter(is_active=True).exclude(pk=model_version.pk).update(is_active=False)
            ModelVersion.objects.filter(pk=model_version.pk).update(
                is_active=True, activated_at=timezone.now()
            )
            if prescore:
                from .scoring import prescore_start

                prescore_start(created_by=by, model_version=model_version)
    except IntegrityError as exc:  # a concurrent activation won
        raise ConflictError("Another version was activated at the same time; try again.") from exc
    model_version.refresh_from_db()
    return model_version
