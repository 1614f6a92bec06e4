"""Which parts train: parameter groups of every family, freezing, LoRA (peft) with a merged export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from critic.models.loading import load_model
from critic.models.tiny import FAMILIES
from critic.toy.training_set import write_training_set
from critic.training.config import load_config_dict
from critic.training.model_setup import GROUPS, group_of, prepare_model


@pytest.mark.parametrize("family", FAMILIES)
def test_every_parameter_belongs_to_one_group(family: str, tiny_model_dir) -> None:
    model = load_model(tiny_model_dir(family))
    groups = {n: group_of(n) for n, _ in model.named_parameters()}
    assert all(g in GROUPS for g in groups.values()), [n for n, g in groups.items() if g is None]
    assert set(groups.values()) == set(GROUPS)


def small_cfg(tmp_path: Path, data: Path, **model):
    return load_config_dict({
        "model": {"tiny": {"family": "llava", "hidden_size": 64, "intermediate_size": 128, "vision_hidden_size": 64},
                  **model},
        "data": {"train": str(data)},
        "train": {"output_dir": str(tmp_path / "out"), "epochs": 1, "max_steps": 3, "global_batch_size": 4,
                  "per_device_batch_size": 4, "learning_rate": 1e-2, "warmup_ratio": 0.0, "save_steps": 100,
                  "progress": False},
    })


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_training_set(tmp_path_factory.mktemp("partsdata"), n_pairwise=8, n_pointwise=8, seed=2)


def test_frozen_parts_do_not_change(tmp_path: Path, data: Path) -> None:
    from critic.training.trainer import train

    cfg = small_cfg(tmp_path, data, freeze={"vision_tower": True, "projector": True})
    model, _, counts = prepare_model(cfg.model)
    assert counts["vision_tower"] == counts["projector"] == 0 and counts["language_model"] > 0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    res = train(cfg)
    after = dict(res.trainer.model.named_parameters())
    for n, p in before.items():
        changed = not torch.equal(p, after[n].detach())
        assert changed == (group_of(n) == "language_model"), n
    meta = json.loads((tmp_path / "out" / "critic.json").read_text())
    assert meta["trained_parameters"]["vision_tower"] == 0


def test_lora_trains_adapters_and_exports_a_merged_critic(tmp_path: Path, data: Path) -> None:
    pytest.importorskip("peft")
    from critic.judging.critic import Critic
    from critic.training.trainer import train

    cfg = small_cfg(tmp_path, data, lora={"r": 4, "alpha": 8, "dropout": 0.0}, freeze={"vision_tower": True})
    model, _, counts = prepare_model(cfg.model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "multi_modal_projector" in n for n in trainable)
    assert any("multi_modal_projector" in n for n in trainable), "an unfrozen projector trains whole"
    res = train(cfg)
    out = tmp_path / "out"
    assert res.global_step == 3
    assert not (out / "adapter_config.json").exists(), "the final critic is merged"
    merged = load_model(out)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    critic = Critic.from_pretrained(out, progress=False)
    assert critic.template_for("pairwise").name == "compact_pairwise"
