"""Evaluation speed: every metric with 1,000 bootstrap resamples over 100,000 judgments (target < 10 s).

    python bench/eval_metrics.py [--n-judgments 100000] [--n-resamples 1000] [--skip-baseline]

Two synthetic judgment sets of ``--n-judgments`` rows each, seeded:

- pairwise: items judged in both orders (so half as many items), 3 groups, two items per question
  (ACC+), gold ties, judge ties and 5 % parse failures — every pairwise metric, its parsed-only view,
  per group and macro, all with intervals;
- pointwise: one judgment per item, judge scale 1–100 against gold 1–10, 4 groups, 7 response
  models, 5 % parse failures — Pearson, Spearman, Kendall τ-b, MAE, rates, model-level ranking,
  per group and macro, all with intervals.

Timed: the metrics alone (``pairwise_metrics`` / ``pointwise_metrics`` on in-memory cases), and
``evaluate()`` from a gold and a judgments JSONL per task (reading and validating every line, then
the metrics), and writing the report with its plots. The
baseline arm is what one would write with ``scipy.stats.bootstrap`` (percentile method,
vectorised): one statistic, resampling judgments, no groups — accuracy as a mean of 0/1 values,
Pearson, and Kendall τ-b (scipy's kendalltau is not vectorised, so its 1,000 resamples are
extrapolated from 10).

Wall and CPU time are both printed: on a machine other processes share, wall time grows with the
load, and multi-threaded BLAS can burn CPU spinning (``OPENBLAS_NUM_THREADS=1`` avoids that).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path


def make_cases(n_judgments: int, seed: int):
    from critic.evaluation.metrics_pairwise import PairCase, PairVote
    from critic.evaluation.metrics_pointwise import PointCase

    rng = random.Random(seed)
    pair_cases = []
    for i in range(n_judgments // 2):
        label = "tie" if rng.random() < 0.1 else rng.choice("AB")
        votes = []
        for swapped in (False, True):
            u = rng.random()
            winner = None if u < 0.05 else label if u < 0.8 else rng.choice(["A", "B", "tie"])
            votes.append(PairVote(winner, swapped))
        pair_cases.append(PairCase(f"p{i}", label, tuple(votes), f"g{(i // 2) % 3}", f"q{i // 2}"))
    point_cases = []
    for i in range(n_judgments):
        gold = float(rng.randint(1, 10))
        score = None if rng.random() < 0.05 else float(min(100, max(1, round(gold * 10 + rng.gauss(0, 15)))))
        point_cases.append(PointCase(f"s{i}", gold, (score,), f"g{i % 4}", None, f"m{i % 7}"))
    return pair_cases, point_cases


def write_files(tmp: Path, pair_cases, point_cases) -> tuple[Path, Path]:
    import json

    meta = {"template": "t", "template_hash": "h", "judge": "bench"}
    gold, judg = tmp / "gold.jsonl", tmp / "judgments.jsonl"
    with gold.open("w") as g, judg.open("w") as j:
        for c in pair_cases:
            g.write(json.dumps({"id": c.id, "label": c.label, "group": c.group, "question_id": c.question_id}) + "\n")
            for v in c.votes:
                row = {"id": c.id, "task": "pairwise", "swapped": v.swapped, **meta}
                row.update({"winner": v.winner} if v.winner else {"parse_error": "no verdict", "raw": "?"})
                j.write(json.dumps(row) + "\n")
        for c in point_cases:
            g.write(json.dumps({"id": c.id, "score": c.gold, "group": c.group, "response_model": c.response_model}) + "\n")
            s = c.scores[0]
            row = {"id": c.id, "task": "pointwise", **meta}
            row.update({"score": s} if s is not None else {"parse_error": "no score", "raw": "?"})
            j.write(json.dumps(row) + "\n")
    return gold, judg


CPU: list[float] = []


def timed(fn):
    """Wall time of ``fn()``; its CPU time (all threads of this process) goes to ``CPU[-1]``."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU.append(time.process_time() - c)
    return time.perf_counter() - t, out


def baseline(pair_cases, point_cases, n_resamples: int) -> dict[str, float]:
    import numpy as np
    from scipy import stats

    ok = np.array([v.winner == c.label for c in pair_cases for v in c.votes], dtype=float)
    x = np.array([c.scores[0] for c in point_cases if c.scores[0] is not None])
    y = np.array([c.gold for c in point_cases if c.scores[0] is not None])
    out = {}
    out["accuracy (mean of 0/1)"], _ = timed(lambda: stats.bootstrap(
        (ok,), np.mean, n_resamples=n_resamples, method="percentile", vectorized=True, batch=50, random_state=0))
    out["pearson"], _ = timed(lambda: stats.bootstrap(
        (x, y), lambda a, b, axis: stats.pearsonr(a, b, axis=axis).statistic, paired=True, vectorized=True,
        n_resamples=n_resamples, method="percentile", batch=50, random_state=0))
    k = 10
    t10, _ = timed(lambda: stats.bootstrap(
        (x, y), lambda a, b: stats.kendalltau(a, b).statistic, paired=True, vectorized=False,
        n_resamples=k, method="percentile", random_state=0))
    out[f"kendall_tau (extrapolated from {k})"] = t10 * n_resamples / k
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-judgments", type=int, default=100_000)
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()

    from critic.evaluation.evaluate import evaluate
    from critic.evaluation.metrics_pairwise import pairwise_metrics
    from critic.evaluation.metrics_pointwise import pointwise_metrics

    pair_cases, point_cases = make_cases(args.n_judgments, args.seed)
    B = args.n_resamples
    print(f"{args.n_judgments} pairwise judgments ({len(pair_cases)} items) and {len(point_cases)} pointwise "
          f"judgments; {B} resamples; {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    t_pair, pr = timed(lambda: pairwise_metrics(pair_cases, n_resamples=B))
    t_point, pt = timed(lambda: pointwise_metrics(point_cases, judge_scale=(1, 100), gold_scale=(1, 10), n_resamples=B))
    c_pair = CPU[-2]
    print(f"pairwise metrics:   {t_pair:6.2f} s wall, {c_pair:5.2f} s CPU  (accuracy_with_ties {pr.metrics['accuracy_with_ties'].value:.4f} "
          f"{pr.metrics['accuracy_with_ties'].ci}, accuracy_plus {pr.metrics['accuracy_plus'].value:.4f})")
    print(f"pointwise metrics:  {t_point:6.2f} s wall, {CPU[-1]:5.2f} s CPU  (kendall_tau {pt.metrics['kendall_tau'].value:.4f} "
          f"{pt.metrics['kendall_tau'].ci})")

    with tempfile.TemporaryDirectory() as tmp:
        for name, pcs, ptcs in (("pairwise", pair_cases, []), ("pointwise", [], point_cases)):
            folder = Path(tmp) / name
            folder.mkdir()
            gold, judg = write_files(folder, pcs, ptcs)
            t_eval, report = timed(lambda g=gold, j=judg: evaluate(g, j, n_resamples=B, judge_scale=(1, 100),
                                                                   gold_scale=(1, 10)))
            t_write, _ = timed(lambda r=report, f=folder: r.write(f / "report"))
            print(f"evaluate() from JSONL, {name} ({args.n_judgments} judgments): {t_eval:6.2f} s wall, "
                  f"{CPU[-2]:5.2f} s CPU (reading and validating included); report files + plots: {t_write:.2f} s")

    if not args.skip_baseline:
        base = baseline(pair_cases, point_cases, B)
        print("scipy.stats.bootstrap, one statistic each, judgments resampled, no groups:")
        for name, t in base.items():
            print(f"  {name:<34} {t:8.2f} s")
        total = sum(base.values())
        print(f"  {'sum of the three':<34} {total:8.2f} s  vs critic, every metric both tasks: "
              f"{t_pair + t_point:.2f} s ({total / (t_pair + t_point):.1f}× faster)")


if __name__ == "__main__":
    main()
