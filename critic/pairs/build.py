"""``critic pairs build``: every source of a recipe through its method, resumably, then the mix and the stats.

Layout of ``OUT``::

    OUT/
      recipe.json                 the recipe of the last run
      sources/NAME/rows.jsonl     the source's pairs (TRL layout + method, source, pair_type, ...)
      sources/NAME/done.jsonl     one line per question handled: its answers and parses (correctness),
                                  its pair count, or why it has none; a rerun skips these ids
      pairs.jsonl                 the mix of the sources' rows (``proportion`` s), rewritten each run
      stats.json                  per source: questions, pairs by type, dropped and why, samples/s, pairs/s

Questions are handled in chunks of :data:`CHUNK`; a killed run loses at most the chunk in flight.
``critic`` sources sample ``k`` answers and rank them with the recipe's judge
(:func:`critic.dpo.pairs.label_sets`, its own resume and side files next to ``rows.jsonl``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.pairs.correctness import correctness_pairs
from critic.pairs.dropout_ntp import dropout_ntp_pairs
from critic.pairs.extract import make_extractor
from critic.pairs.policy import LocalPolicy, PolicyRequest, PolicySampling, ServerPolicy
from critic.pairs.recipe import PairsRecipe, PolicySpec, SourceSpec
from critic.pairs.rows import SourcePrompt, gold_answer, read_source_prompts
from critic.secrets import redact

CHUNK = 16


@dataclass
class SourceStats:
    """What one source made in this run (rates) and in total (counts from its done file)."""

    name: str
    method: str
    questions: int = 0
    resumed: int = 0
    handled: int = 0
    samples: int = 0
    pairs: int = 0
    pair_types: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    new_pairs: int = 0

    def to_dict(self) -> dict[str, Any]:
        s = self.seconds or float("nan")
        return {"name": self.name, "method": self.method, "questions": self.questions, "resumed": self.resumed,
                "handled_this_run": self.handled, "pairs": self.pairs, "pair_types": dict(self.pair_types),
                "dropped": dict(self.dropped.most_common()), "samples_this_run": self.samples,
                "seconds_this_run": round(self.seconds, 3),
                "samples_per_s": round(self.samples / s, 3) if self.handled else None,
                "pairs_per_s": round(self.new_pairs / s, 3) if self.handled else None}


def make_policy(spec: PolicySpec) -> Any:
    if spec.checkpoint is not None:
        return LocalPolicy(spec.checkpoint, batch_size=spec.batch_size, dtype=spec.dtype, device=spec.device,
                           trust_remote_code=spec.trust_remote_code)
    return ServerPolicy(spec.model or "", spec.base_url or [], api_key_env=spec.api_key_env,
                        concurrency=spec.concurrency)


def _sampling(recipe: PairsRecipe, seed: int) -> PolicySampling:
    s = recipe.sampling
    return PolicySampling(temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, max_new_tokens=s.max_new_tokens,
                          seed=seed)


def _prompts(src: SourceSpec, log: Any) -> list[SourcePrompt]:
    prompts, problems = read_source_prompts(src.path, src.max_prompts)
    for p in problems[:10]:
        log(f"warning: {p}")
    if src.instruction:
        prompts = [p.model_copy(update={"question": f"{p.question}\n{src.instruction}"}) for p in prompts]
    return prompts


def _correctness(src: SourceSpec, chunk: list[SourcePrompt], policy: Any, recipe: PairsRecipe, seed: int,
                 stats: SourceStats) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    extractor = make_extractor(src.extractor)
    rows, done, asked = [], [], []
    for p in chunk:
        if gold_answer(p, src.answer_field) is None:
            done.append({"id": p.id, "pairs": 0, "reason": f"no gold answer at {src.answer_field}"})
        else:
            asked.append(p)
    answers = policy.generate([PolicyRequest(p.question, list(p.images)) for p in asked], _sampling(recipe, seed),
                              n=recipe.sampling.n) if asked else []
    stats.samples += sum(len(a) for a in answers)
    for p, texts in zip(asked, answers):
        got, split, reason = correctness_pairs(p, texts, gold_answer(p, src.answer_field), extractor, source=src.name,
                                               num_pairs_per_key=src.num_pairs_per_key,
                                               format_pairs=src.format_pairs, seed=recipe.seed)
        rows += got
        done.append({"id": p.id, "pairs": len(got), "reason": reason, "answers": texts, "parsed": split.parsed,
                     "positive": len(split.positive), "negative": len(split.negative),
                     "format_negative": len(split.format_negative)})
    return rows, done


def _dropout(src: SourceSpec, chunk: list[SourcePrompt], policy: Any, recipe: PairsRecipe, seed: int,
             stats: SourceStats) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, reasons = dropout_ntp_pairs(policy, chunk, _sampling(recipe, seed), source=src.name,
                                      start_ratio=src.start_ratio)
    not_cut = sum(r != "blind continuation equals the answer" for r in reasons.values())
    stats.samples += 2 * len(chunk) - not_cut  # answers, then the continuations of those that were cut
    made = Counter(r["key"] for r in rows)
    return rows, [{"id": p.id, "pairs": made[p.id], "reason": reasons.get(p.id)} for p in chunk]


def _critic(src: SourceSpec, chunk: list[SourcePrompt], policy: Any, recipe: PairsRecipe, seed: int,
            stats: SourceStats, folder: Path, judge: Any,
            ranking: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from critic.dpo.pairs import label_sets, pair_or_reason
    from critic.records import CandidateSet

    answers = policy.generate([PolicyRequest(p.question, list(p.images)) for p in chunk], _sampling(recipe, seed),
                              n=src.k)
    stats.samples += sum(len(a) for a in answers)
    sets = [CandidateSet(id=p.id, question=p.question, images=list(p.images), candidates=a)
            for p, a in zip(chunk, answers)]

    def make_row(cset: CandidateSet, ranked: Any):
        row, reason = pair_or_reason(cset, ranked)
        if row is not None:
            row = {**row, "id": f"{src.name}:{cset.id}:0", "key": cset.id, "method": "critic", "source": src.name,
                   "pair_type": "critic"}
        return row, reason

    c = ranking if ranking is not None else recipe.critic
    if c is None:
        raise ValueError(f"{src.name}: a critic source needs the recipe's critic section (its mode and aggregation)")
    ls = label_sets(judge, sets, folder / "rows.jsonl", mode=c.mode, aggregation=c.aggregation,
                         template=c.template, make_row=make_row)
    deferred = {sid for sid, _ in ls.deferred}
    rankings = (json.loads(x) for x in (folder / "rows.jsonl.rankings.jsonl").open() if x.strip())
    ranked = {r["id"]: r for r in rankings}
    done = [{"id": s.id, "pairs": int(ranked[s.id].get("chosen") is not None),
             "reason": None if ranked[s.id].get("chosen") is not None else (ranked[s.id].get("reason") or "?").split(" (")[0],
             "answers": s.candidates} for s in sets if s.id in ranked and s.id not in deferred]
    return [], done  # label_sets wrote the rows itself


def build_source(src: SourceSpec, recipe: PairsRecipe, out: Path, policy_factory: Any, judge_factory: Any,
                 log: Any = print, ranking: Any = None) -> SourceStats:
    """Handle the source's questions not yet in its done file; returns its stats (totals over runs)."""
    from critic.jsonl import JsonlWriter, ids_in

    folder = out / "sources" / src.name
    folder.mkdir(parents=True, exist_ok=True)
    stats = SourceStats(src.name, src.method)
    prompts = _prompts(src, log)
    done_ids = ids_in(folder / "done.jsonl")
    todo = [p for p in prompts if p.id not in done_ids]
    stats.questions, stats.resumed = len(prompts), len(prompts) - len(todo)
    t0 = time.perf_counter()
    judge = judge_factory() if todo and src.method == "critic" else None
    with JsonlWriter(folder / "rows.jsonl", append=True, relative_to=folder) as rows_out, \
            JsonlWriter(folder / "done.jsonl", append=True) as done_out:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            seed = recipe.seed + stats.resumed + start
            if src.method == "correctness":
                rows, done = _correctness(src, chunk, policy_factory(), recipe, seed, stats)
            elif src.method == "dropout_ntp":
                rows, done = _dropout(src, chunk, policy_factory(), recipe, seed, stats)
            else:
                rows, done = _critic(src, chunk, policy_factory(), recipe, seed, stats, folder, judge, ranking)
            for r in rows:
                rows_out.write(r)
            for d in done:
                done_out.write(d)
            stats.handled += len(done)
            stats.new_pairs += sum(d["pairs"] for d in done)
    stats.seconds = time.perf_counter() - t0
    for line in (folder / "done.jsonl").open(encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            if d.get("reason") and not d.get("pairs"):
                stats.dropped[d["reason"]] += 1
    if (folder / "rows.jsonl").exists():
        from critic.dpo.pairs import read_pair_rows

        for r in read_pair_rows(folder / "rows.jsonl"):
            stats.pairs += 1
            stats.pair_types[r.get("pair_type", src.method)] += 1
    log(f"  {src.name} ({src.method}): {stats.pairs} pairs from {stats.questions} questions "
        f"({stats.resumed} already done); dropped: {dict(stats.dropped) or 'none'}")
    return stats


def build_pairs(recipe: PairsRecipe, out: str | Path, *, policy: Any = None, judge_factory: Any = None,
                ranking: Any = None, log: Any = print) -> dict[str, Any]:
    """Build every source, then ``OUT/pairs.jsonl`` (the mix) and ``OUT/stats.json``; returns the stats.

    ``policy``: an object with ``generate`` (default: built from ``recipe.policy`` on first use);
    ``judge_factory``: makes the judge of ``critic`` sources (default: ``recipe.critic``);
    ``ranking``: where ``critic`` sources take ``mode``, ``aggregation`` and ``template`` from
    (default: ``recipe.critic``; ``critic dpo`` passes its run's critic section when the pairs
    section names no critic of its own).
    """
    from critic.dpo.pairs import read_pair_rows
    from critic.jsonl import JsonlWriter
    from critic.pairs.mix import mix_rows

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(redact(recipe.to_dict()), indent=2) + "\n")  # no URL credentials
    held: dict[str, Any] = {"policy": policy}

    def policy_factory() -> Any:
        if held["policy"] is None:
            if recipe.policy is None:
                raise ValueError("the recipe names no policy (policy.checkpoint or policy.base_url)")
            held["policy"] = make_policy(recipe.policy)
        return held["policy"]

    def default_judge() -> Any:
        from critic.judging.factory import make_critic

        if recipe.critic is None:
            raise ValueError("a critic source needs the recipe's critic section (a judge)")
        return make_critic(recipe.critic.judge_spec(), progress=False)

    per_source = [build_source(src, recipe, out, policy_factory, judge_factory or default_judge, log, ranking)
                  for src in recipe.sources]
    rows = {s.name: (read_pair_rows(out / "sources" / s.name / "rows.jsonl")
                     if (out / "sources" / s.name / "rows.jsonl").exists() else []) for s in recipe.sources}
    mixed, plan = mix_rows(rows, {s.name: s.proportion for s in recipe.sources}, max_pairs=recipe.max_pairs,
                           seed=recipe.seed)
    with JsonlWriter(out / "pairs.jsonl", relative_to=out) as w:
        for r in mixed:
            w.write(r)
    stats = {"recipe": recipe.name, "pairs": len(mixed), "mix": plan, "sources": [s.to_dict() for s in per_source]}
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    log(f"pairs: {len(mixed)} written to {out / 'pairs.jsonl'} (mix {plan}); stats: {out / 'stats.json'}")
    return stats
