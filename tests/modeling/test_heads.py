"""The head registry: each head on its own, and a new head added as one registered class."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch import nn

from annotation.standards.humanbeauty import OVERALL_INDEX
from modeling.configuration import HumanAesExpertConfig
from modeling.heads import (
    HEADS,
    ExpertHead,
    HeadInput,
    HeadTargets,
    LMScoreHead,
    MetaVoter,
    RegressionHead,
    ScoreHead,
    register_head,
)

B, T, H, V = 4, 6, 8, 20


def _inputs(seed: int = 0) -> HeadInput:
    gen = torch.Generator().manual_seed(seed)
    return HeadInput(
        hidden=torch.randn(B, T, H, generator=gen),
        head_positions=torch.tensor([5, 4, 3, 5]),
        level_positions=torch.tensor([4, 3, 2, 4]),
        output_embeddings=nn.Linear(H, V, bias=False),
        level_token_ids=torch.tensor([3, 7, 11, 13, 17]),
        level_weights=torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]),
    )


def _targets() -> HeadTargets:
    scores = torch.linspace(0.1, 0.9, B * 12).reshape(B, 12)
    return HeadTargets(scores=scores, is_expert=torch.tensor([False, True, False, True]))


def test_registry_holds_the_papers_heads_in_metavoter_order():
    assert list(HEADS)[:3] == ["lm", "regression", "expert"]
    assert [HEADS[n].prompt for n in ("lm", "regression", "expert")] == ["overall", "overall", "expert"]


def test_lm_head_is_the_weighted_level_softmax_at_the_level_slot():
    torch.manual_seed(0)
    inputs = _inputs()
    result = LMScoreHead()(inputs)
    rows = torch.arange(B)
    logits = inputs.output_embeddings(inputs.hidden[rows, inputs.level_positions])[:, inputs.level_token_ids]
    expected = logits.softmax(-1) @ inputs.level_weights
    assert torch.allclose(result["overall"], expected)
    assert torch.allclose(result["level_probs"].sum(-1), torch.ones(B))
    assert list(LMScoreHead().parameters()) == []  # the backbone's own vocabulary projection
    # another hidden state at a non-level position does not move it
    moved = _inputs()
    moved.output_embeddings = inputs.output_embeddings
    moved.hidden[0, 0] += 5.0
    assert torch.allclose(LMScoreHead()(moved)["overall"][0], result["overall"][0])


def test_regression_head_reads_the_head_token_and_learns_from_overall_samples_only():
    torch.manual_seed(0)
    head = RegressionHead.build(HumanAesExpertConfig(), H)
    inputs = _inputs()
    result = head(inputs)
    h = inputs.hidden[torch.arange(B), inputs.head_positions]
    assert torch.allclose(result["overall"], torch.sigmoid(head.proj(h).squeeze(-1)))
    targets = _targets()
    loss = head.loss(result, targets)
    keep = ~targets.is_expert
    expected = ((result["overall"][keep] - targets.scores[keep, OVERALL_INDEX]) ** 2).sum() / B
    assert torch.allclose(loss, expected)
    # an all-expert batch gives it no gradient (the switch)
    all_expert = HeadTargets(scores=targets.scores, is_expert=torch.ones(B, dtype=torch.bool))
    head.loss(head(inputs), all_expert).backward()
    assert float(head.proj.weight.grad.abs().sum()) == 0.0


def test_expert_head_returns_12_nodes_and_learns_from_expert_samples_only():
    torch.manual_seed(0)
    head = ExpertHead.build(HumanAesExpertConfig(expert_ffn_hidden=4), H)
    inputs = _inputs()
    result = head(inputs)
    assert result["dimensions"].shape == (B, 12)
    assert torch.equal(result["overall"], result["dimensions"][:, OVERALL_INDEX])
    targets = _targets()
    keep = targets.is_expert
    expected = ((result["dimensions"][keep] - targets.scores[keep]) ** 2).mean(-1).sum() / B
    assert torch.allclose(head.loss(result, targets), expected)
    none_expert = HeadTargets(scores=targets.scores, is_expert=torch.zeros(B, dtype=torch.bool))
    head.loss(head(inputs), none_expert).backward()
    assert all(float(p.grad.abs().sum()) == 0.0 for p in head.parameters())


def test_metavoter_width_follows_its_inputs():
    voter = MetaVoter(n_inputs=4, hidden=8).eval()
    assert voter.net[0].in_features == 4
    out = voter(torch.rand(3, 4))
    assert out.shape == (3,) and torch.all((out >= 0) & (out <= 1))


def test_register_head_refuses_a_bad_prompt_or_a_taken_attribute(monkeypatch):
    monkeypatch.setattr("modeling.heads.HEADS", dict(HEADS))

    class BadPrompt(ScoreHead):
        name = "bad"
        attribute = "bad_head"
        prompt = "somewhere"

    class Clash(ScoreHead):
        name = "clash"
        attribute = "regression_head"

    with pytest.raises(ValueError, match="prompt"):
        register_head(BadPrompt)
    with pytest.raises(ValueError, match="already used"):
        register_head(Clash)


class BrightnessHead(ScoreHead):
    """A fourth head for the test: a Linear on the head token, trained on every sample's overall."""

    name = "toy"
    attribute = "toy_head"
    loss_weight: ClassVar[str | None] = "lambda_reg"

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, 1)

    @classmethod
    def build(cls, config, hidden_size):
        return cls(hidden_size)

    def forward(self, inputs):
        return {"overall": torch.sigmoid(self.proj(inputs.head_token(self.proj.weight.dtype)).squeeze(-1))}

    def loss(self, result, targets):
        return ((result["overall"] - targets.scores[:, OVERALL_INDEX]) ** 2).mean()


def test_a_new_head_is_one_registered_class(monkeypatch, config, tmp_path, release_dir):
    """Registering one class gives the model the head, a wider MetaVoter, its loss, its stage-one
    training, and a checkpoint round trip, with no other edit."""
    from modeling.checkpoint import load_checkpoint, save_checkpoint
    from modeling.data import BackboneProcessor
    from modeling.model import HumanAesExpert
    from tests.modeling.test_model import _batch

    monkeypatch.setitem(HEADS, BrightnessHead.name, BrightnessHead)
    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    torch.manual_seed(0)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    assert model.head_names == ("lm", "regression", "expert", "toy")
    assert model.metavoter.net[0].in_features == 4
    model.set_stage(1)
    out = model(**_batch(processor, release_dir, "oe"))
    assert out.head_scores().shape == (2, 4)
    assert set(out.head_losses) == {"regression", "expert", "toy"}
    out.loss.backward()
    assert float(model.toy_head.proj.weight.grad.abs().sum()) > 0
    assert model.toy_head.proj.weight.requires_grad

    model.metavoter_ready.fill_(True)
    model.eval()
    save_checkpoint(model, tmp_path / "ckpt")
    reloaded, _ = load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(reloaded.toy_head.proj.weight, model.toy_head.proj.weight)
    with torch.no_grad():
        batch = _batch(processor, release_dir, "o")
        a, b = model(**batch), reloaded(**batch)
    assert torch.allclose(a.final_score, b.final_score, atol=1e-6)
