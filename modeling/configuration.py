"""Configuration of the HumanAesExpert model and its two training stages (no Django, no torch).

One dataclass holds everything a checkpoint needs to rebuild the model and to repeat its training:
the standard it scores (``ModelStandard``: dimension keys and names, hierarchy, prompts), the backbone
location, the head shapes, the loss weights of paper Eq. 7, the LoRA recipe and the
optimiser defaults of the public ms-swift scripts. Choices the paper leaves open are
marked "[choice]" here and explained in ``docs/modeling.md``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotation.standards import humanbeauty as hb
from annotation.standards.humanbeauty import LEVELS

CONFIG_FILE = "humanaesexpert_config.json"

# Module names of HumanBeauty's parent nodes in the Expert head (the state-dict names every HumanBeauty
# checkpoint and the upstream import use); other standards' parent nodes are named ``node_<key>``.
_HB_NODE_MODULES = (
    ("facial_aesthetic", "facial"),
    ("general_appearance", "appearance"),
    ("overall", "overall"),
)


@dataclass(frozen=True)
class ModelStandard:
    """The aesthetic standard a model is built for: what the model core needs of it, without a database.

    ``dimension_keys``/``dimension_names``/``parents`` are parallel, in the order of the label vector
    (``parents[i]`` is the key of dimension i's parent, None for a root); ``overall`` is the dimension
    the Expert head's overall score is read from. The questions/answer prefix build the chat prompts:
    ``expert_questions[i]`` is the "all dimensions" variant of ``overall_questions[i]`` and
    ``score_question`` (one of ``overall_questions``) is the question asked when scoring.
    """

    key: str = hb.STANDARD_KEY
    dimension_keys: tuple[str, ...] = hb.DIMENSION_KEYS
    dimension_names: tuple[str, ...] = tuple(d.name for d in hb.DIMENSIONS)
    parents: tuple[str | None, ...] = tuple(d.parent for d in hb.DIMENSIONS)
    overall: str = hb.DIMENSION_KEYS[hb.OVERALL_INDEX]
    overall_questions: tuple[str, ...] = hb.OVERALL_QUESTIONS
    expert_questions: tuple[str, ...] = hb.EXPERT_QUESTIONS
    score_question: str = hb.DEFAULT_SCORE_QUESTION
    answer_prefix: str = hb.overall_answer(0.0).rsplit(" ", 1)[0]  # "The aesthetics of the human image is"
    node_modules: tuple[tuple[str, str], ...] = _HB_NODE_MODULES  # parent key -> Expert-head module name

    def __post_init__(self) -> None:
        for name in ("dimension_keys", "dimension_names", "parents", "overall_questions", "expert_questions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "node_modules", tuple((str(k), str(v)) for k, v in self.node_modules))
        keys = self.dimension_keys
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("dimension keys must be non-empty and unique")
        if not (len(self.dimension_names) == len(self.parents) == len(keys)):
            raise ValueError("dimension_keys, dimension_names and parents must have the same length")
        if self.overall not in keys:
            raise ValueError(f"overall dimension {self.overall!r} is not a dimension")
        for key, parent in zip(keys, self.parents, strict=True):
            if parent is not None and parent not in keys:
                raise ValueError(f"{key}: parent {parent!r} is not a dimension")
        for key in keys:  # no cycles
            seen, node = set(), key
            while node is not None:
                if node in seen:
                    raise ValueError(f"the hierarchy has a cycle through {key!r}")
                seen.add(node)
                node = self.parents[keys.index(node)]
        if len(self.expert_questions) != len(self.overall_questions) or not self.overall_questions:
            raise ValueError("one expert question per overall question is required")
        if self.score_question not in self.overall_questions:
            raise ValueError("score_question must be one of overall_questions")

    # --- hierarchy ------------------------------------------------------------------------------------
    @property
    def num_dimensions(self) -> int:
        return len(self.dimension_keys)

    @property
    def overall_index(self) -> int:
        return self.dimension_keys.index(self.overall)

    def children(self, index: int) -> tuple[int, ...]:
        """Input order of a parent node: its leaf children, then its parent children, each in dimension
        order (for HumanBeauty's Overall: Environment, Facial Aesthetic, General Appearance, as upstream)."""
        key = self.dimension_keys[index]
        kids = [i for i, p in enumerate(self.parents) if p == key]
        return tuple(sorted(kids, key=lambda i: (i in self.parent_indices, i)))

    @property
    def parent_indices(self) -> frozenset[int]:
        return frozenset(self.dimension_keys.index(p) for p in self.parents if p is not None)

    @property
    def leaf_indices(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_dimensions) if i not in self.parent_indices)

    @property
    def node_order(self) -> tuple[int, ...]:
        """Parent nodes in evaluation order: children before parents, otherwise by index."""
        order: list[int] = []

        def visit(i: int) -> None:
            for child in self.children(i):
                if child in self.parent_indices and child not in order:
                    visit(child)
            if i not in order:
                order.append(i)

        for i in sorted(self.parent_indices):
            visit(i)
        return tuple(order)

    def node_module(self, index: int) -> str:
        key = self.dimension_keys[index]
        return dict(self.node_modules).get(key) or "node_" + key.replace(".", "_").replace("-", "_")

    # --- prompts --------------------------------------------------------------------------------------
    @property
    def default_expert_question(self) -> str:
        return self.expert_questions[self.overall_questions.index(self.score_question)]

    def overall_answer(self, level: str) -> str:
        return f"{self.answer_prefix} {level}"

    def expert_answer(self, levels: list[str] | tuple[str, ...]) -> str:
        """One line per dimension: '{i}. {Name} : {level}' (HumanBeauty's public template)."""
        if len(levels) != self.num_dimensions:
            raise ValueError(f"expected {self.num_dimensions} levels, got {len(levels)}")
        return "\n".join(
            f"{i + 1}. {name} : {level}"
            for i, (name, level) in enumerate(zip(self.dimension_names, levels, strict=True))
        )

    # --- serialisation --------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelStandard:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown standard keys: {unknown}")
        return cls(**data)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], *, subject: str = "image") -> ModelStandard:
        """A standard from a ``standard_create_from_spec`` spec (e.g. ``annotation.standards.artimuse.spec()``):
        dimensions in spec order; the overall is the single root (``spec["overall"]`` names it when there
        are several); generic questions about "the {subject}"."""
        dims = spec["dimensions"]
        keys = tuple(d["key"] for d in dims)
        roots = [d["key"] for d in dims if not d.get("parent")]
        overall = spec.get("overall") or (roots[0] if len(roots) == 1 else None)
        if overall is None:
            raise ValueError(f"{spec.get('key')}: {len(roots)} root dimensions; name the overall one")
        overall_questions = tuple(
            q.replace("human image", subject).replace("human picture", subject) for q in hb.OVERALL_QUESTIONS
        )
        suffix = f" from {len(keys)} different dimensions"
        return cls(
            key=spec["key"],
            dimension_keys=keys,
            dimension_names=tuple(d.get("name") or d["key"] for d in dims),
            parents=tuple(d.get("parent") or None for d in dims),
            overall=overall,
            overall_questions=overall_questions,
            expert_questions=tuple(q[:-1] + suffix + q[-1] for q in overall_questions),
            score_question=overall_questions[hb.OVERALL_QUESTIONS.index(hb.DEFAULT_SCORE_QUESTION)],
            answer_prefix=f"The aesthetics of the {subject} is",
            node_modules=(),
        )


@dataclass
class HumanAesExpertConfig:
    # --- standard -------------------------------------------------------------------------------------
    standard: ModelStandard = field(default_factory=ModelStandard)  # HumanBeauty unless given

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
        if isinstance(self.standard, dict):  # as saved, or a standard_create_from_spec spec
            data = self.standard
            self.standard = (
                ModelStandard.from_spec(data) if "dimensions" in data else ModelStandard.from_dict(data)
            )
        if not isinstance(self.standard, ModelStandard):
            raise ValueError(
                f"standard must be a ModelStandard or a dict, got {type(self.standard).__name__}"
            )
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
        return cls(**data)  # no "standard" (checkpoints before standards were data): HumanBeauty

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
