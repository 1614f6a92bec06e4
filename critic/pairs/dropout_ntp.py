"""Dropout next-token-prediction pairs (MMPR) for open-ended questions: no gold answer, no judge.

Chosen is the policy's own answer with the image. Rejected keeps the first ``start_ratio`` of
chosen's words and lets the policy finish them **without the image** (same temperature): what the
model writes when it cannot look is, on average, less grounded than what it writes when it can.
A question gives no pair when the answer is empty or too short to cut (the prefix would be empty
or the whole answer), or when the blind continuation reproduces chosen word for word.

>>> cut_prefix("The circle in the middle is red.", 0.5)
'The circle in'
>>> cut_prefix("Red.", 0.5) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from critic.pairs.policy import PolicyRequest, PolicySampling
from critic.pairs.rows import SourcePrompt, pair_row


def cut_prefix(text: str, start_ratio: float) -> str | None:
    """The first ``int(len(words) · start_ratio)`` words of ``text``, or None when that is none or all of them."""
    words = text.split()
    k = int(len(words) * start_ratio)
    return " ".join(words[:k]) if 0 < k < len(words) else None


def join_continuation(prefix: str, continuation: str) -> str:
    """``prefix`` and the blind continuation, one space between them unless the continuation starts with one."""
    cont = continuation.rstrip()
    if not cont or cont[0] in " ,.;:!?'\"":
        return prefix + cont
    return f"{prefix} {cont}"


def dropout_ntp_pairs(policy: Any, prompts: Sequence[SourcePrompt], sampling: PolicySampling, *, source: str,
                      start_ratio: float = 0.5) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows for ``prompts`` (one per prompt at most) and, per prompt without one, why."""
    answers = policy.generate([PolicyRequest(p.question, list(p.images)) for p in prompts], sampling, n=1)
    reasons: dict[str, str] = {}
    todo: list[tuple[SourcePrompt, str, str]] = []
    for p, (answer, *_) in zip(prompts, answers):
        prefix = cut_prefix(answer, start_ratio) if answer.strip() else None
        if prefix is None:
            reasons[p.id] = "empty answer" if not answer.strip() else "answer too short to cut"
            continue
        todo.append((p, answer, prefix))
    blind = sampling.__class__(**{**sampling.__dict__, "seed": sampling.seed + 1})
    conts = policy.generate([PolicyRequest(p.question, [], prefix=prefix) for p, _, prefix in todo], blind, n=1)
    rows = []
    for (p, answer, prefix), (cont, *_) in zip(todo, conts):
        rejected = join_continuation(prefix, cont)
        if rejected.split() == answer.split():
            reasons[p.id] = "blind continuation equals the answer"
            continue
        rows.append(pair_row(p, answer, rejected, method="dropout_ntp", source=source, pair_type="dropout_ntp",
                             index=0, prefix=prefix, start_ratio=start_ratio))
    return rows, reasons
