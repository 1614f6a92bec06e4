"""The one generic verdict parser: a critic's output in, its *concluding* verdict and rationale out.

Driven only by a :class:`~critic.judging.verdicts.VerdictSpec` (its patterns, kind, scale, choices,
position). A template's target ends with the verdict (``position: last``) or opens with it
(``position: first``), so that is where the verdict is read, and only there:

- ``last``: the last verdict in the text counts only if the text ends there. After it may come
  whitespace, markdown and a full stop; when the verdict ends in a word ("the first response is
  better"), its own sentence may also run on to a full stop ("... better than the second.").
  Anything else after it (a new sentence, a new line, a closing bracket or quote, an unfinished
  sentence) means the verdict-like text was quoted, or the output was cut off before its verdict:
  a parse failure, never that quoted verdict.
- ``first``: the first verdict counts only if nothing but whitespace and markdown precedes it.

>>> from critic.judging.verdicts import VerdictSpec
>>> spec = VerdictSpec.from_header({"kind": "score", "scale": [1, 100], "format": "Overall score: {score}",
...                                 "patterns": [r"(?:overall\\s+)?score\\s*(?:of|:)?\\s*(?P<score>{NUM})"]})
>>> spec.parse("Weak answer. Overall score: 20").verdict.score
20.0
>>> spec.parse("Weak answer. Overall score: 20. A perfect one (score of 100)").error
"no concluding verdict: the text goes on after 'score of 100' (a quoted example, or an output cut off before its verdict)"
"""

from __future__ import annotations

import re
from typing import Any

from critic.judging.verdict_records import ParseResult, Verdict, fmt_number

# Markdown the parser looks through: emphasis stars, backticks, heading markers at a line start.
_MARKUP = re.compile(r"[*`]+|^[ \t]*#{1,6}[ \t]+", re.M)
_RANGE_AFTER = re.compile(r"[ \t]*(?:-|–|—|~|to\b|or\b)[ \t]*[-+]?\d", re.I)
_RANGE_BEFORE = re.compile(r"\d[ \t]*(?:-|–|—|~|to|or)[ \t]*$", re.I)
# What may follow a concluding verdict: a full stop at most; after a verdict ending in a word, the rest
# of its sentence (no bracket, quote or new line in it) up to a full stop.
_CLOSED = re.compile(r"\s*[.!]?\s*")
_SENTENCE_RUNS_ON = re.compile(r"[ \t]+[^\W\d_][^\n.!?()\[\]{}<>\"“”]*[.!]\s*")


def norm_token(s: str) -> str:
    return re.sub(r"\s+", "", s).casefold()


def normalize(text: str) -> tuple[str, list[int], bytearray]:
    """Drop markdown markup; return the text, a map from its indices to the original, the dropped mask."""
    # Built a run at a time, not a character at a time: the kept text between two markup matches is one
    # slice of ``text`` and one ``range`` of indices (matches never overlap, so the runs are the rest).
    n = len(text)
    removed = bytearray(n)
    chunks: list[str] = []
    idx: list[int] = []
    kept = 0  # start of the current run of kept characters
    for m in _MARKUP.finditer(text):
        start, end = m.span()
        removed[start:end] = b"\x01" * (end - start)
        if start > kept:
            chunks.append(text[kept:start])
            idx.extend(range(kept, start))
        kept = end
    chunks.append(text[kept:])
    idx.extend(range(kept, n + 1))  # the last run, then len(text) for an end one past the last character
    return "".join(chunks), idx, removed


def interpret(spec: Any, m: re.Match[str], norm: str) -> tuple[Verdict | None, str | None]:
    """The verdict one pattern match stands for under ``spec``, or the reason it stands for none."""
    if spec.kind == "choice":
        tok = m.group("choice")
        win = spec.choices.get(norm_token(tok))
        if win is None:
            return None, f"unknown choice {tok!r}"
        if win == "tie" and not spec.allows_tie:
            return None, f"this template does not allow ties (got {tok!r})"
        return Verdict(winner=win), None
    names = ["score"] if spec.kind == "score" else ["score_a", "score_b"]
    for name in names:
        if _RANGE_BEFORE.search(norm[max(0, m.start(name) - 16):m.start(name)]) or \
                _RANGE_AFTER.match(norm, m.end(name)):
            return None, f"ambiguous score {norm[m.start(name):m.end(name) + 8].strip()!r}: a range, not one value"
    values = [float(m.group(n)) for n in names]
    denom = m.groupdict().get("denom")
    if denom is not None and float(denom) != spec.scale[1]:
        return None, (f"score written out of {fmt_number(float(denom))} but this template's scale is "
                      f"{fmt_number(spec.scale[0])}–{fmt_number(spec.scale[1])}")
    whats = ["score"] if spec.kind == "score" else ["first score", "second score"]
    for what, v in zip(whats, values, strict=True):
        err = spec._check_score(v, what)
        if err:
            return None, err
    if spec.kind == "score":
        return Verdict(score=values[0]), None
    verdict = Verdict(scores=(values[0], values[1]))
    if verdict.winner == "tie" and not spec.allows_tie:
        return None, "equal scores mean a tie, which this template does not allow"
    return verdict, None


def not_concluding(position: str, m: re.Match[str], norm: str) -> str | None:
    """Why match ``m`` is not where the template puts its verdict (the end, or the start), or None."""
    found = " ".join(m.group().split())
    if position == "first":
        if norm[:m.start()].strip():
            return f"no opening verdict: {found!r} comes after other text (this template puts its verdict first)"
        return None
    rest = norm[m.end():]
    if _CLOSED.fullmatch(rest) or (m.group()[-1:].isalpha() and _SENTENCE_RUNS_ON.fullmatch(rest)):
        return None
    return (f"no concluding verdict: the text goes on after {found!r} (a quoted example, or an output cut off "
            "before its verdict)")


def parse(spec: Any, text: str | None) -> ParseResult:
    """Read the concluding verdict (see the module docstring) and the rationale of ``text`` under ``spec``."""
    if text is None or not text.strip():
        return ParseResult.failure("empty output")
    norm, idx, removed = normalize(text)
    found = [m for p in spec.patterns for m in p.finditer(norm)]
    if not found:
        example = spec.render(spec.examples()[0])
        return ParseResult.failure(f"no verdict found (expected something like {example!r})")
    if spec.position == "last":
        m = max(found, key=lambda m: (m.end(), -m.start()))
    else:
        m = min(found, key=lambda m: (m.start(), -m.end()))
    verdict, err = interpret(spec, m, norm)
    if verdict is None:
        return ParseResult.failure(err or "unreadable verdict")
    err = not_concluding(spec.position, m, norm)
    if err is not None:
        return ParseResult.failure(err)
    start, end = idx[m.start()], idx[m.end() - 1] + 1
    if spec.position == "last":
        cut = start  # step back over markup on the verdict's own line ("**Rating: ...")
        while cut > 0 and text[cut - 1] != "\n" and (removed[cut - 1] or text[cut - 1] in " \t"):
            cut -= 1
        rationale = text[:cut]
    else:
        while end < len(text) and text[end] != "\n" and (removed[end] or text[end] in " \t"):
            end += 1
        rationale = text[end:]
    rationale = rationale.strip()
    if spec.rationale_pattern is not None:
        rm = spec.rationale_pattern.search(rationale)
        if rm and rm.group("rationale") is not None:
            rationale = rm.group("rationale").strip()
    return ParseResult(verdict, rationale, None)


__all__ = ["interpret", "normalize", "not_concluding", "parse"]
