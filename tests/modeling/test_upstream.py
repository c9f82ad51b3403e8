"""Importing the authors' checkpoints: tiny random models written in the upstream InternVL2 chat layout
(``modeling.tiny`` spells that layout out by hand, independently of the importer), imported, and
compared with a reference forward pass of the very same weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modeling.checkpoint import load_checkpoint
from modeling.data import load_image, read_label_file
from modeling.scorer import predict_head_scores
from modeling.tiny import fuse_internlm2_wqkv, write_upstream_layout
from modeling.tiny import tiny_humanaesexpert as build_reference
from modeling.upstream import GroupedQKVSplit, UpstreamError, UpstreamMismatch, import_upstream


def _images(release_dir: Path):
    return [load_image(s.image_path) for s in read_label_file(release_dir / "test_label.jsonl", release_dir)]


@pytest.mark.parametrize("lm_type", ["qwen2", "internlm2"])
def test_round_trip_gives_the_reference_outputs(tmp_path, release_dir, lm_type):
    reference, tokenizer = build_reference(lm_type)
    src = write_upstream_layout(tmp_path / "HumanAesExpert-tiny", reference, tokenizer, lm_type)

    imported = import_upstream(src, tmp_path / "imported")
    assert imported.report["language_model"] == lm_type
    assert imported.report["metavoter_ready"] is True
    assert imported.report["ignored_tensors"] == ["language_model.model.rotary_emb.inv_freq"]
    assert imported.config.expert_ffn_hidden == 5 and imported.config.metavoter_hidden == 6
    assert imported.config.regression_bias is True and imported.config.tiling is False
    backbone_config = json.loads((imported.backbone_dir / "config.json").read_text())
    assert backbone_config["model_type"] == "internvl" and "auto_map" not in backbone_config
    expected_text = "qwen2" if lm_type == "qwen2" else "llama"
    assert backbone_config["text_config"]["model_type"] == expected_text

    model, processor = load_checkpoint(imported.checkpoint_dir)
    assert list(processor.image_processor.image_mean) == [0.485, 0.456, 0.406]
    images = _images(release_dir)
    got = predict_head_scores(model, processor, images, batch_size=2)
    want = predict_head_scores(reference, processor, images, batch_size=2)
    for key in ("lm_score", "reg_score", "expert_scores", "level_probs", "final_score"):
        assert got[key].shape == want[key].shape
        assert abs(got[key] - want[key]).max() < 1e-5, key
    # The weights really moved: a fresh random model scores differently.
    other, _ = build_reference(lm_type, seed=4)
    assert (
        abs(predict_head_scores(other, processor, images)["final_score"] - want["final_score"]).max() > 1e-4
    )


def test_grouped_wqkv_split_inverts_the_internlm2_layout():
    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(8 * 4, 16, generator=gen), torch.randn(2 * 4, 16, generator=gen), torch.randn(8, 16)
    fused = fuse_internlm2_wqkv(q, k, v, heads=8, kv_heads=2)
    got = GroupedQKVSplit(num_heads=8, num_kv_heads=2, head_dim=4).split(fused)
    assert all(torch.equal(a, b) for a, b in zip(got, (q, k, v), strict=True))


def test_every_unmapped_and_missing_tensor_is_named_and_nothing_is_written(tmp_path):
    from safetensors.torch import load_file

    reference, tokenizer = build_reference("qwen2")
    src = write_upstream_layout(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
    shard = next(src.glob("*.safetensors"))
    state = load_file(str(shard))
    del state["language_model.expert_head3.2.weight"]
    del state["mlp1.1.bias"]
    state["language_model.mystery_head.weight"] = torch.zeros(3)
    state["vision_model.encoder.layers.0.extra.weight"] = torch.zeros(3)
    save_file(state, str(shard))

    with pytest.raises(UpstreamMismatch) as info:
        import_upstream(src, tmp_path / "out")
    err = info.value
    assert "language_model.mystery_head.weight" in err.unmapped
    assert any(
        name.startswith("vision_model.encoder.layers.0.extra.weight (converted to") for name in err.unmapped
    )
    assert "expert_head.appearance.fc2.weight" in err.missing
    assert "model.multi_modal_projector.linear_1.bias" in err.missing
    assert "mystery_head" in str(err) and "expert_head.appearance.fc2.weight" in str(err)
    assert not (tmp_path / "out").exists()


def test_an_edited_mapping_file_reads_other_names(tmp_path):
    reference, tokenizer = build_reference("qwen2")
    src = write_upstream_layout(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
    # Rename the MetaVoter in the checkpoint: the default mapping no longer finds it ...
    from safetensors.torch import load_file

    shard = next(src.glob("*.safetensors"))
    state = load_file(str(shard))
    state = {k.replace("meta_voter.", "fusion.voter_mlp."): v for k, v in state.items()}
    save_file(state, str(shard))
    with pytest.raises(UpstreamMismatch) as info:
        import_upstream(src, tmp_path / "out", dry_run=True)
    assert "fusion.voter_mlp.0.weight" in info.value.unmapped
    assert "metavoter.net.0.weight" in info.value.missing
    # ... a copy of the mapping with one more rule does.
    from modeling.upstream import DEFAULT_MAPPING

    mapping = json.loads(DEFAULT_MAPPING.read_text())
    mapping["tensors"][r"fusion\.voter_mlp\.(.+)"] = r"metavoter.net.\1"
    edited = tmp_path / "mapping.json"
    edited.write_text(json.dumps(mapping))
    report = import_upstream(src, tmp_path / "out", mapping_path=edited, dry_run=True).report
    assert report["metavoter_ready"] is True
    assert not (tmp_path / "out").exists()  # dry run


REMOTE_TOKENIZER = """
from pathlib import Path
from transformers import Qwen2Tokenizer

Path({marker!r}).write_text("yes")  # transformers runs a copy of this file from its module cache


class ToyRemoteTokenizer(Qwen2Tokenizer):
    pass
"""


def test_remote_code_runs_only_on_explicit_opt_in(tmp_path):
    from transformers import AutoTokenizer

    reference, tokenizer = build_reference("qwen2")
    src = write_upstream_layout(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
    (src / "tokenization_toy.py").write_text(REMOTE_TOKENIZER.format(marker=str(src / "remote_code_ran")))
    tok_config = json.loads((src / "tokenizer_config.json").read_text())
    tok_config["tokenizer_class"] = "ToyRemoteTokenizer"
    tok_config["auto_map"] = {"AutoTokenizer": [None, "tokenization_toy.ToyRemoteTokenizer"]}
    (src / "tokenizer_config.json").write_text(json.dumps(tok_config))

    with pytest.raises(UpstreamError, match="--trust-remote-code"):
        import_upstream(src, tmp_path / "refused", dry_run=True)
    assert not (src / "remote_code_ran").exists()

    imported = import_upstream(src, tmp_path / "out", trust_remote_code=True)
    assert (src / "remote_code_ran").exists()
    assert imported.report["trust_remote_code"] is True
    # The written backbone needs no remote code any more.
    saved = json.loads((imported.backbone_dir / "tokenizer_config.json").read_text())
    assert "auto_map" not in saved
    again = AutoTokenizer.from_pretrained(
        imported.backbone_dir, local_files_only=True, trust_remote_code=False
    )
    assert (
        again("The aesthetics of the human image is good")["input_ids"]
        == tokenizer("The aesthetics of the human image is good")["input_ids"]
    )


def test_layouts_it_cannot_reproduce_are_refused_by_name(tmp_path):
    reference, tokenizer = build_reference("qwen2")
    src = write_upstream_layout(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
    cfg = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**cfg, "ps_version": "v1"}))
    with pytest.raises(UpstreamError, match="ps_version"):
        import_upstream(src, tmp_path / "out", dry_run=True)
    (src / "config.json").write_text(
        json.dumps(
            {
                **cfg,
                "llm_config": {
                    **cfg["llm_config"],
                    "architectures": ["Phi3ForCausalLM"],
                    "model_type": "phi3",
                },
            }
        )
    )
    with pytest.raises(UpstreamError, match="Qwen2, InternLM2 and Llama"):
        import_upstream(src, tmp_path / "out", dry_run=True)
    (src / "config.json").write_text(json.dumps({"model_type": "internvl"}))
    with pytest.raises(UpstreamError, match="needs no import"):
        import_upstream(src, tmp_path / "out", dry_run=True)


def test_a_broken_mapping_file_is_refused_before_reading_weights(tmp_path):
    from modeling.upstream import DEFAULT_MAPPING, HeadMapping

    mapping = json.loads(DEFAULT_MAPPING.read_text())
    for broken, message in (
        ({**mapping, "format": "v0"}, "format"),
        ({**mapping, "config": {"no_such_field": 1}}, "unknown config keys"),
        ({**mapping, "tensors": {"(unclosed": "x"}}, "bad expression"),
    ):
        path = tmp_path / "mapping.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(UpstreamError, match=message):
            HeadMapping.load(path)
