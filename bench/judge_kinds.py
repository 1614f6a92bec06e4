"""The three kinds of judge side by side on the same held-out toy items, in one run (issue 15).

    python bench/judge_kinds.py --generative runs/quickstart/critic --scalar runs/toy_rm \\
        --critique runs/toy_critique_rm [--out runs/judge_kinds] [--runs 3]

The checkpoints come from the shipped commands (README, "Train a reward model"): ``critic quickstart``
(a generative critic, LLaVA-Critic style), ``critic train train/toy_rm.yaml`` (a scalar
Bradley–Terry head, InternLM-XComposer2.5-Reward style) and ``critic train train/toy_critique_rm.yaml``
(critique then score, MM-RLHF-Reward style). Any subset may be given.

It prints three tables:

1. **Agreement with gold** — each judge judges the same held-out colour questions (pairwise, both
   orders; pointwise) through :func:`critic.judging.run.judge_to_file`, then ``critic eval`` writes a
   report per judge and ``critic eval --compare`` puts them side by side (``OUT/compare/compare.md``):
   accuracy, consistency across orders (a reward model scores each answer on its own, so it is 1 by
   construction: the table shows it), Pearson on pointwise items. Judgments/s is the warm judging rate
   on the same CPU (model loaded, a warm-up batch first), best of ``--runs``.
2. **Best-of-N** — K = 16 candidate answers per question; each judge scores every answer once
   (pointwise: K generations for the generative critic, K forwards for a scalar model); for
   N = 1, 2, 4, 8, 16 the answer with the highest judge score among the first N is picked and its
   gold score averaged over sets (ties among the top split evenly: the expected gold under a random
   tie-break). ``random`` is the mean gold of the first N (N = 1 for every judge), ``oracle`` the best.
3. **Ranking K = 5 answers** — a scalar model ranks with K forwards; the generative critic's
   tournament (LLaVA-Critic's, pairwise mode) takes K·(K−1) generations. Sets/s side by side, same
   sets, each arm ``--runs`` times (median and range), and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_VALUES = (1, 2, 4, 8, 16)


def _critic(path: str, batch_size: int, max_new_tokens: int):
    from critic.judging.factory import make_critic
    from critic.judging.spec import JudgeSpec

    return make_critic(JudgeSpec(model=path, backend="hf", batch_size=batch_size, no_cache=True,
                                 max_new_tokens=max_new_tokens), progress=False)


def _held_out(root: Path, args) -> dict[str, Path]:
    """Pairwise and pointwise colour questions with one-claim answers (the reward models' held-out set)
    in one items file, candidate sets of 16 and of K answers."""
    from critic.jsonl import read_items
    from critic.toy.world import make_toy

    make_toy(root / "pairwise", n=args.pairs, seed=1000, task="pairwise", kinds=("colour",), extra_claims=False)
    make_toy(root / "pointwise", n=args.points, seed=1001, task="pointwise", kinds=("colour",), extra_claims=False)
    make_toy(root / "bon", n=args.sets, seed=1002, task="candidates", kinds=("colour",), extra_claims=False,
             k=max(N_VALUES))
    make_toy(root / "rank", n=args.rank_sets, seed=1003, task="candidates", kinds=("colour",), extra_claims=False,
             k=args.k)
    with (root / "items.jsonl").open("w", encoding="utf-8") as f:  # one file, absolute image paths
        for sub in ("pairwise", "pointwise"):
            items, _ = read_items(root / sub / "items.jsonl", strict=True)
            for it in items:
                f.write(it.model_copy(update={"images": [str(root / sub / p) for p in it.images]})
                        .model_dump_json(exclude_none=True) + "\n")
    return {"items": root / "items.jsonl", "bon": root / "bon" / "items.jsonl", "rank": root / "rank" / "items.jsonl"}


def _judge_rate(critic, items, out: Path, runs: int) -> tuple[float, int]:
    """Judge ``items`` (pairwise in both orders) to ``out``; the best judgments/s of ``runs`` runs."""
    from critic.judging.run import judge_to_file

    list(critic.judge_stream(items[:8], swap="both"))  # warm-up
    best = 0.0
    n = 0
    for _ in range(runs):
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        judge_to_file(critic, items, out, swap="both", warn=lambda m: None)
        wall = time.perf_counter() - t0
        n = sum(1 for _ in out.open())
        best = max(best, n / wall)
    return best, n


def _best_of_n(critic, sets) -> dict[str, list[float]]:
    """Expected gold score of the judge's pick among the first N answers, per N (mean over sets)."""
    from critic.judging.ranking import rank

    ranked = rank(critic, sets, mode="pointwise")
    table: dict[int, list[float]] = {n: [] for n in N_VALUES}
    for cset, r in zip(sets, ranked):
        for n in N_VALUES:
            scores = [s if s is not None else float("-inf") for s in r.rewards[:n]]
            top = max(scores)
            tied = [cset.scores[i] for i, s in enumerate(scores) if s == top]
            table[n].append(sum(tied) / len(tied))
    return {"by_n": [statistics.fmean(table[n]) for n in N_VALUES]}


def _rank_rate(critic, sets, mode: str, runs: int) -> list[float]:
    from critic.judging.ranking import rank

    rank(critic, sets[:2], mode=mode)  # warm-up
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rank(critic, sets, mode=mode)
        rates.append(len(sets) / (time.perf_counter() - t0))
    return rates


def _cli(*argv: str) -> str:
    got = subprocess.run([sys.executable, "-m", "critic", *argv], capture_output=True, text=True)
    if got.returncode != 0:
        raise SystemExit(f"critic {' '.join(argv)} failed:\n{got.stderr[-2000:]}")
    return got.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generative", help="a generative critic checkpoint (critic quickstart writes OUT/critic)")
    ap.add_argument("--scalar", help="a scalar reward-model checkpoint (train/toy_rm.yaml)")
    ap.add_argument("--critique", help="a critique-then-score checkpoint (train/toy_critique_rm.yaml)")
    ap.add_argument("--out", type=Path, default=None, help="where reports and compare.md go (default: a temp dir)")
    ap.add_argument("--pairs", type=int, default=200, help="held-out pairwise items (ties are kept, as eval does)")
    ap.add_argument("--points", type=int, default=200, help="held-out pointwise items")
    ap.add_argument("--sets", type=int, default=100, help="best-of-N candidate sets (16 answers each)")
    ap.add_argument("--rank-sets", type=int, default=40, help="sets for the ranking rate")
    ap.add_argument("--k", type=int, default=5, help="answers per ranked set")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128, help="longest rationale or critique")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per rate")
    args = ap.parse_args()
    judges = {k: v for k, v in (("generative", args.generative), ("scalar", args.scalar),
                                ("critique_score", args.critique)) if v}
    if not judges:
        ap.error("give at least one of --generative, --scalar, --critique")

    import torch

    from critic.jsonl import read_items, read_records
    from critic.records import CandidateSet

    out = args.out or Path(tempfile.mkdtemp(prefix="judge_kinds-"))
    out.mkdir(parents=True, exist_ok=True)
    files = _held_out(out / "heldout", args)
    items, _ = read_items(files["items"], strict=True)
    bon_sets, rank_sets = ([s.model_copy(update={"images": [str(files[f].parent / p) for p in s.images]})
                            for s in read_records(files[f], CandidateSet)[0]] for f in ("bon", "rank"))
    print(f"{len(items)} held-out items, {len(bon_sets)} best-of-N sets, {len(rank_sets)} ranked sets of {args.k}; "
          f"torch threads {torch.get_num_threads()}", file=sys.stderr)

    rates: dict[str, float] = {}
    bon: dict[str, list[float]] = {}
    rank_rates: dict[str, list[float]] = {}
    reports = []
    for name, path in judges.items():
        critic = _critic(path, args.batch_size, args.max_new_tokens)
        print(f"{name}: judging ...", file=sys.stderr)
        rates[name], n = _judge_rate(critic, items, out / f"{name}.jsonl", args.runs)
        _cli("eval", "--gold", str(files["items"]), "--judgments", str(out / f"{name}.jsonl"),
             "--out", str(out / name), "--no-plots", "--n-resamples", "200")
        reports.append(str(out / name))
        print(f"{name}: best-of-N ...", file=sys.stderr)
        bon[name] = _best_of_n(critic, bon_sets)["by_n"]
        print(f"{name}: ranking ...", file=sys.stderr)
        mode = "pairwise" if name == "generative" else "pointwise"
        rank_rates[name] = _rank_rate(critic, rank_sets, mode, args.runs)
        del critic

    _cli("eval", "--compare", *reports, "--out", str(out / "compare"))
    print("## Agreement with gold (`critic eval --compare`)\n")
    print((out / "compare" / "compare.md").read_text(encoding="utf-8"))
    print("| judge | judgments/s (warm, best of runs) |\n| --- | ---: |")
    for name, r in rates.items():
        print(f"| {name} | {r:.1f} |")

    golds = [s.scores for s in bon_sets]
    print("\n## Best-of-N: mean gold score of the pick\n")
    print("| judge | " + " | ".join(f"N={n}" for n in N_VALUES) + " |")
    print("| --- |" + " ---: |" * len(N_VALUES))
    print("| random | " + " | ".join(f"{statistics.fmean(statistics.fmean(g[:n]) for g in golds):.3f}"
                                     for n in N_VALUES) + " |")
    for name, row in bon.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    print("| oracle | " + " | ".join(f"{statistics.fmean(max(g[:n]) for g in golds):.3f}" for n in N_VALUES) + " |")

    k = args.k
    print(f"\n## Ranking K={k} answers: sets/s (median, min..max of {args.runs} runs)\n")
    print("| judge | how | generations or forwards per set | sets/s |\n| --- | --- | ---: | ---: |")
    for name, rs in rank_rates.items():
        how = {"generative": ("tournament", k * (k - 1)), "scalar": ("K forwards", k),
               "critique_score": ("K critiques + K forwards", 2 * k)}[name]
        print(f"| {name} | {how[0]} | {how[1]} | {statistics.median(rs):.2f} ({min(rs):.2f}..{max(rs):.2f}) |")
    if "generative" in rank_rates:
        for name in ("scalar", "critique_score"):
            if name in rank_rates:
                ratio = [a / b for a, b in zip(rank_rates[name], rank_rates["generative"])]
                print(f"\n{name} / generative tournament: {statistics.median(ratio):.1f}x "
                      f"({min(ratio):.1f}..{max(ratio):.1f})")
    (out / "bench.json").write_text(json.dumps({"judgments_per_s": rates, "best_of_n": bon, "rank_sets_per_s":
                                                rank_rates, "n_values": N_VALUES}, indent=2) + "\n")


if __name__ == "__main__":
    main()
