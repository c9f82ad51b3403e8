"""Shapes, gradients, the switch, the LM score and the Expert hierarchy (timm-style checks)."""

from __future__ import annotations

import pytest
import torch

from annotation.standards.humanbeauty import (
    APPEARANCE_INDEX,
    ENVIRONMENT_INDEX,
    EXPERT_QUESTIONS,
    FACIAL_INDEX,
    LEAF_INDICES,
    OVERALL_INDEX,
    OVERALL_QUESTIONS,
)
from modeling.data import Sample, collate, encode_training_sample, load_image, read_label_file
from modeling.model import ExpertHead, HumanAesExpert


def _batch(processor, release_dir, kinds: str):
    samples = read_label_file(release_dir / "train_label.jsonl", release_dir)
    overall = [s for s in samples if not s.is_expert]
    expert = [s for s in samples if s.is_expert]
    chosen = [(overall if k == "o" else expert).pop() for k in kinds]
    feats = [
        encode_training_sample(
            processor,
            load_image(s.image_path),
            s,
            EXPERT_QUESTIONS[0] if s.is_expert else OVERALL_QUESTIONS[0],
        )
        for s in chosen
    ]
    return collate(feats, processor.pad_token_id)


def _grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad.abs().sum() for p in module.parameters() if p.grad is not None]
    return float(sum(grads)) if grads else 0.0


def test_forward_backward_every_head_gets_gradients(model_and_processor, release_dir):
    model, processor = model_and_processor
    model.set_stage(1)
    out = model(**_batch(processor, release_dir, "oe"))
    assert out.expert_scores.shape == (2, 12)
    assert out.reg_score.shape == out.lm_score.shape == (2,)
    assert out.final_score is None  # MetaVoter untrained
    assert torch.isfinite(out.loss)
    out.loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "stage one trains something"
    no_grad = [n for n, p in trainable.items() if p.grad is None or not torch.any(p.grad != 0)]
    # LoRA B matrices start at zero, so their A partners get no gradient on the first step; all else must.
    assert [n for n in no_grad if "lora_A" not in n] == []
    assert any("lora_B" in n for n in trainable)
    assert _grad_norm(model.regression_head) > 0
    assert _grad_norm(model.expert_head) > 0
    frozen = [n for n, p in model.named_parameters() if "vision_tower" in n or "lm_head" in n or "embed" in n]
    assert frozen and all(not model.get_parameter(n).requires_grad for n in frozen)
    assert not any(p.requires_grad for p in model.metavoter.parameters())


@pytest.mark.parametrize(
    ("kinds", "trained", "untouched"),
    [("oo", "regression_head", "expert_head"), ("ee", "expert_head", "regression_head")],
)
def test_switch_routes_gradients(model_and_processor, release_dir, kinds, trained, untouched):
    model, processor = model_and_processor
    model.set_stage(1)
    out = model(**_batch(processor, release_dir, kinds))
    out.loss.backward()
    assert _grad_norm(getattr(model, trained)) > 0
    assert _grad_norm(getattr(model, untouched)) == 0.0
    assert float(out.loss_ce.detach()) > 0


def test_lm_score_is_weighted_level_softmax(model_and_processor, release_dir):
    model, processor = model_and_processor
    with torch.no_grad():
        out = model(**_batch(processor, release_dir, "oe"))
    assert torch.all((out.lm_score >= 0) & (out.lm_score <= 1))
    assert torch.allclose(out.level_probs.sum(-1), torch.ones(2))
    expected = out.level_probs @ torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    assert torch.allclose(out.lm_score, expected)
    assert torch.all((out.expert_scores >= 0) & (out.expert_scores <= 1))


def test_expert_head_follows_hierarchy():
    torch.manual_seed(0)
    head = ExpertHead(hidden_size=8, ffn_hidden=4, ffn_act="gelu")
    leaves = torch.randn(3, len(LEAF_INDICES))
    base = head.forward_from_leaf_logits(leaves)
    env = leaves.clone()
    env[:, LEAF_INDICES.index(ENVIRONMENT_INDEX)] += 3.0
    moved = head.forward_from_leaf_logits(env)
    assert torch.equal(moved[:, FACIAL_INDEX], base[:, FACIAL_INDEX])
    assert torch.equal(moved[:, APPEARANCE_INDEX], base[:, APPEARANCE_INDEX])
    assert not torch.allclose(moved[:, OVERALL_INDEX], base[:, OVERALL_INDEX])
    face = leaves.clone()
    face[:, 0] += 3.0  # facial brightness
    moved = head.forward_from_leaf_logits(face)
    assert not torch.allclose(moved[:, FACIAL_INDEX], base[:, FACIAL_INDEX])
    assert torch.equal(moved[:, APPEARANCE_INDEX], base[:, APPEARANCE_INDEX])
    assert torch.equal(moved[:, ENVIRONMENT_INDEX], base[:, ENVIRONMENT_INDEX])


def test_head_token_ignores_the_answer(model_and_processor, release_dir):
    """Heads read the prompt end: the answer (and so the label) cannot leak into the head input."""
    model, processor = model_and_processor
    image = load_image(read_label_file(release_dir / "train_label.jsonl", release_dir)[0].image_path)
    low = Sample("x", (0.0,) * 11 + (0.1,), False)
    high = Sample("x", (0.0,) * 11 + (0.9,), False)
    feats = [encode_training_sample(processor, image, s, OVERALL_QUESTIONS[1]) for s in (low, high)]
    model.eval()
    with torch.no_grad():
        out = model(**collate(feats, processor.pad_token_id))
    assert torch.allclose(out.reg_score[0], out.reg_score[1], atol=1e-6)
    assert torch.allclose(out.lm_score[0], out.lm_score[1], atol=1e-6)


def test_lora_targets_language_model_and_projector(config):
    from modeling.data import BackboneProcessor

    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    targets = model.apply_lora()
    assert any("multi_modal_projector" in t for t in targets)
    assert any("language_model" in t and "q_proj" in t for t in targets)
    assert not any("vision_tower" in t or "lm_head" in t for t in targets)
