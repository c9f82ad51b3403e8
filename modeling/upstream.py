"""Import an upstream HumanAesExpert checkpoint (InternVL2 chat layout) into the platform's format (no Django).

The authors publish HumanAesExpert-1B/8B as InternVL2 "chat" models in remote-code format: one
``config.json`` with ``llm_config`` and ``vision_config``, safetensors whose names start with
``vision_model.`` (InternViT), ``mlp1.`` (the projector) and ``language_model.`` (Qwen2 for the 1B,
InternLM2 for the 8B), and the heads inside the language model (``language_model.lm_regression_head``,
``language_model.expert_head*``) plus a MetaVoter.
They are HumanBeauty models (the 12-dimension Expert hierarchy of paper Fig. 3b), so the import builds a
HumanBeauty config and refuses any other ``standard`` in ``config_overrides``.

``import_upstream(src, out)`` writes two directories the rest of the platform already reads:

* ``out/backbone``: a transformers-native InternVL (``InternVLForConditionalGeneration``, config,
  tokenizer, GotOcr2 image processor), loadable with ``from_pretrained(..., local_files_only=True)``;
* ``out/checkpoint``: a platform checkpoint (``modeling.checkpoint``) whose heads and MetaVoter carry the
  upstream weights; ``meta.json`` records where they came from.

Design:

* Backbone tensor names are converted with the conversion rules transformers ships for this layout
  (``conversion_mapping``'s InternVL-chat rules: ``vision_model``/``mlp1``/``language_model`` renames and
  the ViT ``qkv`` split with its ``Chunk`` op), plus what the InternVL-hf class names differently
  (``encoder.layer``) and, for the 8B, InternLM2 -> Llama names with the grouped ``wqkv`` split (the
  same layout transformers' own InternVL converter undoes). Nothing is loaded through remote code.
* Head and MetaVoter tensors are picked by a user-editable mapping file (``upstream_mapping.json``):
  the public training code shows only the heads' attribute names; the widths come from the tensors.
* Every tensor is accounted for: an upstream tensor that no rule maps, and a platform or backbone
  parameter that nothing fills, are all named in one ``UpstreamMismatch``; nothing is written then.
* Remote code runs only with ``trust_remote_code=True`` (the command's ``--trust-remote-code``), and only
  to read a tokenizer transformers cannot read natively (the 8B's InternLM2 tokenizer); the tokenizer is
  then written in transformers' native fast format so the imported model never needs remote code again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modeling.configuration import HumanAesExpertConfig, ModelStandard

DEFAULT_MAPPING = Path(__file__).with_name("upstream_mapping.json")
MAPPING_FORMAT = "humanaesexpert-upstream-mapping/1"
IMAGE_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
}
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# ChatML without a system turn: what the platform's prompts are rendered with when the upstream
# tokenizer carries no chat template (InternVL2 keeps its template in remote code).
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<IMG_CONTEXT>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class UpstreamError(ValueError):
    """The directory is not an upstream checkpoint the importer can read."""


class UpstreamMismatch(UpstreamError):
    """Tensors that no rule maps, or parameters that nothing fills; every one is named."""

    def __init__(self, unmapped: list[str], missing: list[str], mismatched: list[str] | None = None) -> None:
        self.unmapped, self.missing, self.mismatched = sorted(unmapped), sorted(missing), mismatched or []
        parts = []
        if self.unmapped:
            parts.append(f"{len(self.unmapped)} upstream tensor(s) no rule maps: " + ", ".join(self.unmapped))
        if self.missing:
            parts.append(f"{len(self.missing)} parameter(s) nothing fills: " + ", ".join(self.missing))
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} shape mismatch(es): " + ", ".join(self.mismatched))
        parts.append("edit the mapping file (docs/modeling.md, 'Importing the authors' checkpoints')")
        super().__init__("; ".join(parts))


# ---------------------------------------------------------------------------------------------------
# Mapping file
# ---------------------------------------------------------------------------------------------------


@dataclass
class HeadMapping:
    rules: list[tuple[re.Pattern[str], str]]
    ignore: list[re.Pattern[str]]
    config: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> HeadMapping:
        path = Path(path) if path else DEFAULT_MAPPING
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UpstreamError(f"mapping file {path}: {exc}") from exc
        if data.get("format") != MAPPING_FORMAT:
            raise UpstreamError(f"mapping file {path}: 'format' must be {MAPPING_FORMAT!r}")
        try:
            rules = [(re.compile(src), dst) for src, dst in (data.get("tensors") or {}).items()]
            ignore = [re.compile(p) for p in data.get("ignore") or []]
        except re.error as exc:
            raise UpstreamError(f"mapping file {path}: bad expression: {exc}") from exc
        config = dict(data.get("config") or {})
        known = set(HumanAesExpertConfig.__dataclass_fields__)
        if unknown := sorted(set(config) - known):
            raise UpstreamError(f"mapping file {path}: unknown config keys {unknown}")
        return cls(rules=rules, ignore=ignore, config=config, path=str(path))

    def target(self, name: str) -> str | None:
        for pattern, replacement in self.rules:
            match = pattern.fullmatch(name)
            if match:
                return match.expand(replacement)
        return None

    def ignored(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.ignore)


# ---------------------------------------------------------------------------------------------------
# Reading the upstream directory
# ---------------------------------------------------------------------------------------------------


def read_upstream_config(src: Path) -> dict[str, Any]:
    path = src / "config.json"
    if not path.is_file():
        raise UpstreamError(f"{src}: no config.json")
    cfg = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(cfg.get("llm_config"), dict) or not isinstance(cfg.get("vision_config"), dict):
        raise UpstreamError(
            f"{src}: not an InternVL chat checkpoint (config.json has no llm_config / vision_config); "
            "a transformers-native (-hf) directory needs no import: pass it as --backbone to model_train"
        )
    return cfg


def check_supported(cfg: dict[str, Any]) -> None:
    """Options of the chat model that InternVL-hf does not reproduce are refused, not silently changed."""
    if str(cfg.get("ps_version", "v2")) != "v2":
        raise UpstreamError(
            f"ps_version {cfg.get('ps_version')!r}: only the v2 pixel shuffle (InternVL2) is supported"
        )


def language_model_type(cfg: dict[str, Any]) -> str:
    llm = cfg["llm_config"]
    arch = " ".join(llm.get("architectures") or []) + " " + str(llm.get("model_type", ""))
    if "InternLM2" in arch or "internlm2" in arch:
        return "internlm2"
    if "Qwen2" in arch or "qwen2" in arch:
        return "qwen2"
    if "Llama" in arch or "llama" in arch:
        return "llama"
    raise UpstreamError(
        f"unsupported language model {arch.strip()!r}: Qwen2, InternLM2 and Llama are supported"
    )


def safetensors_files(src: Path) -> list[Path]:
    index = src / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return [src / name for name in sorted(set(weight_map.values()))]
    files = sorted(src.glob("*.safetensors"))
    if not files:
        raise UpstreamError(
            f"{src}: no safetensors weights (pytorch_model.bin is not read: convert it first)"
        )
    return files


def read_tensors(src: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for path in safetensors_files(src):
        tensors.update(load_file(str(path)))
    return tensors


# ---------------------------------------------------------------------------------------------------
# Backbone config and tensor names
# ---------------------------------------------------------------------------------------------------

_TEXT_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "hidden_act",
    "tie_word_embeddings",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "attention_dropout",
)


def text_config_from_upstream(cfg: dict[str, Any], lm_type: str):
    from transformers import LlamaConfig, Qwen2Config

    llm = cfg["llm_config"]
    kwargs = {k: llm[k] for k in _TEXT_KEYS if k in llm and llm[k] is not None}
    kwargs.setdefault("tie_word_embeddings", bool(cfg.get("tie_word_embeddings", False)))
    if lm_type == "qwen2":
        return Qwen2Config(**kwargs)
    if lm_type == "internlm2":
        kwargs["attention_bias"] = bool(llm.get("bias", False))  # InternLM2's `bias` covers wqkv and wo
        kwargs.pop("use_sliding_window", None), kwargs.pop("sliding_window", None)
        kwargs.pop("max_window_layers", None)
    return LlamaConfig(**kwargs)


def internvl_config_from_upstream(cfg: dict[str, Any], lm_type: str, image_token_id: int):
    """InternVLConfig for the converted backbone (the same fields transformers' converter carries over)."""
    from transformers import InternVLConfig
    from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

    vis = cfg["vision_config"]
    image_size = int(cfg.get("force_image_size") or vis.get("image_size", 448))
    patch = int(vis.get("patch_size", 14))
    vision = InternVLVisionConfig(
        hidden_size=vis["hidden_size"],
        num_hidden_layers=vis["num_hidden_layers"],
        num_attention_heads=vis["num_attention_heads"],
        intermediate_size=vis["intermediate_size"],
        image_size=image_size,
        patch_size=patch,
        num_channels=vis.get("num_channels", 3),
        layer_norm_eps=vis.get("layer_norm_eps", 1e-6),
        norm_type=vis.get("norm_type", "layer_norm"),
        hidden_act=vis.get("hidden_act", "gelu"),
        attention_bias=bool(vis.get("qkv_bias", True)),
        use_qk_norm=bool(vis.get("qk_normalization", False)),
        use_absolute_position_embeddings=True,
        use_mean_pooling=True,  # InternViT has no final norm before the projector
    )
    ratio = float(cfg.get("downsample_ratio", 0.5))
    select_layer = int(cfg.get("select_layer", -1))
    return InternVLConfig(
        vision_config=vision,
        text_config=text_config_from_upstream(cfg, lm_type),
        image_token_id=image_token_id,
        image_seq_length=int((image_size // patch) ** 2 * ratio**2),
        downsample_ratio=ratio,
        vision_feature_layer=select_layer,
        tie_word_embeddings=bool(cfg["llm_config"].get("tie_word_embeddings", False)),
    )


class GroupedQKVSplit:
    """InternLM2's fused ``wqkv``: per key/value head, its ``groups`` query heads, then the key, then the
    value, each ``head_dim`` rows -> separate q/k/v projections (Llama layout)."""

    def __init__(self, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
        self.groups = num_heads // num_kv_heads
        self.num_kv_heads, self.head_dim = num_kv_heads, head_dim

    def split(self, wqkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = wqkv.reshape(self.num_kv_heads, self.groups + 2, self.head_dim, *wqkv.shape[1:])
        q = rows[:, : self.groups].reshape(-1, *wqkv.shape[1:]).contiguous()
        k = rows[:, -2].reshape(-1, *wqkv.shape[1:]).contiguous()
        v = rows[:, -1].reshape(-1, *wqkv.shape[1:]).contiguous()
        return q, k, v


def backbone_transforms(lm_type: str) -> list:
    """transformers' conversion rules for the InternVL chat layout, completed for InternVL-hf names."""
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    from transformers.core_model_loading import WeightRenaming

    transforms = list(get_checkpoint_conversion_mapping("qianfan_ocr") or [])  # InternVL-chat -> -hf layout
    if not transforms:
        raise UpstreamError("this transformers version ships no InternVL chat-layout conversion rules")
    # InternVLVisionModel keeps its blocks under encoder.layer (the rules above flatten them to layers).
    transforms.append(WeightRenaming(r"^model\.vision_tower\.layers\.", "model.vision_tower.encoder.layer."))
    if lm_type == "internlm2":
        transforms += [
            WeightRenaming(r"^language_model\.output\.", "lm_head."),
            WeightRenaming(r"\.tok_embeddings\.", ".embed_tokens."),
            WeightRenaming(r"\.attention\.wo\.", ".self_attn.o_proj."),
            WeightRenaming(r"\.feed_forward\.w1\.", ".mlp.gate_proj."),
            WeightRenaming(r"\.feed_forward\.w2\.", ".mlp.down_proj."),
            WeightRenaming(r"\.feed_forward\.w3\.", ".mlp.up_proj."),
            WeightRenaming(r"\.attention_norm\.", ".input_layernorm."),
            WeightRenaming(r"\.ffn_norm\.", ".post_attention_layernorm."),
        ]
    return transforms


def convert_backbone_tensors(
    tensors: dict[str, torch.Tensor], lm_type: str, hf_config
) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """Rename (and split) upstream backbone tensors to InternVL-hf names. Returns (converted, converted
    name -> upstream name, upstream names no rule touched)."""
    transforms = backbone_transforms(lm_type)
    text = hf_config.text_config
    grouped = GroupedQKVSplit(
        text.num_attention_heads, text.num_key_value_heads, text.hidden_size // text.num_attention_heads
    )
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    untouched: list[str] = []
    for name, tensor in tensors.items():
        key, touched = name, False
        converter = None
        for transform in transforms:
            key, pattern = transform.rename_source_key(key)
            if pattern is not None:
                touched = True
                if getattr(transform, "operations", None):
                    converter = transform
        if lm_type == "internlm2" and ".attention.wqkv." in key:
            stem, suffix = key.split(".attention.wqkv.")
            for proj, part in zip(("q_proj", "k_proj", "v_proj"), grouped.split(tensor), strict=True):
                out[f"{stem}.self_attn.{proj}.{suffix}"] = part
                origin[f"{stem}.self_attn.{proj}.{suffix}"] = name
            continue
        if not touched:
            untouched.append(name)
            continue
        if converter is not None:  # one-to-many (the ViT's qkv): the rule's own ops
            first = converter.target_patterns[0]
            pieces = tensor
            for op in converter.operations:
                pieces = op.convert({name: pieces}, converter.source_patterns, converter.target_patterns)
            for target_pattern, piece in pieces.items():
                out[key.replace(first, target_pattern)] = piece
                origin[key.replace(first, target_pattern)] = name
            continue
        out[key] = tensor
        origin[key] = name
    return out, origin, untouched


# ---------------------------------------------------------------------------------------------------
# Tokenizer and image processor
# ---------------------------------------------------------------------------------------------------


def load_tokenizer(src: Path, *, tokenizer_dir: str | Path | None = None, trust_remote_code: bool = False):
    """The upstream tokenizer, natively; remote code only on explicit opt-in, then made native (fast)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    where = Path(tokenizer_dir) if tokenizer_dir else src
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True, trust_remote_code=False)
    except Exception as native_error:  # transformers raises several types for "needs remote code"
        if not trust_remote_code:
            raise UpstreamError(
                f"{where}: transformers cannot read this tokenizer natively ({native_error}). Either pass "
                "--tokenizer DIR (a native tokenizer with the same vocabulary, e.g. from an InternVL -hf "
                "directory) or, if you trust the Python files in that directory, --trust-remote-code"
            ) from native_error
        remote = AutoTokenizer.from_pretrained(where, local_files_only=True, trust_remote_code=True)
        if not getattr(remote, "is_fast", False):
            from transformers.convert_slow_tokenizer import LlamaConverter

            backend = LlamaConverter(remote).converted()  # InternLM2 is a sentencepiece BPE like Llama's
        else:
            backend = remote.backend_tokenizer
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            bos_token=remote.bos_token,
            eos_token=remote.eos_token,
            unk_token=remote.unk_token,
            pad_token=remote.pad_token,
        )
        tokenizer.chat_template = getattr(remote, "chat_template", None)
    missing = [t for t in IMAGE_TOKENS.values() if t not in tokenizer.get_vocab()]
    if missing:
        raise UpstreamError(f"{where}: the tokenizer lacks the image tokens {missing}")
    for attribute, token in IMAGE_TOKENS.items():
        setattr(tokenizer, attribute, token)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    if "<|im_end|>" in tokenizer.get_vocab():
        tokenizer.eos_token = "<|im_end|>"  # the answer ends with the end of the chat turn
    return tokenizer


def image_processor_for(cfg: dict[str, Any], image_size: int):
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size},
        crop_to_patches=bool(cfg.get("dynamic_image_size", True)),
        min_patches=int(cfg.get("min_dynamic_patch", 1)),
        max_patches=int(cfg.get("max_dynamic_patch", 12)),
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )


# ---------------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------------


@dataclass
class UpstreamImport:
    backbone_dir: Path
    checkpoint_dir: Path
    config: HumanAesExpertConfig
    report: dict[str, Any]


def _head_config(mapped: dict[str, torch.Tensor], mapping: HeadMapping, n_heads: int) -> dict[str, Any]:
    """Config fields the head tensors determine: regression bias, FFN width, MetaVoter width."""
    derived: dict[str, Any] = {"regression_bias": "regression_head.proj.bias" in mapped}
    if "expert_head.facial.fc1.weight" in mapped:
        derived["expert_ffn_hidden"] = int(mapped["expert_head.facial.fc1.weight"].shape[0])
    first = mapped.get("metavoter.net.0.weight")
    if first is not None:
        derived["metavoter_hidden"] = int(first.shape[0])
        if first.shape[1] != n_heads:
            raise UpstreamMismatch(
                [],
                [],
                [f"metavoter.net.0.weight reads {first.shape[1]} scores, the platform has {n_heads} heads"],
            )
    return {**derived, **mapping.config}


def import_upstream(
    src: str | Path,
    out_dir: str | Path,
    *,
    mapping_path: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    trust_remote_code: bool = False,
    dtype: str | None = None,
    config_overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> UpstreamImport:
    """Convert ``src`` (an upstream HumanAesExpert checkpoint) into ``out_dir/backbone`` and
    ``out_dir/checkpoint``. Raises ``UpstreamMismatch`` naming every unmapped or missing tensor.
    ``dry_run`` runs every check and returns the report without writing anything."""
    from transformers import InternVLForConditionalGeneration

    from modeling.checkpoint import save_checkpoint
    from modeling.model import HumanAesExpert, level_token_ids_for

    src, out = Path(src), Path(out_dir)
    cfg = read_upstream_config(src)
    check_supported(cfg)
    lm_type = language_model_type(cfg)
    mapping = HeadMapping.load(mapping_path)
    tokenizer = load_tokenizer(src, tokenizer_dir=tokenizer_dir, trust_remote_code=trust_remote_code)
    hf_config = internvl_config_from_upstream(cfg, lm_type, tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))

    # 1. Partition the tensors: heads (mapping file), deliberately ignored, backbone (conversion rules).
    tensors = read_tensors(src)
    heads: dict[str, torch.Tensor] = {}
    head_origin: dict[str, str] = {}
    backbone_in: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for name, tensor in tensors.items():
        target = mapping.target(name)
        if target is not None:
            heads[target] = tensor
            head_origin[target] = name
        elif mapping.ignored(name):
            ignored.append(name)
        else:
            backbone_in[name] = tensor
    converted, origin, unmapped = convert_backbone_tensors(backbone_in, lm_type, hf_config)

    # 2. The converted backbone must fill InternVL-hf exactly (tied output embeddings may be absent).
    with torch.device("meta"):
        backbone = InternVLForConditionalGeneration(hf_config)
    expected = backbone.state_dict()
    tied = {"lm_head.weight"} if hf_config.text_config.tie_word_embeddings else set()
    unmapped += [
        f"{origin[k]} (converted to {k}, which InternVL-hf lacks)" for k in converted if k not in expected
    ]
    missing = [k for k in expected if k not in converted and k not in tied]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in converted.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]

    # 3. The heads and the MetaVoter must fill the platform's model exactly.
    config = HumanAesExpertConfig(
        **{
            **(config_overrides or {}),
            "max_tiles": int(cfg.get("max_dynamic_patch", 12)),
            "tiling": bool(cfg.get("dynamic_image_size", True)),
        }
    )
    try:
        config = HumanAesExpertConfig.from_dict(
            {**config.to_dict(), **_head_config(heads, mapping, n_heads=_registered_head_count())}
        )
    except UpstreamMismatch:
        raise
    except (TypeError, ValueError) as exc:
        raise UpstreamError(f"mapping config: {exc}") from exc
    if config.standard != ModelStandard():
        # The authors' checkpoints are HumanBeauty models: 12 dimensions wired as paper Fig. 3b.
        raise UpstreamError(f"upstream checkpoints are HumanBeauty models, not {config.standard.key!r}")
    if dtype is not None:
        config.dtype = dtype
    with torch.device("meta"):
        probe = HumanAesExpert(config, backbone, [0] * len(config.level_words))
    prefixes = (*probe.head_prefixes(), "metavoter.")
    wanted = {k: v for k, v in probe.state_dict().items() if k.startswith(prefixes)}
    unmapped += [
        f"{head_origin[k]} (mapped to {k}, which the platform's model lacks)"
        for k in heads
        if k not in wanted
    ]
    # BatchNorm's step counter plays no part in the forward pass; a checkpoint may leave it out.
    missing += [k for k in wanted if k not in heads and not k.endswith("num_batches_tracked")]
    mismatched += [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(wanted[k].shape)}"
        for k, v in heads.items()
        if k in wanted and tuple(v.shape) != tuple(wanted[k].shape)
    ]
    if unmapped or missing or mismatched:
        raise UpstreamMismatch(unmapped, missing, mismatched)

    try:
        level_token_ids = level_token_ids_for(tokenizer, config.level_words)
    except ValueError as exc:
        raise UpstreamError(f"level words with this tokenizer: {exc}") from exc
    metavoter_ready = any(k.startswith("metavoter.") for k in heads)
    report = {
        "source": str(src.resolve()),
        "language_model": lm_type,
        "mapping": mapping.path,
        "tensors": len(tensors),
        "backbone_tensors": len(backbone_in),
        "head_tensors": {head_origin[k]: k for k in sorted(heads)},  # upstream name -> platform name
        "ignored_tensors": sorted(ignored),
        "metavoter_ready": metavoter_ready,
        "trust_remote_code": trust_remote_code,
    }
    backbone_dir, ckpt_dir = out / "backbone", out / "checkpoint"
    if dry_run:
        return UpstreamImport(
            backbone_dir=backbone_dir, checkpoint_dir=ckpt_dir, config=config, report=report
        )

    # 4. Write the native backbone, then the platform checkpoint around it.
    source_dtype = next(iter(converted.values())).dtype
    backbone = InternVLForConditionalGeneration._from_config(hf_config, dtype=source_dtype)
    backbone.load_state_dict(converted, strict=False)
    backbone.tie_weights()
    backbone.eval()
    backbone.save_pretrained(backbone_dir)
    tokenizer.save_pretrained(backbone_dir)
    image_processor_for(cfg, hf_config.vision_config.image_size[0]).save_pretrained(backbone_dir)
    (backbone_dir / "processor_config.json").write_text(
        json.dumps({"processor_class": "InternVLProcessor", "image_seq_length": hf_config.image_seq_length})
        + "\n"
    )
    config.backbone_path = str(backbone_dir.resolve())
    model = HumanAesExpert(config, backbone, level_token_ids)
    state = {k: v.to(torch.float32) for k, v in heads.items()}
    model.load_state_dict(state, strict=False)  # every key was checked against the model above
    model.metavoter_ready.fill_(metavoter_ready)
    save_checkpoint(
        model.eval(), ckpt_dir, training_args={"imported_from": report}, release_version="upstream"
    )
    return UpstreamImport(backbone_dir=backbone_dir, checkpoint_dir=ckpt_dir, config=config, report=report)


def _registered_head_count() -> int:
    from modeling.heads import HEADS

    return len(HEADS)
