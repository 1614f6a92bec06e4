"""critic judge --cascade: a noisy cheap judge (a chat server that flips some verdicts and is unsure of
them), the oracle as the strong judge; only the items the cheap judge is unsure of go to the oracle."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import pytest

import critic.toy.chat_server as cs
from critic.commands.main import main
from critic.judging.cascade import escalated_ids, item_confidences, merge
from critic.records import PairwiseJudgment
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer, prompt_text

N = 16
FLIP = {"A": "B", "B": "A"}


def kind(body) -> int:
    """0: unsure and wrong, 1: unsure and right, 2: sure and right; the same for both orders of a pair."""
    return zlib.crc32(" ".join(sorted(prompt_text(body).split())).encode()) % 3


def noisy_answer(body, images):
    text = oracle_answer(body, images)
    k = kind(body)
    if k == 2:
        return text
    head, _, last = text.rpartition("\n")
    if k == 0:
        last = last[:-1] + FLIP.get(last[-1], last[-1])
    return "Unsure. " + head + "\n" + last


def unsure_logprobs(content, top):
    """The toy logprobs, with P(verdict letter) = .55 (not .8) in an answer that starts "Unsure"."""
    out = ORIGINAL(content, top)
    if out is None or not content.startswith("Unsure"):
        return out
    for row in out["content"]:
        core = row["token"].strip()
        if core in FLIP:
            lead = row["token"][: len(row["token"]) - len(row["token"].lstrip())]
            row["logprob"] = math.log(0.55)
            row["top_logprobs"] = [{"token": row["token"], "logprob": math.log(0.55), "bytes": []},
                                   {"token": lead + FLIP[core], "logprob": math.log(0.45), "bytes": []}][:top]
    return out


ORIGINAL = cs.toy_logprobs


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from critic.toy.world import make_toy

    d = tmp_path_factory.mktemp("cascade")
    make_toy(d, n=N // 2, seed=6, task="pairwise")
    return d / "items.jsonl"


def test_only_unsure_items_go_to_the_strong_judge_and_accuracy_improves(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cs, "toy_logprobs", unsure_logprobs)
    conf: dict[str, float] = {}
    out = tmp_path / "j.jsonl"
    with ChatServer(noisy_answer) as cheap, ChatServer(oracle_answer) as strong:
        args = ["judge", "--input", str(data), "--output", str(out), "--backend", "openai", "--model", "noisy",
                "--base-url", cheap.base_url, "--template", "compact_pairwise", "--verdict-probs", "--swap", "both",
                "--cascade", "--cascade-threshold", "0.7", "--strong-model", "oracle", "--strong-base-url",
                strong.base_url, "--strong-template", "compact_pairwise", "--cache", str(tmp_path / "c.sqlite"),
                "--no-progress", "--max-retries", "0", "--json"]
        assert main(args) == 0
        got = capsys.readouterr()
        cheap_rows = lines(out.with_name("j.cheap.jsonl"))
        final = lines(out)
        for r in cheap_rows:
            conf[r["id"]] = min(conf.get(r["id"], 1.0), max(r["verdict_probs"].values()))
        unsure = {i for i, c in conf.items() if c < 0.7}
        assert 0 < len(unsure) < len(conf)
        assert strong.stats.requests == 2 * len(unsure)  # both orders of each unsure item, nothing else
        assert len(final) == len(cheap_rows) == 2 * len(conf)
        for r in final:
            assert r["cascade"]["escalated"] == (r["id"] in unsure)
            assert r["judge"].endswith("oracle") == (r["id"] in unsure)
            assert r["cascade"]["cheap_confidence"] == pytest.approx(conf[r["id"]])
            assert conf[r["id"]] in (pytest.approx(0.55), pytest.approx(0.8), 1.0)  # 1: a tie (no letter)
        summary = json.loads(got.out)["cascade"]
        assert summary["escalated"] == len(unsure) and summary["items"] == len(conf)
        assert summary["final_accuracy"] > summary["cheap_accuracy"]
        assert "escalated" in got.err
        before = (cheap.stats.requests, strong.stats.requests)
        assert main(args) == 0  # a rerun resumes both stages: nothing is sent again
        assert (cheap.stats.requests, strong.stats.requests) == before
        assert lines(out) == final


def test_cascade_needs_a_confidence_signal(data, tmp_path, capsys):
    args = ["judge", "--input", str(data), "--output", str(tmp_path / "j.jsonl"), "--backend", "openai",
            "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--cascade", "--strong-model", "oracle",
            "--no-progress"]
    assert main(args) != 0
    assert "--verdict-probs" in capsys.readouterr().err


def _pj(id_, winner, swapped=False, ok=True, **kw):
    common = dict(id=id_, template="t", template_hash="h", judge="cheap", swapped=swapped, **kw)
    return PairwiseJudgment(winner=winner, **common) if ok else PairwiseJudgment(parse_error="no verdict", **common)


def test_confidence_rules_by_hand():
    js = [_pj("a", "A", verdict_probs={"A": 0.9, "B": 0.1}), _pj("a", "A", True, verdict_probs={"A": 0.6, "B": 0.4}),
          _pj("b", "A"), _pj("b", "B", True),  # orders disagree: 0.5
          _pj("c", "B"), _pj("c", "B", True),  # orders agree, no other signal: 1
          _pj("d", None, ok=False), _pj("d", "A", True, sample_agreement=1.0)]  # a parse failure: 0
    conf = item_confidences(js, swap="both")
    assert conf == {"a": 0.6, "b": 0.5, "c": 1.0, "d": 0.0}
    assert item_confidences([_pj("e", "A")]) == {"e": 0.0}  # one order, no signal: escalate
    up = escalated_ids(conf, 0.7)
    assert up == {"a", "b", "d"}
    strong = [_pj(i, "B", s).model_copy(update={"judge": "strong"}) for i in "abd" for s in (False, True)]
    final = merge(js, strong, conf, up)
    assert [(j.id, j.judge, j.cascade["escalated"]) for j in final] == [
        ("a", "strong", True), ("a", "strong", True), ("b", "strong", True), ("b", "strong", True),
        ("c", "cheap", False), ("c", "cheap", False), ("d", "strong", True), ("d", "strong", True)]
    assert "cascade" not in js[0].to_json_dict()  # a judgment outside a cascade: no new key
