"""``manage.py model_import_upstream``: an upstream-layout checkpoint becomes a ready, scoring version."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from safetensors.torch import load_file, save_file

from modeling.models import ModelVersion
from modeling.tiny import tiny_humanaesexpert as build_reference
from modeling.tiny import write_upstream_layout as write_upstream


@pytest.fixture
def upstream_dir(tmp_path) -> tuple[Path, object]:
    reference, tokenizer = build_reference("qwen2")
    return write_upstream(
        tmp_path / "HumanAesExpert-tiny", reference, tokenizer, "qwen2", shards=1
    ), reference


def test_dry_run_checks_and_writes_nothing(db, settings, upstream_dir) -> None:
    src, _ = upstream_dir
    out = io.StringIO()
    call_command("model_import_upstream", str(src), "--model-version", "hae-1b-upstream", stdout=out)
    assert "every tensor maps" in out.getvalue() and '"metavoter_ready": true' in out.getvalue()
    assert not ModelVersion.objects.exists()
    assert not (Path(settings.MODELS_ROOT) / "imported").exists()


def test_execute_registers_and_activates_a_version_that_scores_like_the_reference(
    db, settings, upstream_dir
) -> None:
    from matplotlib import cbook

    from modeling.scorer import Scorer, predict_head_scores

    src, reference = upstream_dir
    out = io.StringIO()
    call_command(
        "model_import_upstream",
        str(src),
        "--model-version",
        "hae-1b-upstream",
        "--execute",
        "--activate",
        stdout=out,
    )
    mv = ModelVersion.objects.get(version="hae-1b-upstream")
    assert mv.status == ModelVersion.Status.READY and mv.is_active
    assert mv.release_version == "upstream"
    assert mv.training["imported_from"]["language_model"] == "qwen2"
    assert Path(mv.checkpoint_path).is_relative_to(
        Path(settings.MODELS_ROOT) / "imported" / "hae-1b-upstream"
    )

    image = cbook.get_sample_data("grace_hopper.jpg")
    scorer = Scorer(mv.checkpoint_path, device="cpu")
    got = scorer.eval_image(image)
    want = predict_head_scores(reference, scorer.processor, [image])
    assert got["final_score"] == pytest.approx(float(want["final_score"][0]), abs=1e-5)
    assert np.allclose(list(got["dimensions"].values()), want["expert_scores"][0], atol=1e-5)

    with pytest.raises(CommandError, match="already exists"):
        call_command("model_import_upstream", str(src), "--model-version", "hae-1b-upstream", "--execute")


def test_a_checkpoint_that_does_not_map_is_refused_naming_its_tensors(db, settings, upstream_dir) -> None:
    src, _ = upstream_dir
    shard = next(src.glob("*.safetensors"))
    state = load_file(str(shard))
    del state["language_model.lm_regression_head.weight"]
    state["language_model.score_head.weight"] = state["language_model.lm_regression_head.bias"].clone()
    save_file(state, str(shard))
    with pytest.raises(CommandError) as info:
        call_command("model_import_upstream", str(src), "--model-version", "broken", "--execute")
    assert "language_model.score_head.weight" in str(info.value)
    assert "regression_head.proj.weight" in str(info.value)
    assert not ModelVersion.objects.exists()
    assert not (Path(settings.MODELS_ROOT) / "imported" / "broken").exists()
