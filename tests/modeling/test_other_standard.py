"""The model core for another standard: ArtiMuse's 8 attributes (a flat hierarchy under "comprehensive")
are built, trained, saved, reloaded, scored and evaluated by their own keys; HumanBeauty stays the
default (and what an older checkpoint without a standard loads as)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from annotation.standards import artimuse
from annotation.standards.humanbeauty import DIMENSION_KEYS, level_for
from modeling.configuration import HumanAesExpertConfig, ModelStandard
from modeling.data import collate, encode_training_sample, load_image, load_release, sample_from_line
from modeling.evaluate import evaluate_release
from modeling.scorer import Scorer
from modeling.tiny import build_tiny_backbone, tiny_model
from modeling.train import run_training

from .conftest import _images

ARTIMUSE = ModelStandard.from_spec(artimuse.spec())


def _artimuse_release(root: Path, n_overall: int = 3, n_expert: int = 5) -> Path:
    """train/test label files with 8-score (all-attribute) lines and overall-only lines."""
    rng = np.random.default_rng(7)
    (root / "images").mkdir(parents=True)
    rows = []
    for i, img in enumerate(_images(n_overall + n_expert)):
        name = f"images/art_{i:03d}.png"
        img.save(root / name)
        if i < n_overall:
            score = round(float(rng.uniform(0.05, 0.95)), 4)
            rows.append(
                {"image_name": name, "score": score, "text_level": level_for(score), "is_expert": False}
            )
        else:
            scores = [round(float(v), 4) for v in rng.uniform(0.05, 0.95, 8)]
            rows.append({"image_name": name, "score": scores, "is_expert": True})
    test = [rows[0], rows[-1]]
    for file, part in (("train_label.jsonl", [r for r in rows if r not in test]), ("test_label.jsonl", test)):
        (root / file).write_text("".join(json.dumps(r) + "\n" for r in part))
    (root / "release.json").write_text(json.dumps({"version": "artimuse-test-0.1"}))
    return root


@pytest.fixture(scope="module")
def artimuse_backbone(tmp_path_factory) -> Path:
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-artimuse"), seed=0, standard=ARTIMUSE)


def test_standard_from_the_artimuse_spec():
    assert ARTIMUSE.key == "artimuse-v1"
    assert ARTIMUSE.dimension_keys == artimuse.ATTRIBUTE_KEYS and ARTIMUSE.num_dimensions == 8
    assert ARTIMUSE.overall == artimuse.ROOT == "comprehensive" and ARTIMUSE.overall_index == 7
    assert ARTIMUSE.leaf_indices == tuple(range(7))  # flat: the seven attributes feed the comprehensive one
    assert ARTIMUSE.node_order == (7,) and ARTIMUSE.children(7) == tuple(range(7))
    assert "8 different dimensions" in ARTIMUSE.default_expert_question
    assert "human" not in ARTIMUSE.score_question and ARTIMUSE.score_question in ARTIMUSE.overall_questions


def test_humanbeauty_is_the_default_and_older_configs_load_as_it():
    hb = HumanAesExpertConfig().standard
    assert hb.key == "humanbeauty-v1" and hb.dimension_keys == DIMENSION_KEYS
    assert hb.children(11) == (9, 5, 10)  # Environment, Facial Aesthetic, General Appearance (upstream)
    assert [hb.node_module(i) for i in hb.node_order] == ["facial", "appearance", "overall"]
    old = HumanAesExpertConfig().to_dict()
    del old["standard"]  # a checkpoint written before models carried their standard
    assert HumanAesExpertConfig.from_dict(old).standard == hb
    with_artimuse = HumanAesExpertConfig(standard=ARTIMUSE)
    assert HumanAesExpertConfig.from_json(with_artimuse.to_json()).standard == ARTIMUSE
    assert (
        HumanAesExpertConfig.from_dict({"standard": artimuse.spec()}).standard == ARTIMUSE
    )  # a spec works too
    with pytest.raises(ValueError, match="standard must be"):
        HumanAesExpertConfig(standard="artimuse-v1")


def test_invalid_standards_are_refused():
    with pytest.raises(ValueError, match="not a dimension"):
        ModelStandard(
            key="x", dimension_keys=("a", "b"), dimension_names=("A", "B"), parents=(None, "zz"), overall="a"
        )
    with pytest.raises(ValueError, match="cycle"):
        ModelStandard(
            key="x", dimension_keys=("a", "b"), dimension_names=("A", "B"), parents=("b", "a"), overall="a"
        )
    two_roots = {"key": "x", "dimensions": [{"key": "a"}, {"key": "b"}]}
    with pytest.raises(ValueError, match="2 root dimensions"):
        ModelStandard.from_spec(two_roots)
    assert ModelStandard.from_spec({**two_roots, "overall": "b"}).overall_index == 1


def test_label_lines_are_validated_against_the_standard(tmp_path):
    eight = {"image_name": "a.png", "score": [0.5] * 8}
    sample = sample_from_line(eight, tmp_path, ARTIMUSE)
    assert sample.is_expert and len(sample.scores) == 8
    overall_only = sample_from_line({"image_name": "b.png", "score": 0.7}, tmp_path, ARTIMUSE)
    assert overall_only.scores == (0.0,) * 7 + (0.7,) and overall_only.overall == 0.7
    with pytest.raises(ValueError, match=r"expected 8 scores \(artimuse-v1\), got 12"):
        sample_from_line({"image_name": "c.png", "score": [0.5] * 12}, tmp_path, ARTIMUSE)
    with pytest.raises(ValueError, match="expected 12 scores"):
        sample_from_line(eight, tmp_path)  # HumanBeauty by default


def test_heads_and_prompts_follow_the_standard(artimuse_backbone, tmp_path):
    model, processor = tiny_model(artimuse_backbone, artimuse.spec(), expert_ffn_hidden=5)
    head = model.expert_head
    assert head.leaves.out_features == 7 and head.node_comprehensive.fc1.in_features == 7
    assert not hasattr(head, "facial")
    release = load_release(_artimuse_release(tmp_path / "rel"), ARTIMUSE)
    sample = next(s for s in release.train if s.is_expert)
    feat = encode_training_sample(
        processor, load_image(sample.image_path), sample, ARTIMUSE.default_expert_question
    )
    answer = processor.tokenizer.decode([t for t in feat["labels"] if t >= 0])
    assert answer.startswith("1. Composition & Design : ") and "8. Comprehensive Evaluation : " in answer
    inputs = collate([feat], processor.pad_token_id)
    out = model(**inputs)
    assert out.expert_scores.shape == (1, 8)
    assert torch.equal(out.heads["expert"]["overall"], out.expert_scores[:, 7])
    assert torch.isfinite(out.loss) and out.loss_exp is not None


def test_train_save_reload_score_artimuse(artimuse_backbone, tmp_path):
    release_dir = _artimuse_release(tmp_path / "release")
    config = HumanAesExpertConfig(
        standard=ARTIMUSE,
        tiling=False,
        effective_batch_size=2,
        per_device_batch_size=2,
        metavoter_epochs=2,
        metavoter_batch_size=4,
        learning_rate=1e-3,
        expert_ffn_hidden=5,
    )
    ckpt = run_training(
        release_dir=release_dir,
        backbone_path=artimuse_backbone,
        out_dir=tmp_path / "ckpt",
        config=config,
        log=None,
    )
    saved = json.loads((ckpt / "humanaesexpert_config.json").read_text())
    assert saved["standard"]["key"] == "artimuse-v1" and len(saved["standard"]["dimension_keys"]) == 8

    scorer = Scorer(ckpt, device="cpu", batch_size=2)
    assert scorer.model.config.standard == ARTIMUSE
    paths = [s.image_path for s in load_release(release_dir, ARTIMUSE).test]
    results = scorer.eval_dataset(paths)
    for result in results:
        dims = result["dimensions"]
        assert list(dims) == list(artimuse.ATTRIBUTE_KEYS)
        assert all(0.0 <= v <= 1.0 for v in dims.values())
        assert result["expert_overall"] == dims["comprehensive"]
        assert result["final_score"] is not None  # stage two trained the MetaVoter

    metrics = evaluate_release(scorer, release_dir)
    assert list(metrics["per_dimension_mae"]) == list(artimuse.ATTRIBUTE_KEYS) and metrics["n_expert"] == 1
