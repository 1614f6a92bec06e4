"""Pairwise metrics against numbers worked out by hand.

The table below (five items, three questions, two groups) has a gold tie, a parse failure, items
judged in both orders and items judged in one order only. Working, with c = judgments equal to the
label, n = judgments, F/T = swapped false/true:

    item  gold  votes              group q   c/n  both orders
    i1    A     A(F) A(T)          g1    q1  2/2  yes, agree
    i2    B     A(F) B(T)          g1    q1  1/2  yes, disagree
    i3    tie   tie(F) fail(T)     g1    q2  1/2  yes, one failed
    i4    A     B(F)               g2    q3  0/1  no
    i5    B     B(T)               g2    q3  1/1  no
"""

from __future__ import annotations

import math

import pytest

from critic.evaluation.metrics_pairwise import PairCase, PairVote, confusion, pairwise_metrics

V = PairVote
CASES = [
    PairCase("i1", "A", (V("A", False), V("A", True)), "g1", "q1"),
    PairCase("i2", "B", (V("A", False), V("B", True)), "g1", "q1"),
    PairCase("i3", "tie", (V("tie", False), V(None, True)), "g1", "q2"),
    PairCase("i4", "A", (V("B", False),), "g2", "q3"),
    PairCase("i5", "B", (V("B", True),), "g2", "q3"),
]

EXPECTED = {
    "accuracy_with_ties": 5 / 8,  # 2+1+1+0+1 right of 8
    "accuracy_without_ties": 4 / 6,  # i3 (gold tie) left out
    "accuracy_original": 2 / 4,  # i1 A ok, i2 A wrong, i3 tie ok, i4 B wrong
    "accuracy_swapped": 3 / 4,  # i1 ok, i2 ok, i3 failed (wrong), i5 ok
    "accuracy_both": 1 / 3,  # of i1, i2, i3 only i1 is right in both orders
    "consistency": 1 / 3,  # i1 agrees; i2 disagrees; i3 has a failed order
    "tie_rate": 1 / 7,  # one tie among 7 parsed verdicts
    "first_position_rate": 4 / 6,  # decisive: i1 A(F)+, A(T)-, i2 A(F)+, B(T)+, i4 B(F)-, i5 B(T)+
    "parse_failure_rate": 1 / 8,
    "accuracy_plus": 0 / 3,  # q1 has i2 wrong, q2 has i3's failure, q3 has i4 wrong
}
EXPECTED_PARSED = {
    "accuracy_with_ties": 5 / 7,
    "accuracy_without_ties": 4 / 6,
    "accuracy_original": 2 / 4,
    "accuracy_swapped": 3 / 3,
    "accuracy_both": 1 / 2,  # items parsed in both orders: i1 (right), i2 (not)
    "consistency": 1 / 2,
    "accuracy_plus": 1 / 3,  # q2: i3's only parsed verdict is right
}


@pytest.fixture(scope="module")
def result():
    return pairwise_metrics(CASES, n_resamples=200, seed=3)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_metric_by_hand(result, name):
    assert result.metrics[name].value == pytest.approx(EXPECTED[name])


@pytest.mark.parametrize("name", list(EXPECTED_PARSED))
def test_parsed_only_view(result, name):
    assert result.parsed_only[name].value == pytest.approx(EXPECTED_PARSED[name])


def test_counts_and_reference_figures(result):
    assert (result.n_items, result.n_judgments) == (5, 8)
    assert result.extras == {"n_items_both_orders": 3, "n_items_one_order": 2, "gold_tie_rate": 0.2,
                             "gold_first_position_rate": pytest.approx(4 / 6)}


def test_groups_and_macro(result):
    g1, g2 = result.groups["g1"], result.groups["g2"]
    assert (g1.n_items, g1.n_judgments, g2.n_items, g2.n_judgments) == (3, 6, 2, 2)
    assert g1.metrics["accuracy_with_ties"].value == pytest.approx(4 / 6)
    assert g2.metrics["accuracy_with_ties"].value == pytest.approx(1 / 2)
    assert result.macro["accuracy_with_ties"].value == pytest.approx((4 / 6 + 1 / 2) / 2)
    # g2 has no item judged in both orders: undefined there, and the macro average uses g1 alone
    assert g2.metrics["consistency"].value is None and g2.metrics["consistency"].ci is None
    assert result.macro["consistency"].value == pytest.approx(1 / 3)


def test_confusion_counts_ties_and_failures(result):
    assert result.confusion == {
        "A": {"A": 2, "B": 1, "tie": 0, "failed": 0},
        "B": {"A": 1, "B": 2, "tie": 0, "failed": 0},
        "tie": {"A": 0, "B": 0, "tie": 1, "failed": 1},
    }
    assert confusion(CASES) == result.confusion


def test_intervals_contain_the_estimate_and_are_reproducible(result):
    for name, est in result.metrics.items():
        lo, hi = est.ci
        assert lo <= est.value + 1e-12 and est.value - 1e-12 <= hi, name
    again = pairwise_metrics(CASES, n_resamples=200, seed=3)
    assert again.metrics["accuracy_with_ties"].ci == result.metrics["accuracy_with_ties"].ci


def test_single_item_group_has_a_degenerate_interval():
    cases = CASES + [PairCase("solo", "A", (V("A", False), V("B", True)), "g3")]
    r = pairwise_metrics(cases, n_resamples=50)
    solo = r.groups["g3"].metrics
    assert solo["accuracy_with_ties"].value == 0.5 and solo["accuracy_with_ties"].ci == (0.5, 0.5)
    assert solo["consistency"].value == 0.0 and solo["consistency"].ci == (0.0, 0.0)


def test_accuracy_plus_needs_shared_question_ids():
    no_q = [PairCase(c.id, c.label, c.votes, c.group) for c in CASES]
    r = pairwise_metrics(no_q, n_resamples=20)
    assert r.metrics["accuracy_plus"].value is None and r.macro["accuracy_plus"].value is None
    assert r.to_dict()["accuracy_plus"] is None and r.to_dict()["accuracy_plus_ci"] is None
    # with shared questions: q1 both right, q2 one wrong → ACC+ 1/2; ACC 3/4 (MM-RLHF's ACC / ACC+)
    mm = [PairCase("a", "A", (V("A"),), question_id="q1"), PairCase("b", "B", (V("B"),), question_id="q1"),
          PairCase("c", "A", (V("A"),), question_id="q2"), PairCase("d", "B", (V("A"),), question_id="q2")]
    r = pairwise_metrics(mm, n_resamples=20)
    assert r.metrics["accuracy_with_ties"].value == 0.75 and r.metrics["accuracy_plus"].value == 0.5


def test_no_groups_means_no_breakdown_and_all_failures():
    r = pairwise_metrics([PairCase("x", "A", (V(None), V(None, True)))], n_resamples=20)
    assert r.groups == {} and r.macro == {}
    assert r.metrics["accuracy_with_ties"].value == 0.0
    assert r.metrics["parse_failure_rate"].value == 1.0
    assert r.parsed_only["accuracy_with_ties"].value is None  # nothing parsed: undefined, not 0
    assert r.metrics["tie_rate"].value is None and r.metrics["first_position_rate"].value is None


def test_report_layout_has_the_contract_keys(result):
    d = result.to_dict()
    for key in ("n_items", "n_judgments", *EXPECTED):
        assert key in d
    for key in EXPECTED:
        assert f"{key}_ci" in d
    assert set(d["groups"]) == {"g1", "g2"} and "accuracy_with_ties_ci" in d["macro"]
    assert not any(isinstance(v, float) and math.isnan(v) for v in d.values())
