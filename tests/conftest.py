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
