"""``critic train`` never reports a diverged run as a success, and says what is wrong instead of a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from critic.commands.main import main
from critic.toy.training_set import write_training_set


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_training_set(tmp_path_factory.mktemp("hdata"), n_pairwise=8, n_pointwise=8, seed=1, text_only=2)


def config(tmp_path: Path, data: Path, model: dict | None = None, **train) -> Path:
    cfg = {"model": model or {"tiny": {"family": "llava", "hidden_size": 64, "intermediate_size": 128,
                                       "vision_hidden_size": 64}},
           "data": {"train": str(data)},
           "train": {"output_dir": str(tmp_path / "out"), "epochs": 1, "global_batch_size": 4,
                     "per_device_batch_size": 4, "learning_rate": 1e-3, "warmup_ratio": 0.0, "logging_steps": 1,
                     "save_steps": 100, "progress": False, **train}}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def saved_weight_files(out: Path) -> list[Path]:
    return sorted(out.rglob("*.safetensors"))


def test_a_diverging_run_stops_at_the_step_and_saves_no_nan(tmp_path, data, capsys, one_thread) -> None:
    """issue 14.3: lr 1e6 gave NaN weights, "final loss 0.0000", exit 0 and a saved checkpoint."""
    cfg = config(tmp_path, data, learning_rate=1e6, save_steps=1)
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "critic train: error: training diverged at step " in err and "the loss is nan" in err
    assert "Lower train.learning_rate (now 1e+06)" in err and "critic saved to" not in err
    out = tmp_path / "out"
    assert not (out / "model.safetensors").exists() and not (out / "critic.json").exists()
    for f in saved_weight_files(out):  # checkpoints written before the step that diverged hold numbers
        assert all(torch.isfinite(t).all() for t in load_file(f).values()), f


def test_a_nan_gradient_under_a_finite_loss_stops_the_run(tmp_path, data, one_thread) -> None:
    """The guard reads Trainer's gradient norm: one NaN gradient stops the run before its step is applied."""
    from critic.training.config import load_config
    from critic.training.divergence import TrainingDiverged
    from critic.training.trainer import build_trainer

    trainer, _ = build_trainer(load_config(config(tmp_path, data, learning_rate=1e-4)))
    param = next(p for p in trainer.model.parameters() if p.requires_grad)
    before = param.detach().clone()
    param.register_hook(lambda g: g * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1 of \d+: the gradient norm is nan"):
        trainer.train()
    assert torch.equal(param.detach(), before)  # the step was not applied


def test_without_trainers_norm_the_guard_checks_each_gradient(one_thread) -> None:
    """The fallback when no gradient norm was noted (a Trainer without ``_get_grad_norm``)."""
    from types import SimpleNamespace

    from critic.training.divergence import DivergenceGuard, TrainingDiverged

    model = torch.nn.Linear(2, 2)
    model(torch.ones(1, 2)).sum().backward()
    guard, args = DivergenceGuard(), SimpleNamespace(world_size=1, learning_rate=1e-3)
    state = SimpleNamespace(global_step=4, max_steps=10)
    guard.note_loss(torch.tensor(0.5))
    guard.on_pre_optimizer_step(args, state, None, model=model)  # finite: nothing happens
    model.bias.grad[0] = float("inf")
    guard.note_loss(torch.tensor(0.5))
    with pytest.raises(TrainingDiverged, match="diverged at step 5 of 10: the gradients are not finite"):
        guard.on_pre_optimizer_step(args, state, None, model=model)


def test_non_finite_weights_are_never_saved(tmp_path, data, one_thread) -> None:
    """issue 14.3: whatever made a weight NaN, no checkpoint is written with it."""
    from critic.training.config import load_config
    from critic.training.divergence import TrainingDiverged
    from critic.training.trainer import build_trainer

    trainer, _ = build_trainer(load_config(config(tmp_path, data)))
    with torch.no_grad():
        next(trainer.model.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(TrainingDiverged, match=r"1 weight tensor\(s\) are not finite .*nothing was saved"):
        trainer.save_model(str(tmp_path / "final"))
    assert not saved_weight_files(tmp_path / "final")


@pytest.mark.parametrize("value", ["inf", ".inf", "nan"])
def test_a_learning_rate_that_is_no_number_is_refused(tmp_path, data, capsys, value) -> None:
    """issue 14.3: ``learning_rate: inf`` passed validation."""
    assert main(["train", str(config(tmp_path, data)), "--train.learning_rate", value, "--print-config"]) == 2
    assert "train.learning_rate: Input should be a finite number" in capsys.readouterr().err


def test_an_unwritable_output_dir_is_a_message(tmp_path, data, capsys) -> None:
    """issue 14.13: an output_dir that cannot be created was a NotADirectoryError / PermissionError traceback."""
    (tmp_path / "a_file").write_text("")
    cfg = config(tmp_path, data, output_dir=str(tmp_path / "a_file" / "out"))
    assert main(["train", str(cfg)]) == 2
    assert f"train.output_dir {tmp_path / 'a_file' / 'out'}: cannot write there (Not a directory)" in \
        capsys.readouterr().err


@pytest.mark.parametrize(("tiny", "says"), [
    ({"hidden_size": 0}, "hidden_size must be a whole number of at least 1, got 0"),
    ({"patch_size": 64}, "patch_size 64 is larger than image_size 32"),
    ({"family": "gpt2"}, "family must be one of llava, llava_onevision, qwen2_vl, got 'gpt2'"),
    ({"hidden_size": 30, "num_heads": 4}, "hidden_size 30 is not a multiple of num_heads 4"),
])
def test_an_unbuildable_tiny_model_is_a_config_error(tmp_path, data, capsys, tiny, says) -> None:
    """issue 14.13: model.tiny with hidden_size 0, patch_size 64 or family gpt2 was a traceback mid-run."""
    assert main(["train", str(config(tmp_path, data, model={"tiny": tiny})), "--print-config"]) == 2
    assert f"model.tiny: {says}" in capsys.readouterr().err


@pytest.fixture()
def truncated_model(tiny_model_dir, tmp_path) -> Path:
    model = shutil.copytree(tiny_model_dir("llava"), tmp_path / "truncated")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return model


def test_judging_with_a_truncated_checkpoint_is_a_message(tmp_path, truncated_model, capsys) -> None:
    """issue 14.13: a truncated model.safetensors was a SafetensorError traceback in critic judge."""
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "1", "question": "q", "response": "r"}\n')
    assert main(["judge", "--input", str(items), "--output", str(tmp_path / "j.jsonl"), "--model",
                 str(truncated_model), "--no-cache", "--no-progress", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"{truncated_model}: cannot read the weights (is a .safetensors file truncated or corrupt?" in err


def test_training_from_a_truncated_checkpoint_is_a_message(tmp_path, data, truncated_model, capsys) -> None:
    """issue 14.13: the same file as the base model of critic train was a traceback too."""
    cfg = config(tmp_path, data, model={"name_or_path": str(truncated_model)})
    assert main(["train", str(cfg)]) == 2
    assert "cannot read the weights (is a .safetensors file truncated or corrupt?" in capsys.readouterr().err


def test_resuming_from_a_truncated_checkpoint_is_a_message(tmp_path, data, capsys, one_thread) -> None:
    """issue 14.13: --resume from a checkpoint whose weights file was cut short was a traceback."""
    cfg = config(tmp_path, data, save_steps=2, max_steps=2)
    assert main(["train", str(cfg)]) == 0
    weights = tmp_path / "out" / "checkpoint-2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    assert main(["train", str(cfg), "--resume", "--train.max_steps", "4"]) == 2
    err = capsys.readouterr().err
    assert "--resume: " in err and "cannot read the weights" in err and "move that checkpoint folder aside" in err


def test_a_diverging_reward_model_run_stops_too(tmp_path, capsys, one_thread) -> None:
    """issue 14.3: the reward-model objectives (scalar, critique_score) train on Trainer too, with the same guard."""
    from critic.toy.pairs import write_toy_pairs

    pairs = write_toy_pairs(tmp_path / "pairs", n=16, seed=0)
    cfg = config(tmp_path, pairs, objective="scalar", max_steps=6,
                 learning_rate=1e6)
    data = yaml.safe_load(cfg.read_text())
    data["data"]["max_length"] = 512
    data["reward"] = {"stats_samples": 8}
    cfg.write_text(yaml.safe_dump(data))
    assert main(["train", str(cfg)]) == 2
    assert "critic train: error: training diverged at step " in capsys.readouterr().err
    assert not saved_weight_files(tmp_path / "out")
