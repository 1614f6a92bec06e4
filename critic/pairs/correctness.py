"""Correctness pairs (MMPR): sampled answers sorted by whether their parsed final answer is the gold one.

For one question with a gold answer and N sampled answers, each answer is parsed with the source's
extractor (:mod:`critic.pairs.extract`): a parse equal to the gold goes to the **positive** set, a
different parse to the **negative** set, no parse at all to the **format-negative** set. Pairs are
positive × negative (``pair_type`` ``correctness``) and, as their own type, positive ×
format-negative (``pair_type`` ``format``); each type is subsampled to at most
``num_pairs_per_key`` pairs per question, identical (chosen, rejected) texts counted once. A
question with no positive answer, or none that is not, gives no pair and says why.

>>> from critic.pairs.extract import ExtractorSpec, make_extractor
>>> e = make_extractor(ExtractorSpec(kind="choice"))
>>> s = split_answers(["(A)", "B.", "no idea", "Answer: A"], "A", e)
>>> s.positive, s.negative, s.format_negative, s.parsed
([0, 3], [1], [2], ['A', 'B', None, 'A'])
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from critic.pairs.extract import Extractor
from critic.pairs.rows import SourcePrompt, pair_row


@dataclass
class AnswerSplit:
    """Indices of the answers in each set, and every answer's parse (None: unparseable)."""

    positive: list[int]
    negative: list[int]
    format_negative: list[int]
    parsed: list[str | None]


def split_answers(answers: list[str], gold: Any, extractor: Extractor) -> AnswerSplit:
    """Sort ``answers`` into positive / negative / format-negative against ``gold``."""
    parsed = [extractor.parse(a) for a in answers]
    split = AnswerSplit([], [], [], parsed)
    for i, p in enumerate(parsed):
        if p is None:
            split.format_negative.append(i)
        elif extractor.matches(p, gold):
            split.positive.append(i)
        else:
            split.negative.append(i)
    return split


def _sample(pairs: list[tuple[int, int]], answers: list[str], cap: int, rng: random.Random) -> list[tuple[int, int]]:
    unique: dict[tuple[str, str], tuple[int, int]] = {}
    for c, r in pairs:
        unique.setdefault((answers[c], answers[r]), (c, r))
    kept = list(unique.values())
    return sorted(rng.sample(kept, cap)) if len(kept) > cap else kept


def correctness_pairs(prompt: SourcePrompt, answers: list[str], gold: Any, extractor: Extractor, *, source: str,
                      num_pairs_per_key: int = 15, format_pairs: bool = True,
                      seed: int = 0) -> tuple[list[dict[str, Any]], AnswerSplit, str | None]:
    """The rows of one question, its split, and why it has no row (None when it has some)."""
    split = split_answers(answers, gold, extractor)
    rng = random.Random(f"{seed}:{prompt.id}")
    typed = [("correctness", _sample([(c, r) for c in split.positive for r in split.negative], answers,
                                     num_pairs_per_key, rng))]
    if format_pairs:
        typed.append(("format", _sample([(c, r) for c in split.positive for r in split.format_negative], answers,
                                        num_pairs_per_key, rng)))
    rows: list[dict[str, Any]] = []
    for pair_type, pairs in typed:
        for c, r in pairs:
            rows.append(pair_row(prompt, answers[c], answers[r], method="correctness", source=source,
                                 pair_type=pair_type, index=len(rows), gold=gold, chosen_parsed=split.parsed[c],
                                 rejected_parsed=split.parsed[r], chosen_index=c, rejected_index=r))
    reason = None
    if not rows:
        reason = ("no answer matches the gold" if not split.positive else
                  "every answer matches the gold" if not split.negative and not split.format_negative else
                  "chosen and rejected texts are identical")
    return rows, split, reason
