"""The judge cascade (``critic judge --cascade``): accuracy against share escalated, over thresholds, on toy data.

    python bench/cascade_tradeoff.py [--n 200] [--seed 0]

Cheap judge: a chat server that answers like the oracle but, per pair, draws a confidence
``c ~ U(0.5, 1)``, is right with probability ``c`` (else it names the other answer) and reports ``c`` as
P(its verdict letter) in its logprobs — a calibrated but noisy judge. Strong judge: the oracle. Both
judge every item once (``--verdict-probs`` for the cheap one); each threshold's cascade is then the
same merge :func:`critic.judging.cascade.run_cascade` does, so the sweep costs one pass of each judge.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
import zlib
from pathlib import Path

import critic.toy.chat_server as cs
from critic.toy.oracle import oracle_answer, prompt_text

FLIP = {"A": "B", "B": "A"}
_ORIGINAL = cs.toy_logprobs


def _draw(body: dict, seed: int) -> tuple[float, bool]:
    key = " ".join(sorted(prompt_text(body).split()))  # the same for both orders of a pair
    rng = random.Random(zlib.crc32(key.encode()) + seed)
    c = rng.uniform(0.5, 0.999)
    return c, rng.random() < c


def noisy(seed: int):
    def answer(body, images):
        text = oracle_answer(body, images)
        c, right = _draw(body, seed)
        head, _, last = text.rpartition("\n")
        if not right:
            last = last[:-1] + FLIP.get(last[-1], last[-1])
        return f"Confidence {round(c * 1000)}. {head}\n{last}"
    return answer


def logprobs(content: str, top: int):
    out = _ORIGINAL(content, top)
    if out is None or not content.startswith("Confidence "):
        return out
    c = int(content.split()[1].rstrip(".")) / 1000
    for row in out["content"]:
        core = row["token"].strip()
        if core in FLIP:
            lead = row["token"][: len(row["token"]) - len(row["token"].lstrip())]
            row["logprob"] = math.log(c)
            row["top_logprobs"] = [{"token": row["token"], "logprob": math.log(c), "bytes": []},
                                   {"token": lead + FLIP[core], "logprob": math.log(1 - c), "bytes": []}][:top]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="pairwise toy items")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--thresholds", default="0,0.6,0.7,0.75,0.8,0.85,0.9,0.95,1.01")
    args = ap.parse_args()

    from critic.jsonl import read_items
    from critic.judging.cascade import accuracy, escalated_ids, gold_of, item_confidences, merge
    from critic.judging.critic import Critic
    from critic.toy.world import make_toy

    cs.toy_logprobs = logprobs
    tmp = Path(tempfile.mkdtemp())
    make_toy(tmp / "toy", n=args.n, seed=args.seed, task="pairwise")
    items, _ = read_items(tmp / "toy" / "items.jsonl")
    items = items[: args.n]
    with cs.ChatServer(noisy(args.seed)) as cheap_srv, cs.ChatServer(oracle_answer) as strong_srv:
        cheap = Critic.from_openai("noisy", base_url=cheap_srv.base_url, template="compact_pairwise",
                                   verdict_probs=True, progress=False)
        strong = Critic.from_openai("oracle", base_url=strong_srv.base_url, template="compact_pairwise",
                                    progress=False)
        t0 = time.perf_counter()
        cheap_js = list(cheap.judge_stream(items))
        t1 = time.perf_counter()
        strong_js = list(strong.judge_stream(items))
        t2 = time.perf_counter()
    gold = gold_of(items)
    conf = item_confidences(cheap_js)
    print(f"{len(items)} pairwise toy items (seed {args.seed}); cheap judge {t1 - t0:.1f} s, strong judge "
          f"{t2 - t1:.1f} s for all items")
    print(f"cheap alone: accuracy {accuracy(cheap_js, gold):.3f}; strong alone: {accuracy(strong_js, gold):.3f}")
    print("| threshold | share escalated | accuracy | strong calls / all-strong |")
    print("| --- | --- | --- | --- |")
    for t in (float(x) for x in args.thresholds.split(",")):
        up = escalated_ids(conf, t)
        final = merge(cheap_js, [j for j in strong_js if j.id in up], conf, up)
        share = len(up) / len(conf)
        print(f"| {t:g} | {share:.1%} | {accuracy(final, gold):.3f} | {share:.2f} |")


if __name__ == "__main__":
    main()
