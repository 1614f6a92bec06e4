"""Ranking by expected outcomes (--use-expected-score) and DRS margins from expected scores, on hand-built
judgments; one end-to-end best-of-n / label-pairs run against the oracle (toy logprobs)."""

from __future__ import annotations

import json

import pytest

from critic.commands.main import main
from critic.dpo.drs import pair_margins
from critic.dpo.pairs import dpo_row
from critic.judging.expected_outcomes import expected_point_score, expected_relative_score
from critic.judging.ranking import rank_stream, summarise
from critic.records import CandidateSet, PairwiseJudgment, PointwiseJudgment
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer

COMMON = dict(template="t", template_hash="h", judge="j")
CSET = CandidateSet(id="s", question="q?", candidates=["a0", "a1", "a2"])


def pw(id_, winner, probs=None):
    return PairwiseJudgment(id=id_, winner=winner, verdict_probs=probs, **COMMON)


def pt(id_, score, expected=None):
    return PointwiseJudgment(id=id_, score=score, expected_score=expected, **COMMON)


def test_expected_values_by_hand():
    assert expected_relative_score(pw("x", "B", {"A": 0.2, "B": 0.7, "tie": 0.1})) == pytest.approx(0.5)
    assert expected_relative_score(pw("x", "A")) == -1.0  # no probabilities: the plain verdict
    assert expected_point_score(pt("x", 7, 6.4)) == 6.4 and expected_point_score(pt("x", 7)) == 7.0


def test_pairwise_expected_ranking_breaks_a_tie_the_verdicts_leave():
    # every answer wins one and loses one of its judgments as first and as second: plain rewards all 0.
    # The probabilities say answer 1's wins were sure and its losses unsure.
    keys = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)]
    js = [pw("s:0>1", "A", {"A": 0.55, "B": 0.45}), pw("s:1>0", "A", {"A": 0.9, "B": 0.1}),
          pw("s:0>2", "B", {"A": 0.4, "B": 0.6}), pw("s:2>0", "B", {"A": 0.4, "B": 0.6}),
          pw("s:1>2", "B", {"A": 0.45, "B": 0.55}), pw("s:2>1", "B", {"A": 0.1, "B": 0.9})]
    plain = summarise(CSET, js, keys, "pairwise", "llava_ov")
    assert plain.rewards == [0.0, 0.0, 0.0] and not plain.has_pair
    exp = summarise(CSET, js, keys, "pairwise", "llava_ov", use_expected=True)
    # R(a) = Σ_i E s(i→a) − Σ_j E s(a→j); E s = P(B) − P(A)
    r0 = (0.1 - 0.9) + (0.6 - 0.4) - ((0.45 - 0.55) + (0.6 - 0.4))
    r1 = (0.45 - 0.55) + (0.9 - 0.1) - ((0.1 - 0.9) + (0.55 - 0.45))
    r2 = (0.6 - 0.4) + (0.55 - 0.45) - ((0.6 - 0.4) + (0.9 - 0.1))
    assert exp.rewards == pytest.approx([r0, r1, r2])
    assert r0 == pytest.approx(r2)  # equal lowest rewards: the lower index is rejected
    assert exp.chosen == 1 and exp.rejected == 0 and exp.margin == pytest.approx(r1 - r0)
    assert exp.expected_margin == pytest.approx(r1 - r0)


def test_pointwise_expected_scores_pick_the_surer_answer_and_record_the_expected_margin():
    js = [pt("s:0", 8, 7.1), pt("s:1", 8, 7.9), pt("s:2", 3, 3.2)]
    keys = [(0,), (1,), (2,)]
    plain = summarise(CSET, js, keys, "pointwise", "score")
    assert (plain.chosen, plain.rejected) == (0, 2)  # equal scores: the lower index
    assert plain.expected_margin == pytest.approx(7.1 - 3.2)  # recorded whenever probabilities exist
    exp = summarise(CSET, js, keys, "pointwise", "score", use_expected=True)
    assert (exp.chosen, exp.rejected, exp.margin) == (1, 2, pytest.approx(7.9 - 3.2))
    row = dpo_row(CSET, exp)
    assert row["expected_margin"] == pytest.approx(7.9 - 3.2)
    no_probs = summarise(CSET, [pt("s:0", 8), pt("s:1", 9), pt("s:2", 3)], keys, "pointwise", "score")
    assert no_probs.expected_margin is None and "expected_margin" not in dpo_row(CSET, no_probs)
    assert "expected_margin" not in no_probs.to_json_dict()  # rankings files keep their bytes


def test_expected_ranking_needs_llava_ov_pairwise():
    with pytest.raises(ValueError, match="llava_ov"):
        next(rank_stream(None, [CSET], mode="pairwise", aggregation="win_count", use_expected=True))


def test_drs_margin_source():
    rows = [{"id": "a", "margin": 4.0, "expected_margin": 1.5}, {"id": "b", "margin": 2.0, "expected_margin": -0.2}]
    assert pair_margins(rows) == [4.0, 2.0]
    assert pair_margins(rows, "expected_score") == [1.5, 0.0]
    with pytest.raises(ValueError, match="verdict_probs"):
        pair_margins([{"id": "c", "margin": 1.0}], "expected_score")


def test_dpo_config_takes_the_margin_switch(tmp_path):
    from critic.dpo.config import DRSSection

    assert DRSSection().margin == "reward" and DRSSection(margin="expected_score").margin == "expected_score"
    with pytest.raises(ValueError):
        DRSSection(margin="other")


def test_best_of_n_and_label_pairs_use_expected_scores_end_to_end(tmp_path):
    from critic.toy.world import make_toy

    make_toy(tmp_path / "d", n=3, seed=5, task="candidates", k=3)
    items = tmp_path / "d" / "items.jsonl"
    with ChatServer(oracle_answer) as srv:
        flags = ["--judge-backend", "openai", "--judge-model", "oracle", "--judge-base-url", srv.base_url,
                 "--judge-template", "compact_pointwise", "--no-cache", "--no-progress", "--use-expected-score"]
        assert main(["best-of-n", "--input", str(items), "--output", str(tmp_path / "best.jsonl"), *flags]) == 0
        assert main(["label-pairs", "--input", str(items), "--output", str(tmp_path / "pairs.jsonl"),
                     "--mode", "pointwise", *flags]) == 0
    judged = [json.loads(x) for x in (tmp_path / "best.jsonl.judgments.jsonl").read_text().splitlines()]
    assert judged and all("expected_score" in j for j in judged)  # --use-expected-score turned --verdict-probs on
    expected = {j["id"]: j["expected_score"] for j in judged}
    for row in map(json.loads, (tmp_path / "best.jsonl").read_text().splitlines()):
        info = row["meta"]["best_of_n"]
        assert info["rewards"] == pytest.approx([expected[f"{row['id']}:{i}"] for i in range(3)])
    pairs = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["expected_margin"] == pytest.approx(p["margin"]) for p in pairs)
