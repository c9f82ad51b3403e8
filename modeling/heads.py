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
``expert`` (the hierarchy of Fig. 3b, built from ``config.standard``: for HumanBeauty the 12 nodes of the
paper, for another standard its own dimensions and parents; its overall node is S_exp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from modeling.configuration import HumanAesExpertConfig, ModelStandard

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
    scores: torch.Tensor  # [B, D] in the standard's order (overall-only samples: only the overall is set)
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

    def __init__(
        self, hidden_size: int, bias: bool = True, activation: str = "sigmoid", overall_index: int = 11
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, 1, bias=bias)
        self.activation = activation
        self.overall_index = overall_index  # the overall's column in HeadTargets.scores

    @classmethod
    def build(cls, config: HumanAesExpertConfig, hidden_size: int) -> RegressionHead:
        return cls(
            hidden_size, config.regression_bias, config.score_activation, config.standard.overall_index
        )

    def score(self, h: torch.Tensor) -> torch.Tensor:  # [B, H] -> [B]
        return squash(self.proj(h).squeeze(-1), self.activation)

    def forward(self, inputs: HeadInput) -> dict[str, torch.Tensor]:
        return {"overall": self.score(inputs.head_token(self.proj.weight.dtype))}

    def loss(self, result: dict[str, torch.Tensor], targets: HeadTargets) -> torch.Tensor:
        keep = ~targets.is_expert
        err = (
            result["overall"][keep] - targets.scores[keep, self.overall_index].to(result["overall"].dtype)
        ) ** 2
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
    """The sparsely connected MLP of paper Fig. 3b, wired from a ``ModelStandard``'s hierarchy.

    ``leaves``: Linear(hidden -> number of leaves) gives the leaf scores (leaves in dimension order); each
    parent node is a ``NodeFFN`` over its children's scores (``ModelStandard.children`` order), evaluated
    children first. For HumanBeauty these are the paper's ``facial`` (5 facial leaves -> Facial
    Aesthetic), ``appearance`` (Outfit, Body Shape, Looks -> General Appearance) and ``overall``
    (Environment, Facial Aesthetic, General Appearance -> Overall); for a flat standard (ArtiMuse) one
    node over all attributes -> the comprehensive one. Every node passes through the score activation,
    and parents read their children's *scores*, so each node is a supervised score. Trained on
    all-dimension samples (is_expert True): mean over the nodes of the squared error, weight ``mu_exp``.
    Reads the all-dimensions question's prompt end at inference.
    """

    name = "expert"
    attribute = "expert_head"
    prompt = "expert"
    loss_weight = "mu_exp"

    def __init__(
        self,
        hidden_size: int,
        ffn_hidden: int,
        ffn_act: str,
        activation: str = "sigmoid",
        standard: ModelStandard | None = None,
    ) -> None:
        super().__init__()
        standard = standard or ModelStandard()
        self.num_dimensions = standard.num_dimensions
        self.overall_index = standard.overall_index
        self.leaf_indices = standard.leaf_indices
        self.leaves = nn.Linear(hidden_size, len(self.leaf_indices))
        # (dimension index, module name, input dimension indices), children before parents
        self.nodes: tuple[tuple[int, str, tuple[int, ...]], ...] = tuple(
            (i, standard.node_module(i), standard.children(i)) for i in standard.node_order
        )
        for _, module, inputs in self.nodes:
            self.add_module(module, NodeFFN(len(inputs), ffn_hidden, ffn_act))
        self.activation = activation

    @classmethod
    def build(cls, config: HumanAesExpertConfig, hidden_size: int) -> ExpertHead:
        return cls(
            hidden_size,
            config.expert_ffn_hidden,
            config.expert_ffn_activation,
            config.score_activation,
            config.standard,
        )

    def forward(self, inputs: HeadInput) -> dict[str, torch.Tensor]:
        dims = self.scores(inputs.head_token(self.leaves.weight.dtype))
        return {"overall": dims[:, self.overall_index], "dimensions": dims}

    def scores(self, h: torch.Tensor) -> torch.Tensor:  # [B, H] -> [B, D]
        return self.forward_from_leaf_logits(self.leaves(h))

    def forward_from_leaf_logits(self, leaf_logits: torch.Tensor) -> torch.Tensor:  # [B, leaves] -> [B, D]
        leaf = squash(leaf_logits, self.activation)  # in leaf_indices order
        by_index = {index: leaf[:, i] for i, index in enumerate(self.leaf_indices)}
        for index, module, children in self.nodes:
            node_in = torch.stack([by_index[i] for i in children], dim=-1)
            by_index[index] = squash(getattr(self, module)(node_in), self.activation)
        return torch.stack([by_index[i] for i in range(self.num_dimensions)], dim=-1)

    def loss(self, result: dict[str, torch.Tensor], targets: HeadTargets) -> torch.Tensor:
        keep = targets.is_expert
        dims = result["dimensions"]
        err = ((dims[keep] - targets.scores[keep].to(dims.dtype)) ** 2).mean(dim=-1)  # MSE over the nodes
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
