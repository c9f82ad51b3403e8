"""Training and evaluation jobs: the platform side of ``modeling.train`` and ``modeling.evaluate``.

``model_train_start`` validates paths and config, reserves the version tag (a ``training`` row) and queues
``modeling.train`` on the ``gpu`` queue. The task calls ``model_train_run``: both stages
(``run_training``), evaluation on the release's test split (``evaluate_release``), registration with the
metrics; the job's progress follows stage-one steps, stage-two epochs and the evaluation.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.models import Job, User
from annotation.services.jobs import (
    JobInterrupted,
    job_create,
    job_enqueue,
    job_fail,
    job_is_live_elsewhere,
    job_running,
    job_succeed,
)
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import Evaluation, ModelVersion
from .registry import (
    json_safe,
    model_version_activate,
    model_version_create,
    model_version_fail,
    model_version_register,
)

STAGE_ONE = re.compile(r"stage1 step (\d+)/(\d+)")
STAGE_TWO = re.compile(r"stage2 epoch (\d+)/(\d+)")
RESUMED = re.compile(r"stage1 resumed from step (\d+)/(\d+)")
MAX_INLINE_RECORDS = 10_000


def _resolve(path: str | Path, base: Path) -> Path:
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (base / p).exists():
        p = base / p
    return p.resolve()


def release_training_root(release_dir: str | Path) -> Path:
    """The HumanAesExpert-layout root of a release: ``<release>/HumanAesExpert`` (platform export) or the
    directory itself when it holds ``train_label.jsonl`` / ``test_label.jsonl``."""
    root = _resolve(release_dir, Path(settings.RELEASES_ROOT))
    for candidate in (root / "HumanAesExpert", root):
        if (candidate / "train_label.jsonl").is_file() or (candidate / "test_label.jsonl").is_file():
            return candidate
    raise ApplicationError(
        f"{release_dir}: not a release (no HumanAesExpert/train_label.jsonl).", extra={"field": "release_dir"}
    )


def backbone_dir(backbone_path: str | Path) -> Path:
    path = _resolve(backbone_path, Path(settings.MODELS_ROOT))
    if not (path / "config.json").is_file():
        raise ApplicationError(
            f"{backbone_path}: not a local backbone directory (no config.json).",
            extra={"field": "backbone_path"},
        )
    return path


def checkpoint_dir(version: str) -> Path:
    return Path(settings.MODELS_ROOT) / "versions" / version


def training_state_dir(version: str) -> Path:
    """Where an unfinished training run keeps its restart checkpoints (removed once the version is ready)."""
    return Path(settings.MODELS_ROOT) / "versions" / f"{version}.resume"


def model_train_requeue(job: Job) -> None:
    """Resume hook (resume API/command/page, jobs watchdog): train again from the last checkpoint."""
    from ..tasks import model_train_task

    mv = ModelVersion.objects.filter(job=job).first()
    if mv is None:
        raise ApplicationError(f"The model version of job {job.pk} no longer exists.", status=409)
    if mv.status == ModelVersion.Status.READY:
        raise ConflictError(f"Version {mv.version} is already trained.")
    ModelVersion.objects.filter(pk=mv.pk).update(status=ModelVersion.Status.TRAINING)
    job_enqueue(job=job, task=model_train_task)


def model_train_stopped(job: Job, reason: str = "cancelled") -> None:
    """Cancel/fail hook: the version being trained is marked failed (its restart checkpoints stay, so a
    resume continues from them)."""
    ModelVersion.objects.filter(job=job, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED, is_active=False
    )


def _config(config: dict[str, Any] | None, backbone: Path):
    from modeling.configuration import HumanAesExpertConfig

    try:
        return HumanAesExpertConfig.from_dict({**(config or {}), "backbone_path": str(backbone)})
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"Invalid config: {exc}", extra={"field": "config"}) from exc


def model_train_start(
    *,
    version: str,
    release_dir: str | Path,
    backbone_path: str | Path,
    config: dict[str, Any] | None = None,
    max_steps: int | None = None,
    stage_two: bool = True,
    activate: bool = False,
    checkpoint_every: int | None = None,
    created_by: User | None = None,
    enqueue: bool = True,
) -> Job:
    """Validate, reserve ``version`` and queue training (on commit). ``enqueue=False`` leaves the job for
    the caller to run (the CLI runs it in-process to draw a live progress bar)."""
    from ..tasks import model_train_task

    root = release_training_root(release_dir)
    backbone = backbone_dir(backbone_path)
    cfg = _config(config, backbone)
    if max_steps is not None and max_steps < 1:
        raise ApplicationError("max_steps must be at least 1.", extra={"field": "max_steps"})
    if checkpoint_every is not None and not 1 <= checkpoint_every <= 100_000:
        raise ApplicationError(
            "checkpoint_every must be in [1, 100000].", extra={"field": "checkpoint_every"}
        )
    from modeling.data import release_version

    job = job_create(
        kind="modeling.train",
        params={
            "version": version,
            "release_dir": str(root),
            "backbone_path": str(backbone),
            "config": json_safe(cfg.to_dict()),
            "max_steps": max_steps,
            "stage_two": stage_two,
            "activate": activate,
            "checkpoint_every": checkpoint_every,
        },
        created_by=created_by,
    )
    model_version_create(
        version=version,
        backbone_path=str(backbone),
        config=cfg.to_dict(),
        release_version=release_version(root)[:64],
        created_by=created_by,
        job=job,
    )
    if enqueue:
        job_enqueue(job=job, task=model_train_task)
    return job


def model_train_run(*, job_id: int) -> dict[str, Any]:
    """Body of ``modeling.train``: train both stages, evaluate on the test split, register (idempotent: a
    version already ready is not retrained)."""
    from modeling.configuration import HumanAesExpertConfig
    from modeling.evaluate import evaluate_release
    from modeling.scorer import Scorer
    from modeling.train import run_training

    from .scoring import _device, scorer_cache_put

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return {"skipped": "job missing or finished"}
    if job_is_live_elsewhere(job):
        return {"skipped": "running on another worker"}
    mv = ModelVersion.objects.filter(job_id=job_id).first()
    if mv is None:
        job_fail(job_id=job_id, error="no model version row for this job")
        return {"skipped": "no model version"}
    if mv.status == ModelVersion.Status.READY:
        job_succeed(job_id=job_id, result={"version": mv.version}, message="already trained")
        return {"version": mv.version}
    params = job.params
    config = HumanAesExpertConfig.from_dict(params["config"])
    root = Path(params["release_dir"])
    epochs = config.metavoter_epochs if params.get("stage_two", True) else 0
    state = {"stage_one": 0}

    with job_running(job_id=job_id, message="stage 1: LoRA + heads") as report:

        def log(message: str) -> None:
            if m := RESUMED.search(message):
                state["resumed_from"], state["stage_one"] = int(m.group(1)), int(m.group(2))
                report(int(m.group(1)), total=int(m.group(2)) + epochs + 1, message=message)
            elif m := STAGE_ONE.search(message):
                done, total = int(m.group(1)), int(m.group(2))
                state["stage_one"] = total
                report(done, total=total + epochs + 1, message=message)
            elif m := STAGE_TWO.search(message):
                done = int(m.group(1))
                report(state["stage_one"] + done, total=state["stage_one"] + epochs + 1, message=message)

        def on_step(step: int, total: int) -> None:  # stops here when cancelled or taken over
            report(step, total=total + epochs + 1)

        out = checkpoint_dir(mv.version)
        if out.exists():  # leftovers of an interrupted attempt at this version (restart state is beside it)
            shutil.rmtree(out)
        try:
            ckpt = run_training(
                release_dir=root,
                backbone_path=params["backbone_path"],
                out_dir=out,
                config=config,
                max_steps=params.get("max_steps"),
                stage_two=params.get("stage_two", True),
                log=log,
                state_dir=training_state_dir(mv.version),
                checkpoint_every=int(params.get("checkpoint_every") or settings.HB_TRAIN_CHECKPOINT_EVERY),
                on_step=on_step,
            )
            total = state["stage_one"] + epochs + 1
            report(max(0, total - 1), total=total, message="evaluating on the test split")
            scorer = Scorer(
                ckpt, device=_device(), batch_size=int(getattr(settings, "HB_MODELING_BATCH_SIZE", 8))
            )
            metrics: dict[str, Any] = {}
            if (root / "test_label.jsonl").is_file() and (root / "test_label.jsonl").stat().st_size > 0:
                metrics = evaluate_release(scorer, root, split="test")
            mv = model_version_register(model_version=mv, checkpoint_path=ckpt, metrics=metrics, job=job)
            scorer_cache_put(mv, scorer)
            report(total, total=total, message="registered")
        except JobInterrupted:
            if Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists():
                model_version_fail(model_version=mv)
            raise
        except Exception:
            model_version_fail(model_version=mv)
            raise
        shutil.rmtree(training_state_dir(mv.version), ignore_errors=True)
        result = {
            "version": mv.version,
            "checkpoint": str(ckpt),
            "release_version": mv.release_version,
            "metavoter": json_safe((metrics.get("heads") or {}).get("metavoter")),
            "resumed_from_step": state.get("resumed_from"),
        }
        job_succeed(job_id=job_id, result=result, message=f"version {mv.version} ready")
    if params.get("activate"):
        model_version_activate(model_version=mv, by=job.created_by)
    return result


# ------------------------------------------------------------------------------------------------ evaluation


def _records_from(records: list[dict[str, Any]], base: Path) -> list[dict[str, Any]]:
    out = []
    for i, record in enumerate(records):
        try:
            image = Path(record["image"])
            gt = float(record["gt_score"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApplicationError(f"record {i}: needs 'image' and a numeric 'gt_score'.") from exc
        if not image.is_absolute():
            candidates = [base / image, base / "images" / image]
            image = next((c for c in candidates if c.exists()), candidates[0])
        if not image.is_file():
            raise ApplicationError(f"record {i}: image {record['image']!r} not found.", extra={"index": i})
        out.append({"image": str(image), "gt_score": gt})
    if not out:
        raise ApplicationError("No records to evaluate.")
    return out


def model_evaluate_start(
    *,
    model_version: ModelVersion,
    release_dir: str | Path | None = None,
    split: str = "test",
    records: list[dict[str, Any]] | None = None,
    records_path: str | Path | None = None,
    source: str | None = None,
    dataset: str = "",
    limit: int | None = None,
    created_by: User | None = None,
    enqueue: bool = True,
) -> Job:
    """Queue an evaluation of ``model_version``: on a release split, or zero-shot on any imported dataset:
    a curation ``Source`` (its kept items' normalised scores), or ``{"image", "gt_score"}`` records (inline,
    or an ArtiMuse-style ``test.json``)."""
    from ..tasks import model_evaluate_task

    if model_version.status != ModelVersion.Status.READY:
        raise ApplicationError(f"Version {model_version.version!r} is not ready.", status=409)
    if sum(x is not None for x in (release_dir, records, records_path, source)) != 1:
        raise ApplicationError("Give exactly one of release_dir, source, records or records_path.")
    params: dict[str, Any] = {"version_id": model_version.pk, "limit": limit}
    if source is not None:
        if not _source_items(source).exists():
            raise ApplicationError(
                f"Source {source!r} has no kept, normalised items to evaluate on.", extra={"field": "source"}
            )
        params |= {"source": source, "dataset": dataset or f"source:{source}"}
    elif release_dir is not None:
        if split not in ("train", "test"):
            raise ApplicationError("split must be 'train' or 'test'.", extra={"field": "split"})
        root = release_training_root(release_dir)
        params |= {
            "release_dir": str(root),
            "split": split,
            "dataset": dataset or f"{root.parent.name}:{split}",
        }
    else:
        if records_path is not None:
            path = Path(records_path)
            if not path.is_file():
                raise ApplicationError(f"{records_path}: no such file.", extra={"field": "records_path"})
            try:
                records = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ApplicationError(f"{records_path}: not JSON ({exc}).") from exc
            base = path.parent
        else:
            base = Path(settings.MEDIA_ROOT)
        if not isinstance(records, list) or len(records) > MAX_INLINE_RECORDS:
            raise ApplicationError(f"records must be a list of at most {MAX_INLINE_RECORDS} items.")
        params |= {
            "records": _records_from(records, base),
            "dataset": dataset or str(records_path or "records"),
        }
    job = job_create(kind="modeling.evaluate", params=params, created_by=created_by)
    if enqueue:
        job_enqueue(job=job, task=model_evaluate_task)
    return job


def _source_items(source: str):
    try:
        from curation.models import SourceItem
    except ImportError as exc:
        raise ApplicationError("The curation app is not installed.") from exc
    return (
        SourceItem.objects.filter(source__key=source, kept=True, score__isnull=False)
        .select_related("image")
        .order_by("pk")
    )


def _evaluate_source(scorer: Any, source: str, *, limit: int | None, report: Any, chunk: int = 64) -> dict:
    """Zero-shot on an imported public dataset: images from the store, ground truth = the curation app's
    min-max normalised score; scored in chunks so memory stays flat."""
    import numpy as np

    from modeling.evaluate import metrics_from_head_scores

    from .scoring import _load

    items = list(_source_items(source)[:limit] if limit else _source_items(source))
    parts: list[dict[str, Any]] = []
    for start in range(0, len(items), chunk):
        parts.append(scorer.score_images([_load(item.image) for item in items[start : start + chunk]]))
        report(0, total=1, message=f"{min(start + chunk, len(items))}/{len(items)} images scored")
    scores = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    metrics = metrics_from_head_scores(
        scores,
        [item.score for item in items],
        gt_levels=[item.level or None for item in items],
        standard=scorer.model.config.standard,
    )
    metrics["source"] = source
    return metrics


def model_evaluate_run(*, job_id: int) -> dict[str, Any]:
    from modeling.evaluate import evaluate_records, evaluate_release

    from .scoring import scorer_for

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return {"skipped": "job missing or finished"}
    params = job.params
    mv = ModelVersion.objects.filter(pk=params["version_id"]).first()
    if mv is None:
        job_fail(job_id=job_id, error="model version deleted")
        return {"skipped": "model version deleted"}
    with job_running(
        job_id=job_id, total=1, message=f"evaluating {mv.version} on {params['dataset']}"
    ) as report:
        scorer = scorer_for(mv)
        if "source" in params:
            metrics = _evaluate_source(scorer, params["source"], limit=params.get("limit"), report=report)
        elif "release_dir" in params:
            metrics = evaluate_release(
                scorer, params["release_dir"], split=params["split"], limit=params.get("limit")
            )
        else:
            records = params["records"][: params["limit"]] if params.get("limit") else params["records"]
            metrics = evaluate_records(scorer, records)
        metrics = json_safe(metrics)
        evaluation = Evaluation.objects.create(
            model_version=mv,
            dataset=params["dataset"][:200],
            n=int(metrics.get("n", 0)),
            metrics=metrics,
            job=job,
        )
        report(1, message="done")
        result = {
            "evaluation_id": evaluation.pk,
            "version": mv.version,
            "dataset": params["dataset"],
            "metrics": metrics,
        }
        job_succeed(job_id=job_id, result=result, message=f"evaluated on {params['dataset']}")
    return result
