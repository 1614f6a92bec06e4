"""Verdicts: what a critic decides, how a template writes it, and how it is read back.

A template's header holds a *verdict spec* (:class:`VerdictSpec`): the kind of verdict (``score``,
``choice`` or ``two_scores``), its scale, the format the training target writes it in, and the
regexes that find it in generated text. The parser (:mod:`critic.judging.verdict_parser`) is
generic, driven only by that spec, so the text a critic is trained to write is exactly the text that
is parsed back; it reads the verdict where the target puts it (the end, or the start), never a
verdict quoted earlier. The records (:class:`Verdict`, :class:`ParseResult`) live in
:mod:`critic.judging.verdict_records` and are importable from here.

>>> spec = VerdictSpec.from_header({"kind": "score", "scale": [1, 5], "format": "Rating: [[{score}]]",
...                                 "patterns": [r"(?:rating\\s*:?\\s*)?\\[\\[\\s*(?P<score>{NUM})\\s*\\]\\]"]})
>>> spec.render(Verdict(score=4))
'Rating: [[4]]'
>>> r = spec.parse("The answer is right. **Rating: [[4]]**")
>>> r.verdict, r.rationale
(Verdict(score=4.0, winner=None, scores=None), 'The answer is right.')
>>> spec.parse("Rating: [[7]]").error
'score 7 is outside the scale 1–5'
>>> spec.parse("").error
'empty output'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from critic.judging import verdict_parser
from critic.judging.verdict_parser import norm_token as _norm_token
from critic.judging.verdict_records import (
    WINNERS,
    ParseResult,
    Verdict,
    finite_number,
    fmt_number,
    winner_from_scores,
)

KINDS: tuple[str, ...] = ("score", "choice", "two_scores")

#: Regex macros usable in a template's patterns: ``{NUM}`` is a number (no group), ``{OUTOF}`` an
#: optional "/ 10" or "out of 10" captured as the group ``denom`` (checked against the scale max).
NUM = r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\.\d)(?![A-Za-z0-9_])"
OUTOF = r"(?:\s*(?:/|out\s+of)\s*(?P<denom>\d+(?:\.\d+)?))?"
MACROS = {"{NUM}": NUM, "{OUTOF}": OUTOF}

_PLACEHOLDER = re.compile(r"\{(score|score_a|score_b|token|winner)\}")


def _compile(src: Any, where: str, groups: list[str], flags: int, macros: bool = False) -> re.Pattern[str]:
    if not isinstance(src, str):
        raise ValueError(f"{where}: must be a string")
    rx = src
    for macro, sub in MACROS.items() if macros else ():
        rx = rx.replace(macro, sub)
    try:
        pat = re.compile(rx, flags)
    except re.error as exc:
        raise ValueError(f"{where}: invalid regex {src!r}: {exc}") from None
    if not set(groups) <= set(pat.groupindex):
        raise ValueError(f"{where}: needs named group(s) {groups}: {src!r}")
    return pat


@dataclass(frozen=True, eq=False)
class VerdictSpec:
    """The ``verdict:`` section of a template header, compiled. See ``docs/templates.md``."""

    kind: str
    format: str | dict[str, str]
    patterns: tuple[re.Pattern[str], ...]
    scale: tuple[float, float] | None = None
    integer: bool = True
    allows_tie: bool = False
    choices: dict[str, str] = field(default_factory=dict)  # normalised token -> winner
    tokens: dict[str, str] = field(default_factory=dict)  # winner -> token as rendered
    position: str = "last"
    rationale_pattern: re.Pattern[str] | None = None

    KEYS = ("kind", "scale", "integer", "allows_tie", "format", "patterns", "choices", "position",
            "rationale_pattern")

    @property
    def task(self) -> str:
        return "pointwise" if self.kind == "score" else "pairwise"

    @classmethod
    def from_header(cls, data: Any) -> VerdictSpec:
        """Validate and compile a header's ``verdict`` mapping; raises ValueError naming the key."""
        if not isinstance(data, dict):
            raise ValueError("verdict: must be a mapping")
        unknown = sorted(set(data) - set(cls.KEYS))
        if unknown:
            raise ValueError(f"verdict: unknown key(s) {unknown}; known: {list(cls.KEYS)}")
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"verdict.kind: must be one of {list(KINDS)}, got {kind!r}")
        scale = None
        if kind in ("score", "two_scores"):
            raw = data.get("scale")
            if not (isinstance(raw, (list, tuple)) and len(raw) == 2):
                raise ValueError("verdict.scale: must be [min, max]")
            lo, hi = (finite_number(x, "verdict.scale") for x in raw)
            if not lo < hi:
                raise ValueError(f"verdict.scale: min must be below max, got {raw}")
            scale = (lo, hi)
        integer = data.get("integer", True)
        if not isinstance(integer, bool):
            raise ValueError("verdict.integer: must be true or false")
        position = data.get("position", "last")
        if position not in ("last", "first"):
            raise ValueError(f"verdict.position: must be 'last' or 'first', got {position!r}")
        choices: dict[str, str] = {}
        tokens: dict[str, str] = {}
        if kind == "choice":
            raw_choices = data.get("choices")
            if not isinstance(raw_choices, dict) or not raw_choices:
                raise ValueError("verdict.choices: a choice verdict needs a mapping of tokens to A / B / tie")
            for tok, win in raw_choices.items():
                if win not in WINNERS:
                    raise ValueError(f"verdict.choices: {tok!r} maps to {win!r}; must be one of {list(WINNERS)}")
                key = _norm_token(str(tok))
                if key in choices and choices[key] != win:
                    raise ValueError(f"verdict.choices: token {tok!r} maps to two winners")
                choices[key] = win
                tokens.setdefault(win, str(tok))
            for w in ("A", "B"):
                if w not in tokens:
                    raise ValueError(f"verdict.choices: no token maps to {w!r}")
        default_tie = "tie" in tokens if kind == "choice" else kind == "two_scores"
        allows_tie = data.get("allows_tie", default_tie)
        if not isinstance(allows_tie, bool):
            raise ValueError("verdict.allows_tie: must be true or false")
        if kind == "score":
            allows_tie = False
        if kind == "choice" and allows_tie and "tie" not in tokens:
            raise ValueError("verdict.allows_tie: is true but no choice token maps to 'tie'")
        fmt = data.get("format")
        needed = {"score": ["{score}"], "two_scores": ["{score_a}", "{score_b}"]}.get(kind, [])
        if isinstance(fmt, dict) and kind == "choice":
            wanted = ["A", "B", "tie"] if allows_tie else ["A", "B"]
            missing = [w for w in wanted if not isinstance(fmt.get(w), str)]
            if missing:
                raise ValueError(f"verdict.format: a per-winner format needs a string for {missing}")
        elif isinstance(fmt, str):
            if kind == "choice":
                needed = [] if ("{token}" in fmt or "{winner}" in fmt) else ["{token}"]
            missing = [n for n in needed if n not in fmt]
            if missing:
                raise ValueError(f"verdict.format: {fmt!r} lacks {missing}")
        else:
            raise ValueError("verdict.format: must be a string (or, for choice, a mapping A / B / tie -> string)")
        raw_pats = data.get("patterns")
        raw_pats = [raw_pats] if isinstance(raw_pats, str) else raw_pats
        if not isinstance(raw_pats, list) or not raw_pats:
            raise ValueError("verdict.patterns: must be a regex or a list of regexes")
        groups = {"score": ["score"], "choice": ["choice"], "two_scores": ["score_a", "score_b"]}[kind]
        patterns = [_compile(p, f"verdict.patterns[{i}]", groups, re.I | re.M, macros=True)
                    for i, p in enumerate(raw_pats)]
        rp = data.get("rationale_pattern")
        rationale_pattern = None if rp is None else _compile(rp, "verdict.rationale_pattern", ["rationale"],
                                                             re.I | re.S)
        return cls(kind=kind, format=fmt, patterns=tuple(patterns), scale=scale, integer=integer,
                   allows_tie=allows_tie, choices=choices, tokens=tokens, position=position,
                   rationale_pattern=rationale_pattern)

    # ---- checking and rendering ------------------------------------------------------------

    def _check_score(self, s: float, what: str = "score") -> str | None:
        assert self.scale is not None
        lo, hi = self.scale
        if self.integer and not s.is_integer():
            return f"{what} {fmt_number(s)} is not an integer (this template's scores are integers)"
        if not lo <= s <= hi:
            return f"{what} {fmt_number(s)} is outside the scale {fmt_number(lo)}–{fmt_number(hi)}"
        return None

    def problem(self, verdict: Verdict) -> str | None:
        """Why ``verdict`` is invalid for this spec, or None."""
        expected = {"score": "a score", "choice": "a preference (winner)", "two_scores": "two scores"}
        if verdict.kind != self.kind:
            return f"this template expects {expected[self.kind]}, got {expected[verdict.kind]}"
        if self.kind == "score":
            return self._check_score(verdict.score)  # type: ignore[arg-type]
        if self.kind == "two_scores":
            for what, s in zip(("first score", "second score"), verdict.scores, strict=True):  # type: ignore[arg-type]
                err = self._check_score(s, what)
                if err:
                    return err
        if verdict.winner == "tie" and not self.allows_tie:
            return "this template does not allow ties"
        return None

    def check(self, verdict: Verdict) -> None:
        """Raise ValueError when ``verdict`` is not valid for this spec."""
        err = self.problem(verdict)
        if err:
            raise ValueError(err)

    def pieces(self, verdict: Verdict) -> dict[str, Any]:
        """The values a target block may use: score, winner, token, score_a, score_b (as text)."""
        out: dict[str, Any] = {"score": None, "winner": verdict.winner, "token": None,
                               "score_a": None, "score_b": None}
        if verdict.score is not None:
            out["score"] = fmt_number(verdict.score)
        if verdict.scores is not None:
            out["score_a"], out["score_b"] = (fmt_number(s) for s in verdict.scores)
        if self.kind == "choice" and verdict.winner is not None:
            out["token"] = self.tokens.get(verdict.winner)
        return out

    def render(self, verdict: Verdict) -> str:
        """The verdict written in this spec's format (checked first)."""
        self.check(verdict)
        values = self.pieces(verdict)
        fmt = self.format[verdict.winner] if isinstance(self.format, dict) else self.format  # type: ignore[index]
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), fmt)

    def examples(self) -> list[Verdict]:
        """A few valid verdicts covering the spec's range (used for self-checks and demos)."""
        if self.kind == "choice":
            return [Verdict(winner=w) for w in ("A", "B", "tie") if w != "tie" or self.allows_tie]
        assert self.scale is not None
        lo, hi = self.scale
        mid = (lo + hi) / 2
        if self.integer:
            mid = float(math.floor(mid))
        if self.kind == "score":
            return [Verdict(score=s) for s in dict.fromkeys((hi, lo, mid))]
        out = [Verdict(scores=(hi, lo)), Verdict(scores=(lo, mid)), Verdict(scores=(mid, hi))]
        if self.allows_tie:
            out.append(Verdict(scores=(mid, mid)))
        return out

    # ---- parsing ---------------------------------------------------------------------------

    def parse(self, text: str | None) -> ParseResult:
        """Read the concluding verdict (the end of the text, or its start for ``position: first``) and
        the rationale; see :mod:`critic.judging.verdict_parser`."""
        return verdict_parser.parse(self, text)


__all__ = ["KINDS", "MACROS", "NUM", "OUTOF", "WINNERS", "ParseResult", "Verdict", "VerdictSpec", "fmt_number",
           "winner_from_scores"]
