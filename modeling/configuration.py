"""Configuration of the HumanAesExpert model and its two training stages (no Django, no torch).

One dataclass holds everything a checkpoint needs to rebuild the model and to repeat its training:
the backbone location, the head shapes, the loss weights of paper Eq. 7, the LoRA recipe and the
optimiser defaults of the public ms-swift scripts. Choices the paper leaves open are
marked "[choice]" here and explained in ``docs/modeling.md``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotation.standards.humanbeauty import LEVELS

CONFIG_FILE = "humanaesexpert_config.json"


@dataclass
class HumanAesExpertConfig:
    # --- backbone -------------------------------------------------------------------------------------
    backbone_path: str = ""  # a LOCAL directory loadable by transformers' from_pretrained
    dtype: str = "auto"  # "auto": bf16 on CUDA, fp32 on CPU; or "float32" / "bfloat16" / "float16"
    max_tiles: int = 12  # InternVL dynamic tiling: at most this many 448² tiles (+ thumbnail)
    tiling: bool = True  # False: one resized tile per image (cheaper; tests and benchmarks)
    max_length: int = 4096

    # --- LM-head score (paper Eq. 4) --------------------------------------------------------------------
    level_words: tuple[str, ...] = LEVELS  # ascending quality: bad, poor, fair, good, excellent
    level_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # [choice] min 0, max 1 -> already [0,1]

    # --- heads ----------------------------------------------------------------------------------------
    score_activation: str = "sigmoid"  # [choice] "sigmoid" | "clamp" (identity in training, clamp at eval)
    regression_bias: bool = True  # [choice] the public code only shows a `.weight`
    expert_ffn_hidden: int = 64  # [choice] hidden width of the three hierarchy FFNs
    expert_ffn_activation: str = "gelu"  # [choice] "gelu" | "relu" | "silu"
    head_token: str = "prompt_end"  # [choice] "prompt_end" (last prompt token) | "sequence_end"

    # --- losses (paper Eq. 7) ----------------------------------------------------------------------------
    lambda_reg: float = 1.0  # [choice] weight of the regression MSE for overall-only samples
    mu_exp: float = 1.0  # [choice] weight of the 12-node expert MSE for 12-dimension samples

    # --- MetaVoter (stage two) -------------------------------------------------------------------------
    metavoter_hidden: int = 16  # [choice]
    metavoter_epochs: int = 10  # paper §5.1
    metavoter_lr: float = 1e-3  # [choice]
    metavoter_batch_size: int = 64  # [choice]

    # --- LoRA (ms-swift defaults of the public scripts) ---------------------------------------------
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # every nn.Linear whose qualified name contains one of these (the LLM and the projector) ...
    lora_include: tuple[str, ...] = ("language_model", "multi_modal_projector", "mlp1")
    # ... and none of these (output head, embeddings, our heads, the vision tower)
    lora_exclude: tuple[str, ...] = ("lm_head", "embed", "output", "vision", "regression_head", "expert_head")

    # --- stage-one optimisation --------------------------------------------------------------------------
    learning_rate: float = 1e-4
    lr_schedule: str = "cosine"
    warmup_ratio: float = 0.05
    adam_betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    effective_batch_size: int = 16
    per_device_batch_size: int = 1
    epochs: int = 1
    seed: int = 42

    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (e.g. who trained it)

    def __post_init__(self) -> None:
        self.level_words = tuple(self.level_words)
        self.level_weights = tuple(float(w) for w in self.level_weights)
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))
        self.lora_include = tuple(self.lora_include)
        self.lora_exclude = tuple(self.lora_exclude)
        if len(self.level_words) != len(self.level_weights):
            raise ValueError("level_words and level_weights must have the same length")
        if self.score_activation not in ("sigmoid", "clamp"):
            raise ValueError(f"score_activation must be 'sigmoid' or 'clamp', got {self.score_activation!r}")
        if self.head_token not in ("prompt_end", "sequence_end"):
            raise ValueError(f"head_token must be 'prompt_end' or 'sequence_end', got {self.head_token!r}")

    # --- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HumanAesExpertConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {unknown}")
        return cls(**data)

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> HumanAesExpertConfig:
        text = str(path_or_text)
        if isinstance(path_or_text, Path) or not text.lstrip().startswith("{"):
            path = Path(path_or_text)
            if path.is_dir():
                path = path / CONFIG_FILE
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        return cls.from_dict(json.loads(text))

    @property
    def accumulation_steps(self) -> int:
        return max(1, self.effective_batch_size // max(1, self.per_device_batch_size))
