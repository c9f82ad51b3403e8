"""Checkpoint directories: small, self-describing, and reloadable to identical outputs.

Layout (the backbone itself is not copied; ``humanaesexpert_config.json`` names its local path)::

    <dir>/humanaesexpert_config.json   HumanAesExpertConfig
    <dir>/adapter.safetensors          LoRA weights of the backbone (empty before stage one)
    <dir>/heads.safetensors            every registered head with parameters (regression_head.*,
                                       expert_head.*), level_token_ids
    <dir>/metavoter.safetensors        metavoter.*, metavoter_ready
    <dir>/training_args.json           the arguments of the run that produced it
    <dir>/meta.json                    release_version, code_revision (git SHA or "unknown"), versions, time
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from modeling.configuration import CONFIG_FILE, HumanAesExpertConfig
from modeling.model import HumanAesExpert

ADAPTER_FILE = "adapter.safetensors"
HEADS_FILE = "heads.safetensors"
METAVOTER_FILE = "metavoter.safetensors"
ARGS_FILE = "training_args.json"
META_FILE = "meta.json"


def code_revision(repo_dir: str | Path | None = None) -> str:
    """The git SHA of the code (``-dirty`` when the tree has changes), or "unknown"."""
    cwd = Path(repo_dir) if repo_dir else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if sha and dirty else (sha or "unknown")


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in state.items()}


def save_checkpoint(
    model: HumanAesExpert,
    out_dir: str | Path,
    *,
    training_args: dict[str, Any] | None = None,
    release_version: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.config.to_json(out / CONFIG_FILE)
    save_file(_contiguous(model.adapter_state_dict()), str(out / ADAPTER_FILE))
    save_file(_contiguous(model.heads_state_dict()), str(out / HEADS_FILE))
    save_file(_contiguous(model.metavoter_state_dict()), str(out / METAVOTER_FILE))
    (out / ARGS_FILE).write_text(json.dumps(training_args or {}, indent=2, default=str) + "\n")
    import transformers

    meta = {
        "format": "humanaesexpert-checkpoint/1",
        "release_version": release_version or "unknown",
        "code_revision": code_revision(),
        "backbone_path": model.config.backbone_path,
        "lora_applied": model.lora_applied,
        "metavoter_ready": bool(model.metavoter_ready),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "metrics": metrics or {},
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def read_meta(ckpt_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(ckpt_dir) / META_FILE).read_text(encoding="utf-8"))


def load_checkpoint(
    ckpt_dir: str | Path,
    *,
    backbone_path: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | None = None,
):
    """Rebuild (model, processor) from a checkpoint directory; ``backbone_path`` overrides the recorded
    backbone location (e.g. on another machine). The model is returned in eval mode."""
    from modeling.data import BackboneProcessor

    ckpt = Path(ckpt_dir)
    config = HumanAesExpertConfig.from_json(ckpt / CONFIG_FILE)
    if backbone_path is not None:
        config.backbone_path = str(backbone_path)
    if dtype is not None:
        config.dtype = dtype
    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    meta = read_meta(ckpt)
    adapter = load_file(str(ckpt / ADAPTER_FILE))
    if meta.get("lora_applied") or adapter:
        model.apply_lora()
        missing = set(adapter) - set(model.backbone.state_dict())
        if missing:
            raise ValueError(f"adapter keys not in the backbone: {sorted(missing)[:5]}")
        model.backbone.load_state_dict(adapter, strict=False)
    heads = load_file(str(ckpt / HEADS_FILE))
    if not torch.equal(heads.pop("level_token_ids"), model.level_token_ids.cpu()):
        raise ValueError("the backbone's tokenizer maps the level words to other ids than at training time")
    heads.update(load_file(str(ckpt / METAVOTER_FILE)))
    result = model.load_state_dict(heads, strict=False)
    unexpected = list(result.unexpected_keys)
    missing_heads = [k for k in result.missing_keys if k.startswith((*model.head_prefixes(), "metavoter"))]
    if unexpected or missing_heads:
        raise ValueError(f"checkpoint mismatch: unexpected {unexpected}, missing {missing_heads}")
    if device is not None:
        model.to(device)
    model.eval()
    return model, processor
