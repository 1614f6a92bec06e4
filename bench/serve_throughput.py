"""critic serve: throughput through the server vs in-process, and dynamic batching vs one request per forward.

    python bench/serve_throughput.py [--n 1000] [--clients 64] [--tiny-n 128] [--tiny-clients 32]

1. Oracle judge (the toy OpenAI-compatible teacher) behind the server: ``--n`` OpenRLHF ``/get_reward``
   requests (one query each, the label an item id of ``--items``) from ``--clients`` concurrent
   clients, against the same judgments made in-process by ``Critic.score`` (concurrency 16, no
   cache in either arm). Prints the ratio and the per-request p50 / p99 latency.
2. A tiny random local model (``make_tiny``) behind the server, ``--tiny-clients`` clients each
   sending one-item ``/v1/score`` requests: ``--max-batch 32`` vs ``--max-batch 1`` (one request per
   forward). An untrained model runs every generation to ``--max-new-tokens`` in both arms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _drive(url: str, bodies: list[tuple[str, dict]], clients: int) -> tuple[float, list[float]]:
    from critic.serving.client import RemoteCritic

    client = RemoteCritic(url)
    lat: list[float] = []

    def one(body: tuple[str, dict]) -> None:
        t = time.perf_counter()
        client.request("POST", body[0], body[1])
        lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, bodies))
    return time.perf_counter() - t0, sorted(lat)


def _pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000


def oracle_arm(args: argparse.Namespace, tmp: Path) -> None:
    from critic.jsonl import read_items
    from critic.judging.factory import make_critic
    from critic.judging.spec import JudgeSpec
    from critic.serving.run import ServeOptions, ServerThread
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer
    from critic.toy.world import make_toy

    make_toy(tmp / "toy", n=args.n, seed=0, task="pointwise")
    items, _ = read_items(tmp / "toy" / "items.jsonl")
    with ChatServer(oracle_answer) as oracle:
        spec = JudgeSpec(backend="openai", model="oracle", base_url=[oracle.base_url], no_cache=True, concurrency=16)
        critic = make_critic(spec, progress=False)
        t0 = time.perf_counter()
        local = critic.score(items)
        t_local = time.perf_counter() - t0
        opts = ServeOptions(port=0, items=str(tmp / "toy" / "items.jsonl"), max_batch=args.clients, max_wait_ms=5)
        with ServerThread(make_critic(spec, progress=False), opts) as srv:
            bodies = [("/get_reward", {"query": [it.response], "labels": [it.id]}) for it in items]
            t_srv, lat = _drive(srv.base_url, bodies, args.clients)
    ok = sum(j.score is not None for j in local)
    print(f"oracle, {args.n} judgments: in-process {args.n / t_local:.1f}/s ({ok} scored), through the server "
          f"({args.clients} clients) {args.n / t_srv:.1f}/s -> ratio {t_local / t_srv:.2f}; "
          f"latency p50 {_pct(lat, 0.5):.0f} ms, p99 {_pct(lat, 0.99):.0f} ms")


def tiny_arm(args: argparse.Namespace, tmp: Path) -> None:
    import torch

    from critic.jsonl import read_items
    from critic.judging.backends.base import SamplingParams
    from critic.judging.backends.hf import HFBackend
    from critic.judging.critic import Critic
    from critic.models.tiny import make_tiny
    from critic.serving.run import ServeOptions, ServerThread
    from critic.toy.world import make_toy

    make_toy(tmp / "tiny", n=args.tiny_n, seed=1, task="pointwise")
    items, _ = read_items(tmp / "tiny" / "items.jsonl")
    model_dir = make_tiny(tmp / "model", family="llava")
    bodies = []
    from critic.media import to_data_url

    for it in items:
        d = it.to_json_dict()
        d["images"] = [to_data_url(p, format="PNG") for p in it.images]
        bodies.append(("/v1/score", {"items": [d]}))
    rates = {}
    for max_batch in (1, 32):
        backend = HFBackend(str(model_dir), batch_size=max_batch, device="cpu")
        critic = Critic(backend, template="llava_critic_pointwise", progress=False,
                        sampling=SamplingParams(max_new_tokens=args.max_new_tokens))
        with ServerThread(critic, ServeOptions(port=0, max_batch=max_batch, max_wait_ms=10)) as srv:
            _drive(srv.base_url, bodies[:4], 4)  # warm-up
            before = (srv.state.metrics.batches.sum, srv.state.metrics.batches.total)
            t, lat = _drive(srv.base_url, bodies, args.tiny_clients)
            gens, batches = (a - b for a, b in zip((srv.state.metrics.batches.sum, srv.state.metrics.batches.total),
                                                   before))
        rates[max_batch] = len(bodies) / t
        print(f"  {batches} batches, mean {gens / max(1, batches):.1f} generations per batch")
        print(f"tiny llava, max_batch {max_batch:2d}, {args.tiny_clients} clients: {rates[max_batch]:.1f} req/s, "
              f"p50 {_pct(lat, 0.5):.0f} ms, p99 {_pct(lat, 0.99):.0f} ms (torch threads {torch.get_num_threads()})")
    print(f"dynamic batching vs one request per forward: {rates[32] / rates[1]:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--tiny-n", type=int, default=128)
    ap.add_argument("--tiny-clients", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--only", choices=["oracle", "tiny"])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    if args.only != "tiny":
        oracle_arm(args, tmp)
    if args.only != "oracle":
        tiny_arm(args, tmp)


if __name__ == "__main__":
    main()
