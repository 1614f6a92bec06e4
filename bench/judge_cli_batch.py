"""`critic judge --backend hf` as a user runs it: --batch-size 32 vs --batch-size 1, marginal time per item.

    python bench/judge_cli_batch.py [--n 1024] [--warm 64] [--family llava] [--max-new-tokens 16] [--runs 3]

The in-process bench (``bench/judge_hf_batch.py``) times ``Critic`` alone; this one runs the real
command in a child process (start-up, reading items, image decoding and hashing, rendering, parsing,
writing the judgments, the progress bar all included), with ``--no-cache``. Each arm is run on the
first ``--warm`` items and on all ``--n``; the difference of the two wall times is the marginal time of
the last ``n - warm`` items, so the start-up and the model load (the same in both arms) cancel. An
untrained tiny model never emits end-of-turn, so every generation runs to ``--max-new-tokens`` in both
arms: the work is identical, only batching differs. Prints each run and the median ratio with its
spread. Needs an idle machine: a loaded one inflates the ratio (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def judge_wall(model: Path, items: Path, out: Path, batch_size: int, max_new_tokens: int) -> float:
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "critic", "judge", "--backend", "hf", "--model", str(model), "--input", str(items),
           "--output", str(out), "--batch-size", str(batch_size), "--max-new-tokens", str(max_new_tokens),
           "--no-cache", "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--warm", type=int, default=64, help="items of the short run subtracted (default 64)")
    ap.add_argument("--family", default="llava")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not 0 < args.warm < args.n:
        ap.error("--warm must be between 0 and --n")

    from critic.models.tiny import make_tiny
    from critic.toy.world import make_toy

    tmp = Path(tempfile.mkdtemp())
    make_toy(tmp / "toy", n=args.n, seed=0, task="pointwise")
    lines = (tmp / "toy" / "items.jsonl").read_text().splitlines(keepends=True)
    full, short = tmp / "toy" / "items.jsonl", tmp / "toy" / "warm.jsonl"
    short.write_text("".join(lines[: args.warm]))
    model = make_tiny(tmp / "model", family=args.family)
    marginal = args.n - args.warm
    print(f"critic judge --backend hf, {args.n} pointwise toy items (marginal: the last {marginal}), tiny "
          f"{args.family}, max_new_tokens={args.max_new_tokens}, --no-cache, {args.runs} run(s)")
    ratios = []
    for run in range(1, args.runs + 1):
        per_item = {}
        for bs in (1, 32):
            t_all = judge_wall(model, full, tmp / "j.jsonl", bs, args.max_new_tokens)
            t_warm = judge_wall(model, short, tmp / "j.jsonl", bs, args.max_new_tokens)
            per_item[bs] = (t_all - t_warm) / marginal
            print(f"  run {run} batch {bs:>2}: {t_all:7.2f} s all, {t_warm:6.2f} s first {args.warm}, "
                  f"{per_item[bs] * 1000:7.2f} ms/item marginal ({1 / per_item[bs]:7.2f} judgments/s)")
        ratios.append(per_item[1] / per_item[32])
        print(f"  run {run} ratio: {ratios[-1]:.2f}x")
    print(f"ratio batch 32 / batch 1, marginal: median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
