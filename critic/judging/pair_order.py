"""Pair order: which order(s) a pair is shown in, how the two orders combine, and how to map a
verdict and rationale seen in the swapped order back to the original.

**Swapping.** Position swapping for pairwise judging: show B first, then map everything back.

Judges are biased towards one position; judging both orders (or training on both) cancels that.
When an item is shown swapped, the critic's verdict and rationale speak of the *displayed* order;
these helpers translate between the two orders. Each is its own inverse.

>>> swap_winner("A"), swap_winner("tie"), swap_winner(None)
('B', 'tie', None)

**Policies.** Position-bias policies for pairwise judging and how two orders are combined.

A policy decides in which order(s) each pair is shown:

- ``none``: as given (A first);
- ``random``: a seeded coin per item decides whether B is shown first (the coin depends only on the
  seed and the item id, so reruns and resumed runs flip the same way);
- ``both``: each pair is judged in both orders.

With ``both`` the two verdicts (already named in the item's original order) are combined by a rule:

- ``tie`` (FastChat's rule): agree → that verdict; disagree → ``tie``;
- ``prefer_original``: the verdict from the original order, the swapped one only if it failed;
- ``count_both``: each parsed vote counts (win 1, tie ½ to each side); more points wins, equal → tie.

A vote that failed to parse never counts as a verdict. With the ``tie`` rule, one failed order
leaves the comparison without a verdict (disagreement cannot be ruled out).

>>> combine(["A", "A"], "tie"), combine(["A", "B"], "tie"), combine(["A", None], "tie")
('A', 'tie', None)
>>> combine([None, "B"], "prefer_original"), combine(["A", "tie"], "count_both")
('B', 'A')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from critic.judging.verdicts import Verdict
from critic.records import PairwiseItem, PairwiseJudgment, Record, Winner

SwapPolicy = Literal["none", "random", "both"]
SWAP_POLICIES: tuple[str, ...] = ("none", "random", "both")
AggregateRule = Literal["tie", "prefer_original", "count_both"]
AGGREGATE_RULES: tuple[str, ...] = ("tie", "prefer_original", "count_both")


def orders(item_id: str, policy: str, seed: int = 0) -> list[bool]:
    """The ``swapped`` flags to judge an item with, original order first.

    >>> orders("x", "none"), orders("x", "both")
    ([False], [False, True])
    >>> orders("x", "random", seed=1) == orders("x", "random", seed=1)
    True
    """
    if policy == "none":
        return [False]
    if policy == "both":
        return [False, True]
    if policy == "random":
        digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
        return [bool(digest[0] & 1)]
    raise ValueError(f"unknown swap policy {policy!r}; choose one of {', '.join(SWAP_POLICIES)}")


def combine(votes: Sequence[str | None], rule: str = "tie") -> str | None:
    """Combine verdicts (original order first; ``None`` = no verdict) into one, or ``None``."""
    if rule not in AGGREGATE_RULES:
        raise ValueError(f"unknown aggregate rule {rule!r}; choose one of {', '.join(AGGREGATE_RULES)}")
    parsed = [v for v in votes if v is not None]
    if not parsed:
        return None
    if len(votes) == 1:
        return votes[0]
    if rule == "tie":
        if len(parsed) < len(votes):
            return None
        return parsed[0] if all(v == parsed[0] for v in parsed) else "tie"
    if rule == "prefer_original":
        return parsed[0]
    a = sum(1.0 if v == "A" else 0.5 if v == "tie" else 0.0 for v in parsed)
    b = sum(1.0 if v == "B" else 0.5 if v == "tie" else 0.0 for v in parsed)
    return "A" if a > b else "B" if b > a else "tie"


class Comparison(Record):
    """The outcome of comparing one pair: every judgment made and the combined verdict."""

    id: str
    winner: Winner | None
    rule: str
    judgments: list[PairwiseJudgment] = Field(default_factory=list)
    reason: str | None = None

    @property
    def consistent(self) -> bool | None:
        """Whether both orders agree (``None`` unless both orders have a verdict)."""
        w = [j.winner for j in self.judgments]
        if len(w) < 2 or None in w:
            return None
        return w[0] == w[1]


def make_comparison(item_id: str, judgments: list[PairwiseJudgment], rule: str) -> Comparison:
    ordered = sorted(judgments, key=lambda j: j.swapped)
    winner = combine([j.winner for j in ordered], rule)
    reason = None
    if winner is None:
        failed = [("swapped" if j.swapped else "original") for j in ordered if j.winner is None]
        reason = f"no verdict in the {' and '.join(failed)} order" + ("s" if len(failed) > 1 else "")
    return Comparison(id=item_id, winner=winner, rule=rule, judgments=ordered, reason=reason)


def swap_item(item: PairwiseItem) -> PairwiseItem:
    """The same item with the responses (and their models and the gold label) in the other order.

    >>> it = PairwiseItem(id="1", question="q", response_a="red", response_b="blue", label="A", model_a="m1")
    >>> s = swap_item(it)
    >>> s.response_a, s.response_b, s.label, s.model_a, s.model_b
    ('blue', 'red', 'B', None, 'm1')
    >>> swap_item(s) == it
    True
    """
    return item.model_copy(update={
        "response_a": item.response_b,
        "response_b": item.response_a,
        "model_a": item.model_b,
        "model_b": item.model_a,
        "label": swap_winner(item.label),
    })


def swap_winner(w: str | None) -> str | None:
    """"A" <-> "B"; "tie" and None are unchanged."""
    return {"A": "B", "B": "A"}.get(w, w) if w is not None else None  # type: ignore[arg-type]


def swap_verdict(v: Verdict) -> Verdict:
    """A pairwise verdict read in the other order: winner swapped, scores reversed.

    >>> swap_verdict(Verdict(scores=(7, 9)))
    Verdict(score=None, winner='A', scores=(9.0, 7.0))
    >>> swap_verdict(Verdict(winner="tie")).winner
    'tie'
    """
    if v.score is not None:
        raise ValueError("a pointwise verdict has no position to swap")
    if v.scores is not None:
        return Verdict(scores=(v.scores[1], v.scores[0]))
    return Verdict(winner=swap_winner(v.winner))


_NOUNS = r"(?:response|answer|assistant|output|model|candidate|reply|completion|option|summary|caption)"
_SWAP_RE = re.compile(
    # "the first response" / "second answer" / "first one": swap the ordinal only
    r"\b(?P<ord>(?i:first|second))\b(?=[ \t]+(?i:" + _NOUNS + r"|one)\b)"
    # "the former" / "the latter"
    r"|\b(?P<fl>(?i:former|latter))\b"
    # "Response A", "Assistant 2", "Output (a)", "[Answer 1]": swap the label only
    r"|\b(?P<noun>(?i:" + _NOUNS + r"))(?P<sep>[ \t]*)"
    r"(?:(?P<lab>[AB12])\b|\((?P<plab>[ABab12])\))",
)
_WORD_SWAP = {"first": "second", "second": "first", "former": "latter", "latter": "former"}
_CHAR_SWAP = {"A": "B", "B": "A", "a": "b", "b": "a", "1": "2", "2": "1"}


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word.capitalize()
    return word


def _swap_match(m: re.Match[str]) -> str:
    for g in ("ord", "fl"):
        if m.group(g):
            w = m.group(g)
            return _same_case(_WORD_SWAP[w.lower()], w)
    head = m.group("noun") + m.group("sep")
    if m.group("lab"):
        return head + _CHAR_SWAP[m.group("lab")]
    return head + "(" + _CHAR_SWAP[m.group("plab")] + ")"


def swap_rationale(text: str) -> str:
    """Rewrite position words in a rationale both ways at once, keeping their case.

    One regex pass with a mapping, so "A" becomes "B" and "B" becomes "A" without either being
    rewritten twice. Plural nouns ("Responses A and B") are left alone: they name both.

    >>> swap_rationale("The first response is vague; the second response names the colour.")
    'The second response is vague; the first response names the colour.'
    >>> swap_rationale("Response A misses it, Response B is right, so Response A loses.")
    'Response B misses it, Response A is right, so Response B loses.'
    >>> swap_rationale("[Assistant 1] beats Assistant 2; Output (a) over Output (b). FIRST ANSWER wins.")
    '[Assistant 2] beats Assistant 1; Output (b) over Output (a). SECOND ANSWER wins.'
    >>> swap_rationale("The former is short, the latter long. At first, an answer a user wants.")
    'The latter is short, the former long. At first, an answer a user wants.'
    >>> t = "Answer 1 vs answer 2, the first one vs the second one."
    >>> swap_rationale(swap_rationale(t)) == t
    True
    """
    return _SWAP_RE.sub(_swap_match, text)
