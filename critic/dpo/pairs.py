"""DPO rows in TRL's layout: built from ranked candidate sets, written resumably, read back for training.

A row is TRL's *conversational preference* example for vision-language models — the layout of
``trl-lib/rlaif-v``, which TRL's ``DataCollatorForVisionPreference`` consumes — plus the set's
provenance:

.. code-block:: json

    {"id": "q1", "images": ["images/q1.png"],
     "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the circle?"}]}],
     "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "The circle is red."}]}],
     "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "The circle is blue."}]}],
     "chosen_reward": 8.0, "rejected_reward": -8.0, "margin": 16.0, "chosen_index": 0, "rejected_index": 3,
     "mode": "pairwise", "aggregation": "llava_ov", "judge": "openai:gpt-4o", "template": "llava_critic_pairwise",
     "judgment_ids": ["q1:0>1", "..."]}

``images`` are paths (relative to the file's folder when written by ``critic label-pairs``);
:func:`load_pairs` resolves them and casts the column to ``datasets.Image`` so images decode lazily.
:func:`label_sets` ranks candidate sets with a critic and appends the rows resumably (the engine of
``critic label-pairs``, ``critic best-of-n`` and each round of ``critic dpo``).

>>> from critic.records import CandidateSet
>>> from critic.judging.ranking import RankedSet
>>> cs = CandidateSet(id="q", question="Colour?", candidates=["red", "blue"], images=["a.png"])
>>> rs = RankedSet(id="q", mode="pairwise", aggregation="llava_ov", k=2, rewards=[2.0, -2.0], n_judgments=[2, 2],
...                chosen=0, rejected=1, chosen_reward=2.0, rejected_reward=-2.0, margin=4.0)
>>> row = dpo_row(cs, rs)
>>> row["prompt"][0]["content"], row["chosen"][0]["content"][0]["text"], row["margin"]
([{'type': 'image'}, {'type': 'text', 'text': 'Colour?'}], 'red', 4.0)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.records import CandidateSet

PAIR_KEYS = ("id", "images", "prompt", "chosen", "rejected", "chosen_reward", "rejected_reward", "margin")


def prompt_messages(question: str, n_images: int) -> list[dict[str, Any]]:
    """The policy's prompt: one user turn, the image slots first, then the question."""
    return [{"role": "user", "content": [*({"type": "image"} for _ in range(n_images)), {"type": "text", "text": question}]}]


def answer_messages(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def dpo_row(cset: CandidateSet, ranked: Any) -> dict[str, Any]:
    """The TRL preference row of a set ranked with a pair (``ranked.has_pair``)."""
    if ranked.chosen is None or ranked.rejected is None:
        raise ValueError(f"{cset.id}: no chosen / rejected pair ({ranked.reason})")
    row = {
        "id": cset.id,
        "images": list(cset.images),
        "prompt": prompt_messages(cset.question, len(cset.images)),
        "chosen": answer_messages(cset.candidates[ranked.chosen]),
        "rejected": answer_messages(cset.candidates[ranked.rejected]),
        "chosen_reward": ranked.chosen_reward,
        "rejected_reward": ranked.rejected_reward,
        "margin": ranked.margin,
        "chosen_index": ranked.chosen,
        "rejected_index": ranked.rejected,
        "mode": ranked.mode,
        "aggregation": ranked.aggregation,
        "judge": ranked.judge,
        "template": ranked.template,
        "judgment_ids": list(ranked.judgment_ids),
    }
    if getattr(ranked, "expected_margin", None) is not None:  # judged with verdict probabilities
        row["expected_margin"] = ranked.expected_margin
    return row


def read_pair_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a pairs file, image paths made absolute; malformed lines raise with ``file:line``."""
    p = Path(path)
    base = p.parent.resolve()
    rows = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):
                    break  # a torn last line from a killed writer
                raise ValueError(f"{p}:{n}: not valid JSON: {exc.msg}") from None
            missing = [k for k in PAIR_KEYS if k not in row]
            if missing:
                raise ValueError(f"{p}:{n}: missing {', '.join(missing)}")
            row["images"] = [x if os.path.isabs(x) else str(base / x) for x in row["images"]]
            rows.append(row)
    return rows


def load_pairs(path: str | Path, *, beta: list[float] | None = None):
    """The pairs file as a ``datasets.Dataset`` for TRL's DPOTrainer (``images`` decoded lazily).

    Only TRL's columns are kept (``images``, ``prompt``, ``chosen``, ``rejected``), plus ``beta`` when
    per-pair β values are given (Dynamic Reward Scaling, :mod:`critic.dpo.drs`).
    """
    from datasets import Dataset, Image, Sequence

    rows = read_pair_rows(path)
    if beta is not None and len(beta) != len(rows):
        raise ValueError(f"{len(beta)} beta values for {len(rows)} pairs")
    data: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in ("images", "prompt", "chosen", "rejected")}
    # {"type": "image"} parts carry no text; give every part both keys so arrow sees one struct type
    for key in ("prompt", "chosen", "rejected"):
        data[key] = [[{**m, "content": [{"type": c["type"], "text": c.get("text")} for c in m["content"]]}
                      for m in msgs] for msgs in data[key]]
    if beta is not None:
        data["beta"] = [float(b) for b in beta]
    ds = Dataset.from_dict(data)
    if any(data["images"]):
        ds = ds.cast_column("images", Sequence(Image()))
    return ds


# ----------------------------------------------------------------------------------- labelling files

def side_paths(out: Path) -> dict[str, Path]:
    """Files written next to a pairs file: every set's ranking, the judgments, failed requests."""
    return {name: out.with_name(f"{out.name}.{name}.jsonl") for name in ("rankings", "judgments", "failed")}


def labelled_ids(out: Path) -> set[str]:
    """Ids of sets already labelled: ranked (pair or no pair) or present in the pairs file."""
    from critic.jsonl import ids_in

    return ids_in(side_paths(out)["rankings"], out)  # a torn last line: that set is redone


@dataclass
class LabelStats:
    """What labelling a candidates file did; ``judge`` holds the judgment-level summary."""

    judge: Any
    noun: str = "pairs"
    sets: int = 0
    resumed: int = 0
    written: int = 0
    not_written: Counter = field(default_factory=Counter)
    deferred: list[tuple[str, int]] = field(default_factory=list)
    margins: list[float] = field(default_factory=list)

    def render(self, out: Path) -> str:
        paths = side_paths(out)
        lines = [f"sets ranked {self.sets} ({self.resumed} already done), {self.noun} written {self.written} to {out}, "
                 f"none for {sum(self.not_written.values())}, deferred {len(self.deferred)}"]
        if self.margins:
            m = sorted(self.margins)
            lines.append(f"reward margin: mean {sum(m) / len(m):.3g}, median {m[len(m) // 2]:.3g}, "
                         f"min {m[0]:.3g}, max {m[-1]:.3g}")
        for reason, n in self.not_written.most_common():
            lines.append(f"  no {self.noun} ({n} sets): {reason}")
        for sid, n in self.deferred[:3]:
            lines.append(f"  deferred {sid}: {n} judgment(s) failed; rerun the same command to retry")
        lines.append(f"rankings: {paths['rankings']}; judgments: {paths['judgments']}")
        return "\n".join(lines) + "\n" + self.judge.render(paths["judgments"], paths["failed"] if self.deferred else None)


def pair_or_reason(cset: CandidateSet, ranked: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The DPO row of a ranked set, or None and the reason it has no pair."""
    return (dpo_row(cset, ranked), None) if ranked.has_pair else (None, ranked.reason)


def label_sets(critic: Any, sets: Sequence[CandidateSet], out: str | Path, *, mode: str = "pairwise",
               aggregation: str = "llava_ov", template: Any = None, summary: Any = None,
               make_row: Callable[[CandidateSet, Any], tuple[dict[str, Any] | None, str | None]] = pair_or_reason,
               noun: str = "pairs", use_expected: bool = False) -> LabelStats:
    """Rank ``sets`` with ``critic`` and append one row per set (``make_row``: DPO pairs) to ``out``, resumably.

    Next to ``out``: ``OUT.rankings.jsonl`` (every ranked set, with or without a row, with its
    reason), ``OUT.judgments.jsonl`` (verdicts and parse failures) and ``OUT.failed.jsonl``
    (requests that failed after retries). A set with a failed request is *deferred*: nothing of it
    is written except the failures, and the next run ranks it again (its finished judgments come
    from the judge cache). Sets already ranked in ``out`` are skipped.
    """
    from critic.jsonl import JsonlWriter
    from critic.judging.ranking import rank_stream
    from critic.judging.summary import JudgeSummary

    out = Path(out)
    paths = side_paths(out)
    stats = LabelStats(judge=summary or JudgeSummary(), noun=noun)
    done = labelled_ids(out)
    todo = [s for s in sets if s.id not in done]
    stats.resumed = len(sets) - len(todo)
    failed = None
    with JsonlWriter(out, append=True, relative_to=out.parent) as rows, \
            JsonlWriter(paths["rankings"], append=True) as rankings, \
            JsonlWriter(paths["judgments"], append=True) as judgments:
        try:
            for res in rank_stream(critic, todo, mode=mode, aggregation=aggregation, template=template,
                                   use_expected=use_expected):
                for j in res.judgments:
                    stats.judge.add(j)
                r = res.ranked
                if r.n_errors:
                    failed = failed or JsonlWriter(paths["failed"])
                    for j in res.judgments:
                        if j.error is not None:
                            failed.write(j)
                    stats.deferred.append((r.id, r.n_errors))
                    continue
                for j in res.judgments:
                    judgments.write(j)
                row, reason = make_row(res.candidates, r)
                if row is not None:
                    rows.write(row)
                    stats.written += 1
                    if r.margin is not None:
                        stats.margins.append(float(r.margin))
                else:
                    stats.not_written[(reason or "?").split(" (")[0]] += 1
                rankings.write(r)
                stats.sets += 1
        finally:
            if failed:
                failed.close()
    return stats
