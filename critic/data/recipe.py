"""Data recipes: the YAML that says how a critic dataset is built (``critic data build``).

A recipe names its sources (each with a target mode), the template mix, the teacher, the
augmentation, the splits and the seed. It is parsed into pydantic models that reject unknown keys;
every problem is reported as ``recipe.yaml:LINE: key.path: what is wrong``. The keys are documented
in ``docs/data.md``; ``data_recipes/toy.yaml`` is a complete example.

>>> r = Recipe.model_validate({"name": "t", "templates": {"llava_critic_pointwise": 1},
...                            "sources": [{"kind": "toy", "task": "pointwise", "n": 4}]})
>>> r.sources[0].target, r.source_name(0), r.splits
('teacher_judge', 'toy_pointwise', {'train': 1.0})
>>> Recipe.model_validate({"name": "t", "templates": {}, "sources": [], "seeed": 1})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Recipe
seeed
  Extra inputs are not permitted [...]
    ...
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from critic.judging.spec import JudgeSpec, SamplingOptions, ServerOptions
from critic.rows import current_names
from critic.rubrics import read_rubric_file, rubric_text

TargetMode = Literal["teacher_judge", "teacher_explain", "gold"]
TEACHER_MODES = ("teacher_judge", "teacher_explain")

#: Appended to the template's prompt in ``teacher_explain`` mode; ``{verdict}`` is the known verdict
#: written in the template's own format. The oracle teacher keys on the last sentence's phrase.
DEFAULT_EXPLAIN_INSTRUCTION = (
    "The correct verdict for this task is already known. Write the evaluation a careful judge would "
    "write to reach it, citing specific details of the image(s) and of the response(s); then give this "
    "verdict in the format asked for above:\n{verdict}"
)


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: A one-line entry of ``rubrics`` ending so is a file (relative to the recipe), never inline text.
RUBRIC_FILE_SUFFIXES = (".txt", ".md", ".json", ".yaml", ".yml")


def _recipe_dir(info: ValidationInfo) -> Path:
    recipe = (info.context or {}).get("recipe")
    return Path(recipe).resolve().parent if recipe else Path.cwd()


def _rubric_path(value: str, info: ValidationInfo) -> Path | None:
    """The file a ``rubrics`` entry names, or None when the entry is inline text."""
    v = value.strip()
    if "\n" in v or not v:
        return None
    p = Path(os.path.expandvars(os.path.expanduser(v)))
    p = p if p.is_absolute() else _recipe_dir(info) / p
    if p.suffix.lower() in RUBRIC_FILE_SUFFIXES or p.is_file():
        return p
    return None


def _rubric_entry(value: str | dict[str, Any], info: ValidationInfo) -> str:
    """One ``rubrics`` entry as text: a file (text / JSON / YAML), inline text or a prometheus-style dict."""
    if isinstance(value, str) and (p := _rubric_path(value, info)) is not None:
        try:
            return read_rubric_file(p)
        except OSError as exc:
            raise ValueError(f"cannot read the rubric file {p} ({exc.strerror or exc})") from None
        except (ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"rubric file {p}: {exc}") from None
    text = rubric_text(value)
    if text is None:
        raise ValueError("a rubric is empty")
    return text


def _rubric_list_file(value: Any, info: ValidationInfo) -> Any:
    """``rubrics: FILE``: the file's list (JSON / YAML) of rubrics, or its one rubric; a list stays as it is."""
    if not isinstance(value, str):
        return value
    p = Path(os.path.expandvars(os.path.expanduser(value.strip())))
    p = p if p.is_absolute() else _recipe_dir(info) / p
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the rubrics file {p} ({exc.strerror or exc})") from None
    if p.suffix.lower() not in (".json", ".yaml", ".yml"):
        return [text]
    import json

    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"rubrics file {p}: not valid {p.suffix[1:].upper()}: {exc}") from None
    items = data if isinstance(data, list) else [data]
    try:  # the file's entries are rubrics (text or dicts), not paths: resolve them here
        out = [rubric_text(x) for x in items]
    except ValueError as exc:
        raise ValueError(f"rubrics file {p}: {exc}") from None
    if not out or any(x is None for x in out):
        raise ValueError(f"rubrics file {p}: give a list of non-empty rubrics")
    return [{_RESOLVED: x} for x in out]


_RESOLVED = "\0text"  # marks a rubric already read from a rubrics file (never taken for a path)


def _entry(value: Any, info: ValidationInfo) -> str:
    if isinstance(value, dict) and set(value) == {_RESOLVED}:
        return str(value[_RESOLVED])
    return _rubric_entry(value, info)


RubricEntry = Annotated[str | dict[str, Any], AfterValidator(_entry)]
Rubrics = Annotated[list[RubricEntry] | None, BeforeValidator(_rubric_list_file),
                    Field(None, min_length=1, description="rubrics drawn per item for items without one")]


class _SourceBase(_Cfg):
    name: str | None = Field(None, description="names the source in sample ids and stats (default: kind[_task])")
    target: TargetMode = "teacher_judge"
    templates: dict[str, float] | None = Field(None, description="this source's template mix (default: the recipe's)")
    limit: int | None = Field(None, ge=1, description="use only the first N items")
    gold_scale: tuple[float, float] | None = Field(
        None, description="scale of the items' gold scores (default: the template's own scale)")
    rubrics: Rubrics = None


class JsonlSource(_SourceBase):
    """Items in critic's JSONL record format (pointwise and pairwise; candidate sets are skipped)."""

    kind: Literal["jsonl"]
    path: str


class ToySource(_SourceBase):
    """Toy-world items generated on the fly (images in memory, written into the dataset)."""

    kind: Literal["toy"]
    task: Literal["pointwise", "pairwise"]
    n: int = Field(ge=1)
    seed: int = 0
    kinds: list[str] | None = None
    one_claim: bool = False
    image_size: int = Field(32, ge=8)
    off_topic_rate: float | None = Field(None, ge=0, lt=1)  # None: the task's default (pointwise 0.08, pairwise 0.03)
    tie_rate: float | None = Field(None, ge=0, lt=1)  # share of pairs that are ties; None: the default 0.2
    two_object_rate: float | None = Field(None, ge=0, le=1)  # colour questions on two-object scenes; None: half


class _ColumnMapped(_SourceBase):
    """A source whose rows are mapped by ``columns`` and ``label_map`` (the vocabulary of :mod:`critic.rows`).

    ``labels``, the old name of ``label_map``, still works, with a warning naming the recipe file;
    ``label_map`` keys are text (a YAML ``1:`` is the label ``"1"``), as in benchmark definitions.
    """

    @model_validator(mode="before")
    @classmethod
    def _current_names(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        recipe = (info.context or {}).get("recipe", "recipe")
        data = current_names(data, f"{recipe}: source {data.get('name') or data.get('kind')}")
        if isinstance(data.get("label_map"), dict):
            data["label_map"] = {str(k): v for k, v in data["label_map"].items()}
        return data


class HFDiskSource(_ColumnMapped):
    """A ``datasets`` dataset saved with ``save_to_disk``; ``columns`` maps item fields to column names."""

    kind: Literal["hf_disk"]
    path: str
    split: str | None = None
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    label_map: dict[str, Literal["A", "B", "tie"]] | None = None
    image_folder: str | None = None


def _llava_parse_templates() -> dict[Literal["pointwise", "pairwise"], str]:
    return {"pointwise": "llava_critic_pointwise", "pairwise": "llava_critic_pairwise"}


def _default_label_map() -> dict[str, Literal["A", "B", "tie"]]:
    return {"A": "A", "B": "B", "tie": "tie", "1": "A", "2": "B", "0": "tie"}


class LlavaSource(_SourceBase):
    """LLaVA conversation JSON / JSONL (``id``, ``image``, ``conversations``), e.g. LLaVA-Critic-113k.

    The human turn is read back into question / response(s) (:mod:`critic.data.sources.prompt_fields`);
    the gpt turn is parsed with ``parse_templates`` (per task) into rationale + verdict.
    """

    kind: Literal["llava"]
    path: str
    image_folder: str | None = None
    parse_templates: dict[Literal["pointwise", "pairwise"], str] = Field(default_factory=_llava_parse_templates)


class PairwiseFileSource(_ColumnMapped):
    """Pairwise preferences in JSON / JSONL / CSV with columns mapped by ``columns``.

    ``columns`` maps item fields (``id``, ``question``, ``response_a``, ``response_b``, ``label``,
    ``images``, ``reference``) to column names; a list of names is joined (question) or voted
    (label, majority). ``label_map`` maps column values (as text) to A / B / tie.
    """

    kind: Literal["pairwise_file"]
    path: str
    columns: dict[str, str | list[str]]
    label_map: dict[str, Literal["A", "B", "tie"]] = Field(default_factory=_default_label_map)
    fixed_label: Literal["A", "B", "tie"] | None = Field(
        None, description="every row's label (chosen / rejected files: A) when there is no label column")
    image_folder: str | None = None


class PandaLMSource(_SourceBase):
    """PandaLM's test set, read by ``critic.evaluation.benchmarks.pandalm`` (majority of three annotators)."""

    kind: Literal["pandalm"]
    path: str


class VLRewardBenchSource(_SourceBase):
    """VL-RewardBench ``data.jsonl``, read by ``critic.evaluation.benchmarks.vl_rewardbench``."""

    kind: Literal["vlrewardbench"]
    path: str
    image_folder: str | None = None


class BenchmarkSource(_SourceBase):
    """Any judge-benchmark file a :mod:`critic.evaluation.benchmarks` loader reads (``loader`` names the module)."""

    kind: Literal["benchmark"]
    loader: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    path: str
    image_folder: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


Source = Annotated[
    JsonlSource | ToySource | HFDiskSource | LlavaSource | PairwiseFileSource | PandaLMSource | VLRewardBenchSource
    | BenchmarkSource,
    Field(discriminator="kind"),
]


class TeacherConfig(ServerOptions, SamplingOptions):
    """The teacher endpoint: any OpenAI-compatible server. API keys come from ``api_key_env`` only.

    The endpoint and sampling keys are a judge's (:mod:`critic.judging.spec`: ``base_url``,
    ``api_key_env``, ``concurrency``, ``timeout``, ``max_retries``, ``rpm``, ``image_detail``,
    ``price_per_mtok``, ``max_new_tokens``, ``temperature``, ``top_p``); the rest is the build's.
    """

    model: str = "gpt-4o"
    base_url: str | list[str] | None = None  # type: ignore[assignment]  # a recipe may give one URL as text
    max_new_tokens: int = Field(1024, ge=1)
    tpm: int | None = Field(None, ge=1, description="tokens per minute (paced as rpm from the token estimate)")
    est_output_tokens: int = Field(300, ge=1, description="output tokens per call, for --dry-run and tpm")
    window: int | None = Field(None, ge=1, description="requests prepared at once (default max(512, 32*concurrency))")
    cache: str | None = Field(None, description="SQLite cache (default $CRITIC_CACHE_DIR/teacher.sqlite)")

    @property
    def base_urls(self) -> list[str] | None:
        return [self.base_url] if isinstance(self.base_url, str) else self.base_url

    @property
    def window_size(self) -> int:
        return self.window or max(512, 32 * self.concurrency)

    def judge_spec(self) -> JudgeSpec:
        """The teacher as a judge: its model on the OpenAI backend; the cache is the build's business."""
        shared = {name: getattr(self, name) for name in (*ServerOptions.model_fields, *SamplingOptions.model_fields)}
        return JudgeSpec(**{**shared, "backend": "openai", "model": self.model, "base_url": self.base_urls,
                            "no_cache": True})


class AugmentConfig(_Cfg):
    """Augmentation rates. A swapped sample shows B first; its verdict and rationale are rewritten."""

    swap_rate: float = Field(0.0, ge=0, le=1)
    swap_mode: Literal["replace", "add"] = "replace"
    reference_drop_rate: float = Field(0.0, ge=0, le=1)


class Recipe(_Cfg):
    """A whole recipe (see ``docs/data.md``)."""

    name: str
    description: str = ""
    seed: int = 0
    sources: list[Source]
    templates: dict[str, float] = Field(description="template mix: name -> weight")
    templates_per_item: int = Field(1, ge=1)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    explain_instruction: str = DEFAULT_EXPLAIN_INSTRUCTION
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    splits: dict[str, float] = Field(default_factory=lambda: {"train": 1.0})
    split_key: Literal["question_id", "id", "image"] = "question_id"
    layout: Literal["critic", "pairs"] = Field(  # pairs: critic.data.pairs (checked there, file:line)
        "critic", description="critic: judge training samples; pairs: preference pairs for reward models")
    rubrics: Rubrics = None

    @field_validator("templates")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(f"weights must be finite and >= 0: {bad}")
        return v

    @field_validator("splits")
    @classmethod
    def _splits(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(not (w > 0) for w in v.values()):
            raise ValueError("splits: give at least one split, each with a fraction > 0")
        bad = [k for k in v if not k.replace("_", "").replace("-", "").isalnum()]
        if bad:
            raise ValueError(f"split names are file names: letters, digits, - and _ only, got {bad}")
        return v

    @field_validator("explain_instruction")
    @classmethod
    def _instruction(cls, v: str) -> str:
        if "{verdict}" not in v:
            raise ValueError("must contain {verdict} (where the known verdict is written)")
        return v

    @model_validator(mode="after")
    def _names(self) -> Recipe:
        names = [self.source_name(i) for i in range(len(self.sources))]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"two sources share the name(s) {dup}; give them distinct `name:`s")
        return self

    def source_name(self, i: int) -> str:
        s = self.sources[i]
        if s.name:
            return s.name
        return f"{s.kind}_{s.task}" if isinstance(s, ToySource) else s.kind

    @property
    def uses_teacher(self) -> bool:
        return any(s.target in TEACHER_MODES for s in self.sources)


class RecipeError(ValueError):
    """A recipe that cannot be read; the message names the file, line and key."""


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (a pydantic error location), as deep as it goes."""
    line = None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    nxt, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
            line = nxt.start_mark.line + 1  # a list entry: its own line
        node = nxt
    if node is not None and line is None:
        line = node.start_mark.line + 1
    return line


def line_of(path: str | Path, loc: tuple[Any, ...]) -> int | None:
    """The line of key path ``loc`` in the YAML file (None when it cannot be found)."""
    try:
        return _line_of(yaml.compose(Path(path).read_text(encoding="utf-8")), loc)
    except (OSError, yaml.YAMLError):
        return None


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; raises :class:`RecipeError` naming ``file:line: key: problem``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RecipeError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping")
    if "policy" in data and "templates" not in data:
        raise RecipeError(f"{path}: this is a preference-pairs recipe (it names a policy): run it with "
                          f"`critic pairs build {path} --out DIR`, not `critic data build`")
    try:
        return Recipe.model_validate(data, context={"recipe": str(path)})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _KIND_TAGS))
            where_line = _line_of(root, loc)
            key = ".".join(str(p) for p in loc) or "(recipe)"
            problem = err["msg"]
            if err["type"] == "extra_forbidden":
                problem = f"unknown key {str(loc[-1])!r}"
            lines.append(f"{path}{f':{where_line}' if where_line else ''}: {key}: {problem}")
        raise RecipeError("\n".join(lines)) from None


_KIND_TAGS = {"jsonl", "toy", "hf_disk", "llava", "pairwise_file", "pandalm", "vlrewardbench", "benchmark"}


def resolve_path(recipe_path: str | Path, value: str) -> Path:
    """A path from a recipe: ``~`` and ``$VARS`` expanded, relative ones taken from the recipe's folder."""
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    return p if p.is_absolute() else (Path(recipe_path).resolve().parent / p)
