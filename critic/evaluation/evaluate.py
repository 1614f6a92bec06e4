"""Agreement of a judge with gold labels: the Python API behind ``critic eval``.

    from critic.evaluation.evaluate import evaluate
    report = evaluate("gold.jsonl", "judgments.jsonl")      # paths, or lists of records / dicts
    report.pairwise.metrics["accuracy_with_ties"].value       # typed access
    report.to_dict()["pairwise"]["accuracy_with_ties_ci"]      # the report.json layout
    report.write("out/")                                       # report.json, report.md, plots

Gold rows are read leniently (:mod:`critic.evaluation.gold`); judgment rows are the records ``critic judge``
writes. Judgments are joined to gold by ``id``; several per id are allowed (both orders, repeated
samples). A judgment with ``error`` set (no output at all) is counted apart and used nowhere; one
whose id has no gold, or whose task differs from its gold's, is counted as unmatched.

>>> from critic.records import PairwiseJudgment
>>> j = dict(template="t", template_hash="h", judge="j")
>>> r = evaluate([{"id": "1", "label": "A"}, {"id": "2", "label": "B"}],
...              [PairwiseJudgment(id="1", winner="A", **j), PairwiseJudgment(id="2", winner="A", **j)],
...              n_resamples=20)
>>> r.pairwise.metrics["accuracy_with_ties"].value, r.pointwise is None
(0.5, True)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.evaluation.gold import Gold, read_gold
from critic.evaluation.metrics_pairwise import PairCase, PairVote, PairwiseResult, pairwise_metrics
from critic.evaluation.metrics_pointwise import PointCase, PointwiseResult, pointwise_metrics
from critic.jsonl import JsonlReader, RecordError
from critic.records import PairwiseJudgment, PointwiseJudgment

Judgment = PairwiseJudgment | PointwiseJudgment
MAX_LISTED = 20
MAX_EXAMPLES = 5
NOTES = [
    "Parse failures (the judge wrote text but no readable verdict) count as wrong in every accuracy; "
    "`parsed_only` gives the same accuracies with them left out.",
    "Correlations and MAE are over items with a parsed score only; `coverage` and `parse_failure_rate` say how "
    "many that leaves.",
    "Judgments with `error` set (no output at all) are not judgments of the item: they are counted in "
    "inputs.n_error_judgments and used nowhere.",
]


def _pick(data: dict[str, Any]) -> type[Judgment]:
    # any judge's verdicts: provenance optional, unknown keys ignored (critic.evaluation.judgment_rows)
    from critic.evaluation.judgment_rows import pick_judgment

    return pick_judgment(data)


def read_judgments(source: str | Path | Iterable[Any], *, strict: bool = False) -> tuple[list[Judgment], list[RecordError]]:
    """Judgment records from a JSONL path or from records / dicts; returns ``(judgments, problems)``."""
    out: list[Judgment] = []
    errors: list[RecordError] = []
    seen: dict[tuple[str, str, bool], int] = {}
    name = str(source) if isinstance(source, (str, Path)) else "<records>"

    def add(j: Judgment, n: int) -> None:  # a second row for the same (id, order) is a problem, not a vote
        key = (j.id, j.task, getattr(j, "swapped", False))
        if j.error is None and key in seen:
            order = " (swapped)" if key[2] else ""
            errors.append(RecordError(name, n, "id", f"duplicate judgment of {j.id!r}{order} (first at line "
                                      f"{seen[key]}; two runs wrote one file?): only the first is counted"))
        else:
            if j.error is None:
                seen[key] = n
            out.append(j)

    if isinstance(source, (str, Path)):
        reader: JsonlReader[Any] = JsonlReader(source, _pick, strict=strict, resolve_images=False)
        for j in reader:
            add(j, reader.n_lines)
        return out, reader.errors + errors
    for n, obj in enumerate(source, start=1):
        if isinstance(obj, (PairwiseJudgment, PointwiseJudgment)):
            add(obj, n)
            continue
        try:
            add(_pick(obj).model_validate(obj), n)
        except Exception as exc:  # pydantic ValidationError; reported like a bad line
            errors.append(RecordError("<records>", n, "(record)", str(exc).splitlines()[0]))
    return out, errors


@dataclass
class Report:
    """The numbers of one evaluation; :meth:`to_dict` is the ``report.json`` contract."""

    pairwise: PairwiseResult | None
    pointwise: PointwiseResult | None
    inputs: dict[str, Any]
    bootstrap: dict[str, Any]
    judges: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=lambda: list(NOTES))
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: per task: ``calibration`` and ``bias`` (:mod:`critic.evaluation.trust`), added to its section
    trust: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"critic_eval": 1, "judges": self.judges, "templates": self.templates,
                               "inputs": self.inputs, "bootstrap": self.bootstrap, "notes": self.notes}
        for name, section in (("pairwise", self.pairwise), ("pointwise", self.pointwise)):
            if section is not None:
                out[name] = section.to_dict()
                out[name]["parse_failure_examples"] = self.examples.get(name, [])
                out[name].update(self.trust.get(name, {}))
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def write(self, out_dir: str | Path, *, plots: bool = True) -> list[Path]:
        """Write ``report.json``, ``report.md`` and (unless ``plots=False``) PNG plots; returns the paths.

        The numbers are written first: a plot that cannot be drawn is a warning (and a line in
        ``report.md``), never a lost report.
        """
        from critic.evaluation.report import render_markdown

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(self.to_json() + "\n", encoding="utf-8")
        md = out / "report.md"
        md.write_text(render_markdown(self), encoding="utf-8")
        written: list[Path] = []
        if plots:
            from critic.evaluation.plots import make_plots

            try:
                written += make_plots(self, out)
            except Exception as exc:  # matplotlib raises many kinds; the plots are an extra, the numbers are not
                why = f"plots not drawn: {type(exc).__name__}: {exc}"
                warnings.warn(why, RuntimeWarning, stacklevel=2)
                md.write_text(render_markdown(self) + f"\n## Plots\n\n{why}\n", encoding="utf-8")
            else:
                md.write_text(render_markdown(self, [p.name for p in written]), encoding="utf-8")
        return [out / "report.json", md, *written]


def _example(j: Judgment) -> dict[str, Any]:
    raw = j.raw if len(j.raw) <= 300 else j.raw[:300] + "…"
    ex: dict[str, Any] = {"id": j.id, "parse_error": j.parse_error, "raw": raw}
    if isinstance(j, PairwiseJudgment):
        ex["swapped"] = j.swapped
    return ex


def evaluate(
    gold: str | Path | Iterable[Any],
    judgments: str | Path | Iterable[Any],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    judge_scale: tuple[float, float] | None = None,
    gold_scale: tuple[float, float] | None = None,
    strict: bool = False,
    judge_family: str | None = None,
) -> Report:
    """Compare judgments with gold labels; every metric with a percentile bootstrap interval.

    ``judge_scale`` and ``gold_scale`` (``(lo, hi)``) map judge scores onto the gold scale for MAE
    and the plots; correlations do not depend on them. A gold score outside ``gold_scale`` is a bad
    gold line (reported, left out). ``judge_family`` names the judge's model family for the
    self-preference figure (:mod:`critic.evaluation.bias`).
    """
    golds, gold_errors = read_gold(gold, strict=strict, scale=gold_scale)
    js, j_errors = read_judgments(judgments, strict=strict)
    by_id: dict[str, Gold] = {g.id: g for g in golds}
    pair_votes: dict[str, list[PairVote]] = {}
    point_scores: dict[str, list[float | None]] = {}
    errors: list[str] = []
    unmatched: list[str] = []
    examples: dict[str, list[dict[str, Any]]] = {"pairwise": [], "pointwise": []}
    n_errors = n_unmatched = 0
    judges: set[str] = set()
    templates: set[str] = set()
    matched: list[Judgment] = []
    for j in js:
        if j.error is not None:
            n_errors += 1
            if len(errors) < MAX_LISTED:
                errors.append(f"{j.id}: {j.error}")
            continue
        g = by_id.get(j.id)
        if g is None or g.task != j.task:
            n_unmatched += 1
            if len(unmatched) < MAX_LISTED:
                why = "no gold with this id" if g is None else f"a {j.task} judgment but the gold is {g.task}"
                unmatched.append(f"{j.id}: {why}")
            continue
        judges.add(j.judge)
        templates.add(j.template)
        matched.append(j)
        if j.parse_error is not None and len(examples[j.task]) < MAX_EXAMPLES:
            examples[j.task].append(_example(j))
        if isinstance(j, PairwiseJudgment):
            pair_votes.setdefault(j.id, []).append(PairVote(j.winner, j.swapped))
        else:
            point_scores.setdefault(j.id, []).append(j.score)
    pair_cases = [PairCase(g.id, g.label, tuple(pair_votes[g.id]), g.group, g.question_id)  # type: ignore[arg-type]
                  for g in golds if g.task == "pairwise" and g.id in pair_votes]
    point_cases = [PointCase(g.id, g.score, tuple(point_scores[g.id]), g.group, g.question_id, g.response_model)  # type: ignore[arg-type]
                   for g in golds if g.task == "pointwise" and g.id in point_scores]
    sizes: dict[tuple[str | None, str], int] = {}
    for g in golds:
        if g.task == "pointwise" and g.question_id is not None:
            sizes[(g.group, g.question_id)] = sizes.get((g.group, g.question_id), 0) + 1
    kw = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    pairwise = pairwise_metrics(pair_cases, **kw) if pair_cases else None  # type: ignore[arg-type]
    pointwise = (pointwise_metrics(point_cases, question_sizes=sizes, judge_scale=judge_scale, gold_scale=gold_scale,
                                   **kw) if point_cases else None)  # type: ignore[arg-type]
    n_gold = {t: sum(g.task == t for g in golds) for t in ("pairwise", "pointwise")}
    inputs = {
        "gold": str(gold) if isinstance(gold, (str, Path)) else "<records>",
        "judgments": str(judgments) if isinstance(judgments, (str, Path)) else "<records>",
        "n_gold": n_gold,
        "n_gold_unjudged": {"pairwise": n_gold["pairwise"] - len(pair_cases),
                            "pointwise": n_gold["pointwise"] - len(point_cases)},
        "gold_problems": [str(e) for e in gold_errors[:MAX_LISTED]],
        "n_gold_problems": len(gold_errors),
        "judgment_problems": [str(e) for e in j_errors[:MAX_LISTED]],
        "n_judgment_problems": len(j_errors),
        "n_error_judgments": n_errors,
        "error_judgments": errors,
        "n_unmatched_judgments": n_unmatched,
        "unmatched_judgments": unmatched,
    }
    bootstrap = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed, "method": "percentile",
                 "unit": "question (question_id), else item; never single judgments",
                 "strata": "group (each group keeps its size)"}
    from critic.evaluation.trust import trust_sections

    trust = trust_sections(by_id, matched, judge_family=judge_family, judge_scale=judge_scale, gold_scale=gold_scale,
                           **kw)  # type: ignore[arg-type]
    return Report(pairwise, pointwise, inputs, bootstrap, sorted(judges), sorted(templates), examples=examples,
                  trust=trust)


__all__ = ["Report", "evaluate", "read_judgments"]
