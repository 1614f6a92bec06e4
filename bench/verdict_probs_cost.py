"""What ``--verdict-probs`` costs on the local backend: judgments/s with and without it, same items, one run.

    python bench/verdict_probs_cost.py [--n 64] [--family llava] [--batch-size 8] [--max-new-tokens 32]

A tiny random-initialised model (``critic.models.tiny``) judges toy pairwise items. It rarely writes a
parseable verdict, so with the flag on its extra forward would seldom run; instead, as
``tests/test_verdict_probs_local.py`` does, the cost is measured in two parts on the same items:

* generation: ``Critic.judge_stream`` without the flag (every generation runs to --max-new-tokens);
* the extra forward: :class:`~critic.judging.confidence.ProbAttacher` on every item with a given
  rationale ending in the template's verdict (one teacher-forced forward per batch, as in a real run).

Judgments/s with the flag = n / (generation + extra forward), without = n / generation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--family", default="llava")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()

    from critic.jsonl import read_items
    from critic.judging.backends.base import SamplingParams
    from critic.judging.backends.generation import GenResult
    from critic.judging.backends.hf import HFBackend
    from critic.judging.critic import Critic
    from critic.models.tiny import make_tiny
    from critic.toy.world import make_toy

    tmp = Path(tempfile.mkdtemp())
    make_toy(tmp / "toy", n=args.n, seed=0, task="pairwise")
    items, _ = read_items(tmp / "toy" / "items.jsonl")
    backend = HFBackend(make_tiny(tmp / "model", family=args.family), batch_size=args.batch_size)
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens)
    print(f"{len(items)} pairwise toy items, tiny {args.family}, batch {args.batch_size}, "
          f"max_new_tokens={args.max_new_tokens}, torch threads={torch.get_num_threads()}")

    plain = Critic(backend, template="compact_pairwise", sampling=sampling, progress=False)
    t0 = time.perf_counter()
    js = list(plain.judge_stream(items))
    gen_s = time.perf_counter() - t0

    probs = Critic(backend, template="compact_pairwise", sampling=sampling, verdict_probs=True, progress=False)
    tmpl = probs.template_for("pairwise")
    rows = []
    for k, it in enumerate(items):
        task = probs._task(it, tmpl, swapped=False)
        res = GenResult(text=f"Both answers name a colour; the first matches the image. Verdict: {'AB'[k % 2]}")
        rows.append((task, tmpl, res, probs._judgment(task, tmpl, res)))
    t0 = time.perf_counter()
    out = []
    for b in range(0, len(rows), args.batch_size):
        out += probs._probs.attach(rows[b: b + args.batch_size])
    fwd_s = time.perf_counter() - t0
    assert all(j.verdict_probs for j in out), "the extra forward did not run"
    n = len(js)
    print(f"generation {gen_s:.2f} s, extra forward {fwd_s:.2f} s ({fwd_s / gen_s:.1%} of generation)")
    print(f"judgments/s without --verdict-probs {n / gen_s:.2f}, with {n / (gen_s + fwd_s):.2f} "
          f"({gen_s / (gen_s + fwd_s):.2f}x)")


if __name__ == "__main__":
    main()
