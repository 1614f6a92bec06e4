"""``train.lr_scheduler: warmup_stable_decay``: warm-up, the peak rate held, a decay over ``decay_ratio``."""

from __future__ import annotations

import pytest

from critic.training.config import ConfigError, load_config


def _rates(trainer, steps: int) -> list[float]:
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    out = []
    for _ in range(steps):
        out.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    return out


def test_wsd_holds_the_peak_then_decays_over_the_last_share(tmp_path, lr_config) -> None:
    from critic.training.trainer import build_trainer

    trainer, _ = build_trainer(load_config(lr_config(tmp_path, lr_scheduler="warmup_stable_decay",
                                                     warmup_ratio=0.1, decay_ratio=0.25)))
    lr = _rates(trainer, 100)
    assert lr[0] == 0.0 and 0 < lr[5] < 1e-3  # linear warm-up over 10 steps
    assert lr[10:75] == [pytest.approx(1e-3)] * 65  # the peak held until the last 25 steps
    assert all(a > b for a, b in zip(lr[75:], lr[76:]))  # then a strictly falling decay
    assert lr[-1] < 1e-3 * 0.01


def test_wsd_works_for_reward_models_too(tmp_path, lr_config) -> None:
    from critic.toy.pairs import write_toy_pairs
    from critic.training.reward_trainer import build_reward_trainer

    write_toy_pairs(tmp_path / "pairs", n=4, seed=0)
    path = lr_config(tmp_path, tmp_path / "pairs" / "train.jsonl", objective="scalar", global_batch_size=2,
                     per_device_batch_size=2, lr_scheduler="warmup_stable_decay", warmup_ratio=0.0, decay_ratio=0.5)
    trainer, _ = build_reward_trainer(load_config(path))
    lr = _rates(trainer, 10)
    assert lr[:5] == [pytest.approx(1e-3)] * 5 and all(a > b for a, b in zip(lr[5:], lr[6:]))


def test_cosine_is_untouched_and_bad_ratios_are_named(tmp_path, lr_config) -> None:
    from critic.training.trainer import build_trainer

    trainer, _ = build_trainer(load_config(lr_config(tmp_path, warmup_ratio=0.0)))
    lr = _rates(trainer, 20)
    assert lr[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(lr, lr[1:]))  # cosine from the start
    with pytest.raises(ConfigError, match="warmup_ratio 0.5 \\+ decay_ratio 0.6"):
        load_config(lr_config(tmp_path, lr_scheduler="warmup_stable_decay", warmup_ratio=0.5, decay_ratio=0.6))
    with pytest.raises(ConfigError, match="decay_ratio"):
        load_config(lr_config(tmp_path, decay_ratio=0))
