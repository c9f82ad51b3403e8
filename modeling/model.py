"""HumanAesExpert: a vision-language backbone with three scoring heads and a MetaVoter (paper §4).

Read top-down:

1. small modules: ``RegressionHead``, ``ExpertHead`` (the sparse hierarchy of paper Fig. 3b), ``MetaVoter``;
2. ``HumanAesExpert``: loads a transformers image-text-to-text backbone from a LOCAL directory
   (native InternVL = InternViT + projector + Qwen2 for the paper's 1B), exposes ``forward_features``
   (the last hidden state) and computes, from one forward pass:

   * the LM-head score (paper Eq. 4): softmax over the five level-word logits at the slot that predicts
     the overall rating word, dotted with ``config.level_weights`` (0, .25, .5, .75, 1 for bad..excellent);
   * the Regression-head score: ``Linear(hidden, 1)`` on the head token;
   * the Expert-head scores: 12 values in ``modeling.standard`` order;
   * the MetaVoter's final score from the three overall scores (once stage two has trained it);
   * the loss of paper Eq. 7 when targets are given: LM cross-entropy over the answer tokens for every
     sample, plus ``lambda_reg`` x MSE(regression, overall) for overall-only samples (``is_expert`` False)
     or ``mu_exp`` x mean-over-12-nodes MSE(expert, scores) for 12-dimension samples.

The "head token" is the last token of the prompt (the end of ``<|im_start|>assistant\\n``): with causal
attention its hidden state depends only on the image and the question, so training (which appends the
answer) and scoring (which does not) read the very same state. See docs/modeling.md for every choice
the paper leaves open.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from modeling.configuration import HumanAesExpertConfig
from modeling.standard import (
    APPEARANCE_INDEX,
    APPEARANCE_LEAF_INDICES,
    ENVIRONMENT_INDEX,
    FACIAL_INDEX,
    FACIAL_LEAF_INDICES,
    LEAF_INDICES,
    NUM_DIMENSIONS,
    OVERALL_INDEX,
)

IGNORE_INDEX = -100
_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


def squash(x: torch.Tensor, activation: str) -> torch.Tensor:
    """Map raw head outputs to [0, 1]: sigmoid always; "clamp" is the identity while training (so MSE
    keeps its gradient outside [0, 1]) and a clamp at inference."""
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x if torch.is_grad_enabled() else x.clamp(0.0, 1.0)


def torch_dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


# ---------------------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------------------


class RegressionHead(nn.Module):
    """S_reg = H_reg(h): one Linear on the head token (``language_model.lm_regression_head`` upstream)."""

    def __init__(self, hidden_size: int, bias: bool = True, activation: str = "sigmoid") -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, 1, bias=bias)
        self.activation = activation

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [B, H] -> [B]
        return squash(self.proj(h).squeeze(-1), self.activation)


class NodeFFN(nn.Module):
    """A parent node of the hierarchy: children scores -> one score."""

    def __init__(self, in_features: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = _ACTIVATIONS[act]()
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, k] -> [B]
        return self.fc2(self.act(self.fc1(x))).squeeze(-1)


class ExpertHead(nn.Module):
    """The sparsely connected MLP of paper Fig. 3b.

    ``leaves``: Linear(hidden -> 9) gives the nine leaf scores; ``facial``: FFN(5 facial leaves) -> Facial
    Aesthetic; ``appearance``: FFN(Outfit, Body Shape, Looks) -> General Appearance; ``overall``:
    FFN(Environment, Facial Aesthetic, General Appearance) -> Overall. Every node passes through the
    score activation, and parents read their children's *scores*, so each node is a supervised score.
    """

    def __init__(self, hidden_size: int, ffn_hidden: int, ffn_act: str, activation: str = "sigmoid") -> None:
        super().__init__()
        self.leaves = nn.Linear(hidden_size, len(LEAF_INDICES))
        self.facial = NodeFFN(len(FACIAL_LEAF_INDICES), ffn_hidden, ffn_act)
        self.appearance = NodeFFN(len(APPEARANCE_LEAF_INDICES), ffn_hidden, ffn_act)
        self.overall = NodeFFN(3, ffn_hidden, ffn_act)
        self.activation = activation

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [B, H] -> [B, 12]
        return self.forward_from_leaf_logits(self.leaves(h))

    def forward_from_leaf_logits(self, leaf_logits: torch.Tensor) -> torch.Tensor:
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


class MetaVoter(nn.Module):
    """y_final = V(S_LM', S_reg, S_exp): Linear-BN-ReLU x2 then Linear, on the three overall scores."""

    def __init__(self, hidden: int = 16, activation: str = "sigmoid") -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )
        self.activation = activation

    def forward(self, head_scores: torch.Tensor) -> torch.Tensor:  # [B, 3] -> [B]
        return squash(self.net(head_scores).squeeze(-1), self.activation)


# ---------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------


@dataclass
class HumanAesExpertOutput:
    lm_score: torch.Tensor  # [B] in [0, 1], paper Eq. 4 (already min-max normalised, see level_weights)
    reg_score: torch.Tensor  # [B]
    expert_scores: torch.Tensor  # [B, 12], modeling.standard order; [:, 11] is S_exp
    level_probs: torch.Tensor  # [B, 5], softmax over the level words (ascending quality)
    final_score: torch.Tensor | None = None  # [B], MetaVoter (None until stage two trained it)
    loss: torch.Tensor | None = None
    loss_ce: torch.Tensor | None = None
    loss_reg: torch.Tensor | None = None
    loss_exp: torch.Tensor | None = None

    def head_scores(self) -> torch.Tensor:
        """[B, 3] MetaVoter input: (S_LM', S_reg, S_exp)."""
        return torch.stack([self.lm_score, self.reg_score, self.expert_scores[:, OVERALL_INDEX]], dim=-1)

    def detach(self) -> HumanAesExpertOutput:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return HumanAesExpertOutput(**{k: (v.detach() if v is not None else None) for k, v in values.items()})


# ---------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------


class HumanAesExpert(nn.Module):
    def __init__(self, config: HumanAesExpertConfig, backbone: nn.Module, level_token_ids: list[int]) -> None:
        super().__init__()
        if len(level_token_ids) != len(config.level_words):
            raise ValueError("one token id per level word is required")
        self.config = config
        self.backbone = backbone
        hidden = self.hidden_size
        self.regression_head = RegressionHead(hidden, config.regression_bias, config.score_activation)
        self.expert_head = ExpertHead(
            hidden, config.expert_ffn_hidden, config.expert_ffn_activation, config.score_activation
        )
        self.metavoter = MetaVoter(config.metavoter_hidden, config.score_activation)
        self.register_buffer("level_token_ids", torch.tensor(level_token_ids, dtype=torch.long))
        self.register_buffer("level_weights", torch.tensor(config.level_weights, dtype=torch.float32))
        self.register_buffer("metavoter_ready", torch.tensor(False))
        self.lora_applied = False

    # --- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_backbone_dir(
        cls, config: HumanAesExpertConfig, tokenizer=None, device: str | torch.device | None = None
    ) -> HumanAesExpert:
        """Load the backbone with transformers from ``config.backbone_path`` (local files only)."""
        from transformers import AutoModelForImageTextToText, AutoTokenizer

        backbone = AutoModelForImageTextToText.from_pretrained(
            config.backbone_path, local_files_only=True, dtype=torch_dtype(config.dtype)
        )
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(config.backbone_path, local_files_only=True)
        model = cls(config, backbone, level_token_ids_for(tokenizer, config.level_words))
        return model.to(device) if device is not None else model

    @property
    def hidden_size(self) -> int:
        cfg = self.backbone.config
        text_cfg = getattr(cfg, "text_config", None) or cfg
        return int(text_cfg.hidden_size)

    def apply_lora(self) -> list[str]:
        """Inject LoRA (r, alpha, dropout from the config) into every Linear of the language model and the
        projector (``lora_include``), not the output head, embeddings or vision tower (``lora_exclude``)."""
        from peft import LoraConfig, inject_adapter_in_model

        targets = lora_target_names(self.backbone, self.config.lora_include, self.config.lora_exclude)
        if not targets:
            raise ValueError("no LoRA target found; check lora_include / lora_exclude")
        lora = LoraConfig(
            r=self.config.lora_r,
            lora_alpha=self.config.lora_alpha,
            lora_dropout=self.config.lora_dropout,
            target_modules=targets,
            bias="none",
        )
        inject_adapter_in_model(lora, self.backbone)
        self.lora_applied = True
        return targets

    def set_stage(self, stage: int) -> None:
        """Stage 1: LoRA weights + regression/expert heads trainable. Stage 2: MetaVoter only."""
        for name, param in self.named_parameters():
            if stage == 1:
                param.requires_grad = ("lora_" in name) or name.startswith(
                    ("regression_head.", "expert_head.")
                )
            elif stage == 2:
                param.requires_grad = name.startswith("metavoter.")
            else:
                raise ValueError(f"stage must be 1 or 2, got {stage}")

    # --- forward --------------------------------------------------------------------------------------
    def forward_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        **backbone_kwargs,
    ) -> torch.Tensor:
        """Last hidden state [B, T, H] of the language model (no vocabulary projection)."""
        inner = getattr(self.backbone, "model", None)
        if inner is not None:
            out = inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                pixel_values=pixel_values,
                **backbone_kwargs,
            )
            return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            output_hidden_states=True,
            **backbone_kwargs,
        )
        return out.hidden_states[-1]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        head_positions: torch.Tensor,
        level_positions: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        scores: torch.Tensor | None = None,
        is_expert: torch.Tensor | None = None,
        use_metavoter: bool | None = None,
        **backbone_kwargs,
    ) -> HumanAesExpertOutput:
        hidden = self.forward_features(input_ids, attention_mask, pixel_values, **backbone_kwargs)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        lm_head = self.backbone.get_output_embeddings()

        # LM-head score (Eq. 4): level-word logits at the slot predicting the overall rating word.
        level_logits = lm_head(hidden[rows, level_positions])[:, self.level_token_ids].float()
        level_probs = level_logits.softmax(dim=-1)
        lm_score = level_probs @ self.level_weights

        # Regression and Expert heads read the head token (fp32 heads on a possibly bf16 backbone).
        head_in = hidden[rows, head_positions].to(self.regression_head.proj.weight.dtype)
        reg_score = self.regression_head(head_in)
        expert_scores = self.expert_head(head_in)

        out = HumanAesExpertOutput(
            lm_score=lm_score, reg_score=reg_score, expert_scores=expert_scores, level_probs=level_probs
        )
        if use_metavoter is None:
            use_metavoter = bool(self.metavoter_ready)
        if use_metavoter:
            out.final_score = self.metavoter(out.head_scores().detach())

        if labels is not None:
            self._add_losses(out, hidden, lm_head, labels, scores, is_expert)
        return out

    def _add_losses(self, out, hidden, lm_head, labels, scores, is_expert) -> None:
        """Paper Eq. 7, averaged over the batch: CE always; per sample + lambda*L_reg (f=0) or
        + mu*L_exp (f=1). The heads only see gradient from their own samples (the switch)."""
        # Cross-entropy over answer tokens only; project just those positions onto the vocabulary.
        shifted = labels[:, 1:]
        keep = shifted != IGNORE_INDEX
        logits = lm_head(hidden[:, :-1][keep]).float()
        out.loss_ce = nn.functional.cross_entropy(logits, shifted[keep]) if keep.any() else logits.sum() * 0.0
        loss = out.loss_ce
        if scores is not None and is_expert is not None:
            scores = scores.to(out.reg_score.dtype)
            expert = is_expert.bool()
            batch = float(expert.numel())
            reg_err = (out.reg_score[~expert] - scores[~expert, OVERALL_INDEX]) ** 2  # Eq. 5
            exp_err = ((out.expert_scores[expert] - scores[expert]) ** 2).mean(dim=-1)  # MSE on 12 nodes
            out.loss_reg = reg_err.sum() / batch
            out.loss_exp = exp_err.sum() / batch
            loss = loss + self.config.lambda_reg * out.loss_reg + self.config.mu_exp * out.loss_exp
        out.loss = loss

    # --- state the checkpoints carry --------------------------------------------------------------
    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.backbone.state_dict().items() if "lora_" in k}

    def heads_state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for prefix in ("regression_head", "expert_head"):
            for k, v in getattr(self, prefix).state_dict().items():
                state[f"{prefix}.{k}"] = v.detach().cpu()
        state["level_token_ids"] = self.level_token_ids.detach().cpu()
        return state

    def metavoter_state_dict(self) -> dict[str, torch.Tensor]:
        state = {f"metavoter.{k}": v.detach().cpu() for k, v in self.metavoter.state_dict().items()}
        state["metavoter_ready"] = self.metavoter_ready.detach().cpu()
        return state


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def level_token_ids_for(tokenizer, words: tuple[str, ...]) -> list[int]:
    """First sub-token of " word" (the word follows a space in every answer), as Q-Align does."""
    ids = []
    for word in words:
        pieces = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if not pieces:
            raise ValueError(f"level word {word!r} encodes to no token")
        ids.append(int(pieces[0]))
    if len(set(ids)) != len(ids):
        raise ValueError(f"level words share a first token: {dict(zip(words, ids, strict=True))}")
    return ids


def lora_target_names(module: nn.Module, include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    return [
        name
        for name, sub in module.named_modules()
        if isinstance(sub, nn.Linear)
        and any(token in name for token in include)
        and not any(token in name for token in exclude)
    ]
