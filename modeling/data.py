"""Release reading, prompt building, tokenisation and collation (no Django).

A release in the HumanAesExpert layout::

    <root>/HumanBeauty-58K/label.jsonl   {"image_name", "score": float, "text_level", "source"}
    <root>/HumanBeauty-50K/label.jsonl   {"image_name", "score": [12 floats], "source"}
    <root>/train_label.jsonl             the same + "is_expert": bool, image_name relative to <root>
    <root>/test_label.jsonl

For another standard (``HumanAesExpertConfig.standard``) the all-dimension ``score`` lists hold that
standard's number of scores, in its dimension order.

Every sample becomes one chat turn: the user turn is the image placeholder, a newline and a question
drawn from the standard's ``overall_questions`` / ``expert_questions``; the assistant turn is its overall /
per-dimension answer followed by the tokenizer's end-of-turn token. Labels keep only the answer tokens.
Each encoded sample also records two positions the model reads:

* ``head_position``: the last prompt token (input of the Regression and Expert heads);
* ``level_position``: the token whose logits predict the overall rating word (the LM-head score slot):
  in training the token before the last level word of the answer, in scoring the end of the answer
  prefix (HumanBeauty: "The aesthetics of the human image is").
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from annotation.standards.humanbeauty import level_for
from modeling.configuration import HumanAesExpertConfig, ModelStandard
from modeling.model import IGNORE_INDEX

SUBSETS = ("HumanBeauty-58K", "HumanBeauty-50K")
HUMANBEAUTY = ModelStandard()
OVERALL_ANSWER_PREFIX = HUMANBEAUTY.answer_prefix  # "The aesthetics of the human image is"
DEFAULT_EXPERT_QUESTION = HUMANBEAUTY.default_expert_question


# ---------------------------------------------------------------------------------------------------
# Release records
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    image_path: str  # absolute (or as given for zero-shot records)
    scores: tuple[float, ...]  # one value per dimension of the standard; overall-only: zeros + overall
    is_expert: bool
    source: str = ""
    text_level: str | None = None
    overall_index: int = HUMANBEAUTY.overall_index  # where the overall sits in ``scores``

    @property
    def overall(self) -> float:
        return self.scores[self.overall_index]

    @property
    def level(self) -> str:
        return self.text_level or level_for(self.overall)


@dataclass
class Release:
    root: Path
    version: str
    train: list[Sample] = field(default_factory=list)
    test: list[Sample] = field(default_factory=list)


def sample_from_line(line: dict[str, Any], root: Path, standard: ModelStandard | None = None) -> Sample:
    standard = standard or HUMANBEAUTY
    n, overall_index = standard.num_dimensions, standard.overall_index
    raw = line["score"]
    if isinstance(raw, list | tuple):
        if len(raw) != n:
            raise ValueError(f"{line['image_name']}: expected {n} scores ({standard.key}), got {len(raw)}")
        scores = tuple(float(s) for s in raw)
        is_expert = bool(line.get("is_expert", True))
    else:
        scores = tuple(float(raw) if i == overall_index else 0.0 for i in range(n))
        is_expert = bool(line.get("is_expert", False))
    if is_expert and not isinstance(raw, list | tuple):
        raise ValueError(f"{line['image_name']}: is_expert needs {n} scores")
    for s in scores:
        if not (math.isfinite(s) and 0.0 <= s <= 1.0):
            raise ValueError(f"{line['image_name']}: score {s!r} is not in [0, 1]")
    path = Path(line["image_name"])
    return Sample(
        image_path=str(path if path.is_absolute() else root / path),
        scores=scores,
        is_expert=is_expert,
        source=str(line.get("source", "")),
        text_level=line.get("text_level"),
        overall_index=overall_index,
    )


def read_label_file(
    path: str | Path, root: str | Path | None = None, standard: ModelStandard | None = None
) -> list[Sample]:
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    with path.open(encoding="utf-8") as fh:
        return [sample_from_line(json.loads(line), base, standard) for line in fh if line.strip()]


def read_subset(root: str | Path, subset: str, standard: ModelStandard | None = None) -> list[Sample]:
    """A subset's own label.jsonl; its image_name is relative to the subset directory or to the root."""
    root = Path(root)
    samples = read_label_file(root / subset / "label.jsonl", root, standard)
    if samples and not Path(samples[0].image_path).exists():
        samples = read_label_file(root / subset / "label.jsonl", root / subset, standard)
    return samples


def release_version(root: Path) -> str:
    """``version`` from ``<root>/release.json`` (or ``metadata.json``) when present, else the dir name.

    A platform export keeps ``release.json`` one level up (``<release>/HumanAesExpert/``), so for a
    directory named ``HumanAesExpert`` the parent's manifest is read too."""
    bases = [root, root.parent] if root.resolve().name == "HumanAesExpert" else [root]
    for meta in (base / name for base in bases for name in ("release.json", "metadata.json")):
        if meta.is_file():
            try:
                version = json.loads(meta.read_text(encoding="utf-8")).get("version")
            except (json.JSONDecodeError, AttributeError):
                version = None
            if version:
                return str(version)
    return root.resolve().name


def load_release(root: str | Path, standard: ModelStandard | None = None) -> Release:
    """A release's splits, validated against ``standard`` (HumanBeauty by default)."""
    root = Path(root)
    release = Release(root=root, version=release_version(root))
    if (root / "train_label.jsonl").is_file():
        release.train = read_label_file(root / "train_label.jsonl", root, standard)
    if (root / "test_label.jsonl").is_file():
        release.test = read_label_file(root / "test_label.jsonl", root, standard)
    if not release.train and not release.test:
        raise FileNotFoundError(f"{root}: neither train_label.jsonl nor test_label.jsonl found")
    return release


def load_image(path: str | Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


# ---------------------------------------------------------------------------------------------------
# Processor: chat template + image placeholder expansion + image tensor
# ---------------------------------------------------------------------------------------------------


class BackboneProcessor:
    """Tokenizer + image processor of an InternVL-style backbone.

    The image placeholder of the chat template (``<IMG_CONTEXT>``) becomes ``<img>`` + image_seq_length x
    tiles ``<IMG_CONTEXT>`` + ``</img>``, exactly what ``InternVLProcessor`` does; composing the two parts
    here avoids its torchvision-only video processor. Tiling (InternVL dynamic ``crop_to_patches`` up to
    ``max_tiles`` + thumbnail) is a config switch.
    """

    def __init__(self, tokenizer, image_processor, image_seq_length: int, config: HumanAesExpertConfig):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_seq_length = int(image_seq_length)
        self.config = config
        self.image_token = getattr(tokenizer, "context_image_token", None) or "<IMG_CONTEXT>"
        self.start_image_token = getattr(tokenizer, "start_image_token", None) or "<img>"
        self.end_image_token = getattr(tokenizer, "end_image_token", None) or "</img>"
        self.end_of_turn = tokenizer.eos_token or "<|im_end|>"
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @classmethod
    def from_pretrained(cls, path: str | Path, config: HumanAesExpertConfig) -> BackboneProcessor:
        from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        backbone_config = AutoConfig.from_pretrained(path, local_files_only=True)
        return cls(tokenizer, image_processor, getattr(backbone_config, "image_seq_length", 256), config)

    def prompt_text(self, question: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"<|im_start|>user\n{self.image_token}\n{question}<|im_end|>\n<|im_start|>assistant\n"

    def image_tensor(self, image: Image.Image) -> torch.Tensor:
        """[tiles, 3, H, W] pixel values."""
        kwargs: dict[str, Any] = {"crop_to_patches": self.config.tiling}
        if self.config.tiling:
            kwargs["max_patches"] = self.config.max_tiles
        feats = self.image_processor(images=[image], return_tensors="pt", **kwargs)
        return feats["pixel_values"]

    def prompt_ids(self, question: str, num_tiles: int) -> list[int]:
        placeholder = (
            self.start_image_token
            + self.image_token * (self.image_seq_length * num_tiles)
            + self.end_image_token
        )
        text = self.prompt_text(question).replace(self.image_token, placeholder, 1)
        return self.encode(text)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_training_sample(
    processor: BackboneProcessor, image: Image.Image, sample: Sample, question: str
) -> dict[str, Any]:
    standard = processor.config.standard
    pixel_values = processor.image_tensor(image)
    prompt = processor.prompt_ids(question, pixel_values.shape[0])
    level = level_for(sample.overall)
    if sample.is_expert:
        answer = standard.expert_answer([level_for(s) for s in sample.scores])
    else:
        answer = standard.overall_answer(level)
    cut = answer.rfind(" " + level)
    before = processor.encode(answer[:cut])  # everything before the overall rating word
    rest = processor.encode(answer[cut:] + processor.end_of_turn)
    input_ids = prompt + before + rest
    return {
        "input_ids": input_ids,
        "labels": [IGNORE_INDEX] * len(prompt) + before + rest,
        "pixel_values": pixel_values,
        "head_position": len(prompt) - 1,
        "level_position": len(prompt) + len(before) - 1,
        "scores": list(sample.scores),
        "is_expert": sample.is_expert,
    }


def encode_scoring_prompt(
    processor: BackboneProcessor, image: Image.Image, *, expert: bool
) -> dict[str, Any]:
    """Inference input: the overall question + answer prefix (LM slot = last token), or the expert
    question alone (the Expert head reads the prompt end)."""
    standard = processor.config.standard
    pixel_values = processor.image_tensor(image)
    question = standard.default_expert_question if expert else standard.score_question
    prompt = processor.prompt_ids(question, pixel_values.shape[0])
    input_ids = prompt if expert else prompt + processor.encode(standard.answer_prefix)
    return {
        "input_ids": input_ids,
        "pixel_values": pixel_values,
        "head_position": len(prompt) - 1,
        "level_position": len(input_ids) - 1,
    }


def collate(features: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token rows; concatenate image tiles in sample order (the model fills the image tokens
    in that order)."""
    length = max(len(f["input_ids"]) for f in features)
    batch = len(features)
    input_ids = torch.full((batch, length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, length), dtype=torch.long)
    labels = torch.full((batch, length), IGNORE_INDEX, dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        input_ids[i, :n] = torch.tensor(f["input_ids"], dtype=torch.long)
        attention_mask[i, :n] = 1
        if "labels" in f:
            labels[i, :n] = torch.tensor(f["labels"], dtype=torch.long)
    out = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": torch.cat([f["pixel_values"] for f in features], dim=0),
        "head_positions": torch.tensor([f["head_position"] for f in features], dtype=torch.long),
        "level_positions": torch.tensor([f["level_position"] for f in features], dtype=torch.long),
    }
    if "labels" in features[0]:
        out["labels"] = labels
        out["scores"] = torch.tensor([f["scores"] for f in features], dtype=torch.float32)
        out["is_expert"] = torch.tensor([f["is_expert"] for f in features], dtype=torch.bool)
    return out


class HumanBeautyDataset(torch.utils.data.Dataset):
    """Training samples; one question paraphrase drawn per encode (seeded), as the public register."""

    def __init__(self, samples: list[Sample], processor: BackboneProcessor, seed: int = 42):
        self.samples = samples
        self.processor = processor
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        standard = self.processor.config.standard
        question = self.rng.choice(
            standard.expert_questions if sample.is_expert else standard.overall_questions
        )
        return encode_training_sample(self.processor, load_image(sample.image_path), sample, question)

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate(features, self.processor.pad_token_id)
