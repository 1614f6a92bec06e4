"""The pairs recipe (``critic pairs build RECIPE.yaml``): sources, each with its method, the policy, sampling.

Typed sections that refuse unknown keys; problems are reported as ``file: key: problem`` (syntax
errors ``file:line``). Relative paths are relative to the directory the command runs in. See
``data_recipes/toy_mmpr.yaml`` and ``docs/preferences.md``.

>>> r = load_pairs_recipe_dict({"policy": {"checkpoint": "runs/tiny_policy"},
...     "sources": [{"name": "mc", "path": "q.jsonl", "method": "correctness", "extractor": {"kind": "choice"}}]})
>>> r.sampling.n, r.sampling.top_k, r.sources[0].num_pairs_per_key, r.sources[0].extractor.kind
(32, 50, 15, 'choice')
>>> load_pairs_recipe_dict({"sources": [{"name": "x", "path": "p", "method": "dropout"}]}, source="r.yaml")
Traceback (most recent call last):
...
critic.pairs.recipe.PairsRecipeError: r.yaml: sources.0.method: Input should be 'correctness', 'dropout_ntp' or 'critic' (got 'dropout')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from critic.judging.spec import JudgeSpec
from critic.pairs.extract import ExtractorSpec
from critic.typed_config import Schema, Section, TypedConfigError, dotted_keys

Method = Literal["correctness", "dropout_ntp", "critic"]


class PairsRecipeError(TypedConfigError):
    """A recipe that cannot be used; the message names the file and the key."""


class PolicySpec(Section):
    """The policy that answers: a local ``checkpoint`` or a server (``base_url`` + ``model``)."""

    checkpoint: str | None = None
    base_url: list[str] | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(32, ge=1)
    batch_size: int = Field(32, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str | None = None
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _one_policy(self) -> PolicySpec:
        if (self.checkpoint is None) == (self.base_url is None):
            raise ValueError("give either checkpoint (a local policy) or base_url + model (a server)")
        if self.base_url is not None and not self.model:
            raise ValueError("a server policy needs model (the served model's name)")
        return self


class SamplingSpec(Section):
    """MMPR's sampling: N = 32 answers per question at temperature 0.7, top-k 50, top-p 1.0."""

    n: int = Field(32, ge=1)
    temperature: float = Field(0.7, gt=0)
    top_k: int = Field(50, ge=1)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1)


class SourceSpec(Section):
    """One prompts file and how its pairs are made."""

    name: str = Field(min_length=1)
    path: str
    method: Method
    max_prompts: int | None = Field(None, ge=1)
    proportion: float | None = Field(None, gt=0, description="this source's share of the mixed pairs file")
    instruction: str | None = Field(None, description="appended to each question (ask for a parseable final answer)")
    # correctness
    answer_field: str = "answer"
    extractor: ExtractorSpec = Field(default_factory=ExtractorSpec)
    num_pairs_per_key: int = Field(15, ge=1)
    format_pairs: bool = True
    # dropout_ntp
    start_ratio: float = Field(0.5, gt=0, lt=1)
    # critic
    k: int = Field(5, ge=2, description="critic: answers per question ranked in the tournament")


class PairCriticSection(Section, JudgeSpec):
    """The judge of ``critic`` sources (any :class:`~critic.judging.spec.JudgeSpec`) and its ranking."""

    mode: Literal["pairwise", "pointwise"] = "pairwise"
    aggregation: Literal["llava_ov", "win_count", "bradley_terry"] = "llava_ov"


class PairsRecipe(Section):
    name: str = "pairs"
    seed: int = 0
    policy: PolicySpec | None = None
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    critic: PairCriticSection | None = None
    max_pairs: int | None = Field(None, ge=1, description="cap on the mixed pairs file (proportions kept)")
    sources: list[SourceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> PairsRecipe:
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"source names must be unique: {', '.join(dup)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


_SCHEMA = Schema(PairsRecipe, dotted_keys(PairsRecipe), PairsRecipeError, whole_path_suggestions=False,
                 ambiguous="ambiguous: {keys}", yaml_problem=False)


def load_pairs_recipe_dict(data: dict[str, Any], overrides: Sequence[str] = (), *, source: str = "recipe") -> PairsRecipe:
    return _SCHEMA.load_dict(data, overrides, source=source)


def load_pairs_recipe(path: str | Path, overrides: Sequence[str] = ()) -> PairsRecipe:
    """Read a recipe YAML and apply ``--key value`` overrides; errors name the file and the key."""
    return _SCHEMA.load(path, overrides)
