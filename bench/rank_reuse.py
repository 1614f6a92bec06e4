"""Pairwise tournaments: judgments/s with naive requests vs per-set image reuse, same sets, one run.

    python bench/rank_reuse.py [--sets 40] [--k 5] [--image-size 768] [--hf-sets 8] [--max-new-tokens 8]

A K-answer tournament sends the same image and question K·(K−1) times. ``critic.judging.ranking`` reuses
what it can (``rank_stream(..., reuse=True)``):

- each set's images are read and decoded once, not once per request;
- the OpenAI-compatible backend encodes each distinct image to a data URL once, inside its
  ``reuse_images()`` scope, not once per request.

Arms (cache off, identical requests and verdicts in both):

1. OpenAI-compatible backend against the loopback chat server, whose judge answers at once with a
   fixed verdict (so the client's per-request work is what is measured; the server, in the same
   process, still decodes every image it receives in both arms — "process CPU" includes it);
2. the local transformers backend with a tiny random-initialised LLaVA (generation dominates).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _rate(critic, sets, reuse: bool) -> tuple[float, float, int]:
    from critic.judging.ranking import rank_stream

    t0 = time.perf_counter()
    c0 = time.process_time()
    n = sum(len(r.judgments) for r in rank_stream(critic, sets, reuse=reuse))
    return time.perf_counter() - t0, time.process_time() - c0, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--image-size", type=int, default=768)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--hf-sets", type=int, default=8)
    ap.add_argument("--hf-batch-size", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="alternate the arms this many times, keep the best")
    ap.add_argument("--backends", default="openai,hf", help="which backends to measure")
    args = ap.parse_args()

    import torch

    from critic.jsonl import read_records
    from critic.judging.backends.base import SamplingParams
    from critic.judging.critic import Critic
    from critic.models.tiny import make_tiny
    from critic.records import CandidateSet
    from critic.toy.chat_server import ChatServer
    from critic.toy.world import make_toy

    tmp = Path(tempfile.mkdtemp())
    make_toy(tmp / "toy", n=args.sets, seed=0, task="candidates", k=args.k, image_size=args.image_size)
    sets, _ = read_records(tmp / "toy" / "items.jsonl", CandidateSet)
    per_set = args.k * (args.k - 1)
    print(f"{len(sets)} candidate sets, K={args.k} ({per_set} judgments per set), {args.image_size}-px PNG images, "
          f"torch threads={torch.get_num_threads()}")

    verdict = "Both are plausible, but the first one is more precise. Therefore, the first response is better."
    rows = []
    backends = args.backends.split(",")
    with ChatServer(lambda body, images: verdict) as srv:
        critic = Critic.from_openai("bench", base_url=srv.base_url, concurrency=args.concurrency, progress=False)
        best: dict[bool, tuple[float, float, int]] = {}
        for _ in range(args.repeats if "openai" in backends else 0):
            for reuse in (False, True):
                got = _rate(critic, sets, reuse)
                if reuse not in best or got[0] < best[reuse][0]:
                    best[reuse] = got
        for reuse in best and (False, True) or ():
            wall, cpu, n = best[reuse]
            rows.append(("openai", reuse, wall, cpu, n))

    model_dir = make_tiny(tmp / "model", family="llava")
    hf_sets = sets[: args.hf_sets]
    critic = Critic.from_pretrained(model_dir, batch_size=args.hf_batch_size, progress=False,
                                    sampling=SamplingParams(max_new_tokens=args.max_new_tokens))
    best = {}
    for _ in range(args.repeats if "hf" in backends else 0):
        for reuse in (False, True):
            got = _rate(critic, hf_sets, reuse)
            if reuse not in best or got[0] < best[reuse][0]:
                best[reuse] = got
    for reuse in best and (False, True) or ():
        wall, cpu, n = best[reuse]
        rows.append(("hf", reuse, wall, cpu, n))

    print("| backend | requests | judgments | wall | process CPU | judgments/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    rates = {}
    for backend, reuse, wall, cpu, n in rows:
        rates[(backend, reuse)] = n / wall
        arm = "reuse (read once, encode once)" if reuse else "naive (per request)"
        print(f"| {backend} | {arm} | {n} | {wall:.2f} s | {cpu:.2f} s | {n / wall:.1f} |")
    for backend in backends:
        print(f"{backend}: reuse / naive = {rates[(backend, True)] / rates[(backend, False)]:.2f}x")


if __name__ == "__main__":
    main()
