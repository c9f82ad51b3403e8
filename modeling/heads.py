"""Scoring heads as a registry: ``HumanAesExpert.forward_features`` -> ``forward_head(name)`` (no Django).

Every head is one class registered with ``@register_head``. The model builds one instance of each
registered head (as the attribute ``cls.attribute``, which is also its state-dict prefix), runs them all on
the same features, sizes the MetaVoter from the registry (one input per head, in registration order) and
adds each head's own loss. Adding a head therefore means writing one class:

* ``name``: the registry key and output key (``out.heads[name]``); ``attribute``: module attribute;
* ``prompt``: which scoring prompt the head reads at inference, ``"overall"`` or ``"expert"`` (the
  scorer runs one backbone pass per prompt and takes each head's output from its own pass);
* ``build(config, hidden_size)``; ``forward(inputs) -> {"overall": [B], ...}``; optionally
  ``loss(result, targets)`` (unweighted, summed over its samples / B) and ``loss_weight`` (the name of the
  config field weighting it in paper Eq. 7).

The three heads of the paper, in MetaVoter order: ``lm`` (S_LM, Eq. 4), ``regression`` (S_reg) and
``expert`` (the 12-node hierarchy of Fig. 3b, its Overall node is S_exp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from annotation.standards.humanbeauty import (
    APPEARANCE_INDEX,
    APPEARANCE_LEAF_INDICES,
    ENVIRONMENT_INDEX,
    FACIAL_INDEX,
    FACIAL_LEAF_INDICES,
    LEAF_INDICES,
    NUM_DIMENSIONS,
    OVERALL_INDEX,
)
from modeling.configuration import HumanAesExpertConfig

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


def squash(x: torch.Tensor, activation: str) -> torch.Tensor:
    """Map raw head outputs to [0, 1]: sigmoid always; "clamp" is the identity while training (so MSE
    keeps its gradient outside [0, 1]) and a clamp at inference."""
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x if torch.is_grad_enabled() else x.clamp(0.0, 1.0)


@dataclass
class HeadInput:
    """What ``forward_features`` gives every head: the last hidden state and where to read it."""

    hidden: torch.Tensor  # [B, T, H] last hidden state of the language model
    head_positions: torch.Tensor  # [B] the head token (last prompt token)
    level_positions: torch.Tensor  # [B] the slot that predicts the overall rating word
    output_embeddings: nn.Module  # the backbone's vocabulary projection (lm_head)
    level_token_ids: torch.Tensor  # [L] first token of each level word, ascending quality
    level_weights: torch.Tensor  # [L] value of each level on [0, 1]

    def head_token(self, dtype: torch.dtype) -> torch.Tensor:  # [B, H]
        rows = torch.arange(self.hidden.shape[0], device=self.hidden.device)
        return self.hidden[rows, self.head_positions].to(dtype)


@dataclass
class HeadTargets:
    scores: (
        torch.Tensor
    )  # [B, 12] in annotation.standards.humanbeauty order (overall-only samples: overall at [11])
    is_expert: torch.Tensor  # [B] bool: the switch of paper Eq. 7


class ScoreHead(nn.Module):
    name: ClassVar[str]
    attribute: ClassVar[str]
    prompt: ClassVar[str] = "overall"
    loss_weight: ClassVar[str | None] = None  # a HumanAesExpertConfig field

    @classmethod
    def build(cls, config: HumanAesExpertConfig, hidden_size: int) -> ScoreHead:
        raise NotImplementedError

    def forward(self, inputs: HeadInput) -> dict[str, torch.Tensor]:  # must hold "overall" [B]
        raise NotImplementedError

    def loss(self, result: dict[str, torch.Tensor], targets: HeadTargets) -> torch.Tensor | None:
        return None


HEADS: dict[str, type[ScoreHead]] = {}


def register_head(cls: type[ScoreHead]) -> type[ScoreHead]:
    """Class decorator: add a head to the registry (its position is its MetaVoter input column)."""
    if cls.prompt not in ("overall", "expert"):
        raise ValueError(f"{cls.__name__}.prompt must be 'overall' or 'expert', got {cls.prompt!r}")
    taken = {h.attribute for n, h in HEADS.items() if n != cls.name}
    if cls.attribute in taken or cls.attribute in ("backbone", "metavoter"):
        raise ValueError(f"head attribute {cls.attribute!r} is already used")
    HEADS[cls.name] = cls
    return cls


# ---------------------------------------------------------------------------------------------------
# The paper's three heads
# ---------------------------------------------------------------------------------------------------


@register_head
class LMScoreHead(ScoreHead):
    """S_LM (paper Eq. 4): softmax over the level-word logits at the level slot, dotted with the level
    weights. It reuses the backbone's own (frozen) vocabulary projection and has no parameters; its
    training signal is the LM cross-entropy the model adds for every sample."""

    name = "lm"
    attribute = "lm_score_head"

    @classmethod
    def build(cls, config: HumanAesExpertConfig, hidden_size: int) -> LMScoreHead:
        return cls()

    def forward(self, inputs: HeadInput) -> dict[str, torch.Tensor]:
        rows = torch.arange(inputs.hidden.shape[0], device=inputs.hidden.device)
        logits = inputs.output_embeddings(inputs.hidden[rows, inputs.level_positions])
        level_probs = logits[:, inputs.level_token_ids].float().softmax(dim=-1)
        return {"overall": level_probs @ inputs.level_weights, "level_probs": level_probs}


@register_head
class RegressionHead(ScoreHead):
    """S_reg = H_reg(h): one Linear on the head token (``language_model.lm_regression_head`` upstream).
    Trained on overall-only samples (is_expert False): (S_reg - y_overall)^2, weight ``lambda_reg``."""

    name = "regression"
    attribute = "regression_head"
    loss_weight = "lambda_reg"

    def __init__(self, hidden_size: int, bias: bool = True, activation: str = "sigmoid") -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, 1, bias=bias)
        self.activation = activation

    @classmethod
    def build(cls, config: HumanAesExpertConfig, hidden_size: int) -> RegressionHead:
        return cls(hidden_size, config.regression_bias, config.score_activation)

    def score(self, h: torch.Tensor) -> torch.Tensor:  # [B, H] -> [B]
        return squash(self.proj(h).squeeze(-1), self.activation)

    def forward(self, inputs: HeadInput) -> dict[str, torch.Tensor]:
        return {"overall": self.score(inputs.head_token(self.proj.weight.dtype))}

    def loss(self, result: dict[str, torch.Tensor], targets: HeadTargets) -> torch.Tensor:
        keep = ~targets.is_expert
        err = (result["overall"][keep] - targets.scores[keep, OVERALL_INDEX].to(result["overall"].dtype)) ** 2
        return err.sum() / float(targets.is_expert.numel())  # Eq. 5, averaged over the whole batch


class NodeFFN(nn.Module):
    """A parent node of the hierarchy: children scores -> one score."""

    def __init__(self, in_features: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = _ACTIVATIONS[act]()
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, k] -> [B]
        return self.fc2(self.act(self.fc1(x))).squeeze(-1)


@register_head
class ExpertHead(ScoreHead):
    """The sparsely connected MLP of paper Fig. 3b.

    ``leaves``: Linear(hidden -> 9) gives the nine leaf scores; ``facial``: FFN(5 facial leaves) -> Facial
    Aesthetic; ``appearance``: FFN(Outfit, Body Shape, Looks) -> General Appearance; ``overall``:
    FFN(Environment, Facial Aesthetic, General Appearance) -> Overall. Every node passes through the
    score activation, and parents read their children's *scores*, so each node is a supervised score.
    Trained on 12-dimension samples (is_expert True): mean over the 12 nodes of the squared error,
    weight ``mu_exp``. Reads the 12-dimension question's prompt end at inference.
    """

    name = "expert"
    attribute = "expert_head"
    prompt = "expert"
    loss_weight = "mu_exp"

    def __init__(self, hidden_size: int, ffn_hidden: int, ffn_act: str, activation: str = "sigmoid") -> None:
        super().__init__()
        self.leaves = nn.Linear(hidden_size, len(LEAF_INDICES))
        self.facial = NodeFFN(len(FACIAL_LEAF_INDICES), ffn_hidden, ffn_act)
        self.appearance = NodeFFN(len(APPEARANCE_LEAF_INDICES), ffn_hidden, ffn_act)
        self.overall = NodeFFN(3, ffn_hidden, ffn_act)
        self.activation = activation

    @classmethod
    def build(cls, config: HumanAesExpertConfig, hidden_size: int) -> ExpertHead:
        return cls(
            hidden_size, config.expert_ffn_hidden, config.expert_ffn_activation, config.score_activation
        )

    def forward(self, inputs: HeadInput) -> dict[str, torch.Tensor]:
        dims = self.scores(inputs.head_token(self.leaves.weight.dtype))
        return {"overall": dims[:, OVERALL_INDEX], "dimensions": dims}

    def scores(self, h: torch.Tensor) -> torch.Tensor:  # [B, H] -> [B, 12]
        return self.forward_from_leaf_logits(self.leaves(h))

    def forward_from_leaf_logits(self, leaf_logits: torch.Tensor) -> torch.Tensor:  # [B, 9] -> [B, 12]
        leaf = squash(leaf_logits, self.activation)  # [B, 9] in LEAF_INDICES order
        by_index = {index: leaf[:, i] for i, index in enumerate(LEAF_INDICES)}
        facial_in = torch.stack([by_index[i] for i in FACIAL_LEAF_INDICES], dim=-1)
        appearance_in = torch.stack([by_index[i] for i in APPEARANCE_LEAF_INDICES], dim=-1)
        by_index[FACIAL_INDEX] = squash(self.facial(facial_in), self.activation)
        by_index[APPEARANCE_INDEX] = squash(self.appearance(appearance_in), self.activation)
        overall_in = torch.stack(
            [by_index[ENVIRONMENT_INDEX], by_index[FACIAL_INDEX], by_index[APPEARANCE_INDEX]], dim=-1
        )
        by_index[OVERALL_INDEX] = squash(self.overall(overall_in), self.activation)
        return torch.stack([by_index[i] for i in range(NUM_DIMENSIONS)], dim=-1)

    def loss(self, result: dict[str, torch.Tensor], targets: HeadTargets) -> torch.Tensor:
        keep = targets.is_expert
        dims = result["dimensions"]
        err = ((dims[keep] - targets.scores[keep].to(dims.dtype)) ** 2).mean(dim=-1)  # MSE on 12 nodes
        return err.sum() / float(targets.is_expert.numel())


class MetaVoter(nn.Module):
    """y_final = V(one overall score per registered head): Linear-BN-ReLU x2 then Linear. Sized from the
    head registry (three inputs for the paper's S_LM', S_reg, S_exp)."""

    def __init__(self, n_inputs: int = 3, hidden: int = 16, activation: str = "sigmoid") -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )
        self.activation = activation

    def forward(self, head_scores: torch.Tensor) -> torch.Tensor:  # [B, n_inputs] -> [B]
        return squash(self.net(head_scores).squeeze(-1), self.activation)
