"""critic label-pairs / best-of-n / filter against the oracle teacher over HTTP: outputs, resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from critic.commands.main import main
from critic.records import CandidateSet, PointwiseItem
from critic.toy.chat_server import ChatServer, FaultConfig
from critic.toy.oracle import oracle_answer, prompt_text


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def answer(body, images):
    """The oracle, except that prompts about the 'mystery' set get an answer with no verdict."""
    if "mystery" in prompt_text(body):
        return "I have looked at the image carefully but I will not say which one is better."
    return oracle_answer(body, images)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from critic.toy.world import make_toy

    d = tmp_path_factory.mktemp("prefs")
    make_toy(d, n=6, seed=5, task="candidates", k=3)
    rows = lines(d / "items.jsonl")
    mystery = dict(rows[0], id="mystery", question="What is the mystery colour of the circle?")
    (d / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, mystery]))
    make_toy(d / "pw", n=8, seed=6, task="pointwise")
    return d


def cli(srv: ChatServer, cache: Path, *args: str) -> int:
    return main([*args, "--judge-backend", "openai", "--judge-model", "oracle", "--judge-base-url", srv.base_url,
                 "--cache", str(cache), "--no-progress", "--max-retries", "0", "--timeout", "10"])


def test_label_pairs_writes_trl_rows_and_resumes(data, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    with ChatServer(answer) as srv:
        assert cli(srv, tmp_path / "c.sqlite", "label-pairs", "--input", str(data / "items.jsonl"), "--output", str(out)) == 0
        first = capsys.readouterr().out
        assert srv.stats.requests == 7 * 6
    rows, rankings = lines(out), lines(out.with_name("pairs.jsonl.rankings.jsonl"))
    assert len(rankings) == 7 and {r["id"] for r in rankings} >= {r["id"] for r in rows}
    mystery = next(r for r in rankings if r["id"] == "mystery")
    assert mystery.get("chosen") is None and mystery["reason"].startswith("no usable judgments (6 parse failures")
    assert "parse failures 6" in first and "no usable judgments" in first
    sets = {s["id"]: s for s in lines(data / "items.jsonl")}
    for row in rows:
        assert set(row) >= {"id", "images", "prompt", "chosen", "rejected", "chosen_reward", "rejected_reward",
                            "margin", "judgment_ids"}
        assert row["prompt"][0]["content"][0] == {"type": "image"} and row["chosen"][0]["role"] == "assistant"
        gold = sets[row["id"]]["scores"]
        assert gold[row["chosen_index"]] >= gold[row["rejected_index"]]
        assert row["margin"] == row["chosen_reward"] - row["rejected_reward"] > 0
        assert len(row["judgment_ids"]) == 6 and (out.parent / row["images"][0]).exists()
    assert len(lines(out.with_name("pairs.jsonl.judgments.jsonl"))) == 42

    # a kill after the pair row but before its ranking row, and a torn last line: the set is redone
    last = rows[-1]["id"]
    kept = [r for r in rankings if r["id"] != last]
    out.with_name("pairs.jsonl.rankings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"id": "to')
    with ChatServer(answer) as srv:
        assert cli(srv, tmp_path / "c.sqlite", "label-pairs", "--input", str(data / "items.jsonl"), "--output", str(out)) == 0
        assert srv.stats.requests == 0  # everything else is done; the set in the pairs file is not redone
    assert "sets ranked 0 (7 already done)" in capsys.readouterr().out
    assert len(lines(out)) == len(rows)

    from critic.dpo.pairs import load_pairs

    ds = load_pairs(out)
    assert len(ds) == len(rows) and ds[0]["images"][0].size == (32, 32)
    assert ds[0]["prompt"][0]["content"][1]["text"] == rows[0]["prompt"][0]["content"][1]["text"]


def test_failed_requests_defer_the_set_and_a_rerun_finishes_it(data, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    args = ("label-pairs", "--input", str(data / "items.jsonl"), "--output", str(out), "--mode", "pointwise")
    with ChatServer(answer, faults=FaultConfig(first=["500"] * 2)) as srv:
        assert cli(srv, tmp_path / "c.sqlite", *args) == 0
    text = capsys.readouterr().out
    failed = lines(out.with_name("pairs.jsonl.failed.jsonl"))
    assert len(failed) == 2 and all(f["error"].startswith("HTTP 500") for f in failed)
    assert "deferred 1" in text or "deferred 2" in text
    deferred = {f["id"].split(":")[0] for f in failed}
    assert not deferred & {r["id"] for r in lines(out.with_name("pairs.jsonl.rankings.jsonl"))}
    with ChatServer(answer) as srv:
        assert cli(srv, tmp_path / "c.sqlite", *args) == 0
        assert srv.stats.requests == 2  # only the failed requests; the rest come from the cache
    assert {r["id"] for r in lines(out.with_name("pairs.jsonl.rankings.jsonl"))} >= deferred
    assert len(lines(out.with_name("pairs.jsonl.rankings.jsonl"))) == 7


def test_best_of_n_picks_the_best_answer(data, tmp_path, capsys):
    out = tmp_path / "best.jsonl"
    with ChatServer(answer) as srv:
        assert cli(srv, tmp_path / "c.sqlite", "best-of-n", "--input", str(data / "items.jsonl"), "--output", str(out)) == 0
    rows = lines(out)
    sets = {s["id"]: CandidateSet.model_validate(s) for s in lines(data / "items.jsonl")}
    assert len(rows) == 6  # the mystery set got no readable score: no best answer, and the summary says why
    for row in rows:
        item = PointwiseItem.model_validate(row)
        info = item.meta["best_of_n"]
        s = sets[item.id]
        assert item.response == s.candidates[info["index"]] and info["mode"] == "pointwise"
        assert s.scores[info["index"]] == max(s.scores)
    text = capsys.readouterr().out
    assert "best answers written 6" in text and "no best answers (1 sets): no usable judgments" in text


def test_filter_keeps_drops_and_never_counts_parse_failures_as_low(data, tmp_path, capsys):
    items = lines(data / "pw" / "items.jsonl")
    items[0]["question"] = "What is the mystery colour of the circle?"
    src = data / "pw" / "items_m.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in items))

    def score_answer(body, images):  # no readable score for the mystery item
        return "It depends on taste." if "mystery" in prompt_text(body) else oracle_answer(body, images)

    out = tmp_path / "kept.jsonl"
    with ChatServer(score_answer) as srv:
        assert cli(srv, tmp_path / "c.sqlite", "filter", "--input", str(src), "--output", str(out), "--min-score", "50") == 0
    text = capsys.readouterr().out
    kept, dropped = lines(out), lines(out.with_name("kept.jsonl.dropped.jsonl"))
    unscored = lines(out.with_name("kept.jsonl.unscored.jsonl"))
    assert [u["id"] for u in unscored] == [items[0]["id"]] and "parse_error" in unscored[0]["meta"]["critic_filter"]
    assert len(kept) + len(dropped) == 7 and kept and dropped
    assert all(k["meta"]["critic_filter"]["score"] >= 50 for k in kept)
    assert all(d["meta"]["critic_filter"]["reason"].endswith("< 50") for d in dropped)
    gold = {r["id"]: r["score"] for r in items}
    assert all(gold[k["id"]] >= 6 for k in kept) and all(gold[d["id"]] <= 3 for d in dropped)
    assert f"kept {len(kept)}" in text and "unscored 1" in text and f"unscored {items[0]['id']}" in text
    with ChatServer(score_answer) as srv:
        assert cli(srv, tmp_path / "c.sqlite", "filter", "--input", str(src), "--output", str(out), "--min-score", "50") == 0
        assert srv.stats.requests == 0
    assert "8 already done" in capsys.readouterr().out


def test_label_pairs_with_a_local_critic_reports_parse_failures(data, tmp_path, tiny_model_dir, capsys):
    """An untrained local critic writes no verdicts: no pair, the reason and the failures are reported."""
    src = tmp_path / "one.jsonl"
    row = lines(data / "items.jsonl")[0]
    row["images"] = [str((data / row["images"][0]).resolve())]
    src.write_text(json.dumps(dict(row, candidates=row["candidates"][:2], scores=row["scores"][:2])) + "\n")
    out = tmp_path / "pairs.jsonl"
    rc = main(["label-pairs", "--input", str(src), "--output", str(out), "--judge-backend", "hf",
               "--judge-model", str(tiny_model_dir("llava")), "--max-new-tokens", "4", "--no-cache", "--no-progress"])
    assert rc == 0 and lines(out) == []
    [ranking] = lines(out.with_name("pairs.jsonl.rankings.jsonl"))
    assert ranking["n_parse_failures"] == 2 and ranking["reason"].startswith("no usable judgments (2 parse failures")
    text = capsys.readouterr().out
    assert "parse failures 2" in text and "no pairs (1 sets): no usable judgments" in text
