"""Training config: typed sections, unknown keys named with their file, typed --key value overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from critic.assets import asset_dir
from critic.commands.main import main
from critic.training.config import ConfigError, load_config, load_config_dict

MIN = {"model": {"tiny": {"family": "llava"}}, "data": {"train": "d/train.jsonl"}, "train": {"output_dir": "out"}}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_defaults_follow_the_llava_critic_recipe() -> None:
    cfg = load_config_dict(MIN)
    assert cfg.train.epochs == 1 and cfg.train.learning_rate == 2e-6 and cfg.train.global_batch_size == 32
    assert cfg.data.packing and cfg.data.dummy_image and cfg.train.report_to == []


def test_unknown_key_is_an_error_naming_key_and_file(tmp_path: Path) -> None:
    p = write(tmp_path, "model: {tiny: {family: llava}}\ndata: {train: x.jsonl}\n"
                        "train: {output_dir: o, learnig_rate: 0.1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert str(p) in msg and "train.learnig_rate: unknown key" in msg and "learning_rate" in msg
    with pytest.raises(ConfigError, match="optimizer: unknown key"):
        load_config_dict({**MIN, "optimizer": {}})
    with pytest.raises(ConfigError, match=r"model.tiny: unknown key\(s\) \['hiden_size'\]"):
        load_config_dict({**MIN, "model": {"tiny": {"hiden_size": 64}}})


def test_missing_and_badly_typed_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.output_dir: required key is missing"):
        load_config_dict({**MIN, "train": {}})
    with pytest.raises(ConfigError, match="train.learning_rate"):
        load_config_dict({**MIN, "train": {"output_dir": "o", "learning_rate": "fast"}})
    with pytest.raises(ConfigError, match="exactly one of model.name_or_path"):
        load_config_dict({**MIN, "model": {}})
    with pytest.raises(ConfigError, match=r"cfg.yaml:\d+: not valid YAML"):
        load_config(write(tmp_path, "model:\n  - [unclosed\n"))


def test_overrides_are_typed_and_validated() -> None:
    cfg = load_config_dict(MIN, ["--train.learning_rate", "1e-4", "--data.packing=false", "--epochs", "2",
                                 "--train.report_to", "[tensorboard]", "--model.tiny.hidden_size", "64",
                                 "--model.freeze.vision_tower", "true"])
    assert cfg.train.learning_rate == 1e-4 and cfg.data.packing is False and cfg.train.epochs == 2.0
    assert cfg.train.report_to == ["tensorboard"] and cfg.model.tiny == {"family": "llava", "hidden_size": 64}
    assert cfg.model.freeze.vision_tower is True
    with pytest.raises(ConfigError, match="override --train.lerning_rate: unknown key"):
        load_config_dict(MIN, ["--train.lerning_rate", "1"])
    with pytest.raises(ConfigError, match="train.global_batch_size"):
        load_config_dict(MIN, ["--global_batch_size", "0"])
    with pytest.raises(ConfigError, match="missing value"):
        load_config_dict(MIN, ["--epochs"])
    with pytest.raises(ConfigError, match="expected --key value"):
        load_config_dict(MIN, ["epochs", "2"])


@pytest.mark.parametrize("name", ["toy", "llava_ov_0.5b", "llava_ov_7b", "qwen2_5_vl_7b"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(asset_dir("train_configs") / f"{name}.yaml")
    if name != "toy":
        assert cfg.train.epochs == 1 and cfg.train.learning_rate == 2e-6 and cfg.train.global_batch_size == 32
        assert cfg.train.bf16 and cfg.train.deepspeed in ("zero2", "zero3")
    for ds in ("zero2", "zero3"):
        assert (asset_dir("train_configs") / f"{ds}.json").is_file()


def test_cli_reports_config_errors_and_prints_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    p = write(tmp_path, "model: {tiny: {family: llava}}\ndata: {train: x.jsonl, pakcing: true}\n"
                        "train: {output_dir: o}\n")
    assert main(["train", str(p)]) == 2
    assert f"{p}: data.pakcing: unknown key (did you mean 'packing'?)" in capsys.readouterr().err
    ok = write(tmp_path, "model: {tiny: {family: llava}}\ndata: {train: x.jsonl}\ntrain: {output_dir: o}\n")
    assert main(["train", str(ok), "--print-config", "--train.seed", "7"]) == 0
    assert "seed: 7" in capsys.readouterr().out


def test_readme_config_paths_work_from_any_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """`critic train train/toy_rm.yaml` after `pip install critic`, from a folder without the repository:
    the shipped config is used (with a note), its relative data path is read from the current folder,
    and a run that stops on missing data leaves no empty output folder behind."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "train/toy_rm.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"using the shipped {asset_dir('train_configs') / 'toy_rm.yaml'}" in err
    assert "runs/toy-pairs/train.jsonl not found" in err
    assert list(tmp_path.iterdir()) == []
    assert main(["train", "elsewhere/toy_rm.yaml"]) == 2  # another folder: not a shipped name, the file's error
    assert "elsewhere/toy_rm.yaml: cannot read the config" in capsys.readouterr().err
    assert main(["data", "build", "data_recipes/toy_pairs.yaml", "--dry-run"]) == 0
    assert "using the shipped" in capsys.readouterr().err
