"""A judge cascade (``critic judge --cascade``): a cheap judge first, a strong judge only where it is unsure.

Every item is judged by the cheap judge. Its **confidence** in an item is the lowest over the item's
judgments (one per order) of

* the top verdict probability, where the judgment has ``verdict_probs`` (``--verdict-probs``);
* else the share of samples agreeing with the majority, ``sample_agreement`` (``--n-samples K``);
* a parse failure, or a judgment with neither, counts 0 (escalated: nothing says it is right);

and, for a pair judged in both orders (``--swap both``), at most the agreement across the orders
(1 when both orders name the same winner, 0.5 when they differ). Without probabilities or samples
that agreement is the whole signal.

An item whose confidence is below the threshold is **escalated**: the strong judge judges it (all
its orders) and its judgments replace the cheap ones. The final judgments carry
``cascade = {"escalated": bool, "cheap_confidence": float}``; judgments of a run without a cascade
have no such field (same bytes as before).

Files, so a rerun resumes each stage: the cheap judgments go to ``OUTPUT.cheap.jsonl``, the strong
ones to ``OUTPUT.strong.jsonl`` (each through :func:`~critic.judging.run.judge_to_file`: resumable,
cached); ``OUTPUT`` is rewritten from them at the end of each run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cheap_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".jsonl") + ".cheap.jsonl")


def strong_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".jsonl") + ".strong.jsonl")


def judgment_confidence(j: Any) -> float | None:
    """The cheap judge's confidence in one judgment: 0 for a parse failure, the top verdict probability,
    else the samples' agreement, else None (no signal of its own)."""
    if not j.ok:
        return 0.0
    if j.verdict_probs:
        return float(max(j.verdict_probs.values()))
    if j.sample_agreement is not None:
        return float(j.sample_agreement)
    return None


def _verdict(j: Any) -> Any:
    return j.winner if j.task == "pairwise" else j.score


def item_confidences(judgments: Iterable[Any], swap: str = "none") -> dict[str, float]:
    """Item id → the cheap judge's confidence in that item (see the module doc)."""
    by_id: dict[str, list[Any]] = {}
    for j in judgments:
        by_id.setdefault(j.id, []).append(j)
    out: dict[str, float] = {}
    for id_, js in by_id.items():
        both = swap == "both" and js[0].task == "pairwise"
        confs = []
        for j in js:
            c = judgment_confidence(j)
            if c is None and not both:
                c = 0.0  # no signal at all: do not trust it
            if c is not None:
                confs.append(c)
        conf = min(confs) if confs else 1.0
        if both:
            winners = [j.winner for j in js if j.ok]
            if len(js) < 2 or len(winners) < len(js):
                conf = 0.0
            else:
                conf = min(conf, Counter(winners).most_common(1)[0][1] / len(winners))
        out[id_] = conf
    return out


def escalated_ids(confidences: dict[str, float], threshold: float) -> set[str]:
    """The items whose confidence is below ``threshold``."""
    return {id_ for id_, c in confidences.items() if c < threshold}


def merge(cheap: Sequence[Any], strong: Sequence[Any], confidences: dict[str, float],
          escalated: set[str]) -> list[Any]:
    """The final judgments: the strong judge's for escalated items, the cheap judge's for the rest, in the
    cheap judgments' order, each with its ``cascade`` record."""
    strong_by_id: dict[str, list[Any]] = {}
    for j in strong:
        strong_by_id.setdefault(j.id, []).append(j)
    out: list[Any] = []
    placed: set[str] = set()
    for j in cheap:
        conf = round(confidences.get(j.id, 0.0), 6)
        if j.id not in escalated:
            out.append(j.model_copy(update={"cascade": {"escalated": False, "cheap_confidence": conf}}))
        elif j.id not in placed:
            placed.add(j.id)
            out += [s.model_copy(update={"cascade": {"escalated": True, "cheap_confidence": conf}})
                    for s in strong_by_id.get(j.id, [])]
    return out


def _correct(j: Any, gold: dict[str, Any]) -> bool | None:
    g = gold.get(j.id)
    if g is None:
        return None
    return j.ok and _verdict(j) == g


def accuracy(judgments: Iterable[Any], gold: dict[str, Any]) -> float | None:
    """Share of judgments of gold-labelled items whose verdict equals the gold (a pair's label, a score);
    parse failures count as wrong. None when no item has gold."""
    marks = [c for c in (_correct(j, gold) for j in judgments) if c is not None]
    return sum(marks) / len(marks) if marks else None


def gold_of(items: Iterable[Any]) -> dict[str, Any]:
    """Item id → its gold verdict (a pair's ``label``, a pointwise item's ``score``), where known."""
    out = {}
    for it in items:
        g = it.label if it.task == "pairwise" else it.score
        if g is not None:
            out[it.id] = g
    return out


@dataclass
class CascadeReport:
    """What a cascade did: how much it escalated, what it cost, how accurate each stage was (where gold is)."""

    threshold: float
    items: int = 0
    escalated: int = 0
    cheap_judgments: int = 0
    strong_judgments: int = 0
    cheap_accuracy: float | None = None
    final_accuracy: float | None = None
    cheap_tokens: int = 0
    strong_tokens: int = 0
    cheap_cost: float | None = None
    strong_cost: float | None = None

    @property
    def share_escalated(self) -> float:
        return self.escalated / self.items if self.items else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "items": self.items, "escalated": self.escalated,
                "share_escalated": round(self.share_escalated, 4), "cheap_judgments": self.cheap_judgments,
                "strong_judgments": self.strong_judgments, "cheap_accuracy": self.cheap_accuracy,
                "final_accuracy": self.final_accuracy, "cheap_tokens": self.cheap_tokens,
                "strong_tokens": self.strong_tokens, "cheap_cost": self.cheap_cost, "strong_cost": self.strong_cost}

    def render(self) -> str:
        pct = lambda x: "n/a (no gold labels)" if x is None else f"{x:.1%}"  # noqa: E731
        cost = lambda c: "" if c is None else f", ${c:.4f}"  # noqa: E731
        return (f"cascade: escalated {self.escalated} of {self.items} items ({self.share_escalated:.1%}) with "
                f"cheap confidence below {self.threshold:g}\n"
                f"cascade: cheap judge {self.cheap_judgments} judgments ({self.cheap_tokens} tokens"
                f"{cost(self.cheap_cost)}), strong judge {self.strong_judgments} ({self.strong_tokens} tokens"
                f"{cost(self.strong_cost)})\n"
                f"cascade: accuracy cheap alone {pct(self.cheap_accuracy)}, after escalation {pct(self.final_accuracy)}")


def _tokens(js: Iterable[Any]) -> tuple[int, float | None]:
    tok, cost = 0, None
    for j in js:
        if j.usage is not None and not j.cached:
            tok += j.usage.prompt_tokens + j.usage.completion_tokens
            if j.usage.cost is not None:
                cost = (cost or 0.0) + j.usage.cost
    return tok, cost


def _read(path: Path) -> list[Any]:
    from critic.jsonl import JsonlReader
    from critic.records import PairwiseJudgment, PointwiseJudgment

    if not path.exists():
        return []
    pick = lambda d: PairwiseJudgment if d.get("task") == "pairwise" else PointwiseJudgment  # noqa: E731
    return [j for j in JsonlReader(path, pick, resolve_images=False) if j.error is None]


def run_cascade(cheap: Any, strong: Any, items: Sequence[Any], output: Path, *, threshold: float,
                swap: str = "none", summary: Any = None, strong_summary: Any = None) -> tuple[Any, Any, CascadeReport]:
    """Judge ``items`` with the cascade into ``output`` (see the module doc).

    Returns the cheap and strong :class:`~critic.judging.run.JudgeRun` and the :class:`CascadeReport`.
    """
    from critic.jsonl import JsonlWriter
    from critic.judging.run import judge_to_file

    output = Path(output)
    cheap_run = judge_to_file(cheap, items, cheap_path(output), swap=swap, summary=summary, desc="cheap judge")
    wanted = {it.id for it in items}
    cheap_js = [j for j in _read(cheap_path(output)) if j.id in wanted]
    conf = item_confidences(cheap_js, swap)
    up = escalated_ids(conf, threshold)
    strong_run = judge_to_file(strong, [it for it in items if it.id in up], strong_path(output), swap=swap,
                               summary=strong_summary, desc="strong judge")
    strong_js = [j for j in _read(strong_path(output)) if j.id in up]
    final = merge(cheap_js, strong_js, conf, up)
    with JsonlWriter(output) as out:
        for j in final:
            out.write(j)
    gold = gold_of(items)
    ct, cc = _tokens(cheap_js)
    st, sc = _tokens(strong_js)
    report = CascadeReport(threshold=threshold, items=len(conf), escalated=len(up), cheap_judgments=len(cheap_js),
                           strong_judgments=len(strong_js), cheap_accuracy=accuracy(cheap_js, gold),
                           final_accuracy=accuracy(final, gold), cheap_tokens=ct, strong_tokens=st,
                           cheap_cost=cc, strong_cost=sc)
    return cheap_run, strong_run, report


__all__ = ["CascadeReport", "accuracy", "cheap_path", "escalated_ids", "gold_of", "item_confidences",
           "judgment_confidence", "merge", "run_cascade", "strong_path"]
