"""train.trainer_args reaches TrainingArguments (merged last; unknown keys named); report_to takes any tracker
transformers supports, and one that is not installed is an error naming the package."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from critic.training.config import load_config_dict  # noqa: E402
from critic.training.trainer import TrainError, training_arguments  # noqa: E402


def cfg(tmp_path, **train):
    return load_config_dict({"model": {"tiny": {"family": "llava"}}, "data": {"train": "d/train.jsonl"},
                             "train": {"output_dir": str(tmp_path / "out"), **train}})


def test_trainer_args_reach_training_arguments(tmp_path):
    args = training_arguments(cfg(tmp_path, trainer_args={"eval_strategy": "no", "logging_nan_inf_filter": False,
                                                           "save_steps": 7, "label_smoothing_factor": 0.1}), 2)
    assert args.logging_nan_inf_filter is False and args.label_smoothing_factor == 0.1
    assert args.save_steps == 7, "trainer_args are merged last, over critic's own settings"
    assert args.gradient_accumulation_steps == 2


def test_trainer_args_from_a_cli_override(tmp_path):
    from critic.training.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text(f"model: {{tiny: {{family: llava}}}}\ndata: {{train: x.jsonl}}\ntrain: {{output_dir: {tmp_path}/o}}\n")
    c = load_config(p, ["--train.trainer_args", "{torch_empty_cache_steps: 3}"])
    assert training_arguments(c, 1).torch_empty_cache_steps == 3


def test_unknown_trainer_arg_is_an_error_naming_it(tmp_path):
    with pytest.raises(TrainError, match="'lerning_rate' is not a TrainingArguments field.*learning_rate"):
        training_arguments(cfg(tmp_path, trainer_args={"lerning_rate": 1e-5}), 1)


def test_report_to_any_supported_tracker(tmp_path, monkeypatch):
    from transformers.integrations import integration_utils as iu

    with pytest.raises(TrainError, match="'nosuchtracker' is not a tracker transformers supports"):
        training_arguments(cfg(tmp_path, report_to=["nosuchtracker"]), 1)
    monkeypatch.setattr(iu, "get_available_reporting_integrations", lambda: [])
    with pytest.raises(TrainError, match=r"mlflow, which is not installed \(pip install mlflow\)"):
        training_arguments(cfg(tmp_path, report_to=["mlflow"]), 1)
    monkeypatch.setattr(iu, "get_available_reporting_integrations", lambda: ["mlflow"])
    from critic.training import trainer_args

    trainer_args.check_trackers(["mlflow"])  # installed (as far as transformers can tell): accepted
