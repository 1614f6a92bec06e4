"""Typed requests and responses of the server's routes.

Items are critic's own records (:mod:`critic.records`); images in a request are data URLs, or paths
read only under the server's ``--image-root``. Options a request leaves out take the server's
defaults.

>>> ScoreRequest.model_validate({"items": [{"id": "q", "question": "?", "response": "r"}]}).template is None
True
>>> RewardRequest.model_validate({"query": ["a", "b"], "labels": ["x"]})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for RewardRequest
  Value error, labels has 1 entries but query has 2 [...]
    ...
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from critic.records import CandidateSet, PairwiseItem, PairwiseJudgment, PointwiseItem, PointwiseJudgment

Swap = Literal["none", "random", "both"]
Rule = Literal["tie", "prefer_original", "count_both"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "pairwise" if value.get("task") == "pairwise" or "response_a" in value else "pointwise"
    return getattr(value, "task", "pointwise")


#: A pointwise or a pairwise item, told apart by its keys (``response_a``) before it is validated: an item is
#: validated as its own kind only (tried as the other, a pair's keys were warned about as unknown pointwise keys).
AnyItem = Annotated[
    Annotated[PointwiseItem, Tag("pointwise")] | Annotated[PairwiseItem, Tag("pairwise")],
    Discriminator(_item_kind),
]


class ScoreRequest(_Body):
    """``POST /v1/score``: pointwise items, one judgment each, in order."""

    items: list[PointwiseItem] = Field(min_length=1)
    template: str | None = None


class CompareRequest(_Body):
    """``POST /v1/compare``: pairwise items, one comparison each, in order."""

    items: list[PairwiseItem] = Field(min_length=1)
    swap: Swap | None = None
    rule: Rule = "tie"
    template: str | None = None


class RankRequest(_Body):
    """``POST /v1/rank``: candidate sets, one ranked set each, in order."""

    sets: list[CandidateSet] = Field(min_length=1)
    mode: Literal["pairwise", "pointwise"] = "pairwise"
    aggregation: Literal["llava_ov", "win_count", "bradley_terry"] = "llava_ov"
    template: str | None = None


class JudgeRequest(_Body):
    """``POST /v1/judge``: the judgments of mixed items (both tasks) with a swap policy, one list per item.

    What :meth:`critic.serving.client.RemoteCritic.judge_stream` calls, so ranking and the judge-to-file
    loop run on the client against the server's judge.
    """

    items: list[AnyItem] = Field(min_length=1)
    swap: Swap | None = None
    template: str | None = None


class RewardRequest(BaseModel):
    """``POST /get_reward``: OpenRLHF's remote reward model request (unknown keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    query: list[str] = Field(min_length=1)
    prompts: list[str] | None = None
    labels: list[Any] | None = None
    images: list[list[str]] | None = None

    @model_validator(mode="after")
    def _lengths(self) -> RewardRequest:
        for name in ("prompts", "labels", "images"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.query):
                raise ValueError(f"{name} has {len(value)} entries but query has {len(self.query)}")
        return self


class RewardResponse(BaseModel):
    """One reward per query, in order; ``scores`` repeats them (OpenRLHF reads either)."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[Any]]


class ScoreResponse(BaseModel):
    judgments: list[PointwiseJudgment]


class JudgeResponse(BaseModel):
    judgments: list[list[PointwiseJudgment | PairwiseJudgment]]


class ErrorBody(BaseModel):
    """Every error the server sends: ``{"error": {"status": 400, "message": "..."}}``."""

    status: int
    message: str
