"""``--push-to-hub REPO``: the dry run lists files and size without any network call; a push that cannot
reach the Hub fails with one line, no traceback; private by default. ``HfApi`` is replaced by fakes, so
no test reaches any host (sockets are refused outright)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest
import yaml

from critic.commands.main import main
from critic.hub import HubError, plan_push, push

pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("hub")
    rcp = tmp / "recipe.yaml"
    rcp.write_text(yaml.safe_dump({
        "name": "hub", "seed": 0, "splits": {"train": 1}, "templates": {"llava_critic_pointwise": 1},
        "sources": [{"kind": "toy", "task": "pointwise", "n": 3, "seed": 0, "target": "gold", "kinds": ["colour"]}]}))
    assert main(["data", "build", str(rcp), "--out", str(tmp / "out"), "--no-cache", "--no-progress"]) == 0
    return tmp / "out"


class FakeApi:
    """Records what a push asks for; ``fail`` makes create_repo raise it (as an unreachable Hub does)."""

    def __init__(self, fail: Exception | None = None):
        self.fail, self.calls = fail, []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        if self.fail:
            raise self.fail
        return f"https://huggingface.co/datasets/{repo_id}"

    def create_commit(self, **kw):
        self.calls.append(("create_commit", kw["repo_id"], kw))


def test_dry_run_lists_files_and_size_and_sends_nothing(dataset, monkeypatch, capsys, tmp_path):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: pytest.fail("the dry run made an HfApi"))
    rcp = dataset.parent / "recipe.yaml"
    assert main(["data", "build", str(rcp), "--out", str(tmp_path / "o"), "--no-cache", "--no-progress",
                 "--push-to-hub", "me/critic-data", "--push-dry-run"]) == 0
    out = capsys.readouterr().out
    plan = plan_push(tmp_path / "o", "me/critic-data", repo_type="dataset")
    assert f"would push {len(plan.files)} files" in out and "private dataset repository me/critic-data" in out
    for name in ("README.md", "card.md", "train.jsonl", "stats.json", "hf/dataset_dict.json"):
        assert f"\n  {name}  " in out
    assert not any(".partial" in f.path_in_repo for f in plan.files)
    assert plan.total_bytes == sum(p.stat().st_size for p in (tmp_path / "o").rglob("*") if p.is_file()) \
        + (tmp_path / "o" / "card.md").stat().st_size  # every file, and the card again as README.md


def test_push_without_network_is_one_line_no_traceback(dataset, monkeypatch, capsys):
    import huggingface_hub

    api = FakeApi(ConnectionError("Failed to resolve 'huggingface.co' ([Errno -3] Temporary failure in name "
                                  "resolution)"))
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: api)
    rcp = dataset.parent / "recipe.yaml"
    code = main(["data", "build", str(rcp), "--out", str(dataset), "--no-cache", "--no-progress",
                 "--push-to-hub", "me/critic-data"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "push to me/critic-data failed (ConnectionError): Failed to resolve 'huggingface.co'" in err
    assert api.calls[0][2]["private"] is True  # private by default


def test_push_uploads_exactly_the_plan_in_one_commit(dataset):
    api = FakeApi()
    plan = plan_push(dataset, "me/critic-data", repo_type="dataset", private=False)
    assert push(plan, api) == "https://huggingface.co/datasets/me/critic-data"
    (_, _, create), (_, _, commit) = api.calls
    assert create == {"repo_type": "dataset", "private": False, "exist_ok": True}
    assert [op.path_in_repo for op in commit["operations"]] == [f.path_in_repo for f in plan.files]


def test_bad_repo_names_and_flags_without_a_repo(dataset, tmp_path):
    for bad in ("", "a/b/c", "/x"):
        with pytest.raises(HubError, match="NAME or OWNER/NAME"):
            plan_push(dataset, bad, repo_type="dataset")
    with pytest.raises(HubError, match="no such folder"):
        plan_push(tmp_path / "none", "me/x", repo_type="model")
    assert main(["data", "build", str(dataset.parent / "recipe.yaml"), "--out", str(tmp_path / "o"),
                 "--public"]) == 2


def test_train_and_pairs_take_the_push_flags():
    from critic.commands.main import build_parser
    from critic.commands.train import split_flags

    parser = build_parser()
    args = parser.parse_args(["train", "c.yaml", "--train.max_steps", "1", "--push-to-hub", "me/critic",
                              "--public", "--push-dry-run"])
    assert split_flags(args) == ["--train.max_steps", "1"]
    assert (args.push_to_hub, args.public, args.push_dry_run) == ("me/critic", True, True)
    args = parser.parse_args(["pairs", "build", "r.yaml", "--out", "d", "--push-to-hub", "me/pairs"])
    assert isinstance(args, argparse.Namespace) and args.push_to_hub == "me/pairs" and not args.public
