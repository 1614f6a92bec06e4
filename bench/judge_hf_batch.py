"""Local backend: judgments per second at --batch-size 32 vs --batch-size 1, same items, one run.

    python bench/judge_hf_batch.py [--n 256] [--family llava] [--max-new-tokens 16]

Builds toy-world pairwise items and a tiny random-initialised model, then judges every item with
the same Critic at each batch size (no cache). An untrained model never emits end-of-turn, so every
generation runs to --max-new-tokens in both arms: the work is identical, only batching differs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--family", default="llava")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-sizes", default="1,32")
    args = ap.parse_args()

    from critic.jsonl import read_items
    from critic.judging.backends.base import SamplingParams
    from critic.judging.backends.hf import HFBackend
    from critic.judging.critic import Critic
    from critic.models.tiny import make_tiny
    from critic.toy.world import make_toy

    tmp = Path(tempfile.mkdtemp())
    make_toy(tmp / "toy", n=args.n, seed=0, task="pointwise")
    items, _ = read_items(tmp / "toy" / "items.jsonl")
    model_dir = make_tiny(tmp / "model", family=args.family)
    print(f"{args.n} pointwise toy items, tiny {args.family}, max_new_tokens={args.max_new_tokens}, "
          f"torch threads={torch.get_num_threads()}")
    rates = {}
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        backend = HFBackend(model_dir, batch_size=bs)
        critic = Critic(backend, sampling=SamplingParams(max_new_tokens=args.max_new_tokens), progress=False)
        t0 = time.perf_counter()
        out = critic.score(items)
        dt = time.perf_counter() - t0
        assert len(out) == args.n
        rates[bs] = args.n / dt
        print(f"batch_size={bs:3d}: {dt:7.2f} s, {rates[bs]:7.2f} judgments/s")
    sizes = sorted(rates)
    print(f"ratio batch {sizes[-1]} / batch {sizes[0]}: {rates[sizes[-1]] / rates[sizes[0]]:.2f}x")


if __name__ == "__main__":
    main()
