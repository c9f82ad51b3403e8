"""Inference throughput of HumanAesExpert: the 1B-size architecture with random weights, and the tiny path.

Shapes are real for the 1B size (InternViT-300M-448px + Qwen2-0.5B, one 448² tile -> 256 image tokens,
the scorer's overall prompt + answer prefix). FLOPs per image are estimated as 2 x parameters x tokens
for each tower (vision: 1025 patch tokens through the ViT; language: the sequence through the LLM) plus
the attention score/value products; lm_head is applied to one position only (the scorer's LM slot).
On CUDA the run uses bf16 and reports the fraction of the GPU's nominal dense bf16 peak; on CPU it
reports achieved GFLOP/s (no reliable nominal peak).

    python bench/bench_inference.py                     # CPU defaults: 1B batch 1, 2 iterations
    python bench/bench_inference.py --batch 16 --iters 10 --skip-tiny   # on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from modeling.configuration import HumanAesExpertConfig
from modeling.model import HumanAesExpert
from modeling.tiny import build_1b_size_config, build_tiny_backbone

# Nominal dense bf16 tensor-core peaks (TFLOP/s, no sparsity).
GPU_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "V100": 125.0}


def gpu_peak_tflops() -> float | None:
    name = torch.cuda.get_device_name()
    return next((v for k, v in GPU_PEAK_TFLOPS.items() if k in name), None)


def flops_per_image(config, text_tokens: int) -> float:
    """Forward FLOPs: 2 * matmul params * tokens per tower, plus attention (4 * T^2 * d per layer)."""
    v, t = config.vision_config, config.text_config
    patches = (v.image_size[0] // v.patch_size[0]) ** 2 + 1  # + CLS
    vit_params = v.num_hidden_layers * (4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size)
    vit = 2 * vit_params * patches + v.num_hidden_layers * 4 * patches**2 * v.hidden_size
    proj_in = v.hidden_size * 4
    projector = 2 * (proj_in * t.hidden_size + t.hidden_size**2) * (patches - 1) // 4
    kv = t.hidden_size * t.num_key_value_heads // t.num_attention_heads
    llm_params = t.num_hidden_layers * (
        2 * t.hidden_size**2 + 2 * t.hidden_size * kv + 3 * t.hidden_size * t.intermediate_size
    )
    llm = 2 * llm_params * text_tokens + t.num_hidden_layers * 4 * text_tokens**2 * t.hidden_size
    lm_head = 2 * t.hidden_size * t.vocab_size  # one position
    return float(vit + projector + llm + lm_head)


def make_batch(batch: int, seq: int, image_tokens: int, image_token_id: int, image_size: int, device, dtype):
    ids = torch.randint(1000, 30000, (batch, seq), device=device)
    ids[:, 5 : 5 + image_tokens] = image_token_id
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values": torch.randn(batch, 3, image_size, image_size, device=device, dtype=dtype),
        "head_positions": torch.full((batch,), seq - 10, device=device, dtype=torch.long),
        "level_positions": torch.full((batch,), seq - 1, device=device, dtype=torch.long),
    }


def timeit(model, batch, iters: int, warmup: int, device) -> float:
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            model(**batch, use_metavoter=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            model(**batch, use_metavoter=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def bench_1b(args, device) -> None:
    from transformers import InternVLForConditionalGeneration

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = build_1b_size_config()
    torch.manual_seed(0)
    with torch.device(device):
        backbone = InternVLForConditionalGeneration(config).to(dtype)
    model = HumanAesExpert(HumanAesExpertConfig(), backbone, [1, 2, 3, 4, 5]).to(device).eval()
    if args.lora:
        model.apply_lora()
    params = sum(p.numel() for p in backbone.parameters())
    # scorer's overall prompt: chat scaffolding + <img> + 256 <IMG_CONTEXT> + </img> + question + prefix
    seq = args.text_tokens + config.image_seq_length
    batch = make_batch(args.batch, seq, config.image_seq_length, config.image_token_id, 448, device, dtype)
    seconds = timeit(model, batch, args.iters, args.warmup, device)
    flops = flops_per_image(config, seq)
    ips = args.batch / seconds
    print(f"[1B-size] device={device} dtype={dtype} params={params / 1e6:.0f}M batch={args.batch} seq={seq}")
    print(f"[1B-size] {seconds * 1000:.1f} ms/batch, {ips:.2f} images/s (one prompt; the scorer runs two)")
    print(f"[1B-size] est. {flops / 1e9:.0f} GFLOP/image -> achieved {flops * ips / 1e9:.1f} GFLOP/s")
    if device.type == "cuda":
        peak = gpu_peak_tflops()
        if peak:
            print(
                f"[1B-size] {torch.cuda.get_device_name()} bf16 peak {peak} TFLOP/s "
                f"-> MFU {flops * ips / (peak * 1e12):.1%}"
            )
    else:
        print(f"[1B-size] CPU threads={torch.get_num_threads()}")


def bench_tiny(args) -> None:
    from modeling.data import BackboneProcessor
    from modeling.scorer import predict_head_scores

    with tempfile.TemporaryDirectory() as tmp:
        config = HumanAesExpertConfig(backbone_path=str(build_tiny_backbone(tmp)), tiling=False)
        processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
        model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer).eval()
        rng = np.random.default_rng(0)
        images = [
            Image.fromarray(rng.integers(0, 255, (96, 72, 3), dtype=np.uint8))
            for _ in range(args.tiny_images)
        ]
        predict_head_scores(model, processor, images[:4], batch_size=4)
        start = time.perf_counter()
        predict_head_scores(model, processor, images, batch_size=args.tiny_batch)
        seconds = time.perf_counter() - start
    print(
        f"[tiny] CPU end-to-end scorer (preprocess + 2 prompts + heads): {len(images) / seconds:.1f} img/s "
        f"({args.tiny_images} images, batch {args.tiny_batch})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=None, help="1B-size batch (default 1 on CPU, 16 on GPU)")
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--text-tokens", type=int, default=40, help="non-image tokens of the prompt")
    parser.add_argument("--lora", action="store_true", help="inject the (unmerged) LoRA adapters")
    parser.add_argument("--skip-1b", action="store_true")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--tiny-images", type=int, default=64)
    parser.add_argument("--tiny-batch", type=int, default=16)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.batch = args.batch or (16 if device.type == "cuda" else 1)
    args.iters = args.iters or (10 if device.type == "cuda" else 2)
    if not args.skip_tiny:
        bench_tiny(args)
    if not args.skip_1b:
        bench_1b(args, device)


if __name__ == "__main__":
    main()
