"""Fixtures: a tiny random InternVL on disk and a tiny release in the HumanAesExpert layout."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from annotation.standards.humanbeauty import level_for
from modeling.configuration import HumanAesExpertConfig
from modeling.data import BackboneProcessor
from modeling.model import HumanAesExpert
from modeling.tiny import build_tiny_backbone


def _images(count: int) -> list[Image.Image]:
    """Crops of skimage's astronaut plus synthetic gradients, small so tests stay fast."""
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    out = []
    rng = np.random.default_rng(0)
    for i in range(count):
        if i % 2 == 0:
            x, y = 40 * i % 200, 30 * i % 150
            out.append(astronaut.crop((x, y, x + 300, y + 360)).resize((60, 72)))
        else:
            ramp = np.linspace(0, 255, 64 * 48, dtype=np.float64).reshape(64, 48)
            rgb = np.stack([ramp, ramp[::-1], rng.uniform(0, 255, (64, 48))], axis=-1)
            out.append(Image.fromarray(rgb.astype(np.uint8)))
    return out


def make_release(root: Path, n_overall: int = 5, n_expert: int = 5, n_test: int = 4) -> Path:
    """<root>/HumanBeauty-{58K,50K}/{images/,label.jsonl} + train_label.jsonl + test_label.jsonl."""
    rng = np.random.default_rng(1)
    total = n_overall + n_expert
    images = _images(total)
    lines = {"HumanBeauty-58K": [], "HumanBeauty-50K": []}
    for i, img in enumerate(images):
        expert = i >= n_overall
        subset = "HumanBeauty-50K" if expert else "HumanBeauty-58K"
        rel = f"{subset}/images/img_{i:03d}.png"
        (root / subset / "images").mkdir(parents=True, exist_ok=True)
        img.save(root / rel)
        if expert:
            leaves = rng.uniform(0.05, 0.95, 12)
            line = {"image_name": rel, "score": [round(float(v), 4) for v in leaves], "source": "synthetic"}
        else:
            score = round(float(rng.uniform(0.05, 0.95)), 4)
            line = {"image_name": rel, "score": score, "text_level": level_for(score), "source": "astronaut"}
        lines[subset].append(line)
    for subset, rows in lines.items():
        with (root / subset / "label.jsonl").open("w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    everything = [dict(r, is_expert=isinstance(r["score"], list)) for rows in lines.values() for r in rows]
    test = everything[: n_test // 2] + everything[n_overall : n_overall + n_test - n_test // 2]
    train = [r for r in everything if r not in test]
    for name, rows in (("train_label.jsonl", train), ("test_label.jsonl", test)):
        with (root / name).open("w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    (root / "release.json").write_text(json.dumps({"version": "test-0.1"}))
    return root


@pytest.fixture(autouse=True)
def _media_root():
    """Override the Django-side autouse fixture of tests/conftest.py: the modeling core needs no Django
    (these tests run with ``-p no:django``)."""
    return None


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory) -> Path:
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-internvl"), seed=0)


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory) -> Path:
    return make_release(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="session")
def base_config(backbone_dir) -> HumanAesExpertConfig:
    return HumanAesExpertConfig(
        backbone_path=str(backbone_dir),
        tiling=False,
        effective_batch_size=2,
        per_device_batch_size=2,
        metavoter_epochs=3,
        metavoter_batch_size=4,
        learning_rate=1e-3,
    )


@pytest.fixture
def config(base_config) -> HumanAesExpertConfig:
    return dataclasses.replace(base_config)


@pytest.fixture
def model_and_processor(config):
    torch.manual_seed(0)
    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    model.apply_lora()
    return model, processor


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, base_config, release_dir) -> Path:
    """Both stages on the tiny release, saved once for the scorer/evaluation/reload tests."""
    from modeling.train import run_training

    out = tmp_path_factory.mktemp("ckpt") / "run"
    return run_training(
        release_dir=release_dir,
        backbone_path=base_config.backbone_path,
        out_dir=out,
        config=base_config,
        log=None,
    )
