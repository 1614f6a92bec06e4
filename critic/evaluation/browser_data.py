"""What the judgment browser shows: one entry per judged item, with one judge's judgments or two.

:func:`page_data` joins judgments (and optionally a second judge's), gold labels and the items
(image, question, responses) by ``id`` and computes every per-item flag the page filters on, so the
page's notion of *wrong*, *orders disagree* or *tie* is defined once, here, and tested in Python:

- **wrong** (pairwise, with gold): at least one of the item's judgments is not the gold label; a
  parse failure is wrong, as in every accuracy of the report. Each judge's ``nw`` counts them, so
  the wrong judgments summed over the items are ``n_judgments × (1 − accuracy_with_ties)``.
- **wrong** (pointwise, with gold): no parsed score, or the mean score (mapped onto the gold scale
  when both scales are known) is further than ``tolerance`` from the gold score; ``err`` is that
  distance. The tolerance is a tenth of the gold scale (or of the gold scores' range).
- **orders disagree**: judged in both orders and the verdicts are not all equal (a failed order is
  not agreement), which is what ``consistency`` counts.
- **tie**: some judgment says tie. **parse failure**: some judgment has a ``parse_error``.
- **judges disagree** (two judges): the combined verdicts differ (pairwise), or the mean scores
  differ by more than a tenth of the judge scale (pointwise).
- **confidence**: the mean top probability where judgments carry ``probabilities``, else the share
  of the item's judgments that give its most common verdict (``None`` with a single judgment).

With two judges a flag holds when it holds for either. The combined verdict of a pair uses the
``tie`` rule (:func:`critic.judging.pair_order.combine`): orders agree → that verdict, else tie.

>>> from critic.records import PairwiseJudgment
>>> m = dict(template="t", template_hash="h", judge="j")
>>> js = [PairwiseJudgment(id="1", winner="A", **m), PairwiseJudgment(id="1", winner="B", swapped=True, **m)]
>>> d = page_data(js, gold=[{"id": "1", "label": "A"}])
>>> e = d["items"][0]
>>> e["sides"][0]["v"], e["f"], e["sides"][0]["nw"]
('tie', {'wrong': 1, 'od': 1}, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from critic.evaluation.evaluate import Judgment, read_judgments
from critic.evaluation.gold import Gold, read_gold
from critic.jsonl import RecordError, read_records
from critic.judging.pair_order import combine
from critic.records import PairwiseJudgment

TOLERANCE_SHARE = 0.1
ImageRef = Callable[[str], "list[str] | None"]


class ViewItem(BaseModel):
    """What the page shows of an item; read leniently (gold files and benchmark exports qualify)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    images: list[str] = []
    question: str | None = None
    reference: str | None = None
    response: str | None = None
    response_a: str | None = None
    response_b: str | None = None
    response_model: str | None = None
    model_a: str | None = None
    model_b: str | None = None
    group: str | None = None

    @field_validator("id", "group", "response_model", "model_a", "model_b", mode="before")
    @classmethod
    def _ints_as_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _read(source: Any, reader: Callable[..., tuple[list[Any], list[RecordError]]]) -> tuple[list[Any], list[str]]:
    if source is None:
        return [], []
    got, errors = reader(source)
    return got, [str(e) for e in errors]


def _map(x: float, judge_scale: Sequence[float] | None, gold_scale: Sequence[float] | None) -> float:
    if not judge_scale or not gold_scale:
        return x
    (jl, jh), (gl, gh) = judge_scale, gold_scale
    return gl + (x - jl) * (gh - gl) / (jh - jl)


def _judgment(j: Judgment) -> dict[str, Any]:
    out: dict[str, Any] = {"t": j.template}
    if isinstance(j, PairwiseJudgment):
        out["w"], out["sw"] = j.winner, int(j.swapped)
        if j.scores is not None:
            out["sc"] = j.scores
    else:
        out["s"] = j.score
    if j.rationale:
        out["r"] = j.rationale
    if j.parse_error is not None:
        out["pe"], out["raw"] = j.parse_error, j.raw
    probs = getattr(j, "probabilities", None)  # carried by judges that report verdict probabilities
    if probs:
        out["p"] = probs
    return out


def _agreement(votes: Sequence[Any]) -> list[int] | None:
    """``[k, n]``: how many of the ``n`` votes give the most common one (parse failures never agree)."""
    if len(votes) < 2:
        return None
    counts = Counter(v for v in votes if v is not None)
    return [max(counts.values(), default=0), len(votes)]


def _confidence(js: Sequence[dict[str, Any]], votes: Sequence[Any]) -> float | None:
    probs = [max(j["p"].values()) for j in js if isinstance(j.get("p"), dict) and j["p"]]
    if probs:
        return round(sum(probs) / len(probs), 4)
    agree = _agreement(votes)
    return None if agree is None else round(agree[0] / agree[1], 4)


def _pair_side(js: list[PairwiseJudgment], label: str | None) -> dict[str, Any]:
    js = sorted(js, key=lambda j: j.swapped)  # original order first, file order kept within an order
    votes = [j.winner for j in js]
    side: dict[str, Any] = {"v": combine(votes, "tie"), "o": [_judgment(j) for j in js]}
    for name, order in (("ao", False), ("as", True)):
        agree = _agreement([j.winner for j in js if j.swapped is order])
        if agree:
            side[name] = agree
    orders = {j.swapped for j in js}
    side["od"] = len(orders) == 2 and not (None not in votes and len(set(votes)) == 1)
    side["pf"] = None in votes
    side["tie"] = "tie" in votes
    if label is not None:
        side["nw"] = sum(v != label for v in votes)
        side["wrong"] = side["nw"] > 0
        side["err"] = round(side["nw"] / len(votes), 4)
    side["conf"] = _confidence(side["o"], votes)
    return side


def _point_side(js: list[Judgment], gold: float | None, scales: dict[str, Any]) -> dict[str, Any]:
    scores = [j.score for j in js]  # type: ignore[union-attr]
    parsed = [s for s in scores if s is not None]
    mean = sum(parsed) / len(parsed) if parsed else None
    side: dict[str, Any] = {"v": None if mean is None else round(mean, 4), "o": [_judgment(j) for j in js],
                            "pf": None in scores, "od": False, "tie": False}
    if len(js) > 1:
        side["ao"] = _agreement(scores)
    if gold is not None:
        err = None if mean is None else abs(_map(mean, scales.get("judge"), scales.get("gold")) - gold)
        side["err"] = None if err is None else round(err, 4)
        side["wrong"] = err is None or err > scales["tolerance"] + 1e-9
        side["nw"] = int(side["wrong"])
    side["conf"] = _confidence(side["o"], scores)
    return side


def _range(scale: Sequence[float] | None, values: Iterable[float]) -> float:
    if scale:
        return float(scale[1] - scale[0])
    vals = list(values)
    return float(max(vals) - min(vals)) if vals else 0.0


def _disagree(task: str, a: dict[str, Any] | None, b: dict[str, Any] | None, judge_tol: float) -> bool:
    if a is None or b is None:
        return False
    if task == "pairwise" or a["v"] is None or b["v"] is None:
        return a["v"] != b["v"]
    return abs(a["v"] - b["v"]) > judge_tol + 1e-9


def _judge_names(runs: Sequence[list[Judgment]], fallback: Sequence[str]) -> list[str]:
    names = [", ".join(sorted({j.judge for j in js})) or fb for js, fb in zip(runs, fallback)]
    return names if len(set(names)) == len(names) else list(fallback)


def page_data(
    judgments: str | Path | Iterable[Any],
    *,
    gold: str | Path | Iterable[Any] | None = None,
    items: str | Path | None = None,
    compare: str | Path | Iterable[Any] | None = None,
    image_ref: ImageRef | None = None,
    judge_scale: Sequence[float] | None = None,
    gold_scale: Sequence[float] | None = None,
    title: str = "critic judgments",
) -> dict[str, Any]:
    """The page's data: ``meta`` (names, counts, what the flags mean, problems) and ``items``.

    ``judgments`` / ``compare`` / ``gold`` are paths or records; ``items`` is a JSONL path whose rows
    give images, question and responses (an items file used as gold qualifies). ``image_ref`` turns an
    image path into the ``[thumbnail, full size]`` URLs the page links (``None``: not found).
    """
    if items is None and isinstance(gold, (str, Path)):
        items = gold  # an items file with labels is the usual gold
    problems: list[str] = []
    runs: list[list[Judgment]] = []
    for src in (judgments, compare) if compare is not None else (judgments,):
        got, errs = _read(src, read_judgments)
        runs.append([j for j in got if j.error is None])
        problems += errs
    golds, errs = _read(gold, read_gold)
    problems += errs
    rows, errs = _read(items, lambda p: read_records(p, ViewItem))
    if items is not None and items != gold:
        problems += errs
    by_gold: dict[str, Gold] = {g.id: g for g in golds}
    by_item: dict[str, ViewItem] = {r.id: r for r in rows}
    gold_scores = [g.score for g in golds if g.score is not None]
    scales: dict[str, Any] = {"judge": list(judge_scale) if judge_scale else None, "gold": list(gold_scale) if gold_scale else None}
    scales["tolerance"] = round(TOLERANCE_SHARE * _range(gold_scale, gold_scores), 6)
    judge_scores = [j.score for js in runs for j in js if not isinstance(j, PairwiseJudgment) and j.score is not None]
    judge_tol = TOLERANCE_SHARE * _range(judge_scale, judge_scores)

    grouped: dict[str, list[list[Judgment]]] = {}
    for k, js in enumerate(runs):
        for j in js:
            grouped.setdefault(j.id, [[] for _ in runs])[k].append(j)
    out_items = []
    for item_id, per_judge in grouped.items():
        task = next(js for js in per_judge if js)[0].task
        g = by_gold.get(item_id)
        if g is not None and g.task != task:
            g = None
        label = g.label if g is not None else None
        sides: list[dict[str, Any] | None] = []
        for js in per_judge:
            js = [j for j in js if j.task == task]
            if not js:
                sides.append(None)
            elif task == "pairwise":
                sides.append(_pair_side(js, label))  # type: ignore[arg-type]
            else:
                sides.append(_point_side(js, g.score if g is not None else None, scales))
        out_items.append(_entry(item_id, task, by_item.get(item_id), g, sides, judge_tol, image_ref))
    names = _judge_names(runs, [str(judgments), str(compare)] if compare is not None else [str(judgments)])
    tasks = sorted({e["task"] for e in out_items})
    meta = {
        "title": title, "judges": names, "has_gold": bool(golds), "tasks": tasks, "scales": scales,
        "n_items": len(out_items), "n_judgments": [len(js) for js in runs],
        "groups": sorted({e["g"] for e in out_items if e.get("g")}),
        "models": sorted({m for e in out_items for m in e.get("models", [])}),
        "templates": sorted({t for e in out_items for t in e["tpl"]}),
        "problems": problems[:20], "n_problems": len(problems),
        "definitions": DEFINITIONS,
    }
    return {"meta": meta, "items": out_items}


DEFINITIONS = {
    "wrong": "pairwise: some judgment is not the gold label (a parse failure is wrong, as in the accuracies); "
             "pointwise: no score, or the mean score is further from the gold than the tolerance",
    "od": "judged in both orders and the verdicts are not all equal (a failed order is not agreement)",
    "tie": "some judgment says tie",
    "pf": "some judgment has no readable verdict (parse failure)",
    "dis": "the two judges' combined verdicts differ (scores: by more than a tenth of the scale)",
    "conf": "mean top verdict probability where present, else the share of judgments giving the most common verdict",
}


def _entry(item_id: str, task: str, item: ViewItem | None, g: Gold | None, sides: list[dict[str, Any] | None],
           judge_tol: float, image_ref: ImageRef | None) -> dict[str, Any]:
    e: dict[str, Any] = {"id": item_id, "task": task}
    if item is not None:
        e["q"] = item.question
        if task == "pairwise":
            e["ra"], e["rb"] = item.response_a, item.response_b
        else:
            e["r"] = item.response
        if item.reference:
            e["ref"] = item.reference
        if item.images:
            e["img"] = [image_ref(p) if image_ref else None for p in item.images]
            e["imgp"] = [Path(p).name for p in item.images]
    models = [m for m in (item.model_a, item.model_b, item.response_model) if m] if item else []
    if g is not None and g.response_model and g.response_model not in models:
        models.append(g.response_model)
    if models:
        e["models"] = models
    if item is not None and (item.model_a or item.model_b):
        e["ma"], e["mb"] = item.model_a, item.model_b
    group = (g.group if g is not None else None) or (item.group if item is not None else None)
    if group:
        e["g"] = group
    if g is not None:
        e["gold"] = g.label if task == "pairwise" else g.score
    e["sides"] = sides
    real = [s for s in sides if s is not None]
    flags = {k: int(any(s.get(k) for s in real)) for k in ("wrong", "pf", "od", "tie")}
    if len(sides) == 2:
        flags["dis"] = int(_disagree(task, sides[0], sides[1], judge_tol))
    e["f"] = {k: v for k, v in flags.items() if v}
    if g is not None:
        errs = [s.get("err") for s in real]
        e["err"] = max((x for x in errs if x is not None), default=0.0) if None not in errs else None  # None: no score
    confs = [s["conf"] for s in real if s.get("conf") is not None]
    e["conf"] = min(confs) if confs else None
    e["tpl"] = sorted({j["t"] for s in real for j in s["o"]})
    return e


__all__ = ["DEFINITIONS", "ViewItem", "page_data"]
