"""Video items through ``critic data build``: frames sent to the teacher first, samples keep them as images.

Toy motion clips (``critic toy make --kinds motion``) are built through the oracle teacher behind a
loopback HTTP server; the oracle reads the direction from the frames only, so its verdicts match
the gold labels only if the frames reached it. The samples' first images are the stored frames,
their user turn starts with as many image parts, and they keep the clip's reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from critic.data.build import BuildOptions, build_dataset
from critic.records import TrainingSample
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer
from critic.toy.world import make_toy

pytest.importorskip("datasets")
N = 12


def _recipe(tmp: Path, base_url: str, **over: object) -> Path:
    data = {"name": "motion", "seed": 1,
            "sources": [{"kind": "jsonl", "path": "toy/items.jsonl", "gold_scale": [1, 10]}],
            "templates": {"llava_critic_pairwise": 1},
            "teacher": {"model": "oracle", "base_url": base_url, "concurrency": 4},
            "splits": {"train": 1}, **over}
    p = tmp / "recipe.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_motion_build_sends_frames_and_samples_keep_them(tmp_path):
    make_toy(tmp_path / "toy", n=N, seed=5, task="pairwise", kinds=("motion",), extra_claims=False)
    gold = {r["id"]: r for r in map(json.loads, (tmp_path / "toy" / "items.jsonl").read_text().splitlines())}
    assert all(r.get("video") for r in gold.values())
    with ChatServer(oracle_answer) as srv:
        res = build_dataset(_recipe(tmp_path, srv.base_url), tmp_path / "out",
                            BuildOptions(cache=tmp_path / "c.sqlite", progress=False))
    assert res.stats.total == N, res.stats
    samples = [TrainingSample.model_validate_json(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    agree = 0
    for s in samples:
        item = gold[s.id.split(":")[1]]
        agree += s.verdict == {"winner": item["label"]}
        assert s.video and Path(s.video).name == Path(item["video"]).name
        n_slots = sum(p.get("type") == "image" for m in s.messages for p in m.content)
        assert n_slots == len(s.images) == 8  # the default num_frames; the toy items have no other image
        assert s.messages[-2].content[0] == {"type": "image"}  # frames first in the user turn
        assert all((tmp_path / "out" / p).is_file() for p in s.images)
    assert agree / len(samples) >= 0.95  # the oracle saw the motion: it is in the frames only
    llava = json.loads((tmp_path / "out" / "llava" / "train.json").read_text())
    assert all(len(r["image"]) == 8 for r in llava)


def test_a_missing_clip_drops_its_item(tmp_path):
    make_toy(tmp_path / "toy", n=2, seed=5, task="pairwise", kinds=("motion",))
    rows = [json.loads(x) for x in (tmp_path / "toy" / "items.jsonl").read_text().splitlines()]
    rows[0]["video"] = str(tmp_path / "nowhere.gif")
    rows[1]["video"] = str(tmp_path / "nowhere.gif")
    (tmp_path / "toy" / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = build_dataset(_recipe(tmp_path, "http://127.0.0.1:9/v1"), tmp_path / "out",
                        BuildOptions(cache=tmp_path / "c.sqlite", progress=False))
    assert res.stats.total == 0
    listed = json.loads((tmp_path / "out" / "stats.json").read_text())["drops"]["listed"]
    assert {d["reason"] for d in listed} == {"missing image"} and "nowhere.gif" in listed[0]["detail"]
