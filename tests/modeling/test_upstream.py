"""Importing the authors' checkpoints: tiny random models written in the upstream InternVL2 chat layout
(this file writes them itself, independently of the importer), imported, and compared with a reference
forward pass of the very same weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modeling.checkpoint import load_checkpoint
from modeling.configuration import HumanAesExpertConfig
from modeling.data import load_image, read_label_file
from modeling.model import HumanAesExpert, level_token_ids_for
from modeling.scorer import predict_head_scores
from modeling.tiny import build_tokenizer, tiny_internvl_config
from modeling.upstream import GroupedQKVSplit, UpstreamError, UpstreamMismatch, import_upstream

IMAGE_SIZE = 56


# ---------------------------------------------------------------------------------------------------
# Writing a checkpoint in the upstream layout (the inverse of the import, spelled out by hand)
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


def _fuse_internlm2_wqkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, kv_heads: int):
    """InternLM2 stores, per key/value head, its query heads then the key then the value."""
    head_dim = q.shape[0] // heads
    groups = heads // kv_heads
    qs = q.reshape(kv_heads, groups, head_dim, -1)
    ks = k.reshape(kv_heads, 1, head_dim, -1)
    vs = v.reshape(kv_heads, 1, head_dim, -1)
    return torch.cat([qs, ks, vs], dim=1).reshape(-1, q.shape[-1])


def upstream_state(model: HumanAesExpert, lm_type: str) -> dict[str, torch.Tensor]:
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
                fused = _fuse_internlm2_wqkv(q, k, v, text.num_attention_heads, text.num_key_value_heads)
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


def upstream_config(model: HumanAesExpert, lm_type: str) -> dict:
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
        "force_image_size": IMAGE_SIZE,
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
            "image_size": IMAGE_SIZE,
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


def build_reference(lm_type: str, seed: int = 3):
    """A random HumanAesExpert of InternVL structure (Qwen2 text, or Llama text for the InternLM2 case),
    heads and a trained-looking MetaVoter (random weights and BatchNorm statistics)."""
    from transformers import InternVLForConditionalGeneration, LlamaConfig

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


def write_upstream(dest: Path, model: HumanAesExpert, tokenizer, lm_type: str, *, shards: int = 2) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_text(json.dumps(upstream_config(model, lm_type), indent=2))
    (dest / "modeling_internvl_chat.py").write_text("raise RuntimeError('remote code must never run')\n")
    tokenizer.save_pretrained(dest)
    state = {k: v.contiguous() for k, v in upstream_state(model, lm_type).items()}
    names = sorted(state)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k] for k in part}, str(dest / file))
        weight_map.update(dict.fromkeys(part, file))
    (dest / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return dest


# ---------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------


def _images(release_dir: Path):
    return [load_image(s.image_path) for s in read_label_file(release_dir / "test_label.jsonl", release_dir)]


@pytest.mark.parametrize("lm_type", ["qwen2", "internlm2"])
def test_round_trip_gives_the_reference_outputs(tmp_path, release_dir, lm_type):
    reference, tokenizer = build_reference(lm_type)
    src = write_upstream(tmp_path / "HumanAesExpert-tiny", reference, tokenizer, lm_type)

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
    fused = _fuse_internlm2_wqkv(q, k, v, heads=8, kv_heads=2)
    got = GroupedQKVSplit(num_heads=8, num_kv_heads=2, head_dim=4).split(fused)
    assert all(torch.equal(a, b) for a, b in zip(got, (q, k, v), strict=True))


def test_every_unmapped_and_missing_tensor_is_named_and_nothing_is_written(tmp_path):
    from safetensors.torch import load_file

    reference, tokenizer = build_reference("qwen2")
    src = write_upstream(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
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
    src = write_upstream(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
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
    src = write_upstream(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
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
    src = write_upstream(tmp_path / "src", reference, tokenizer, "qwen2", shards=1)
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
