"""Read a rendered judge prompt back into its fields: question, reference, response(s).

Judge prompts label their fields ("Question: [...]", "[The Start of Assistant A's Answer]",
"###Response to evaluate:", "<output>" ...). The labels are data (``prompt_fields.yaml`` next to
this module), so a new layout is a new line there, not code. Two readers use this: the LLaVA
conversation converter (turning existing critic data back into items) and the oracle teacher
(which must find what it is asked to judge in whatever prompt it receives).

>>> f = read_prompt_fields("Question: [What colour is the circle?]\\nThe first response: [Red.]\\n"
...                        "The second response: [Blue.]\\nASSISTANT:")
>>> f.task, f.question, f.response_a, f.response_b
('pairwise', 'What colour is the circle?', 'Red.', 'Blue.')
>>> read_prompt_fields("###Response to evaluate:\\nIt is red.\\n\\n###Score Rubrics:").response
'It is red.'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

FIELDS = ("question", "reference", "response", "response_a", "response_b")


@dataclass(frozen=True)
class PromptFields:
    """What a judge prompt asks about; a field the prompt does not have is None."""

    question: str | None = None
    reference: str | None = None
    response: str | None = None
    response_a: str | None = None
    response_b: str | None = None

    @property
    def task(self) -> str | None:
        """``pairwise`` (two responses), ``pointwise`` (one) or None (no response found)."""
        if self.response_a is not None and self.response_b is not None:
            return "pairwise"
        return "pointwise" if self.response is not None else None


@dataclass(frozen=True)
class FieldTable:
    """Compiled label table: per field, label regexes in priority order; closing-line regexes."""

    labels: dict[str, tuple[re.Pattern[str], ...]]
    closing: re.Pattern[str]
    any_label: re.Pattern[str]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldTable:
        raw = data.get("labels") or {}
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise ValueError(f"prompt field table: unknown field(s) {unknown}; known: {list(FIELDS)}")
        labels = {f: tuple(re.compile(rf"^[ \t]*(?:{rx})", re.M) for rx in raw.get(f) or ()) for f in FIELDS}
        closing = re.compile(r"^[ \t]*(?:" + "|".join(data.get("closing") or ["(?!)"]) + ")")
        every = [rx for f in FIELDS for rx in raw.get(f) or ()]
        any_label = re.compile(r"^[ \t]*(?:" + "|".join(every or ["(?!)"]) + ")")
        return cls(labels, closing, any_label)


@functools.lru_cache(maxsize=1)
def default_table() -> FieldTable:
    """The shipped label table (``critic/data/sources/prompt_fields.yaml``)."""
    text = resources.files("critic.data.sources").joinpath("prompt_fields.yaml").read_text(encoding="utf-8")
    return FieldTable.from_dict(yaml.safe_load(text))


def _ends_value(line: str, table: FieldTable) -> bool:
    return not line.strip() or bool(table.closing.match(line)) or bool(table.any_label.match(line))


def _bracketed(text: str, start: int, table: FieldTable) -> str:
    """The text inside ``[...]`` opening at ``start``, possibly over several lines."""
    pos = start + 1
    while True:
        close = text.find("]", pos)
        if close < 0:
            break
        rest = text[close + 1:]
        line_end = rest.find("\n")
        tail, after = (rest, "") if line_end < 0 else (rest[:line_end], rest[line_end + 1:])
        if not tail.strip():
            nxt = after.split("\n", 1)[0]
            if line_end < 0 or not after.strip() or table.closing.match(nxt) or table.any_label.match(nxt):
                return text[start + 1:close].strip()
        pos = close + 1
    eol = text.find("\n", start)
    line = text[start + 1:eol if eol >= 0 else len(text)].rstrip()
    return line[:-1].strip() if line.endswith("]") else line.strip()


def _value(text: str, end: int, table: FieldTable) -> str:
    eol = text.find("\n", end)
    same_line = text[end:eol if eol >= 0 else len(text)].strip()
    if same_line.startswith("["):
        return _bracketed(text, text.index("[", end), table)
    if same_line:
        return same_line
    lines: list[str] = []
    for line in text[eol + 1:].split("\n") if eol >= 0 else []:
        if _ends_value(line, table):
            if lines or line.strip():
                break
            continue  # blank lines right after the label
        lines.append(line)
    return "\n".join(lines).strip()


def read_prompt_fields(text: str, table: FieldTable | None = None) -> PromptFields:
    """Find each field's first label in ``text`` and read its value (see ``prompt_fields.yaml``)."""
    table = table or default_table()
    found: dict[str, str] = {}
    for name in FIELDS:
        for rx in table.labels[name]:
            m = rx.search(text)
            if m:
                found[name] = _value(text, m.end(), table)  # may be "" (an empty response is still one)
                break
    return PromptFields(**found)
