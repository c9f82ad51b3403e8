"""Stage one restarts from its last checkpoint and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from modeling.data import BackboneProcessor, load_release
from modeling.model import HumanAesExpert
from modeling.train import STATE_FILE, train_stage_one


class Killed(Exception):
    pass


def _fresh(config):
    torch.manual_seed(0)
    processor = BackboneProcessor.from_pretrained(config.backbone_path, config)
    model = HumanAesExpert.from_backbone_dir(config, tokenizer=processor.tokenizer)
    model.apply_lora()
    return model, processor


def _trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kill_after", [1, 3, 4])  # mid-epoch, at the epoch boundary, in the second epoch
def test_killed_stage_one_resumes_to_the_same_weights(base_config, release_dir, tmp_path, kill_after):
    config = dataclasses.replace(base_config, epochs=2)  # 6 samples, batch 2: 3 steps an epoch
    train = load_release(release_dir).train

    model, processor = _fresh(config)
    straight = train_stage_one(model, processor, train, log=None)
    expected = _trainable(model)

    def kill(step: int, total: int) -> None:
        if step == kill_after:
            raise Killed

    state = tmp_path / "state"
    model, processor = _fresh(config)
    with pytest.raises(Killed):
        train_stage_one(model, processor, train, log=None, state_dir=state, checkpoint_every=1, on_step=kill)
    assert (state / STATE_FILE).is_file()

    messages: list[str] = []
    model, processor = _fresh(config)  # a new process: fresh weights, the state file only
    resumed = train_stage_one(
        model, processor, train, log=messages.append, state_dir=state, checkpoint_every=1
    )
    assert messages[0] == f"stage1 resumed from step {kill_after}/6"
    assert resumed["steps"] == straight["steps"] == 6
    assert resumed["loss"] == straight["loss"]
    got = _trainable(model)
    assert all(torch.equal(got[n], expected[n]) for n in expected)


def test_a_state_of_another_run_is_refused(base_config, release_dir, tmp_path):
    train = load_release(release_dir).train
    model, processor = _fresh(base_config)
    train_stage_one(model, processor, train, log=None, state_dir=tmp_path, checkpoint_every=1, max_steps=2)
    model, processor = _fresh(base_config)
    with pytest.raises(ValueError, match="saved for another run"):
        train_stage_one(model, processor, train, log=None, state_dir=tmp_path, checkpoint_every=1)
