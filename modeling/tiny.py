"""Tiny random InternVL backbones built from configs only (no download), plus the 1B-size shapes.

``build_tiny_backbone(out_dir)`` writes a directory that the real loading path reads unchanged
(``AutoModelForImageTextToText.from_pretrained(dir, local_files_only=True)``, ``AutoTokenizer``,
``AutoImageProcessor``): a 2-layer InternViT on 56-px images (patch 14 -> 16 patches -> 4 image tokens
per tile after the 0.5 pixel shuffle), a 2-layer Qwen2 and a byte-level BPE tokenizer trained in-process
with ``tokenizers`` on the prompt/answer vocabulary, so every level word is one token. Tests, the
platform demo ("a model pre-scoring the queue") and the benchmark use it.

``tiny_humanaesexpert()`` + ``write_upstream_layout()`` write a tiny random HumanAesExpert in the authors'
InternVL2 chat layout (Qwen2 or InternLM2 names), spelled out by hand, independently of
``modeling.upstream``: the import's tests and the demo's ``tiny-upstream`` version read it.

``tiny_model(backbone_dir, standard)`` builds a HumanAesExpert on such a backbone for any standard (a
``ModelStandard`` or a ``standard_create_from_spec`` spec such as ``annotation.standards.artimuse.spec()``);
``build_tiny_backbone(out_dir, standard=...)`` adds that standard's prompts to the tokenizer's corpus.

``build_1b_size_config()`` gives the InternVL2/3-1B architecture (InternViT-300M-448px + Qwen2-0.5B,
hidden 896, 256 image tokens per 448² tile) for random-weight benchmarking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from annotation.standards.humanbeauty import (
    DEFAULT_SCORE_QUESTION,
    EXPERT_QUESTIONS,
    LEVEL_CUTS,
    LEVELS,
    OVERALL_QUESTIONS,
    expert_answer,
    overall_answer,
)

if TYPE_CHECKING:
    from modeling.configuration import ModelStandard
    from modeling.data import BackboneProcessor
    from modeling.model import HumanAesExpert

UPSTREAM_IMAGE_SIZE = 56

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
)
IMAGE_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}
# Qwen2-style ChatML; an image content item renders as the placeholder the processor expands.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<IMG_CONTEXT>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tokenizer_corpus(standard: ModelStandard | None = None) -> list[str]:
    """Every question, every answer at every level, and the chat-role words (HumanBeauty's, plus those
    of ``standard`` when given)."""
    mids = [lo + 0.1 for lo in (0.0, *LEVEL_CUTS)]
    texts = [*OVERALL_QUESTIONS, *EXPERT_QUESTIONS, DEFAULT_SCORE_QUESTION, "system user assistant"]
    for mid in mids:
        texts.append(overall_answer(mid))
        texts.append(expert_answer([mid] * 12))
    texts.extend(" ".join(LEVELS) for _ in range(4))
    if standard is not None:
        texts.extend([*standard.overall_questions, *standard.expert_questions])
        for level in LEVELS:
            texts.append(standard.overall_answer(level))
            texts.append(standard.expert_answer([level] * standard.num_dimensions))
    return texts * 8


def build_tokenizer(vocab_size: int = 1000, standard: ModelStandard | None = None):
    """A byte-level BPE trained in-process, wrapped as the Qwen2 tokenizer InternVL uses."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tokenizer_corpus(standard), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=dict(IMAGE_TOKENS),
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    for word in LEVELS:
        if len(tokenizer(" " + word, add_special_tokens=False)["input_ids"]) != 1:
            raise RuntimeError(f"tiny tokenizer split the level word {word!r}")
    return tokenizer


def tiny_internvl_config(
    vocab_size: int,
    image_token_id: int,
    *,
    image_size: int = 56,
    hidden_size: int = 32,
    layers: int = 2,
):
    from transformers import InternVLConfig, Qwen2Config
    from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

    patch = 14
    tokens_per_tile = int((image_size // patch) ** 2 * 0.25)
    vision = InternVLVisionConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        image_size=image_size,
        patch_size=patch,
    )
    text = Qwen2Config(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=hidden_size * 2,
        vocab_size=vocab_size,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    return InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=image_token_id,
        image_seq_length=tokens_per_tile,
        tie_word_embeddings=True,
    )


def build_tiny_backbone(
    out_dir: str | Path,
    *,
    seed: int = 0,
    image_size: int = 56,
    hidden_size: int = 32,
    layers: int = 2,
    standard: ModelStandard | None = None,
) -> Path:
    """Write a tiny random InternVL (model, tokenizer, image processor) loadable from ``out_dir``; with
    ``standard``, its prompts join the tokenizer's corpus (any text tokenizes either way: byte-level)."""
    from transformers import InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(standard=standard)
    config = tiny_internvl_config(
        len(tokenizer),
        tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_size=image_size,
        hidden_size=hidden_size,
        layers=layers,
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size}, crop_to_patches=False, max_patches=2
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    # What InternVLProcessor would read (it needs torchvision for its video half; we do not).
    (out / "processor_config.json").write_text(
        json.dumps({"processor_class": "InternVLProcessor", "image_seq_length": config.image_seq_length})
        + "\n"
    )
    return out


def tiny_model(
    backbone_dir: str | Path,
    standard: ModelStandard | dict | None = None,
    *,
    seed: int = 0,
    **config_fields,
) -> tuple[HumanAesExpert, BackboneProcessor]:
    """A HumanAesExpert (random heads, seeded) on a tiny backbone directory for ``standard``: a
    ``ModelStandard``, a ``standard_create_from_spec`` spec, or None for HumanBeauty. ``config_fields``
    set other ``HumanAesExpertConfig`` fields (tiling is off by default)."""
    from modeling.configuration import HumanAesExpertConfig, ModelStandard
    from modeling.data import BackboneProcessor
    from modeling.model import HumanAesExpert

    if isinstance(standard, dict):
        standard = ModelStandard.from_spec(standard)
    config = HumanAesExpertConfig(
        **{"tiling": False, **config_fields},
        backbone_path=str(backbone_dir),
        standard=standard or ModelStandard(),
    )
    torch.manual_seed(seed)
    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    return model, processor


def build_1b_size_config(vocab_size: int = 151674, image_token_id: int = 151667):
    """InternVL2/3-1B shapes: InternViT-300M-448px (24 x 1024, 16 heads) + Qwen2-0.5B (24 x 896,
    14 heads, 2 KV heads, MLP 4864); 448² tiles, patch 14, pixel shuffle 0.5 -> 256 image tokens."""
    from transformers import InternVLConfig, Qwen2Config
    from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

    vision = InternVLVisionConfig(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        image_size=448,
        patch_size=14,
        layer_scale_init_value=0.1,
        use_mean_pooling=True,
    )
    text = Qwen2Config(
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        vocab_size=vocab_size,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
    )
    return InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=image_token_id,
        image_seq_length=256,
        downsample_ratio=0.5,
        tie_word_embeddings=True,
    )


# ---------------------------------------------------------------------------------------------------
# The authors' checkpoint layout (InternVL2 chat), written by hand: the inverse of modeling.upstream's
# conversion, spelled out independently of it, so that importing these directories tests the importer.
# ---------------------------------------------------------------------------------------------------


def _vision_to_upstream(key: str) -> str:
    key = key.replace("model.vision_tower.", "vision_model.")
    key = key.replace("embeddings.cls_token", "embeddings.class_embedding")
    key = key.replace("embeddings.position_embeddings", "embeddings.position_embedding")
    key = key.replace("embeddings.patch_embeddings.projection", "embeddings.patch_embedding")
    key = key.replace("encoder.layer.", "encoder.layers.")
    key = key.replace("attention.projection_layer", "attn.proj")
    key = key.replace("lambda_1", "ls1").replace("lambda_2", "ls2")
    return key.replace("layernorm_before", "norm1").replace("layernorm_after", "norm2")


def fuse_internlm2_wqkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, kv_heads: int):
    """InternLM2 stores, per key/value head, its query heads then the key then the value."""
    head_dim = q.shape[0] // heads
    groups = heads // kv_heads
    qs = q.reshape(kv_heads, groups, head_dim, -1)
    ks = k.reshape(kv_heads, 1, head_dim, -1)
    vs = v.reshape(kv_heads, 1, head_dim, -1)
    return torch.cat([qs, ks, vs], dim=1).reshape(-1, q.shape[-1])


def upstream_layout_state(model: HumanAesExpert, lm_type: str) -> dict[str, torch.Tensor]:
    backbone = {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    text = model.backbone.config.text_config
    for key in list(backbone):
        if key not in backbone:
            continue
        tensor = backbone[key]
        if key.startswith("model.vision_tower.") and ".attention.q_proj." in key:
            suffix = key.rsplit(".", 1)[1]
            stem = key.split(".attention.q_proj.")[0]
            parts = [backbone.pop(f"{stem}.attention.{p}_proj.{suffix}") for p in "qkv"]
            out[_vision_to_upstream(f"{stem}.attn.qkv.{suffix}")] = torch.cat(parts, dim=0)
        elif key.startswith("model.vision_tower.") and (".k_proj." in key or ".v_proj." in key):
            continue  # fused with its q_proj above
        elif key.startswith("model.vision_tower."):
            out[_vision_to_upstream(key)] = tensor
        elif key.startswith("model.multi_modal_projector."):
            name = key.replace("model.multi_modal_projector.", "mlp1.")
            name = name.replace("layer_norm", "0").replace("linear_1", "1").replace("linear_2", "3")
            out[name] = tensor
        elif lm_type == "qwen2":
            if key == "lm_head.weight":
                out["language_model.lm_head.weight"] = tensor
            else:
                out[key.replace("model.language_model.", "language_model.model.")] = tensor
        else:  # InternLM2 names
            if key == "lm_head.weight":
                out["language_model.output.weight"] = tensor
                continue
            if ".self_attn.k_proj." in key or ".self_attn.v_proj." in key:
                continue
            name = key.replace("model.language_model.", "language_model.model.")
            if ".self_attn.q_proj." in name:
                stem = key.split(".self_attn.q_proj.")[0]
                q, k, v = (backbone[f"{stem}.self_attn.{p}_proj.weight"] for p in "qkv")
                fused = fuse_internlm2_wqkv(q, k, v, text.num_attention_heads, text.num_key_value_heads)
                out[name.replace(".self_attn.q_proj.", ".attention.wqkv.")] = fused
                continue
            for old, new in (
                ("embed_tokens", "tok_embeddings"),
                (".self_attn.o_proj.", ".attention.wo."),
                (".mlp.gate_proj.", ".feed_forward.w1."),
                (".mlp.down_proj.", ".feed_forward.w2."),
                (".mlp.up_proj.", ".feed_forward.w3."),
                (".input_layernorm.", ".attention_norm."),
                (".post_attention_layernorm.", ".ffn_norm."),
            ):
                name = name.replace(old, new)
            out[name] = tensor
    # The heads under the authors' names, the MetaVoter under a name the mapping file covers.
    heads = model.heads_state_dict()
    out["language_model.lm_regression_head.weight"] = heads["regression_head.proj.weight"]
    out["language_model.lm_regression_head.bias"] = heads["regression_head.proj.bias"]
    out["language_model.expert_head1.weight"] = heads["expert_head.leaves.weight"]
    out["language_model.expert_head1.bias"] = heads["expert_head.leaves.bias"]
    for number, node in ((2, "facial"), (3, "appearance"), (4, "overall")):
        for index, fc in ((0, "fc1"), (2, "fc2")):
            for part in ("weight", "bias"):
                out[f"language_model.expert_head{number}.{index}.{part}"] = heads[
                    f"expert_head.{node}.{fc}.{part}"
                ]
    for key, tensor in model.metavoter.state_dict().items():
        out[f"meta_voter.{key.removeprefix('net.')}"] = tensor.detach().clone()
    out["language_model.model.rotary_emb.inv_freq"] = torch.ones(4)  # an old cached table, ignored
    return out


def upstream_layout_config(model: HumanAesExpert, lm_type: str) -> dict:
    cfg = model.backbone.config
    vis, text = cfg.vision_config, cfg.text_config
    llm = {
        "architectures": ["Qwen2ForCausalLM"] if lm_type == "qwen2" else ["InternLM2ForCausalLM"],
        "model_type": "qwen2" if lm_type == "qwen2" else "internlm2",
        "vocab_size": text.vocab_size,
        "hidden_size": text.hidden_size,
        "intermediate_size": text.intermediate_size,
        "num_hidden_layers": text.num_hidden_layers,
        "num_attention_heads": text.num_attention_heads,
        "num_key_value_heads": text.num_key_value_heads,
        "max_position_embeddings": text.max_position_embeddings,
        "rms_norm_eps": text.rms_norm_eps,
        "rope_theta": text.rope_parameters["rope_theta"],
        "hidden_act": "silu",
        "tie_word_embeddings": bool(text.tie_word_embeddings),
    }
    if lm_type == "internlm2":
        llm.update(bias=False, rope_scaling={"type": "dynamic", "factor": 2.0}, auto_map={"AutoModel": "x.y"})
    return {
        "architectures": ["InternVLChatModel"],
        "model_type": "internvl_chat",
        "auto_map": {"AutoModel": "modeling_internvl_chat.InternVLChatModel"},
        "downsample_ratio": 0.5,
        "force_image_size": UPSTREAM_IMAGE_SIZE,
        "select_layer": -1,
        "ps_version": "v2",
        "template": "Hermes-2" if lm_type == "qwen2" else "internlm2-chat",
        "dynamic_image_size": False,
        "max_dynamic_patch": 2,
        "min_dynamic_patch": 1,
        "use_thumbnail": True,
        "llm_config": llm,
        "vision_config": {
            "architectures": ["InternVisionModel"],
            "model_type": "intern_vit_6b",
            "hidden_size": vis.hidden_size,
            "image_size": UPSTREAM_IMAGE_SIZE,
            "patch_size": 14,
            "num_attention_heads": vis.num_attention_heads,
            "num_hidden_layers": vis.num_hidden_layers,
            "intermediate_size": vis.intermediate_size,
            "qkv_bias": True,
            "qk_normalization": False,
            "layer_norm_eps": vis.layer_norm_eps,
            "norm_type": "layer_norm",
            "hidden_act": "gelu",
            "drop_path_rate": 0.0,
            "use_flash_attn": False,
        },
    }


def tiny_humanaesexpert(lm_type: str = "qwen2", seed: int = 3):
    """A random HumanAesExpert of InternVL structure (Qwen2 text, or Llama text for the InternLM2 case),
    heads and a trained-looking MetaVoter (random weights and BatchNorm statistics)."""
    from transformers import InternVLForConditionalGeneration, LlamaConfig

    from modeling.configuration import HumanAesExpertConfig
    from modeling.model import HumanAesExpert, level_token_ids_for

    tokenizer = build_tokenizer()
    hf = tiny_internvl_config(len(tokenizer), tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))
    hf.vision_config.attention_bias = True  # InternViT-300M has qkv biases
    if lm_type == "internlm2":
        t = hf.text_config
        hf.text_config = LlamaConfig(
            vocab_size=t.vocab_size,
            hidden_size=t.hidden_size,
            intermediate_size=t.intermediate_size,
            num_hidden_layers=t.num_hidden_layers,
            num_attention_heads=t.num_attention_heads,
            num_key_value_heads=t.num_key_value_heads,
            max_position_embeddings=t.max_position_embeddings,
            rope_theta=1e6,
            rope_scaling={"type": "dynamic", "factor": 2.0},
            tie_word_embeddings=False,
        )
        hf.tie_word_embeddings = False
    torch.manual_seed(seed)
    backbone = InternVLForConditionalGeneration(hf).eval()
    config = HumanAesExpertConfig(tiling=False, metavoter_hidden=6, expert_ffn_hidden=5)
    model = HumanAesExpert(config, backbone, level_token_ids_for(tokenizer, config.level_words))
    with torch.no_grad():
        for param in [*model.regression_head.parameters(), *model.expert_head.parameters()]:
            param.normal_(0, 0.5)
        for module in model.metavoter.net:
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.3)
                module.running_var.uniform_(0.5, 2.0)
    model.metavoter_ready.fill_(True)
    return model.eval(), tokenizer


def write_upstream_layout(
    dest: Path, model: HumanAesExpert, tokenizer, lm_type: str, *, shards: int = 2
) -> Path:
    """``model`` as an upstream HumanAesExpert directory: chat-style config.json, sharded safetensors
    under the authors' names, the tokenizer, and a remote-code file that must never run."""
    from safetensors.torch import save_file

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_text(json.dumps(upstream_layout_config(model, lm_type), indent=2))
    (dest / "modeling_internvl_chat.py").write_text("raise RuntimeError('remote code must never run')\n")
    tokenizer.save_pretrained(dest)
    state = {k: v.contiguous() for k, v in upstream_layout_state(model, lm_type).items()}
    names = sorted(state)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k] for k in part}, str(dest / file))
        weight_map.update(dict.fromkeys(part, file))
    (dest / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return dest
