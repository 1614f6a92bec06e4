"""Shared fixtures: tiny models built once per session (offline, random-initialised)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Build (once) and return the folder of a tiny model of the requested family."""
    from critic.models.tiny import make_tiny

    cache: dict[str, object] = {}

    def get(family: str = "llava"):
        if family not in cache:
            cache[family] = make_tiny(tmp_path_factory.mktemp(f"tiny_{family}"), family=family)
        return cache[family]

    return get


@pytest.fixture()
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread per process avoids oversubscription stalls
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def lr_config(tmp_path_factory):
    """Write a tiny-critic training config (toy data made once) for learning-rate tests; returns its path.

    ``lr_config(tmp_path, data=None, **train)``: ``train`` keys override the base; ``data`` defaults
    to 4 pointwise + 4 pairwise toy samples.
    """
    from pathlib import Path

    import yaml

    from critic.toy.training_set import write_training_set

    made: list[Path] = []

    def write(tmp_path: Path, data: Path | None = None, **train) -> Path:
        if data is None:
            if not made:
                made.append(write_training_set(tmp_path_factory.mktemp("lrdata"), n_pairwise=4, n_pointwise=4, seed=1))
            data = made[0]
        cfg = {"model": {"tiny": {"family": "llava", "hidden_size": 64, "intermediate_size": 128,
                                  "vision_hidden_size": 64}},
               "data": {"train": str(data)},
               "train": {"output_dir": str(tmp_path / "out"), "epochs": 1, "global_batch_size": 4,
                         "per_device_batch_size": 4, "learning_rate": 1e-3, "weight_decay": 0.1, "progress": False,
                         **train}}
        p = tmp_path / "cfg.yaml"
        p.write_text(yaml.safe_dump(cfg))
        return p

    return write
