"""Tiny random InternVL backbones built from configs only (no download), plus the 1B-size shapes.

``build_tiny_backbone(out_dir)`` writes a directory that the real loading path reads unchanged
(``AutoModelForImageTextToText.from_pretrained(dir, local_files_only=True)``, ``AutoTokenizer``,
``AutoImageProcessor``): a 2-layer InternViT on 56-px images (patch 14 -> 16 patches -> 4 image tokens
per tile after the 0.5 pixel shuffle), a 2-layer Qwen2 and a byte-level BPE tokenizer trained in-process
with ``tokenizers`` on the prompt/answer vocabulary, so every level word is one token. Tests, the
platform demo ("a model pre-scoring the queue") and the benchmark use it.

``build_1b_size_config()`` gives the InternVL2/3-1B architecture (InternViT-300M-448px + Qwen2-0.5B,
hidden 896, 256 image tokens per 448² tile) for random-weight benchmarking.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from modeling.standard import (
    DEFAULT_SCORE_QUESTION,
    EXPERT_QUESTIONS,
    LEVEL_CUTS,
    LEVELS,
    OVERALL_QUESTIONS,
    expert_answer,
    overall_answer,
)

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


def tokenizer_corpus() -> list[str]:
    """Every question, every answer at every level, and the chat-role words."""
    mids = [lo + 0.1 for lo in (0.0, *LEVEL_CUTS)]
    texts = [*OVERALL_QUESTIONS, *EXPERT_QUESTIONS, DEFAULT_SCORE_QUESTION, "system user assistant"]
    for mid in mids:
        texts.append(overall_answer(mid))
        texts.append(expert_answer([mid] * 12))
    texts.extend(" ".join(LEVELS) for _ in range(4))
    return texts * 8


def build_tokenizer(vocab_size: int = 1000):
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
    bpe.train_from_iterator(tokenizer_corpus(), trainer)
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
    out_dir: str | Path, *, seed: int = 0, image_size: int = 56, hidden_size: int = 32, layers: int = 2
) -> Path:
    """Write a tiny random InternVL (model, tokenizer, image processor) loadable from ``out_dir``."""
    from transformers import InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
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
