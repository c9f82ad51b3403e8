"""Stage one then stage two on the tiny release; checkpoints reload to identical outputs."""

from __future__ import annotations

import json
import math

import torch

from modeling.checkpoint import load_checkpoint, read_meta, save_checkpoint
from modeling.data import load_release
from modeling.scorer import predict_head_scores
from modeling.train import lr_at, train_stage_one, train_stage_two


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(before, model) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def test_stage_one_then_stage_two(model_and_processor, release_dir, tmp_path):
    model, processor = model_and_processor
    train = load_release(release_dir).train
    before = _snapshot(model)
    history = train_stage_one(model, processor, train, log=None)
    assert history["steps"] == 3  # 6 samples, effective batch 2, 1 epoch
    assert all(math.isfinite(x) for x in history["loss"])
    changed = _changed(before, model)
    assert any("lora_" in n for n in changed)
    assert any(n.startswith("regression_head.") for n in changed)
    assert any(n.startswith("expert_head.") for n in changed)
    assert not any("vision_tower" in n or "lm_head" in n or n.startswith("metavoter.") for n in changed)
    assert all(("lora_" in n) or n.startswith(("regression_head.", "expert_head.")) for n in changed)

    before = _snapshot(model)
    buffers = {n: b.clone() for n, b in model.named_buffers() if "metavoter" not in n}
    history = train_stage_two(model, processor, train, log=None)
    assert len(history["loss"]) == 3
    changed = _changed(before, model)
    assert changed and all(n.startswith("metavoter.") for n in changed)
    for n, b in model.named_buffers():
        if n in buffers and n != "metavoter_ready":
            assert torch.equal(buffers[n], b), n
    assert bool(model.metavoter_ready)

    scores = predict_head_scores(model, processor, [s.image_path for s in train[:3]], batch_size=2)
    assert scores["final_score"].shape == (3,)
    assert ((scores["final_score"] >= 0) & (scores["final_score"] <= 1)).all()

    ckpt = save_checkpoint(model, tmp_path / "ckpt", training_args={"note": "t"}, release_version="v9")
    meta = read_meta(ckpt)
    assert meta["release_version"] == "v9" and meta["code_revision"]
    assert json.loads((ckpt / "training_args.json").read_text())["note"] == "t"
    reloaded, reprocessor = load_checkpoint(ckpt)
    again = predict_head_scores(reloaded, reprocessor, [s.image_path for s in train[:3]], batch_size=2)
    for key in ("lm_score", "reg_score", "expert_scores", "final_score"):
        assert (scores[key] == again[key]).all(), key


def test_run_training_writes_a_complete_checkpoint(trained_checkpoint):
    names = {p.name for p in trained_checkpoint.iterdir()}
    assert {
        "humanaesexpert_config.json",
        "adapter.safetensors",
        "heads.safetensors",
        "metavoter.safetensors",
        "training_args.json",
        "meta.json",
    } <= names
    meta = read_meta(trained_checkpoint)
    assert meta["release_version"] == "test-0.1"
    assert meta["metavoter_ready"] is True
    assert "code_revision" in meta


def test_lr_schedule_warmup_then_cosine():
    assert lr_at(0, total=100, warmup=5, base=1.0) == 0.2
    assert lr_at(4, total=100, warmup=5, base=1.0) == 1.0
    assert lr_at(5, total=100, warmup=5, base=1.0) == 1.0
    assert abs(lr_at(52, total=100, warmup=5, base=1.0) - 0.5) < 0.02
    assert lr_at(100, total=100, warmup=5, base=1.0) < 1e-9
