"""Source ``llava``: LLaVA conversation data (``id``, ``image``, ``conversations``), e.g. LLaVA-Critic-113k.

Existing critic data is imported *through* critic's templates rather than copied verbatim, so that
what a critic is trained to write stays what a template's parser reads:

1. the human turn (``<image>`` markers removed) is read back into question, reference and
   response(s) with the generic field reader (:mod:`critic.data.sources.prompt_fields`; LLaVA-Critic's
   "Question: [...] / The LMM response: [...]" and "The first / second response: [...]" layouts and
   those of the shipped templates are known);
2. the gpt turn is parsed with ``parse_templates[task]`` into rationale + verdict: the verdict becomes
   the item's gold ``score`` (on that template's scale) or ``label``, the rationale ``meta.rationale``.

The recipe then re-renders the item with any template (``target: gold``), or asks a teacher to
explain the known verdict (``teacher_explain``). A file is a JSON array (streamed) or JSONL, read with
:func:`critic.rows.read_rows`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from critic.data.recipe import LlavaSource, resolve_path
from critic.data.sources import (
    MALFORMED,
    MISSING_FIELD,
    UNKNOWN_TEMPLATE,
    UNPARSEABLE,
    SourceEvent,
    SourceItem,
    SourceProblem,
    make_item,
)
from critic.data.sources.prompt_fields import read_prompt_fields
from critic.judging.templates import Template, TemplateError, load_template
from critic.rows import read_rows

_IMAGE_TOKEN = re.compile(r"<image>\n?")


@functools.lru_cache(maxsize=16)
def _template(name: str) -> Template:
    return load_template(name)


def _turns(conv: Any) -> tuple[str, str] | None:
    """(first human value, the gpt value after it), or None."""
    if not isinstance(conv, list):
        return None
    human = None
    for turn in conv:
        if not isinstance(turn, dict):
            return None
        who, value = turn.get("from"), turn.get("value")
        if who in ("human", "user") and human is None:
            human = value
        elif who in ("gpt", "assistant") and human is not None:
            return (human, value) if isinstance(human, str) and isinstance(value, str) else None
    return None


def convert(row: dict[str, Any], where: str, cfg: LlavaSource, folder: Path) -> SourceEvent:
    """One conversation record → an item with its gold verdict and rationale (or a problem)."""
    for key in ("conversations",):
        if key not in row:
            return SourceProblem(where, MISSING_FIELD, f"{key}: Field required")
    turns = _turns(row["conversations"])
    if turns is None:
        return SourceProblem(where, UNPARSEABLE, "conversations: needs a human turn followed by a gpt turn")
    human, gpt = turns
    fields = read_prompt_fields(_IMAGE_TOKEN.sub("", human))
    if fields.task is None or not fields.question:
        return SourceProblem(where, UNPARSEABLE, "human turn: cannot find the question and the response(s)")
    name = cfg.parse_templates.get(fields.task)  # type: ignore[call-overload]
    if name is None:
        return SourceProblem(where, UNKNOWN_TEMPLATE, f"no parse template for {fields.task} conversations")
    try:
        template = _template(name)
    except (TemplateError, FileNotFoundError, KeyError) as exc:
        return SourceProblem(where, UNKNOWN_TEMPLATE, f"parse template {name!r}: {exc}")
    parsed = template.parse(gpt)
    if not parsed.ok:
        return SourceProblem(where, UNPARSEABLE, f"gpt turn ({template.name}): {parsed.error}")
    images = row.get("image") or []
    images = [images] if isinstance(images, str) else images
    meta: dict[str, Any] = {"rationale": parsed.rationale}
    if row.get("source") is not None:
        meta["source"] = row["source"]
    data: dict[str, Any] = {"id": row.get("id", where.rsplit(":", 1)[-1]), "question": fields.question,
                            "reference": fields.reference, "images": [str(folder / p) for p in images], "meta": meta}
    v = parsed.verdict
    assert v is not None
    if fields.task == "pointwise":
        data.update(response=fields.response, score=v.score)
    else:
        data.update(response_a=fields.response_a, response_b=fields.response_b, label=v.winner)
        if v.scores is not None:
            meta["scores"] = list(v.scores)
    item = make_item(data, where)
    return item if isinstance(item, SourceProblem) else SourceItem(item, where, gold_scale=template.scale)


def read(cfg: LlavaSource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    path = resolve_path(recipe_path, cfg.path)
    folder = resolve_path(recipe_path, cfg.image_folder) if cfg.image_folder else path.parent
    for row in read_rows(path):
        if row.value is None:
            yield SourceProblem(row.where, MALFORMED, row.problem or "no row")
        else:
            yield convert(row.value, row.where, cfg, folder)
