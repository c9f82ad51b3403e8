"""HumanAesExpert: a vision-language backbone with three scoring heads and a MetaVoter (paper §4).

Read top-down:

1. the heads live in ``modeling.heads`` as a registry (``forward_features`` -> ``forward_head(name)``):
   ``lm``, ``regression``, ``expert`` (the sparse hierarchy of paper Fig. 3b); the ``MetaVoter`` has one
   input per registered head;
2. ``HumanAesExpert``: loads a transformers image-text-to-text backbone from a LOCAL directory
   (native InternVL = InternViT + projector + Qwen2 for the paper's 1B), exposes ``forward_features``
   (the last hidden state) and computes, from one forward pass:

   * the LM-head score (paper Eq. 4): softmax over the five level-word logits at the slot that predicts
     the overall rating word, dotted with ``config.level_weights`` (0, .25, .5, .75, 1 for bad..excellent);
   * the Regression-head score: ``Linear(hidden, 1)`` on the head token;
   * the Expert-head scores: one value per dimension of ``config.standard`` (12 for HumanBeauty), in its order;
   * the MetaVoter's final score from the three overall scores (once stage two has trained it);
   * the loss of paper Eq. 7 when targets are given: LM cross-entropy over the answer tokens for every
     sample, plus each head's own loss: ``lambda_reg`` x MSE(regression, overall) for overall-only
     samples (``is_expert`` False), ``mu_exp`` x mean-over-nodes MSE(expert, scores) for all-dimension
     samples.

The "head token" is the last token of the prompt (the end of ``<|im_start|>assistant\\n``): with causal
attention its hidden state depends only on the image and the question, so training (which appends the
answer) and scoring (which does not) read the very same state. See docs/modeling.md for every choice
the paper leaves open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from modeling.configuration import HumanAesExpertConfig
from modeling.heads import (
    HEADS,
    ExpertHead,
    HeadInput,
    HeadTargets,
    MetaVoter,
    NodeFFN,
    RegressionHead,
    ScoreHead,
    squash,
)

__all__ = [
    "HEADS",
    "IGNORE_INDEX",
    "ExpertHead",
    "HumanAesExpert",
    "HumanAesExpertOutput",
    "MetaVoter",
    "NodeFFN",
    "RegressionHead",
    "squash",
]

IGNORE_INDEX = -100


def torch_dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


# ---------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------


@dataclass
class HumanAesExpertOutput:
    heads: dict[str, dict[str, torch.Tensor]]  # registry name -> the head's outputs ("overall" [B], ...)
    final_score: torch.Tensor | None = None  # [B], MetaVoter (None until stage two trained it)
    loss: torch.Tensor | None = None
    loss_ce: torch.Tensor | None = None
    head_losses: dict[str, torch.Tensor] = field(default_factory=dict)  # unweighted, per head

    # The paper's three heads by their usual names.
    @property
    def lm_score(self) -> torch.Tensor:  # [B] in [0, 1], paper Eq. 4 (level_weights already min-max)
        return self.heads["lm"]["overall"]

    @property
    def level_probs(self) -> torch.Tensor:  # [B, 5], softmax over the level words (ascending quality)
        return self.heads["lm"]["level_probs"]

    @property
    def reg_score(self) -> torch.Tensor:  # [B]
        return self.heads["regression"]["overall"]

    @property
    def expert_scores(
        self,
    ) -> torch.Tensor:  # [B, D] in config.standard's order; [:, overall_index] is S_exp
        return self.heads["expert"]["dimensions"]

    @property
    def loss_reg(self) -> torch.Tensor | None:
        return self.head_losses.get("regression")

    @property
    def loss_exp(self) -> torch.Tensor | None:
        return self.head_losses.get("expert")

    def head_scores(self) -> torch.Tensor:
        """[B, n_heads] MetaVoter input: each head's overall score, in registry order ((S_LM', S_reg,
        S_exp) for the paper's heads)."""
        return torch.stack([result["overall"] for result in self.heads.values()], dim=-1)

    def detach(self) -> HumanAesExpertOutput:
        def cut(v):
            return v.detach() if v is not None else None

        return HumanAesExpertOutput(
            heads={n: {k: v.detach() for k, v in r.items()} for n, r in self.heads.items()},
            final_score=cut(self.final_score),
            loss=cut(self.loss),
            loss_ce=cut(self.loss_ce),
            head_losses={k: v.detach() for k, v in self.head_losses.items()},
        )


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
        # One instance of every registered head, as attribute ``cls.attribute`` (= its state-dict prefix).
        self.head_names: tuple[str, ...] = tuple(HEADS)
        for cls in HEADS.values():
            self.add_module(cls.attribute, cls.build(config, self.hidden_size))
        self.metavoter = MetaVoter(len(self.head_names), config.metavoter_hidden, config.score_activation)
        self.register_buffer("level_token_ids", torch.tensor(level_token_ids, dtype=torch.long))
        self.register_buffer("level_weights", torch.tensor(config.level_weights, dtype=torch.float32))
        self.register_buffer("metavoter_ready", torch.tensor(False))
        self.lora_applied = False

    def head(self, name: str) -> ScoreHead:
        return getattr(self, HEADS[name].attribute)

    def head_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of the heads that own parameters (``regression_head.``, ...)."""
        return tuple(
            f"{HEADS[n].attribute}." for n in self.head_names if any(True for _ in self.head(n).parameters())
        )

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
        """Stage 1: LoRA weights + every head with parameters trainable. Stage 2: MetaVoter only."""
        for name, param in self.named_parameters():
            if stage == 1:
                param.requires_grad = ("lora_" in name) or name.startswith(self.head_prefixes())
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
        inputs = self.head_input(hidden, head_positions, level_positions)
        out = HumanAesExpertOutput(heads={name: self.forward_head(name, inputs) for name in self.head_names})
        if use_metavoter is None:
            use_metavoter = bool(self.metavoter_ready)
        if use_metavoter:
            out.final_score = self.metavoter(out.head_scores().detach())

        if labels is not None:
            self._add_losses(out, hidden, inputs.output_embeddings, labels, scores, is_expert)
        return out

    def head_input(
        self, hidden: torch.Tensor, head_positions: torch.Tensor, level_positions: torch.Tensor
    ) -> HeadInput:
        return HeadInput(
            hidden=hidden,
            head_positions=head_positions,
            level_positions=level_positions,
            output_embeddings=self.backbone.get_output_embeddings(),
            level_token_ids=self.level_token_ids,
            level_weights=self.level_weights,
        )

    def forward_head(self, name: str, inputs: HeadInput) -> dict[str, torch.Tensor]:
        """One registered head on the features: ``{"overall": [B], ...}``."""
        return self.head(name)(inputs)

    def _add_losses(self, out, hidden, lm_head, labels, scores, is_expert) -> None:
        """Paper Eq. 7, averaged over the batch: CE always; per sample each head adds its own weighted
        loss (+ lambda*L_reg for f=0, + mu*L_exp for f=1). A head only sees gradient from its own samples
        (the switch)."""
        # Cross-entropy over answer tokens only; project just those positions onto the vocabulary.
        shifted = labels[:, 1:]
        keep = shifted != IGNORE_INDEX
        logits = lm_head(hidden[:, :-1][keep]).float()
        out.loss_ce = nn.functional.cross_entropy(logits, shifted[keep]) if keep.any() else logits.sum() * 0.0
        loss = out.loss_ce
        if scores is not None and is_expert is not None:
            targets = HeadTargets(scores=scores, is_expert=is_expert.bool())
            for name in self.head_names:
                head = self.head(name)
                head_loss = head.loss(out.heads[name], targets)
                if head_loss is None:
                    continue
                out.head_losses[name] = head_loss
                weight = getattr(self.config, head.loss_weight) if head.loss_weight else 1.0
                loss = loss + weight * head_loss
        out.loss = loss

    # --- state the checkpoints carry --------------------------------------------------------------
    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.backbone.state_dict().items() if "lora_" in k}

    def heads_state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for name in self.head_names:
            attribute = HEADS[name].attribute
            for k, v in self.head(name).state_dict().items():
                state[f"{attribute}.{k}"] = v.detach().cpu()
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
