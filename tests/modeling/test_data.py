"""Release reading, prompts, label masking and the config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotation.standards.humanbeauty import EXPERT_QUESTIONS, LEVELS, OVERALL_QUESTIONS
from modeling.configuration import HumanAesExpertConfig
from modeling.data import (
    OVERALL_ANSWER_PREFIX,
    encode_scoring_prompt,
    encode_training_sample,
    load_image,
    load_release,
    read_subset,
)
from modeling.model import IGNORE_INDEX


def test_load_release_layout(release_dir):
    release = load_release(release_dir)
    assert release.version == "test-0.1"
    assert len(release.train) == 6 and len(release.test) == 4
    assert {s.is_expert for s in release.train} == {True, False}
    for s in release.train + release.test:
        assert len(s.scores) == 12
        assert load_image(s.image_path).mode == "RGB"
    assert len(read_subset(release_dir, "HumanBeauty-58K")) == 5
    assert all(s.is_expert for s in read_subset(release_dir, "HumanBeauty-50K"))


def test_labels_cover_only_the_answer(model_and_processor, release_dir):
    _, processor = model_and_processor
    tok = processor.tokenizer
    for sample in load_release(release_dir).train[:2] + load_release(release_dir).train[-2:]:
        question = EXPERT_QUESTIONS[2] if sample.is_expert else OVERALL_QUESTIONS[2]
        feat = encode_training_sample(processor, load_image(sample.image_path), sample, question)
        answer_ids = [t for t in feat["labels"] if t != IGNORE_INDEX]
        text = tok.decode(answer_ids)
        assert text.endswith(sample.level + "<|im_end|>")
        assert question not in text and question in tok.decode(feat["input_ids"])
        # the LM slot predicts the overall rating word; the head token is the prompt end
        assert tok.decode([feat["input_ids"][feat["level_position"] + 1]]).strip() == sample.level
        assert feat["labels"][feat["head_position"]] == IGNORE_INDEX
        assert feat["labels"][feat["head_position"] + 1] != IGNORE_INDEX
        assert tok.decode(feat["input_ids"][: feat["head_position"] + 1]).endswith("assistant\n")
        if sample.is_expert:
            assert text.count("\n") == 11


def test_scoring_prompt_ends_with_answer_prefix(model_and_processor, release_dir):
    _, processor = model_and_processor
    image = load_image(load_release(release_dir).test[0].image_path)
    feat = encode_scoring_prompt(processor, image, expert=False)
    assert processor.tokenizer.decode(feat["input_ids"]).endswith("assistant\n" + OVERALL_ANSWER_PREFIX)
    assert feat["level_position"] == len(feat["input_ids"]) - 1
    expert = encode_scoring_prompt(processor, image, expert=True)
    assert expert["head_position"] == len(expert["input_ids"]) - 1
    assert "12 different dimensions" in processor.tokenizer.decode(expert["input_ids"])


def test_level_words_are_single_tokens(model_and_processor):
    _, processor = model_and_processor
    for word in LEVELS:
        assert len(processor.encode(" " + word)) == 1


def test_config_json_roundtrip(tmp_path):
    config = HumanAesExpertConfig(backbone_path="/x", lambda_reg=0.5, adam_betas=(0.8, 0.9))
    config.to_json(tmp_path / "c.json")
    again = HumanAesExpertConfig.from_json(tmp_path / "c.json")
    assert again == config
    assert HumanAesExpertConfig.from_json(config.to_json()) == config
    assert config.accumulation_steps == 16
    with pytest.raises(ValueError, match="unknown config keys"):
        HumanAesExpertConfig.from_dict({"nope": 1})


def test_modeling_core_imports_no_django():
    import subprocess
    import sys

    code = (
        "import sys; import modeling.train, modeling.scorer, modeling.evaluate, modeling.tiny; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), 'django imported'"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=120)
