"""Model versions: register a trained checkpoint, activate one version (exactly one is active)."""

from __future__ import annotations

import math
import shutil
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


def model_version_import_upstream(
    *,
    version: str,
    source_dir: str | Path,
    mapping_path: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    trust_remote_code: bool = False,
    created_by: User | None = None,
    dry_run: bool = False,
) -> tuple[ModelVersion | None, dict[str, Any]]:
    """Import an upstream HumanAesExpert checkpoint (InternVL2 chat layout) as a ready version.

    The model core converts it into ``MODELS_ROOT/imported/<version>/{backbone,checkpoint}``; the version
    is then registered from that checkpoint like a trained one (no metrics until it is evaluated). Every
    check runs before anything is written; a refusal names every unmapped or missing tensor in
    ``extra``. ``dry_run`` runs the checks only and returns ``(None, report)``."""
    from django.conf import settings

    from modeling.upstream import UpstreamError, UpstreamMismatch, import_upstream

    source = Path(source_dir)
    if not source.is_dir():
        raise ApplicationError(f"{source} is not a directory.", extra={"source": str(source)})
    if ModelVersion.objects.filter(version=version).exists():
        raise ConflictError(f"Model version {version!r} already exists.", extra={"version": version})
    out = Path(settings.MODELS_ROOT) / "imported" / version
    if out.exists() and not dry_run:
        raise ConflictError(
            f"{out} already exists; remove it or pick another version.", extra={"path": str(out)}
        )
    try:
        imported = import_upstream(
            source,
            out,
            mapping_path=mapping_path,
            tokenizer_dir=tokenizer_dir,
            trust_remote_code=trust_remote_code,
            dry_run=dry_run,
        )
    except UpstreamMismatch as exc:
        raise ApplicationError(
            str(exc), extra={"unmapped": exc.unmapped, "missing": exc.missing, "mismatched": exc.mismatched}
        ) from exc
    except UpstreamError as exc:
        raise ApplicationError(str(exc), extra={"source": str(source)}) from exc
    except BaseException:
        if not dry_run:  # the directory did not exist before: remove what a failed write left
            shutil.rmtree(out, ignore_errors=True)
        raise
    if dry_run:
        return None, imported.report
    mv = model_version_create(
        version=version,
        name="humanaesexpert-upstream",
        backbone_path=str(imported.backbone_dir),
        config=imported.config.to_dict(),
        release_version="upstream",
        created_by=created_by,
    )
    return model_version_register(model_version=mv, checkpoint_path=imported.checkpoint_dir), imported.report
