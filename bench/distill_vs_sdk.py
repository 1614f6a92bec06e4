"""Distillation throughput: ``critic data build`` (teacher_judge) vs a bare ``openai`` SDK loop.

    python bench/distill_vs_sdk.py [--n 1024] [--latency 0.05] [--concurrency 16] [--num-proc 1]

Both arms ask the oracle teacher (``critic toy teacher``, its own process, answering after
--latency seconds) to judge the same toy-world items with the same template, at the same
concurrency. The bare loop is what a user would write: AsyncOpenAI + asyncio.Semaphore + gather,
rendering each prompt and encoding its image as a data URL, keeping the answer text. critic's arm
is the whole build: reading the items, copying images, rendering, image hashing and cache keys
(cache on, cold), retries, parsing, making training samples, and writing the JSONL, LLaVA and HF
layouts, stats and card. Ratio = bare time / critic time (higher is better; target ≥ 0.85).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--num-proc", type=int, default=1)
    ap.add_argument("--template", default="llava_critic_pointwise")
    args = ap.parse_args()

    from openai import AsyncOpenAI

    from critic.data.build import BuildOptions, build_dataset
    from critic.jsonl import read_items
    from critic.judging.backends.openai_compat import to_chat_messages
    from critic.judging.templates import load_template
    from critic.media import load_image, to_data_url
    from critic.toy.world import make_toy

    tmp = Path(tempfile.mkdtemp(prefix="critic-distill-bench-"))
    make_toy(tmp / "toy", n=args.n, seed=0, task="pointwise")
    items, _ = read_items(tmp / "toy" / "items.jsonl")
    template = load_template(args.template)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "critic", "toy", "teacher", "--port", str(port),
                               "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        assert "serving" in server.stdout.readline()

        async def bare() -> list[str]:
            client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=6)
            sem = asyncio.Semaphore(args.concurrency)

            async def one(item) -> str:
                async with sem:
                    prompt = template.render_prompt(item)
                    urls = [to_data_url(load_image(item.images[i])) for i in prompt.image_order()]
                    r = await client.chat.completions.create(
                        model="oracle", messages=to_chat_messages(prompt.messages(), urls), max_tokens=1024,
                        temperature=0)
                    return r.choices[0].message.content

            try:
                return await asyncio.gather(*(one(it) for it in items))
            finally:
                await client.close()

        t0, c0 = time.perf_counter(), time.process_time()
        texts = asyncio.run(bare())
        t_bare, cpu_bare = time.perf_counter() - t0, time.process_time() - c0
        with open(tmp / "bare.jsonl", "w") as fh:
            for it, text in zip(items, texts):
                fh.write(json.dumps({"id": it.id, "answer": text}) + "\n")
        assert len(texts) == args.n and all(template.parse(t).ok for t in texts)

        recipe = tmp / "recipe.yaml"
        recipe.write_text(json.dumps({
            "name": "distill-bench", "sources": [{"kind": "jsonl", "path": str(tmp / "toy" / "items.jsonl")}],
            "templates": {args.template: 1},
            "teacher": {"model": "oracle", "base_url": base_url, "concurrency": args.concurrency,
                        "max_new_tokens": 1024, "price_per_mtok": [0, 0]}}))
        t0, c0 = time.perf_counter(), time.process_time()
        res = build_dataset(recipe, tmp / "out", BuildOptions(cache=tmp / "cache.sqlite", progress=False,
                                                             num_proc=args.num_proc))
        t_ours, cpu_ours = time.perf_counter() - t0, time.process_time() - c0
        assert res.stats.total == args.n and res.stats.teacher["sent"] == args.n, res.stats.to_json()["drops"]
    finally:
        server.kill()
        server.wait()

    ideal = args.n * args.latency / args.concurrency
    print(f"{args.n} items, oracle latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, "
          f"template {args.template} (ideal {ideal:.2f} s)")
    print(f"bare openai SDK loop         : {t_bare:6.2f} s  {args.n / t_bare:7.1f} samples/s  "
          f"(client CPU {cpu_bare / args.n * 1e3:.2f} ms/sample)")
    print(f"critic data build (num_proc {args.num_proc}): {t_ours:6.2f} s  {args.n / t_ours:7.1f} samples/s  "
          f"(client CPU {cpu_ours / args.n * 1e3:.2f} ms/sample in this process)")
    print(f"ratio critic / bare: {t_bare / t_ours:.2f}")


if __name__ == "__main__":
    main()
