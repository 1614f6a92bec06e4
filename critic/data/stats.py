"""What a dataset build counts, and the two files that report it: ``stats.json`` and ``card.md``.

Counts are kept as counters and length histograms, never as lists of samples, so memory stays flat
however large the dataset grows. Token lengths are **whitespace-separated words** of the prompt
(all text parts, system included) and of the completion — a tokenizer-free proxy, stated as such
in both files. Drops and failed teacher calls are listed with their ``file:line`` (the first
:data:`MAX_LISTED` of each; the counts are always complete).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.secrets import redact, redact_url

MAX_LISTED = 10_000
PERCENTILES = (50, 90, 95, 99, 100)


def percentiles(hist: Counter[int], qs: tuple[int, ...] = PERCENTILES) -> dict[str, int]:
    """Nearest-rank percentiles of a length histogram.

    >>> percentiles(Counter({1: 50, 10: 49, 100: 1}))
    {'p50': 1, 'p90': 10, 'p95': 10, 'p99': 10, 'p100': 100}
    """
    n = sum(hist.values())
    if n == 0:
        return {f"p{q}": 0 for q in qs}
    out, seen, keys = {}, 0, sorted(hist)
    targets = {q: max(1, -(-q * n // 100)) for q in qs}
    i = 0
    for k in keys:
        seen += hist[k]
        while i < len(qs) and seen >= targets[qs[i]]:
            out[f"p{qs[i]}"] = k
            i += 1
    return out


@dataclass
class DatasetStats:
    """Counters of one build; :meth:`to_json` is ``stats.json``."""

    recipe: str
    seed: int
    samples: Counter[str] = field(default_factory=Counter)
    by_split: Counter[str] = field(default_factory=Counter)
    by_task: Counter[str] = field(default_factory=Counter)
    by_template: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    by_mode: Counter[str] = field(default_factory=Counter)
    swapped: int = 0
    verdicts: dict[str, Counter[str]] = field(default_factory=dict)
    prompt_len: Counter[int] = field(default_factory=Counter)
    completion_len: Counter[int] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)
    drop_list: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    teacher: Counter[str] = field(default_factory=Counter)
    cost: float = 0.0
    cost_known: bool = True
    failed: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    images: int = 0
    image_bytes: int = 0
    layout: str = "critic"  # the recipe's; ``pairs``: a sample is a preference pair (critic.data.pairs)

    def item_read(self, source: str) -> None:
        self.items[source] += 1

    def drop(self, seq: int, where: str, source: str, reason: str, detail: str = "") -> None:
        """Count a dropped input; ``seq`` (its position in the input stream) orders the listing."""
        self.drops[reason] += 1
        self._keep(self.drop_list, (seq, {"where": where, "source": source, "reason": reason, "detail": detail}))

    @staticmethod
    def _keep(listing: list[Any], entry: tuple[int, dict[str, str]]) -> None:
        """Keep the MAX_LISTED entries with the smallest ``seq`` (the listing does not depend on timing)."""
        listing.append(entry)
        if len(listing) >= 2 * MAX_LISTED:
            listing.sort(key=lambda e: e[0])
            del listing[MAX_LISTED:]

    def add(self, stat: tuple[Any, ...]) -> None:
        """Count one written sample: ``(split, task, template, source, mode, swapped, verdict, prompt words,
        completion words)`` as made by :mod:`critic.data.worker`."""
        split, task, template, source, mode, swapped, verdict, n_prompt, n_completion = stat
        self.by_split[split] += 1
        self.by_task[task] += 1
        self.by_template[template] += 1
        self.by_source[source] += 1
        self.by_mode[mode] += 1
        self.swapped += bool(swapped)
        self.verdicts.setdefault(template, Counter())[verdict] += 1
        self.prompt_len[n_prompt] += 1
        self.completion_len[n_completion] += 1

    def teacher_call(self, cached: bool, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        self.teacher["calls"] += 1
        self.teacher["cached" if cached else "sent"] += 1
        self.teacher["prompt_tokens"] += prompt_tokens
        self.teacher["completion_tokens"] += completion_tokens
        if cost is None:
            self.cost_known = False
        else:
            self.cost += cost

    def teacher_failed(self, seq: int, where: str, sample_id: str, error: str) -> None:
        self.teacher["failed"] += 1
        self._keep(self.failed, (seq, {"where": where, "id": sample_id, "error": error}))

    @property
    def total(self) -> int:
        return sum(self.by_split.values())

    def to_json(self) -> dict[str, Any]:
        """The ``stats.json`` content (keys sorted within each counter)."""
        srt = lambda c: dict(sorted(c.items()))  # noqa: E731
        return {
            "recipe": self.recipe,
            **({"layout": self.layout} if self.layout != "critic" else {}),  # critic builds: bytes as before
            "seed": self.seed,
            "samples": {"total": self.total, "by_split": srt(self.by_split), "by_task": srt(self.by_task),
                        "by_template": srt(self.by_template), "by_source": srt(self.by_source),
                        "by_target_mode": srt(self.by_mode), "swapped": self.swapped},
            "items_read": srt(self.items),
            "verdicts": {t: srt(c) for t, c in sorted(self.verdicts.items())},
            "lengths": {"unit": "whitespace-separated words (not model tokens)",
                        "prompt": percentiles(self.prompt_len), "completion": percentiles(self.completion_len)},
            "drops": {"total": sum(self.drops.values()), "by_reason": srt(self.drops),
                      "listed": _listed(self.drop_list), "listed_max": MAX_LISTED},
            "teacher": {"calls": self.teacher["calls"], "prompt_tokens": self.teacher["prompt_tokens"],
                        "completion_tokens": self.teacher["completion_tokens"],
                        "cost_usd": round(self.cost, 6) if self.cost_known else None,
                        "failed_count": self.teacher["failed"], "failed": _listed(self.failed)},
            "images": {"unique": self.images, "bytes": self.image_bytes},
        }

    def write(self, path: Path) -> None:
        data = redact(self.to_json())  # drop details and failures may quote a URL with its key (issue 14.15)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _listed(entries: list[tuple[int, dict[str, str]]]) -> list[dict[str, str]]:
    return [e for _, e in sorted(entries, key=lambda e: e[0])[:MAX_LISTED]]


def _table(counter: dict[str, int], head: str, unit: str = "samples") -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in counter.items())
    return f"| {head} | {unit} |\n| --- | ---: |\n{rows}\n"


SAMPLES_LAYOUT = [
    "- `{split}.jsonl`: one `critic.records.TrainingSample` per line (image paths relative to this folder).",
    "- `llava/{split}.json`: LLaVA conversation JSON (`id`, `image`, `conversations`).",
    "- `hf/`: `datasets.load_from_disk` — columns id, task, images (`datasets.Image`), messages, prompt and"
    " completion (conversational: TRL's prompt-completion format), template, template_hash, source, swapped,"
    " verdict (JSON text).",
]
PAIRS_LAYOUT = [
    "- `{split}.jsonl`: one `critic.reward.pairs.PreferencePair` per line — id, images (relative to this folder),"
    " question, chosen, rejected, chosen_critique / rejected_critique (the teacher's critique of each answer, when"
    " a teacher was asked), source, meta — the file `critic train` reads with `train.objective: scalar` or"
    " `critique_score`.",
]


def front_matter(splits: list[str], license: str = "other", files: str = "hf/{split}/*.arrow") -> list[str]:
    """The card's Hugging Face Hub metadata (YAML between ``---`` lines): license, task, tags, and a
    config whose splits are the ``hf/`` layout's Arrow files.

    >>> lines = front_matter(["train"])
    >>> lines[0], lines[1], lines[-2:]
    ('---', 'license: other', ['---', ''])
    >>> lines[1 + lines[1:].index("configs:"):-2]
    ['configs:', '- config_name: default', '  data_files:', '  - split: train', '    path: hf/train/*.arrow']
    """
    import yaml

    meta = {"license": license, "task_categories": ["image-text-to-text"],
            "tags": ["critic", "llm-as-a-judge", "reward-modeling", "synthetic"],
            "configs": [{"config_name": "default",
                         "data_files": [{"split": s, "path": files.format(split=s)} for s in splits]}]}
    return ["---", *yaml.safe_dump(meta, sort_keys=False).splitlines(), "---", ""]


def write_card(path: Path, stats: DatasetStats, recipe_text: str, description: str, teacher_model: str | None) -> None:
    """``card.md``: what the dataset is, how it was made (the recipe), what it holds, what was dropped."""
    s = stats.to_json()
    smp, t = s["samples"], s["teacher"]
    cost = "unknown" if t["cost_usd"] is None else f"${t['cost_usd']:.4f}"
    drops = "\n".join(f"- {k}: {v}" for k, v in s["drops"]["by_reason"].items()) or "- none"
    pairs = stats.layout == "pairs"
    unit = "pairs" if pairs else "samples"
    lines = [
        *front_matter(sorted(smp["by_split"]), files="{split}.jsonl" if pairs else "hf/{split}/*.arrow"),
        f"# {'Preference pairs' if pairs else 'Critic dataset'}: {stats.recipe}", "",
        description.strip() or f"A {'reward-model' if pairs else 'critic'} training dataset built by `critic data build`.", "",
        "## Layout", "",
        *(PAIRS_LAYOUT if pairs else SAMPLES_LAYOUT),
        "- `images/`: every image once, named by the SHA-256 of its bytes.", "",
        "## Contents", "",
        f"{smp['total']} {unit}, {s['images']['unique']} images, seed {stats.seed}."
        + ("" if pairs else f" {smp['swapped']} pairwise samples show response B first (swap augmentation)."), "",
        _table(smp["by_split"], "split", unit), _table(smp["by_task"], "task", unit),
        _table(smp["by_template"], "template", unit), _table(smp["by_source"], "source", unit),
        _table(smp["by_target_mode"], "target mode", unit),
        "Lengths in whitespace-separated words (not model tokens): "
        + (f"question {s['lengths']['prompt']}, the longer answer with its critique {s['lengths']['completion']}."
           if pairs else f"prompt {s['lengths']['prompt']}, completion {s['lengths']['completion']}."), "",
        "## Teacher", "",
        (f"Model `{teacher_model}`: {t['calls']} calls, "
         f"{t['prompt_tokens']} prompt + {t['completion_tokens']} completion tokens, "
         f"cost {cost}; "
         f"{t['failed_count']} calls failed after retries (listed in stats.json; rerun to retry them).")
        if teacher_model else "No teacher was used.", "",
        "## Dropped inputs", "", drops, "", "Each drop is listed with its file:line in `stats.json`.", "",
        "## Recipe", "", "```yaml", recipe_text.rstrip(), "```", "",
    ]
    path.write_text(redact_url("\n".join(lines)), encoding="utf-8")  # a base URL may hold a key (issue 14.15)
