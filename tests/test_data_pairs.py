"""``critic data build`` with ``layout: pairs``: preference pairs for reward models (issue 15).

The teacher is the oracle behind a real loopback HTTP server, as in ``tests/test_data_build.py``. The
pairs are built once (module fixture, about a second); the one training is two steps of a tiny model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from critic.commands.main import main
from critic.data.build import BuildOptions, build_dataset
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer
from critic.toy.world import generate_items, make_toy

ROOT = Path(__file__).resolve().parent.parent
N = 24  # toy pairwise items of the shipped recipe's source (seed 0): 4 of them are ties


def shipped_recipe(tmp: Path, base_url: str, name: str = "toy_pairs.yaml", **source) -> Path:
    """data_recipes/toy_pairs.yaml with N items, the test's oracle and ``source`` overrides."""
    data = yaml.safe_load((ROOT / "data_recipes" / "toy_pairs.yaml").read_text())
    data["sources"][0].update({"n": N, **source})
    data["teacher"]["base_url"] = base_url
    p = tmp / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pairs")
    with ChatServer(oracle_answer) as srv:
        rcp = shipped_recipe(tmp, srv.base_url)
        assert main(["data", "build", str(rcp), "--out", str(tmp / "out"), "--cache", str(tmp / "c.sqlite"),
                     "--no-progress"]) == 0
        sent = srv.stats.requests
        build_dataset(rcp, tmp / "again", BuildOptions(cache=tmp / "c.sqlite", progress=False))  # from the cache
        resent = srv.stats.requests - sent
    return tmp, sent, resent


def test_toy_pairs_through_the_oracle_are_what_the_reward_trainer_reads(built):
    from critic.toy.pairs import critique, write_toy_pairs
    from critic.training.reward_data import load_pairs

    tmp, sent, resent = built
    out = tmp / "out"
    data = load_pairs(str(out / "train.jsonl"), kind="critique_score")  # every pair has both critiques
    ties = [i for i, (it, _) in enumerate(generate_items(N, 0, "pairwise", kinds=("colour",), extra_claims=False))
            if it.label == "tie"]
    assert ties and len(data) == N - len(ties) and data.missing_critiques == 0
    assert sent == 2 * len(data) and resent == 0  # one call per answer; a rebuild sends nothing
    for p in data.pairs:
        truth = p.meta["truth"]
        assert p.chosen_critique == critique(p.question, truth, p.chosen)  # "The circle is red. The response says ..."
        assert p.rejected_critique == critique(p.question, truth, p.rejected)
        assert p.meta["pair"]["target"] == "teacher_explain" and p.meta["pair"]["scores"][0] > p.meta["pair"]["scores"][1]
        assert all(Path(i).is_file() and Path(i).parent == out / "images" for i in p.images)
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert all(not Path(i).is_absolute() for r in rows for i in r["images"])
    ref = [json.loads(x) for x in write_toy_pairs(tmp / "direct", n=N, seed=0).read_text().splitlines()]
    fields = ("question", "chosen", "rejected", "chosen_critique", "rejected_critique")
    assert [[r[f] for f in fields] for r in rows] == [[r[f] for f in fields] for r in ref]  # the offline shortcut agrees
    stats = json.loads((out / "stats.json").read_text())
    assert stats["layout"] == "pairs" and stats["samples"]["total"] == len(data)
    assert stats["drops"]["by_reason"] == {"tie": len(ties)}  # ties dropped before any call, each listed
    assert [d["where"] for d in stats["drops"]["listed"]] == [f"toy:pairwise:seed0:{i}" for i in ties]
    assert not (out / "llava").exists() and not (out / "hf").exists()
    card = (out / "card.md").read_text()
    assert f"{len(data)} pairs" in card and "PreferencePair" in card and "path: train.jsonl" in card
    tree = lambda d: {str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob("*")) if f.is_file()}  # noqa: E731
    assert tree(out) == tree(tmp / "again")


def test_a_bad_source_line_is_reported_with_its_line_and_skipped(tmp_path):
    make_toy(tmp_path / "toy", n=6, seed=3, task="pairwise", kinds=("colour",), extra_claims=False)
    rows = [json.loads(x) for x in (tmp_path / "toy" / "items.jsonl").read_text().splitlines()]
    first, other = [r for r in rows if r["label"] != "tie"][:2]
    rest = [r for r in rows if r is not first]
    liar = {**json.loads(json.dumps(other)), "id": "liar", "label": "B" if other["label"] == "A" else "A"}
    del liar["meta"]["scores"]  # no gold scores: the teacher scores both answers, and disagrees with the label
    point = {"id": "p", "images": first["images"], "question": first["question"], "response": "Red."}
    lines = [json.dumps(first), "{oops", json.dumps(point), json.dumps(liar), *map(json.dumps, rest)]
    (tmp_path / "toy" / "items.jsonl").write_text("\n".join(lines) + "\n")
    with ChatServer(oracle_answer) as srv:
        rcp = shipped_recipe(tmp_path, srv.base_url, kind="jsonl", path="toy/items.jsonl")
        src = yaml.safe_load(rcp.read_text())
        for key in ("task", "n", "seed", "kinds", "one_claim"):
            del src["sources"][0][key]
        rcp.write_text(yaml.safe_dump(src, sort_keys=False))
        res = build_dataset(rcp, tmp_path / "out", BuildOptions(cache=tmp_path / "c.sqlite", progress=False))
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    got = {d["reason"]: d["where"].rsplit("/", 1)[-1] for d in stats["drops"]["listed"] if d["reason"] != "tie"}
    assert got == {"malformed line": "items.jsonl:2", "not a pair": "items.jsonl:3",
                   "teacher verdict contradicts the label": "items.jsonl:4"}
    n_ties = sum(r["label"] == "tie" for r in rest)
    assert stats["drops"]["by_reason"].get("tie", 0) == n_ties
    assert res.stats.total == len(rows) - n_ties  # everything else became a pair


def test_gold_pairs_train_a_scalar_model_and_critique_score_asks_for_critiques(built, tmp_path, capsys, one_thread):
    with ChatServer(oracle_answer) as srv:  # gold: no teacher is asked, so the pairs carry no critiques
        rcp = shipped_recipe(tmp_path, srv.base_url, target="gold")
        assert main(["data", "build", str(rcp), "--out", str(tmp_path / "gold"), "--no-progress"]) == 0
        assert srv.stats.requests == 0
    rows = [json.loads(x) for x in (tmp_path / "gold" / "train.jsonl").read_text().splitlines()]
    assert rows and not any("chosen_critique" in r or "rejected_critique" in r for r in rows)

    def config(train: Path, objective: str) -> Path:
        cfg = {"model": {"tiny": {"family": "llava", "hidden_size": 64, "num_layers": 2, "vision_hidden_size": 64,
                                  "vision_layers": 1, "image_size": 32, "patch_size": 8, "seed": 0}},
               "data": {"train": str(train), "max_length": 512},
               "train": {"objective": objective, "output_dir": str(tmp_path / objective), "max_steps": 2,
                         "global_batch_size": 4, "per_device_batch_size": 4, "learning_rate": 1e-3,
                         "progress": False, "logging_steps": 1},
               "reward": {"stats_samples": 4}}
        p = tmp_path / f"{objective}.yaml"
        p.write_text(yaml.safe_dump(cfg))
        return p

    capsys.readouterr()
    assert main(["train", str(config(tmp_path / "gold" / "train.jsonl", "critique_score"))]) == 2
    err = capsys.readouterr().err
    assert "critique_score learns to write a critique of each answer" in err and f"none of its {len(rows)} pairs" in err
    assert "target: teacher_explain" in err and "train.objective: scalar" in err
    assert main(["train", str(config(built[0] / "out" / "train.jsonl", "scalar"))]) == 0  # the oracle-built file
    meta = json.loads((tmp_path / "scalar" / "critic.json").read_text())
    assert meta["kind"] == "scalar" and meta["data"]["pairs"] == N - 4


def test_what_pairs_cannot_do_is_a_recipe_error_at_its_line(tmp_path, capsys):
    rcp = shipped_recipe(tmp_path, "http://127.0.0.1:9/v1", task="pointwise")
    data = yaml.safe_load(rcp.read_text())
    data["augment"] = {"swap_rate": 0.5}
    rcp.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["data", "build", str(rcp), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    line = {x.strip(): i + 1 for i, x in enumerate(rcp.read_text().splitlines())}
    assert f"{rcp}:{line['task: pointwise']}: sources.0.task: layout: pairs makes pairs" in err
    assert f"{rcp}:{line['swap_rate: 0.5']}: augment.swap_rate: a preference pair has no order" in err
    assert not (tmp_path / "o").exists()
