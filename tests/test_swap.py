"""Pairwise swap helpers: items, winners, verdicts and rationales in the other order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.judging.pair_order import swap_item, swap_rationale, swap_verdict, swap_winner
from critic.judging.templates import list_templates
from critic.judging.verdicts import Verdict
from critic.records import PairwiseItem


def test_swap_item_swaps_everything_positional() -> None:
    item = PairwiseItem(id="1", question="q", response_a="ra", response_b="rb", model_a="ma", model_b="mb",
                        label="B", images=["/x.png"], reference="ref", meta={"k": 1})
    s = swap_item(item)
    assert (s.response_a, s.response_b, s.model_a, s.model_b, s.label) == ("rb", "ra", "mb", "ma", "A")
    assert (s.id, s.question, s.images, s.reference, s.meta) == ("1", "q", ["/x.png"], "ref", {"k": 1})
    assert item.response_a == "ra"  # the original is untouched
    assert swap_item(s) == item
    tie = item.model_copy(update={"label": "tie"})
    assert swap_item(tie).label == "tie"
    none = item.model_copy(update={"label": None})
    assert swap_item(none).label is None


@pytest.mark.parametrize("w,expected", [("A", "B"), ("B", "A"), ("tie", "tie"), (None, None)])
def test_swap_winner(w: str | None, expected: str | None) -> None:
    assert swap_winner(w) == expected


def test_swap_verdict() -> None:
    assert swap_verdict(Verdict(winner="A")) == Verdict(winner="B")
    assert swap_verdict(Verdict(winner="tie")) == Verdict(winner="tie")
    assert swap_verdict(Verdict(scores=(3, 8))) == Verdict(scores=(8, 3))
    assert swap_verdict(Verdict(scores=(3, 8))).winner == "A"
    with pytest.raises(ValueError):
        swap_verdict(Verdict(score=4))


@pytest.mark.parametrize("text,expected", [
    ("The first response is right; the second response is wrong.",
     "The second response is right; the first response is wrong."),
    ("Response A names red. Response B names blue.", "Response B names red. Response A names blue."),
    ("RESPONSE A vs response B", "RESPONSE B vs response A"),
    ("Assistant 1 scores 7, Assistant 2 scores 9.", "Assistant 2 scores 7, Assistant 1 scores 9."),
    ("[Assistant 1] and [Assistant 2]", "[Assistant 2] and [Assistant 1]"),
    ("Answer 1 is short; Answer 2 is long.", "Answer 2 is short; Answer 1 is long."),
    ("Output (a) beats Output (b).", "Output (b) beats Output (a)."),
    ("Output (A) beats output (B).", "Output (B) beats output (A)."),
    ("The First Answer and the SECOND ONE.", "The Second Answer and the FIRST ONE."),
    ("The former is vague, the latter precise.", "The latter is vague, the former precise."),
    ("Model A's answer", "Model B's answer"),
    # left alone: plurals, unrelated uses of first/second/a, numbers, verdict tokens
    ("Responses A and B both fail.", "Responses A and B both fail."),
    ("At first glance, the answer a child gives is second-rate.",
     "At first glance, the answer a child gives is second-rate."),
    ("Assistant 12 and response A1 and Response C", "Assistant 12 and response A1 and Response C"),
    ("Rating: [[A]]", "Rating: [[A]]"),
])
def test_swap_rationale_table(text: str, expected: str) -> None:
    assert swap_rationale(text) == expected
    assert swap_rationale(expected) == text


_WORDS = ["the first response", "the second response", "Response A", "Response B", "Assistant 1",
          "Assistant 2", "Output (a)", "Output (b)", "the former", "the latter", "is better", " ", ".", "\n",
          "Answer 1", "answer 2", "FIRST ONE", "Second answer", "A", "B", "1", "2", "first", "a"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(_WORDS), max_size=20).map(" ".join))
def test_swap_rationale_is_an_involution(text: str) -> None:
    assert swap_rationale(swap_rationale(text)) == text


@pytest.mark.parametrize("name", [t.name for t in list_templates() if t.task == "pairwise"])
def test_swapped_target_parses_to_swapped_verdict(name: str) -> None:
    """Training on both orders: the swapped item's target carries the swapped verdict and rationale."""
    from critic.judging.templates import load_template

    t = load_template(name)
    for v in t.spec.examples():
        sv = swap_verdict(v)
        target = t.render_target(swap_rationale("The first response is better than Response B."), sv)
        parsed = t.parse(target)
        assert parsed.verdict == sv and swap_verdict(parsed.verdict) == v
        assert parsed.rationale == "The second response is better than Response A."
