"""Typed records exchanged between every part of critic.

Items (what is judged), judgments (what a judge wrote) and training samples are pydantic models,
written as JSONL one record a line (see :mod:`critic.jsonl` for reading and writing).

``images`` hold paths. In a JSONL file they are relative to the file's folder or absolute; the
reader resolves them to absolute paths (:func:`critic.jsonl.read_records`), the writer can write
them back relative to the output folder.

>>> item = PairwiseItem(id="q1", question="Which colour?", response_a="red", response_b="blue", label="A")
>>> item.task
'pairwise'
>>> PairwiseItem(id="q1", question="?", response_a="a", response_b="b", label="C")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for PairwiseItem
label
  Input should be 'A', 'B' or 'tie' [type=literal_error, input_value='C', input_type=str]
    ...
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal["pointwise", "pairwise"]
Winner = Literal["A", "B", "tie"]
WINNERS: tuple[str, ...] = ("A", "B", "tie")


class Record(BaseModel):
    """Base of every record: unknown keys are rejected so that typos surface as errors."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict, leaving out optional fields that are unset."""
        return self.model_dump(mode="json", exclude_none=True)


class UnknownKeysWarning(UserWarning):
    """An item carried keys critic does not know; they were kept under ``meta``."""


#: While :func:`collecting_unknown_keys` runs, unknown item keys are gathered here instead of warned about.
_UNKNOWN: ContextVar[set[str] | None] = ContextVar("critic_unknown_item_keys", default=None)


@contextmanager
def collecting_unknown_keys(seen: set[str]) -> Iterator[set[str]]:
    """Inside, the unknown keys of validated items are added to ``seen`` instead of warned about.

    A reader collects a whole file's and calls :func:`warn_unknown_keys` once at its end.
    """
    token = _UNKNOWN.set(seen)
    try:
        yield seen
    finally:
        _UNKNOWN.reset(token)


def warn_unknown_keys(where: str, seen: set[str]) -> None:
    """The one warning for a file whose items carried unknown keys (none when ``seen`` is empty)."""
    if seen:
        warnings.warn(f"{where}: unknown key(s) {sorted(seen)} kept under `meta`", UnknownKeysWarning, stacklevel=3)


class _ItemBase(Record):
    """Fields every item has. Users' files are taken as they come: ``image`` (one picture or a list)
    is read as ``images``, and keys critic does not know are kept under ``meta`` with one warning.

    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     it = PointwiseItem.model_validate({"id": 1, "image": "a.png", "question": "?", "response": "r", "lang": "en"})
    >>> it.images, it.meta, str(seen[0].message)
    (['a.png'], {'lang': 'en'}, "PointwiseItem: unknown key(s) ['lang'] kept under `meta`")
    """

    id: str = Field(min_length=1)
    images: list[str] = Field(default_factory=list)
    question: str
    reference: str | None = None
    group: str | None = None
    question_id: str | None = None
    #: criteria and score descriptions to grade by (text; a prometheus-style dict is turned into text)
    rubric: str | None = None
    #: a clip (a video file or a folder of frames), sampled by ``num_frames`` / ``fps`` (:mod:`critic.video`)
    video: str | None = None
    num_frames: int | None = Field(default=None, ge=1)
    fps: float | None = Field(default=None, gt=0)
    meta: dict[str, Any] | None = None

    @field_validator("rubric", mode="before")
    @classmethod
    def _rubric_as_text(cls, v: Any) -> Any:
        from critic.rubrics import rubric_text

        return rubric_text(v) if isinstance(v, dict) else v

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_str(cls, v: Any) -> Any:
        # Benchmark files often carry integer ids; they are identifiers, not numbers.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="before")
    @classmethod
    def _users_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "image" in data and "image" not in cls.model_fields:
            if "images" in data:
                raise ValueError("give `images` or `image`, not both")
            one = data.pop("image")
            data["images"] = [] if one is None else one if isinstance(one, list) else [one]
        if data.get("task") == getattr(cls, "task", None):
            del data["task"]  # the item's own kind, written by some tools: nothing to keep
        unknown = sorted(k for k in data if k not in cls.model_fields)
        meta = data.get("meta")
        if unknown and (meta is None or isinstance(meta, dict)):
            data["meta"] = {**{k: data.pop(k) for k in unknown}, **(meta or {})}
            collect = _UNKNOWN.get()
            if collect is not None:
                collect.update(unknown)
            else:
                warnings.warn(f"{cls.__name__}: unknown key(s) {unknown} kept under `meta`", UnknownKeysWarning,
                              stacklevel=2)
        return data


class PointwiseItem(_ItemBase):
    """One response to score. ``score`` is the gold score when known."""

    task: ClassVar[Task] = "pointwise"
    response: str
    score: float | None = None
    response_model: str | None = None


class PairwiseItem(_ItemBase):
    """Two responses to compare. ``label`` is the gold preference when known."""

    task: ClassVar[Task] = "pairwise"
    response_a: str
    response_b: str
    label: Winner | None = None
    model_a: str | None = None
    model_b: str | None = None


class CandidateSet(_ItemBase):
    """K answers to one question, to be ranked (best-of-N, DPO pair labelling)."""

    task: ClassVar[str] = "candidates"
    candidates: list[str] = Field(min_length=1)
    scores: list[float] | None = None

    @model_validator(mode="after")
    def _scores_match(self) -> CandidateSet:
        if self.scores is not None and len(self.scores) != len(self.candidates):
            raise ValueError(
                f"scores has {len(self.scores)} entries but candidates has {len(self.candidates)}"
            )
        return self


Item = PointwiseItem | PairwiseItem | CandidateSet


class Usage(Record):
    """Tokens and money spent on one generation (cost in USD when the price is known)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


class _JudgmentBase(Record):
    """Shared judgment fields.

    Exactly one of three holds: the verdict is set; or ``parse_error`` says why the judge's text
    (kept in ``raw``) has no readable verdict; or ``error`` says why there is no text at all (the
    request failed after its retries, or an input image could not be read) — rerunning may help.
    """

    id: str
    rationale: str | None = None
    raw: str = ""
    parse_error: str | None = None
    error: str | None = None
    template: str
    template_hash: str
    judge: str
    #: the rubric the prompt showed (templates that take one, items that carry one)
    rubric: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)
    usage: Usage | None = None
    cached: bool = False
    # How sure the verdict is, where the judge was asked (unset, hence not written, otherwise):
    # P(verdict) for each verdict the template allows (A / B / tie, or each score as a string),
    # the expected score Σ s·P(s), and with self-consistency the K sampled verdicts and the share
    # of them that agree with the majority.
    verdict_probs: dict[str, float] | None = None
    expected_score: float | None = None
    sample_verdicts: list[Any] | None = None
    sample_agreement: float | None = None
    # Set only by `critic judge --cascade` (critic.judging.cascade): whether the item went to the strong
    # judge (which then made this judgment) and the cheap judge's confidence in it.
    cascade: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.parse_error is None and self.error is None

    def _check_exactly_one(self, verdict: object) -> None:
        n = sum(x is not None for x in (verdict, self.parse_error, self.error))
        if n != 1:
            raise ValueError("a judgment has exactly one of: a verdict, a parse_error, an error")


class PointwiseJudgment(_JudgmentBase):
    """A judge's score for one response; ``score`` is null exactly when parsing failed."""

    task: Literal["pointwise"] = "pointwise"
    score: float | None = None

    @model_validator(mode="after")
    def _verdict_or_reason(self) -> PointwiseJudgment:
        self._check_exactly_one(self.score)
        return self


class PairwiseJudgment(_JudgmentBase):
    """A judge's preference, always named in the item's original order.

    ``swapped`` says whether the judge saw response B first; ``winner`` has already been mapped
    back, so ``winner == "A"`` always means the item's ``response_a``. ``scores`` holds the two
    per-response scores for templates that grade both (LLaVA-Bench style), in original order.
    """

    task: Literal["pairwise"] = "pairwise"
    winner: Winner | None = None
    swapped: bool = False
    scores: list[float] | None = None

    @model_validator(mode="after")
    def _verdict_or_reason(self) -> PairwiseJudgment:
        self._check_exactly_one(self.winner)
        return self


Judgment = PointwiseJudgment | PairwiseJudgment


class Message(Record):
    """One chat turn in the HF messages layout: content is a list of text / image parts."""

    role: Literal["system", "user", "assistant"]
    content: list[dict[str, Any]]


class TrainingSample(Record):
    """A critic training sample: the rendered prompt (with image slots) and the target text.

    ``messages`` is what transformers / TRL read (the last message is the assistant's target);
    ``template`` and ``template_hash`` record which template produced it, so a checkpoint knows
    what it was trained to write. ``verdict`` is named in the item's original order; ``swapped``
    says the prompt showed response B first (the target text names the displayed order).
    """

    id: str
    task: Task
    images: list[str] = Field(default_factory=list)
    messages: list[Message]
    template: str
    template_hash: str
    source: str | None = None
    verdict: dict[str, Any] | None = None
    swapped: bool = False
    #: the clip a video item's sample came from (its sampled frames are the first ``images``; unset otherwise)
    video: str | None = None
    num_frames: int | None = None
    fps: float | None = None

    @property
    def prompt_messages(self) -> list[Message]:
        return self.messages[:-1]

    @property
    def completion(self) -> str:
        return "".join(p.get("text", "") for p in self.messages[-1].content if p.get("type") == "text")


def as_item(obj: Any, default_id: str | None = None, kind: type[Item] | None = None) -> Item:
    """An item record as it is; a plain dict validated as the item its keys describe (``kind`` if given).

    ``default_id`` fills a missing ``id`` (the Python API numbers items by position). The errors are
    pydantic's, as for records built by hand.

    >>> as_item({"question": "Which?", "response_a": "x", "response_b": "y"}, default_id="0").id
    '0'
    """
    if not isinstance(obj, dict):
        return obj
    if default_id is not None and "id" not in obj:
        obj = {"id": default_id, **obj}
    return (kind or item_type_for(obj)).model_validate(obj)


def item_type_for(data: dict[str, Any]) -> type[Item]:
    """Pick the item type from the keys a JSONL line carries.

    >>> item_type_for({"id": "1", "question": "?", "response": "r"}).__name__
    'PointwiseItem'
    >>> item_type_for({"id": "1", "question": "?", "candidates": ["a"]}).__name__
    'CandidateSet'
    """
    if "candidates" in data:
        return CandidateSet
    if "response_a" in data or "response_b" in data:
        return PairwiseItem
    return PointwiseItem
