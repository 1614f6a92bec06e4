"""Short toy-world rationales a tiny critic can learn: the fact seen in the image, then each claim.

Two styles, shared by the oracle teacher (``rationale: brief | compare`` in ``oracle_formats.yaml``)
and the direct training-set writer (:mod:`critic.toy.training_set`), so that data distilled through
the oracle and data written directly teach the same thing:

- ``fact``: the one fact the verdict rests on, as the image shows it — "The circle is red.";
- ``compare``: that fact, then what each response claims and whether it is right —
  "The circle is red. Response A says red, right. Response B says blue, wrong." Every step compares
  words a few tokens apart, which a 1M-parameter critic learns from scratch on a CPU (with ``fact``
  alone it reads the colour but does not learn to compare it with the responses in the same budget;
  ``docs/training.md``). "Response A/B" is what :func:`critic.judging.pair_order.swap_rationale` rewrites when a
  pair is shown swapped. Claims are spelled out for colour questions; other kinds get the fact only.

>>> from critic.toy.scene import parse_question
>>> q = parse_question("What colour is the circle?")
>>> fact(q, "red")
'The circle is red.'
>>> compare(q, "red", ["The circle is red.", "It is a blue square."])
'The circle is red. Response A says red, right. Response B is about the square.'
>>> compare(q, "red", ["The circle is green."])
'The circle is red. The response says green, wrong.'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from critic.toy.scene import COLOURS, SHAPES, Question, say_main

STYLES = ("fact", "compare")


def fact(q: Question, truth: str) -> str:
    """The one fact a verdict on question ``q`` rests on, as a sentence."""
    if truth == "none":
        return f"The image has no {q.subject.removeprefix('the ')}."
    clause = say_main(q, truth)
    return clause[0].upper() + clause[1:] + "."


def claim(q: Question, response: str, truth: str) -> str:
    """What a colour-question response claims, judged: ``"says red, right"`` / ``"is about the square"``."""
    words = re.findall(r"[a-z]+", response.lower())
    shape = next((w.rstrip("s") for w in words if w.rstrip("s") in SHAPES), None)
    colour = next((w for w in words if w in COLOURS), None)
    if shape is not None and shape != q.shape:
        return f"is about the {shape}"
    if colour is None:
        return "gives no colour"
    return f"says {colour}, {'right' if colour == truth else 'wrong'}"


def compare(q: Question, truth: str, responses: Sequence[str]) -> str:
    """The fact, then each response's claim: one response is "The response", two are "Response A/B"."""
    lead = fact(q, truth)
    if q.kind != "colour" or truth == "none":
        return lead
    if len(responses) == 1:
        return f"{lead} The response {claim(q, responses[0], truth)}."
    names = ("Response A", "Response B")
    return " ".join([lead] + [f"{name} {claim(q, r, truth)}." for name, r in zip(names, responses)])


def rationale(style: str, q: Question, truth: str, responses: Sequence[str]) -> str:
    """The rationale in ``style`` (``fact`` or ``compare``)."""
    if style == "fact":
        return fact(q, truth)
    if style == "compare":
        return compare(q, truth, responses)
    raise ValueError(f"rationale style must be one of {STYLES}, got {style!r}")
