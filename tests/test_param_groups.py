"""``train.group_lr``: each model part gets its own peak rate through the real Trainer path."""

from __future__ import annotations

import pytest

from critic.training.config import ConfigError, load_config
from critic.training.model_setup import group_of


def test_each_part_gets_its_rate_and_the_schedule_scales_all_alike(tmp_path, lr_config) -> None:
    from critic.training.trainer import build_trainer

    trainer, _ = build_trainer(load_config(lr_config(tmp_path, group_lr={"vision_tower": 4e-3, "projector": 2e-3},
                                                     lr_scheduler="constant")))
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    seen = {}
    for g in trainer.optimizer.param_groups:
        parts = {group_of(names[id(p)]) for p in g["params"]}
        assert len(parts) == 1, parts  # a group never mixes parts
        seen.setdefault(parts.pop(), set()).add((g["lr"], g["weight_decay"]))
    assert {lr for lr, _ in seen["vision_tower"]} == {4e-3}
    assert {lr for lr, _ in seen["projector"]} == {2e-3}
    assert {lr for lr, _ in seen["language_model"]} == {1e-3}
    assert {wd for _, wd in seen["language_model"]} == {0.0, 0.1}  # transformers' decay split is kept
    trained = sum(len(g["params"]) for g in trainer.optimizer.param_groups)
    assert trained == sum(1 for p in trainer.model.parameters() if p.requires_grad)
    assert trainer.lr_scheduler.get_last_lr() == [g["lr"] for g in trainer.optimizer.param_groups]
    assert trainer._get_learning_rate() == 1e-3  # the logged rate is train.learning_rate's, not a part's


def test_a_rate_for_a_frozen_part_is_an_error(tmp_path, lr_config) -> None:
    from critic.training.trainer import build_trainer

    cfg = load_config(lr_config(tmp_path, group_lr={"vision_tower": 4e-3}))
    cfg.model.freeze.vision_tower = True
    trainer, _ = build_trainer(cfg)
    with pytest.raises(ValueError, match="group_lr names vision_tower, but no trainable parameter"):
        trainer.create_optimizer()


def test_unknown_part_or_bad_rate_names_the_key(tmp_path, lr_config) -> None:
    with pytest.raises(ConfigError, match="group_lr"):
        load_config(lr_config(tmp_path, group_lr={"vision": 1e-3}))
    with pytest.raises(ConfigError, match="group_lr"):
        load_config(lr_config(tmp_path, group_lr={"projector": 0}))


def test_a_rate_can_be_set_from_the_command_line(tmp_path, lr_config) -> None:
    cfg = load_config(lr_config(tmp_path), ["--train.group_lr.projector", "3e-3"])
    assert cfg.train.group_lr == {"projector": 3e-3}
    with pytest.raises(ConfigError, match="vision"):
        load_config(lr_config(tmp_path), ["--train.group_lr.vision", "3e-3"])
