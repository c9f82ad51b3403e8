"""Two-stage training (paper §4 "Training"), a plain PyTorch loop.

Stage one: LoRA on the language model and the projector (vision tower frozen), Regression and Expert
heads fully trained, loss of Eq. 7; AdamW (0.9, 0.95), wd 0.1, lr 1e-4 cosine with 5% warmup, grad
clip 1, effective batch 16 by gradient accumulation, 1 epoch, seed 42. bf16 autocast on CUDA.
Stage two: everything frozen; the three heads' overall scores of every training image are computed once
(the scorer's procedure) and the MetaVoter is fit on them with L1 for ``metavoter_epochs`` epochs.

Restartable: with ``state_dir`` and ``checkpoint_every`` stage one saves its training state (trainable
weights, optimiser, step, position in the epoch's sample order, the RNG states) every so many optimiser
steps, atomically; a run started again with the same arguments continues from the last such checkpoint and
ends with the same weights as an uninterrupted run (single process, ``num_workers=0``). Each epoch's sample
order is drawn from ``seed + epoch`` so a resumed run can skip the batches already done without loading
them. A finished stage one is checkpointed too, so a run lost in stage two only redoes stage two.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) stage one wraps the model in DDP and shards the data
with a ``DistributedSampler``; rank 0 writes the checkpoint. The single-process path is the tested one.

CLI::

    python -m modeling.train --release-dir RELEASE --backbone BACKBONE_DIR --out CKPT_DIR [--max-steps N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from modeling.checkpoint import load_checkpoint, save_checkpoint
from modeling.configuration import HumanAesExpertConfig
from modeling.data import BackboneProcessor, HumanBeautyDataset, Sample, load_release
from modeling.model import HumanAesExpert
from modeling.scorer import autocast_for, predict_head_scores

__all__ = [
    "load_checkpoint",
    "run_training",
    "save_checkpoint",
    "train_stage_one",
    "train_stage_two",
]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_at(step: int, *, total: int, warmup: int, base: float, schedule: str = "cosine") -> float:
    """Linear warmup then cosine (or constant) decay to 0; pure, like nanoGPT's ``get_lr``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    if schedule != "cosine" or total <= warmup:
        return base
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


def distributed_env() -> tuple[int, int, int]:
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("LOCAL_RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
    )


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", distributed_env()[1])
    return torch.device("cpu")


def build_model(config: HumanAesExpertConfig, device: torch.device | None = None):
    """(model with LoRA injected, processor) from ``config.backbone_path``."""
    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    model.apply_lora()
    return model.to(device or default_device()), processor


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or name.endswith(".bias") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


STATE_FILE = "stage1-state.pt"


def _save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the training state atomically (a kill mid-write leaves the previous state intact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _epoch_batches(dataset: HumanBeautyDataset, sampler: Any, *, epoch: int, seed: int, batch_size: int):
    """The epoch's batches of sample indices: a permutation drawn from ``seed + epoch`` (or the distributed
    sampler's shard), so any position in any epoch can be found again."""
    if sampler is not None:
        sampler.set_epoch(epoch)
        order = list(sampler)
    else:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def train_stage_one(
    model: HumanAesExpert,
    processor: BackboneProcessor,
    samples: list[Sample],
    *,
    max_steps: int | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = print,
    state_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune LoRA + Regression/Expert heads with Eq. 7; returns a history dict.

    ``max_steps`` caps optimiser steps (smoke runs); the schedule is computed for the capped length.
    ``state_dir`` + ``checkpoint_every`` make the run restartable (module doc); ``on_step(step, total)`` is
    called after every optimiser step (and after its checkpoint).
    """
    config = model.config
    seed_everything(config.seed)
    rank, local_rank, world = distributed_env()
    if not model.lora_applied:
        model.apply_lora()
    model.set_stage(1)
    device = next(model.parameters()).device

    dataset = HumanBeautyDataset(samples, processor, seed=config.seed + rank)
    sampler = None
    train_module: torch.nn.Module = model
    if world > 1:
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        sampler = torch.utils.data.distributed.DistributedSampler(dataset, shuffle=True, seed=config.seed)
        # the switch leaves one head unused in pure batches
        train_module = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None, find_unused_parameters=True
        )
    batch_size = config.per_device_batch_size
    n_batches = len(_epoch_batches(dataset, sampler, epoch=0, seed=config.seed, batch_size=batch_size))
    accum = max(1, config.accumulation_steps // world)
    total = math.ceil(n_batches / accum) * config.epochs
    if max_steps is not None:
        total = min(total, max_steps)
    warmup = math.ceil(config.warmup_ratio * total)
    optimizer = torch.optim.AdamW(
        param_groups(model, config.weight_decay), lr=config.learning_rate, betas=config.adam_betas
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    history: dict[str, Any] = {"loss": [], "loss_ce": [], "loss_reg": [], "loss_exp": [], "lr": []}
    step, micro, start_epoch, start_batch = 0, 0, 0, 0
    state_path = Path(state_dir) / STATE_FILE if state_dir else None
    if state_path is not None and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        if state["total"] != total or state["n_samples"] != len(samples):
            raise ValueError(f"{state_path}: saved for another run (steps or samples differ)")
        named = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state["trainable"].items():
                named[name].copy_(value.to(named[name].device, named[name].dtype))
        optimizer.load_state_dict(state["optimizer"])
        step, micro, history = state["step"], state["micro"], state["history"]
        start_epoch, start_batch = state["epoch"], state["batch"]
        dataset.rng.setstate(state["dataset_rng"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        np.random.set_state(state["numpy_rng"])
        if log and rank == 0:
            log(f"stage1 resumed from step {step}/{total}")

    def checkpoint(epoch: int, batch: int) -> None:
        if state_path is None or rank != 0:
            return
        _save_state(
            state_path,
            {
                "total": total,
                "n_samples": len(samples),
                "step": step,
                "micro": micro,
                "epoch": epoch,
                "batch": batch,
                "history": history,
                "trainable": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
                "optimizer": optimizer.state_dict(),
                "dataset_rng": dataset.rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
                "numpy_rng": np.random.get_state(),
            },
        )

    model.train()
    started = time.time()
    running: dict[str, float] = {}
    for epoch in range(start_epoch, config.epochs):
        if step >= total:
            break
        batches = _epoch_batches(dataset, sampler, epoch=epoch, seed=config.seed, batch_size=batch_size)
        skip = start_batch if epoch == start_epoch else 0
        loader = DataLoader(  # its own generator: creating it must not draw from the global (dropout) RNG
            dataset,
            batch_sampler=batches[skip:],
            collate_fn=dataset.collate,
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(config.seed + epoch),
        )
        for position, batch in enumerate(loader, start=skip + 1):
            batch = {k: v.to(device) for k, v in batch.items()}
            batch["pixel_values"] = batch["pixel_values"].to(model.backbone.dtype)
            with autocast_for(device):
                out = train_module(**batch)
            (out.loss / accum).backward()
            for key in ("loss", "loss_ce", "loss_reg", "loss_exp"):
                running[key] = running.get(key, 0.0) + float(getattr(out, key).detach()) / accum
            micro += 1
            if micro % accum:
                continue
            lr = lr_at(
                step, total=total, warmup=warmup, base=config.learning_rate, schedule=config.lr_schedule
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            for key, value in running.items():
                history[key].append(value)
            history["lr"].append(lr)
            if log and rank == 0 and (step % 10 == 0 or step == total - 1):
                log(
                    f"stage1 step {step + 1}/{total} loss {running['loss']:.4f} ce {running['loss_ce']:.4f} "
                    f"reg {running['loss_reg']:.4f} exp {running['loss_exp']:.4f} lr {lr:.2e} "
                    f"({time.time() - started:.0f}s)"
                )
            running = {}
            step += 1
            if checkpoint_every and (step % checkpoint_every == 0 or step >= total):
                checkpoint(epoch, position)
            if on_step is not None:
                on_step(step, total)
            if step >= total:
                break
    model.eval()
    history["steps"] = step
    return history


def train_stage_two(
    model: HumanAesExpert,
    processor: BackboneProcessor,
    samples: list[Sample],
    *,
    batch_size: int = 8,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Freeze everything but the MetaVoter; fit it with L1 on the cached head scores."""
    config = model.config
    seed_everything(config.seed)
    model.set_stage(2)
    scores = predict_head_scores(model, processor, [s.image_path for s in samples], batch_size=batch_size)
    features = torch.tensor(scores["head_overall"], dtype=torch.float32)  # one column per registered head
    targets = torch.tensor([s.overall for s in samples], dtype=torch.float32)
    device = next(model.metavoter.parameters()).device
    features, targets = features.to(device), targets.to(device)
    voter = model.metavoter.float()
    optimizer = torch.optim.Adam(voter.parameters(), lr=config.metavoter_lr)
    generator = torch.Generator().manual_seed(config.seed)
    history: dict[str, Any] = {"loss": []}
    voter.train()
    n = len(targets)
    for epoch in range(config.metavoter_epochs):
        order = torch.randperm(n, generator=generator)
        total, count = 0.0, 0
        for start in range(0, n, config.metavoter_batch_size):
            idx = order[start : start + config.metavoter_batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            loss = torch.nn.functional.l1_loss(voter(features[idx]), targets[idx])  # Eq. 6
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history["loss"].append(total / max(1, count))
        if log:
            log(f"stage2 epoch {epoch + 1}/{config.metavoter_epochs} L1 {history['loss'][-1]:.4f}")
    voter.eval()
    model.metavoter_ready.fill_(True)
    model.eval()
    return history


def run_training(
    *,
    release_dir: str | Path,
    backbone_path: str | Path,
    out_dir: str | Path,
    config: HumanAesExpertConfig | None = None,
    max_steps: int | None = None,
    stage_two: bool = True,
    log: Callable[[str], None] | None = print,
    state_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> Path:
    """Train both stages on ``<release_dir>/train_label.jsonl`` and write a checkpoint to ``out_dir``.
    With ``state_dir`` and ``checkpoint_every`` it restarts from its last stage-one checkpoint."""
    config = dataclasses.replace(config or HumanAesExpertConfig(), backbone_path=str(backbone_path))
    release = load_release(release_dir, config.standard)
    if not release.train:
        raise ValueError(f"{release_dir}: empty train split")
    model, processor = build_model(config)
    history_one = train_stage_one(
        model,
        processor,
        release.train,
        max_steps=max_steps,
        log=log,
        state_dir=state_dir,
        checkpoint_every=checkpoint_every,
        on_step=on_step,
    )
    history_two = train_stage_two(model, processor, release.train, log=log) if stage_two else {}
    args = {
        "release_dir": str(release_dir),
        "backbone_path": str(backbone_path),
        "max_steps": max_steps,
        "stage_two": stage_two,
        "train_samples": len(release.train),
        "stage_one_steps": history_one["steps"],
        "stage_one_final_loss": history_one["loss"][-1] if history_one["loss"] else None,
        "stage_two_final_l1": history_two["loss"][-1] if history_two.get("loss") else None,
    }
    if distributed_env()[0] == 0:
        save_checkpoint(model, out_dir, training_args=args, release_version=release.version)
    return Path(out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeling.train", description="Train HumanAesExpert")
    parser.add_argument("--release-dir", required=True)
    parser.add_argument("--backbone", required=True, help="local backbone directory (InternVL-hf layout)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default=None, help="a HumanAesExpertConfig JSON to start from")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--no-stage-two", action="store_true")
    parser.add_argument("--no-tiling", action="store_true", help="one 448² tile per image")
    parser.add_argument("--per-device-batch-size", type=int, default=None)
    args = parser.parse_args(argv)
    config = HumanAesExpertConfig.from_json(args.config) if args.config else HumanAesExpertConfig()
    if args.no_tiling:
        config.tiling = False
    if args.per_device_batch_size:
        config.per_device_batch_size = args.per_device_batch_size
    out = run_training(
        release_dir=args.release_dir,
        backbone_path=args.backbone,
        out_dir=args.out,
        config=config,
        max_steps=args.max_steps,
        stage_two=not args.no_stage_two,
    )
    print(json.dumps({"checkpoint": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
