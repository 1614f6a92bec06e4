"""OpenAI backend throughput: `Critic.from_openai(...).score` vs a bare `openai` SDK loop.

    python bench/judge_openai_vs_sdk.py [--n 512] [--latency 0.05] [--concurrency 16]

Both talk to the same loopback chat-completions server answering after --latency seconds, at the
same concurrency, with the same prompts and images (encoded as data URLs inside the timed region
in both arms). The bare loop is what a user would write: AsyncOpenAI + asyncio.Semaphore +
gather. critic adds template rendering, image hashing, cache keys (cache off here), parsing and
typed judgments.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    from openai import AsyncOpenAI

    from critic.jsonl import read_items
    from critic.judging.backends.openai_compat import to_chat_messages
    from critic.judging.critic import Critic
    from critic.judging.templates import load_template
    from critic.media import load_image, to_data_url
    from critic.toy.chat_server import ChatServer
    from critic.toy.world import make_toy

    tmp = Path(tempfile.mkdtemp())
    make_toy(tmp / "toy", n=args.n, seed=0, task="pointwise")
    items, _ = read_items(tmp / "toy" / "items.jsonl")
    template = load_template("llava_critic_pointwise")
    answer = lambda body, images: "The response matches the image. Overall score: 80"  # noqa: E731

    with ChatServer(answer, latency=args.latency) as srv:
        # --- bare SDK loop -------------------------------------------------------------------
        async def bare() -> list[str]:
            client = AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=6)
            sem = asyncio.Semaphore(args.concurrency)

            async def one(item) -> str:
                async with sem:
                    prompt = template.render_prompt(item)
                    urls = [to_data_url(load_image(item.images[i])) for i in prompt.image_order()]
                    r = await client.chat.completions.create(
                        model="m", messages=to_chat_messages(prompt.messages(), urls), max_tokens=512, temperature=0)
                    return r.choices[0].message.content

            try:
                return await asyncio.gather(*(one(it) for it in items))
            finally:
                await client.close()

        t0 = time.perf_counter()
        texts = asyncio.run(bare())
        t_bare = time.perf_counter() - t0
        assert len(texts) == args.n

        # --- critic --------------------------------------------------------------------------
        critic = Critic.from_openai("m", base_url=srv.base_url, concurrency=args.concurrency, progress=False)
        t0 = time.perf_counter()
        out = critic.score(items)
        t_ours = time.perf_counter() - t0
        assert len(out) == args.n and all(j.score == 80 for j in out)

    ideal = args.n * args.latency / args.concurrency
    print(f"{args.n} requests, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency} "
          f"(ideal {ideal:.2f} s)")
    print(f"bare openai SDK loop: {t_bare:6.2f} s  {args.n / t_bare:7.1f} req/s")
    print(f"critic judge       : {t_ours:6.2f} s  {args.n / t_ours:7.1f} req/s")
    print(f"ratio critic / bare: {t_bare / t_ours:.2f}")


if __name__ == "__main__":
    main()
