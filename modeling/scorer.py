"""Batched scoring with a trained checkpoint: load once, score many (Q-Align / ArtiMuse style).

Per image, two prompts go through the backbone (the paper's ``run_metavoter`` costs "2x time" too):

1. the overall question + the answer prefix "The aesthetics of the human image is": the LM-head score
   (level-word softmax at the last position) and the Regression head (prompt-end token);
2. the all-dimension question: the Expert head (prompt-end token) -> one score per dimension of the
   model's standard (12 for HumanBeauty), keyed by its dimension keys in the results.

``expert_pass=False`` skips pass 2 and reads the Expert head on pass 1's prompt end (half the cost,
slightly off-distribution for the Expert head). The MetaVoter fuses (S_LM, S_reg, S_exp) into
``final_score``; ``score`` is ``final_score`` when the MetaVoter is trained, else the mean of the three.

CLI::

    python -m modeling.scorer image PATH --checkpoint DIR
    python -m modeling.scorer dataset DIR_OR_JSON --checkpoint DIR --out results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from annotation.standards.humanbeauty import level_for
from modeling.configuration import ModelStandard
from modeling.data import BackboneProcessor, collate, encode_scoring_prompt, load_image
from modeling.heads import HEADS
from modeling.model import HumanAesExpert

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def autocast_for(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def predict_head_scores(
    model: HumanAesExpert,
    processor: BackboneProcessor,
    images: Sequence[Image.Image | str | Path],
    *,
    batch_size: int = 8,
    expert_pass: bool = True,
) -> dict[str, np.ndarray]:
    """Head scores for many images: lm_score [N], reg_score [N], expert_scores [N, D], level_probs [N, 5],
    head_overall [N, n_heads] (every registered head's overall score, in registry order: the MetaVoter's
    input), final_score [N] (NaN while the MetaVoter is untrained). Each head is read on its own
    prompt's pass (``ScoreHead.prompt``); with ``expert_pass=False`` every head reads the overall pass."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    prompts = ("overall", "expert") if expert_pass else ("overall",)
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in model.head_names}
    extras: dict[str, list[torch.Tensor]] = {"level_probs": [], "expert_scores": []}
    for start in range(0, len(images), batch_size):
        chunk = [
            img if isinstance(img, Image.Image) else load_image(img)
            for img in images[start : start + batch_size]
        ]
        outs = {}
        for prompt in prompts:
            feats = [encode_scoring_prompt(processor, img, expert=prompt == "expert") for img in chunk]
            batch = {k: v.to(device) for k, v in collate(feats, processor.pad_token_id).items()}
            if batch["pixel_values"].is_floating_point():
                batch["pixel_values"] = batch["pixel_values"].to(model.backbone.dtype)
            with autocast_for(device):
                outs[prompt] = model(**batch, use_metavoter=False)
        for name in model.head_names:
            out = outs.get(HEADS[name].prompt, outs["overall"])
            parts[name].append(out.heads[name]["overall"].float().cpu())
        extras["level_probs"].append(outs["overall"].level_probs.float().cpu())
        extras["expert_scores"].append(outs.get("expert", outs["overall"]).expert_scores.float().cpu())
    head_overall = torch.stack([torch.cat(parts[name]) for name in model.head_names], dim=-1)
    if bool(model.metavoter_ready):
        voter_in = head_overall.to(device=device, dtype=model.metavoter.net[0].weight.dtype)
        final = model.metavoter(voter_in).float().cpu()
    else:
        final = torch.full((head_overall.shape[0],), float("nan"))
    if was_training:
        model.train()
    return {
        "lm_score": torch.cat(parts["lm"]).numpy(),
        "reg_score": torch.cat(parts["regression"]).numpy(),
        "expert_scores": torch.cat(extras["expert_scores"]).numpy(),
        "level_probs": torch.cat(extras["level_probs"]).numpy(),
        "head_overall": head_overall.numpy(),
        "final_score": final.numpy(),
    }


def results_from_scores(
    scores: dict[str, np.ndarray], names: Sequence[str], standard: ModelStandard | None = None
) -> list[dict[str, Any]]:
    """One result per image; ``dimensions`` keyed by the standard's dimension keys (the model's
    ``config.standard``; HumanBeauty by default)."""
    standard = standard or ModelStandard()
    results = []
    for i, name in enumerate(names):
        heads = np.asarray(scores["head_overall"][i])
        final = float(scores["final_score"][i])
        score = final if np.isfinite(final) else float(heads.mean())
        results.append(
            {
                "image": str(name),
                "score": score,
                "rating_level": level_for(min(max(score, 0.0), 1.0)),
                "final_score": final if np.isfinite(final) else None,
                "lm_score": float(scores["lm_score"][i]),
                "regression_score": float(scores["reg_score"][i]),
                "expert_overall": float(scores["expert_scores"][i, standard.overall_index]),
                "heads_disagreement": float(heads.std()),  # population SD of the heads' overall scores
                "dimensions": {
                    key: float(v)
                    for key, v in zip(standard.dimension_keys, scores["expert_scores"][i], strict=True)
                },
            }
        )
    return results


class Scorer:
    """Load a checkpoint once; ``eval_image(path)`` / ``eval_dataset(paths)``."""

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        device: str | None = None,
        backbone_path: str | None = None,
        batch_size: int = 8,
        expert_pass: bool = True,
    ) -> None:
        from modeling.checkpoint import load_checkpoint, read_meta

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model, self.processor = load_checkpoint(checkpoint, backbone_path=backbone_path, device=device)
        self.meta = read_meta(checkpoint)
        self.batch_size = batch_size
        self.expert_pass = expert_pass

    @classmethod
    def from_model(cls, model: HumanAesExpert, processor: BackboneProcessor, **kwargs: Any) -> Scorer:
        scorer = cls.__new__(cls)
        scorer.model, scorer.processor, scorer.meta = model, processor, {}
        scorer.batch_size = kwargs.get("batch_size", 8)
        scorer.expert_pass = kwargs.get("expert_pass", True)
        return scorer

    def score_images(self, images: Sequence[Image.Image | str | Path]) -> dict[str, np.ndarray]:
        return predict_head_scores(
            self.model, self.processor, images, batch_size=self.batch_size, expert_pass=self.expert_pass
        )

    def eval_image(self, image: str | Path) -> dict[str, Any]:
        return self.eval_dataset([image])[0]

    def eval_dataset(self, images: Sequence[str | Path]) -> list[dict[str, Any]]:
        """ArtiMuse-shaped: a list of {"image", "score", ...} in input order."""
        return results_from_scores(
            self.score_images(images), [str(p) for p in images], self.model.config.standard
        )


def list_images(source: str | Path) -> list[Path]:
    """A directory (recursively) or a JSON list of paths / {"image": ...} (ArtiMuse test.json)."""
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    items = json.loads(source.read_text(encoding="utf-8"))
    paths = []
    for item in items:
        path = Path(item["image"] if isinstance(item, dict) else item)
        if not path.is_absolute():
            candidates = [source.parent / path, source.parent / "images" / path]
            path = next((c for c in candidates if c.exists()), candidates[0])
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeling.scorer", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["image", "dataset"])
    parser.add_argument("source", help="an image path (image) or a directory / JSON list (dataset)")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--backbone", default=None, help="override the backbone directory of the checkpoint")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-expert-pass", action="store_true")
    parser.add_argument("--out", default=None, help="write the JSON results here")
    args = parser.parse_args(argv)
    scorer = Scorer(
        args.checkpoint,
        device=args.device,
        backbone_path=args.backbone,
        batch_size=args.batch_size,
        expert_pass=not args.no_expert_pass,
    )
    result: Any = (
        scorer.eval_image(args.source)
        if args.mode == "image"
        else scorer.eval_dataset(list_images(args.source))
    )
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
