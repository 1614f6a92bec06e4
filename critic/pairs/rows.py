"""The prompts a pair source reads (with their gold answer) and the rows it writes (TRL's layout + provenance).

A prompts file is any JSONL items file: ``id``, ``question``, ``images`` (paths relative to the
file), and — for correctness pairs — a gold answer at ``answer_field`` (a dotted path: ``answer``
by default, ``meta.truth`` for toy-world items). A row is :func:`critic.dpo.pairs.dpo_row`'s layout
(so ``critic dpo`` and :func:`critic.dpo.pairs.load_pairs` read it) plus ``method``, ``source``,
``pair_type`` and ``key`` (the prompt's id: one prompt can give several rows).

>>> p = SourcePrompt.model_validate({"id": "q", "question": "Colour?", "meta": {"truth": "red"}})
>>> gold_answer(p, "meta.truth"), gold_answer(p, "answer")
('red', None)
>>> row = pair_row(p, "red", "blue", method="correctness", source="toy", pair_type="correctness", index=0)
>>> row["id"], row["key"], row["chosen"][0]["content"][0]["text"], row["margin"]
('toy:q:0', 'q', 'red', 1.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from critic.dpo.pairs import answer_messages, prompt_messages


class SourcePrompt(BaseModel):
    """One question of a pair source; other keys are kept (the gold answer may live in any of them)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    question: str
    images: list[str] = Field(default_factory=list)


def gold_answer(prompt: SourcePrompt, field: str) -> Any:
    """The value at the dotted path ``field`` of the prompt's line, or None."""
    value: Any = prompt.model_dump()
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def read_source_prompts(path: str | Path, limit: int | None = None) -> tuple[list[SourcePrompt], list[str]]:
    """The prompts of a file (first of each id) and the problems of bad lines (``file:line: field: problem``)."""
    from critic.jsonl import read_unique

    return read_unique(path, SourcePrompt, limit)


def pair_row(prompt: SourcePrompt, chosen: str, rejected: str, *, method: str, source: str, pair_type: str,
             index: int, chosen_reward: float = 1.0, rejected_reward: float = 0.0, **extra: Any) -> dict[str, Any]:
    """A TRL preference row for ``prompt`` with its provenance; ``extra`` keys are recorded as given."""
    return {
        "id": f"{source}:{prompt.id}:{index}",
        "key": prompt.id,
        "images": list(prompt.images),
        "prompt": prompt_messages(prompt.question, len(prompt.images)),
        "chosen": answer_messages(chosen),
        "rejected": answer_messages(rejected),
        "chosen_reward": float(chosen_reward),
        "rejected_reward": float(rejected_reward),
        "margin": float(chosen_reward) - float(rejected_reward),
        "method": method,
        "source": source,
        "pair_type": pair_type,
        **extra,
    }
