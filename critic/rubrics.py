"""Rubrics: the criteria and score descriptions a judge grades by (prometheus-style), per item or per run.

An item's ``rubric`` (:mod:`critic.records`) is text; a prometheus-style dict (``criteria`` and
``score1_description`` ... ``score5_description``, Prometheus's feedback-collection layout) is
written as the text the shipped templates show. ``--rubric FILE`` (``critic judge``, ``eval-bench``, ``data build``)
reads one from a text, JSON or YAML file and gives it to every item without one. A template that
takes a rubric says so (``Template.takes_rubric``: a ``rubric`` default in its header, or the
variable in its text); the rubric then is part of the prompt, hence of the cache key, and is
written in the judgment.

>>> print(rubric_text({"criteria": "Is it grounded?", "score1_description": "No.", "score2_description": "Yes."}))
[Is it grounded?]
Score 1: No.
Score 2: Yes.
>>> rubric_text("  Be strict.  ")
'Be strict.'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_SCORE_KEY = re.compile(r"^score(\d+)_description$")


def rubric_text(value: Any) -> str | None:
    """A rubric as the text a prompt shows (None stays None; a dict is prometheus-style)."""
    if value is None:
        return None
    if isinstance(value, dict):
        scores = sorted((int(m.group(1)), str(v)) for k, v in value.items() if (m := _SCORE_KEY.match(str(k))))
        unknown = sorted(str(k) for k in value if k != "criteria" and not _SCORE_KEY.match(str(k)))
        if unknown or "criteria" not in value:
            raise ValueError(f"a rubric dict has `criteria` and `scoreN_description` keys; got {sorted(map(str, value))}")
        lines = [f"[{value['criteria']}]", *(f"Score {n}: {text}" for n, text in scores)]
        return "\n".join(lines)
    if isinstance(value, str):
        return value.strip() or None
    raise ValueError(f"a rubric is text or a dict of criteria and score descriptions, not {type(value).__name__}")


def read_rubric_file(path: str | Path) -> str:
    """The rubric in ``path``: JSON or YAML (a prometheus-style dict, or a text) by extension, else plain text."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        value: Any = json.loads(text)
    elif p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        value = yaml.safe_load(text)
    else:
        value = text
    out = rubric_text(value)
    if out is None:
        raise ValueError(f"{p}: the rubric is empty")
    return out


__all__ = ["read_rubric_file", "rubric_text"]
