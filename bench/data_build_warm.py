"""Dataset build throughput from a warm teacher cache: render + parse + write ~113k samples.

    python bench/data_build_warm.py [--pointwise-items 36500] [--pairwise-items 20000] [--num-proc N]

LLaVA-Critic-113k's shape: 72k pointwise + 40k pairwise samples over 46k images. Here: toy items
written as critic JSONL (36.5k pointwise questions, 10k pairwise questions with 2 pairs each: 46.5k
images), two templates per item drawn from a six-template mix, half the pairs swapped, 95/5 split,
``teacher_judge`` mode. Setup (not timed): the items are generated, then the teacher cache is filled
by one build whose backend answers in-process with the oracle (two worker processes). Timed: the
same ``critic data build`` as a subprocess, teacher pointed at an address where nothing listens —
every answer must come from the cache (a miss would be a failed call, and the script checks there
are none). Prints samples/s for the whole command: start-up, reading, image store, rendering,
cache lookups, parsing, the JSONL + LLaVA + HF layouts, stats and card.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RECIPE = """
name: bench-warm
seed: 0
templates_per_item: 2
sources:
  - {{kind: jsonl, name: point, path: {point}, gold_scale: [1, 10]}}
  - {{kind: jsonl, name: pair, path: {pair}}}
templates:
  llava_critic_pointwise: 2
  mllm_judge_score: 1
  score_0_100: 1
  llava_critic_pairwise: 2
  mllm_judge_pair: 1
  wildvision_pair: 1
teacher: {{model: oracle, base_url: "http://127.0.0.1:9/v1", max_retries: 0, timeout: 2, price_per_mtok: [2.5, 10]}}
augment: {{swap_rate: 0.5}}
splits: {{train: 0.95, test: 0.05}}
"""


def _answer(args: tuple[str, list]) -> str:
    from critic.toy.oracle import oracle_answer

    text, images = args
    return oracle_answer({"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}, images)


class OracleInProcess:
    """A backend answering with the oracle in worker processes, caching like OpenAIBackend (warm-up only)."""

    def __init__(self, cache, pool) -> None:
        self.judge_id, self.model, self.cache, self.pool = "openai:oracle", "oracle", cache, pool

    def cache_settings(self):
        """What the real teacher backend adds to every cache key (the recipe's default image encoding)."""
        from critic.judging.backends.openai_compat import OpenAIBackend

        return OpenAIBackend("oracle", base_urls=["http://127.0.0.1:9/v1"], api_key="unused").cache_settings()

    def stream(self, requests, sampling):
        from critic.judging.backends.base import GenResult

        todo = [(i, r) for i, r in enumerate(requests) if self.cache.get(r.key) is None]
        texts = [" ".join(p.get("text", "") for m in r.messages for p in m["content"]) for _, r in todo]
        answers = self.pool.map(_answer, [(t, r.images) for t, (_, r) in zip(texts, todo)], chunksize=64)
        for (_, r), text, ans in zip(todo, texts, answers):
            pt, ct = len(text.split()) + 85, len(ans.split())
            res = GenResult(text=ans, prompt_tokens=pt, completion_tokens=ct, cost=(pt * 2.5 + ct * 10) / 1e6)
            self.cache.put(r.key, res)
        for i, r in enumerate(requests):
            yield i, self.cache.get(r.key)


def _make(args: tuple[Path, int, int, str]) -> None:
    from critic.toy.world import make_toy

    out, n, seed, task = args
    if not (out / "items.jsonl").exists():
        make_toy(out, n=n, seed=seed, task=task)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pointwise-items", type=int, default=36_500)
    ap.add_argument("--pairwise-items", type=int, default=20_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/critic-bench-warm"))
    ap.add_argument("--num-proc", type=int, default=None)
    ap.add_argument("--rewarm", action="store_true", help="fill the cache again even if it exists")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    point, pair = work / f"point{args.pointwise_items}", work / f"pair{args.pairwise_items}"
    t0 = time.perf_counter()
    with mp.Pool(2) as pool:
        pool.map(_make, [(point, args.pointwise_items, 0, "pointwise"), (pair, args.pairwise_items, 1, "pairwise")])
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE.format(point=point / "items.jsonl", pair=pair / "items.jsonl"))
    cache_path = work / f"cache-{args.pointwise_items}-{args.pairwise_items}.sqlite"
    print(f"items ready in {time.perf_counter() - t0:.0f} s; warming the cache ...", flush=True)

    from critic.data.build import BuildOptions, build_dataset
    from critic.judging.backends.cache import JudgeCache

    if args.rewarm or not cache_path.exists():
        t0 = time.perf_counter()
        with JudgeCache(cache_path) as cache, mp.Pool(2) as pool:
            res = build_dataset(recipe, work / "warm-out", BuildOptions(backend=OracleInProcess(cache, pool),
                                                                       cache=cache_path, progress=False))
        print(f"cache warm ({res.stats.total} samples) in {time.perf_counter() - t0:.0f} s", flush=True)

    out = work / "out"
    cmd = [sys.executable, "-m", "critic", "data", "build", str(recipe), "--out", str(out),
           "--cache", str(cache_path), "--no-progress"]
    if args.num_proc:
        cmd += ["--num-proc", str(args.num_proc)]
    env = {**os.environ, "OPENAI_API_KEY": "unused"}
    load = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(f"build failed with status {proc.returncode}")
    stats = json.loads((out / "stats.json").read_text())
    n = stats["samples"]["total"]
    assert stats["teacher"]["failed_count"] == 0, "cache misses: the cache was not warm"
    print(f"\n{n} samples ({stats['samples']['by_task']}), {stats['images']['unique']} images, "
          f"{stats['teacher']['calls']} teacher calls all from the cache")
    print(f"critic data build (warm cache, {os.cpu_count()} cores, --num-proc {args.num_proc or 1}): "
          f"{wall:.1f} s  {n / wall:,.0f} samples/s; CPU {cpu:.1f} s in all processes "
          f"({cpu / n * 1e3:.2f} ms/sample); load average before {load[0]:.1f}")


if __name__ == "__main__":
    main()
