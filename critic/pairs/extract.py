"""Answer extractors: read a final answer out of a policy's text, and say whether it matches the gold.

MMPR's correctness pairs need a parse of every sampled answer: a parse equal to the gold answer puts
the sample in the positive set, another parse in the negative set, and *no* parse in the
format-negative set. An extractor is configured by an :class:`ExtractorSpec` (``kind`` plus its
options) and returns ``None`` when the text has no answer it can read.

=================  ==================================================================================
``choice``         a multiple-choice letter: "(B)", "Answer: C", "B." — the last one stated
``number``         the last number in the text; matches gold within ``tolerance`` (absolute) / ``rel_tolerance``
``exact``          the whole text, normalised (case, punctuation, articles, spaces)
``regex``          the first group (or the match) of ``pattern``, normalised; the last match wins
``boxed``          the contents of the last ``\\boxed{...}`` (nested braces kept), normalised
=================  ==================================================================================

>>> e = make_extractor(ExtractorSpec(kind="choice"))
>>> e.parse("I think the answer is (c)."), e.parse("Answer: B"), e.parse("none of these")
('C', 'B', None)
>>> make_extractor(ExtractorSpec(kind="number", tolerance=0.01)).matches_text("It is about 3.004 m", "3")
True
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def normalise(text: str) -> str:
    """Lower case, punctuation and articles dropped, spaces collapsed (SQuAD's answer normalisation).

    >>> normalise("  The Red  circle! ")
    'red circle'
    >>> normalise("A")
    ''
    """
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


class ExtractorSpec(BaseModel):
    """How to read a final answer (``kind``) and compare it with the gold one."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["choice", "number", "exact", "regex", "boxed"] = "exact"
    pattern: str | None = Field(None, description="regex kind: the pattern (its first group is the answer)")
    choices: str = Field("ABCDEFGH", description="choice kind: the letters a question may use")
    tolerance: float = Field(0.0, ge=0, description="number kind: absolute tolerance")
    rel_tolerance: float = Field(0.0, ge=0, description="number kind: relative tolerance")


@dataclass(frozen=True)
class Extractor:
    """A configured extractor: :meth:`parse` text → answer or None, :meth:`matches` parse vs gold."""

    spec: ExtractorSpec

    def parse(self, text: str) -> str | None:
        return _PARSERS[self.spec.kind](self.spec, text)

    def gold(self, answer: object) -> str | None:
        """The gold answer in the parse's form (a gold written as "(B) cat" is read like an answer)."""
        text = str(answer)
        if self.spec.kind in ("exact", "regex", "boxed"):
            return normalise(text)
        return self.parse(text)

    def matches(self, parsed: str | None, gold: object) -> bool:
        """Whether a parse (or a raw answer text, parsed first) is the gold answer."""
        if parsed is None:
            return False
        g = self.gold(gold)
        if g is None:
            return False
        if self.spec.kind == "number":
            a, b = float(parsed), float(g)
            return abs(a - b) <= max(self.spec.tolerance, self.spec.rel_tolerance * abs(b))
        return parsed == g

    def matches_text(self, text: str, gold: object) -> bool:
        return self.matches(self.parse(text), gold)


def make_extractor(spec: ExtractorSpec | dict | None = None) -> Extractor:
    """An :class:`Extractor` from a spec (or its dict); a regex is checked to compile here."""
    spec = ExtractorSpec.model_validate(spec or {}) if not isinstance(spec, ExtractorSpec) else spec
    if spec.kind == "regex":
        if not spec.pattern:
            raise ValueError("extractor kind regex needs a pattern")
        re.compile(spec.pattern)
    return Extractor(spec)


def parse_choice(spec: ExtractorSpec, text: str) -> str | None:
    r"""The last option letter stated: ``(B)``, ``B)``, ``B.``, ``Answer: B``, or a lone letter.

    >>> s = ExtractorSpec(kind="choice", choices="ABCD")
    >>> [parse_choice(s, t) for t in ["(A) because", "The answer is D.", "b", "Answer: c", "E", "A cat (B)"]]
    ['A', 'D', 'B', 'C', None, 'B']
    """
    letters = re.escape(spec.choices.upper() + spec.choices.lower())
    stripped = text.strip()
    if re.fullmatch(rf"[{letters}]\W*", stripped):
        return stripped[0].upper()
    hits = re.findall(rf"\(([{letters}])\)|\b(?:answer|option|choice)\s*(?:is)?\s*:?\s*\(?([{letters}])\b"
                      rf"|(?:^|\s)([{spec.choices.upper()}])[.)]", text, flags=re.IGNORECASE)
    found = [next(g for g in h if g) for h in hits]
    return found[-1].upper() if found else None


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def parse_number(spec: ExtractorSpec, text: str) -> str | None:
    """The last number in the text, thousands separators dropped, as a float string.

    >>> s = ExtractorSpec(kind="number")
    >>> [parse_number(s, t) for t in ["There are 3 cats", "1,200 people", "-2.5e1", "x = .5", "seven", "2 then 4"]]
    ['3.0', '1200.0', '-25.0', '0.5', None, '4.0']
    """
    found = _NUMBER.findall(text)
    return str(float(found[-1].replace(",", ""))) if found else None


def parse_exact(spec: ExtractorSpec, text: str) -> str | None:
    """The whole text normalised; empty text has no answer.

    >>> s = ExtractorSpec()
    >>> parse_exact(s, "Red."), parse_exact(s, "  "), parse_exact(s, "The")
    ('red', None, None)
    """
    return normalise(text) or None


def parse_regex(spec: ExtractorSpec, text: str) -> str | None:
    r"""The last match of ``pattern`` (its first group when it has one), normalised.

    >>> s = ExtractorSpec(kind="regex", pattern=r"(?i)\b(red|green|blue)\b")
    >>> parse_regex(s, "The circle is Blue."), parse_regex(s, "red, no, green"), parse_regex(s, "pink")
    ('blue', 'green', None)
    """
    last = None
    for m in re.finditer(spec.pattern or "", text):
        last = m.group(1) if m.groups() else m.group(0)
    return normalise(last) or None if last is not None else None


def parse_boxed(spec: ExtractorSpec, text: str) -> str | None:
    r"""The contents of the last ``\boxed{...}``, braces balanced, normalised.

    >>> s = ExtractorSpec(kind="boxed")
    >>> parse_boxed(s, r"so \boxed{4} or \boxed{\frac{1}{2}}"), parse_boxed(s, r"\boxed{Red}"), parse_boxed(s, r"\boxed{x")
    ('frac 1 2', 'red', None)
    """
    start = text.rfind("\\boxed{")
    while start >= 0:
        i, depth = start + len("\\boxed{"), 1
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return normalise(text[start + len("\\boxed{"): i - 1]) or None
        start = text.rfind("\\boxed{", 0, start)
    return None


_PARSERS = {"choice": parse_choice, "number": parse_number, "exact": parse_exact, "regex": parse_regex,
            "boxed": parse_boxed}
