"""OpenAIBackend against the loopback ChatServer: order, concurrency, rotation, faults, cache."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from critic.judging.backends.base import BackendFatalError, GenRequest, SamplingParams, generate_all
from critic.judging.backends.cache import JudgeCache
from critic.judging.backends.cached import CachedBackend
from critic.judging.backends.openai_compat import OpenAIBackend, price_for, to_chat_messages
from critic.toy.chat_server import ChatServer, FaultConfig

GREEDY = SamplingParams(max_new_tokens=64)


def echo(body, images):
    """The last text part of the request, plus how many images came."""
    text = [
        p["text"]
        for m in body["messages"]
        if isinstance(m["content"], list)
        for p in m["content"]
        if p["type"] == "text"
    ]
    return f"echo {text[-1]} images={len(images)}"


def _req(i: int, images=()) -> GenRequest:
    content = [{"type": "image"} for _ in images] + [{"type": "text", "text": f"q{i}"}]
    return GenRequest(messages=[{"role": "user", "content": content}], images=list(images))


def _backend(urls, **kw) -> OpenAIBackend:
    kw.setdefault("max_retries", 2)
    kw.setdefault("timeout", 5)
    b = OpenAIBackend("test-model", base_urls=urls, api_key=kw.pop("api_key", "k"), **kw)
    b.retry_base_delay = 0.01
    return b


def _noise(w: int, h: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_results_in_request_order_with_usage_and_cost():
    with ChatServer(echo, latency=0.01) as srv:
        backend = _backend(srv.base_url, concurrency=4, price_per_mtok=(1.0, 2.0))
        seen = [i for i, _ in backend.stream([_req(i) for i in range(12)], GREEDY)]
        assert sorted(seen) == list(range(12))
        results = generate_all(backend, [_req(i) for i in range(12)], GREEDY)
    assert [r.text for r in results] == [f"echo q{i} images=0" for i in range(12)]
    r = results[0]
    assert r.ok and not r.cached and r.prompt_tokens == 1 and r.completion_tokens == 3
    assert r.cost == pytest.approx((1 * 1.0 + 3 * 2.0) / 1e6)
    assert backend.judge_id == "openai:test-model"
    assert price_for("gpt-4o") == (2.5, 10.0) and price_for("gpt-4o-2024-05-13") == (5.0, 15.0)
    assert OpenAIBackend("gpt-4o-mini").price_per_mtok == (0.15, 0.6)


def test_sampling_and_extra_body_are_sent():
    bodies = []

    def record(body, images):
        bodies.append(body)
        return "ok"

    with ChatServer(record) as srv:
        backend = _backend(srv.base_url, extra_body={"top_k": 1})
        generate_all(
            backend, [_req(0)], SamplingParams(max_new_tokens=7, temperature=0.5, top_p=0.9, seed=11)
        )
    body = bodies[0]
    assert (
        body["model"],
        body["temperature"],
        body["top_p"],
        body["max_tokens"],
        body["seed"],
        body["top_k"],
    ) == (
        "test-model",
        0.5,
        0.9,
        7,
        11,
        1,
    )


def test_messages_are_converted():
    msgs = [
        {"role": "system", "content": [{"type": "text", "text": "Judge."}]},
        {"role": "user", "content": [{"type": "text", "text": "A"}, {"type": "image"}, {"type": "image"}]},
        {"role": "assistant", "content": "prior"},
    ]
    out = to_chat_messages(msgs, ["u1", "u2"], detail="high")
    assert out[0] == {"role": "system", "content": "Judge."}
    assert [p["type"] for p in out[1]["content"]] == ["text", "image_url", "image_url"]
    assert out[1]["content"][2]["image_url"] == {"url": "u2", "detail": "high"}
    assert out[2] == {"role": "assistant", "content": "prior"}
    with pytest.raises(ValueError, match="1 images given but the messages have 2"):
        to_chat_messages(msgs, ["u1"])
    with pytest.raises(ValueError, match="1 images given but the messages have 0"):
        to_chat_messages(msgs[:1], ["u1"])


def test_images_arrive_with_the_same_pixels():
    got = []

    def keep(body, images):
        got.extend(images)
        return "seen"

    imgs = [_noise(64, 48), Image.new("RGB", (20, 30), (1, 2, 3))]
    with ChatServer(keep) as srv:
        (res,) = generate_all(_backend(srv.base_url), [_req(0, imgs)], GREEDY)
    assert res.text == "seen"
    assert [g.size for g in got] == [(64, 48), (20, 30)]
    assert all(g.tobytes() == im.tobytes() for g, im in zip(got, imgs, strict=True))


def test_bad_request_fails_alone():
    bad = GenRequest(messages=[{"role": "user", "content": [{"type": "image"}]}], images=[])
    with ChatServer(echo) as srv:
        results = generate_all(_backend(srv.base_url), [_req(0), bad, _req(2)], GREEDY)
        assert srv.stats.requests == 2
    assert results[0].ok and results[2].ok
    assert results[1].text is None and "bad request" in results[1].error


def test_concurrency_is_bounded():
    with ChatServer(echo, latency=0.05) as srv:
        results = generate_all(_backend(srv.base_url, concurrency=5), [_req(i) for i in range(30)], GREEDY)
        assert all(r.ok for r in results)
        assert 2 <= srv.stats.max_in_flight <= 5


def test_rotation_over_two_servers_and_failover():
    with ChatServer(echo, latency=0.01) as a, ChatServer(echo, latency=0.01) as b:
        results = generate_all(
            _backend([a.base_url, b.base_url], concurrency=4), [_req(i) for i in range(20)], GREEDY
        )
        assert all(r.ok for r in results)
        assert a.stats.outcomes["ok"] == b.stats.outcomes["ok"] == 10
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with ChatServer(echo) as live:
        backend = _backend([dead, live.base_url], max_retries=0)
        results = generate_all(backend, [_req(i) for i in range(6)], GREEDY)
        assert all(r.ok for r in results) and live.stats.outcomes["ok"] == 6
        (alone,) = generate_all(_backend([dead], max_retries=0), [_req(0)], GREEDY)
        assert "connection error" in alone.error


def test_429_honours_retry_after_and_can_outlast_retries():
    faults = FaultConfig(first=["429"], retry_after=0.3)
    with ChatServer(echo, faults=faults) as srv:
        t0 = time.perf_counter()
        (res,) = generate_all(_backend(srv.base_url), [_req(0)], GREEDY)
        assert res.ok and time.perf_counter() - t0 >= 0.28
        assert srv.stats.outcomes["429"] == 1
    with ChatServer(echo, faults=FaultConfig(rate_429=1.0, retry_after=0.01)) as srv:
        (res,) = generate_all(_backend(srv.base_url, max_retries=2), [_req(0)], GREEDY)
        assert res.error.startswith("HTTP 429") and srv.stats.outcomes["429"] == 3


def test_500_retried_then_reported():
    with ChatServer(echo, faults=FaultConfig(first=["500", "500", "500"])) as srv:
        results = generate_all(
            _backend(srv.base_url, concurrency=1, max_retries=2), [_req(0), _req(1)], GREEDY
        )
        assert results[0].error.startswith("HTTP 500") and results[0].text is None
        assert results[1].ok and srv.stats.requests == 4


def test_timeouts_are_retried_then_reported():
    with ChatServer(echo, faults=FaultConfig(first=["slow", "slow", "ok"], slow_delay=1.0)) as srv:
        backend = _backend(srv.base_url, concurrency=1, max_retries=1, timeout=0.4)
        results = generate_all(backend, [_req(0), _req(1)], GREEDY)
    assert "timeout" in results[0].error
    assert results[1].ok


def test_malformed_and_empty_bodies_are_retried_then_reported():
    with ChatServer(echo, faults=FaultConfig(first=["malformed", "empty"])) as srv:
        results = generate_all(_backend(srv.base_url, concurrency=1), [_req(0), _req(1)], GREEDY)
        assert all(r.ok for r in results) and srv.stats.requests == 4
    with ChatServer(echo, faults=FaultConfig(rate_malformed=1.0)) as srv:
        (res,) = generate_all(_backend(srv.base_url, max_retries=2), [_req(0)], GREEDY)
        assert "malformed" in res.error and srv.stats.requests == 3
    with ChatServer(echo, faults=FaultConfig(rate_empty=1.0)) as srv:
        (res,) = generate_all(_backend(srv.base_url, max_retries=1), [_req(0)], GREEDY)
        assert res.error.startswith("empty content") and res.text is None


def test_mixed_faults_complete():
    faults = FaultConfig(
        rate_429=0.15, rate_500=0.1, rate_malformed=0.1, rate_empty=0.1, retry_after=0.01, seed=7
    )
    with ChatServer(echo, faults=faults) as srv:
        backend = _backend(srv.base_url, concurrency=8, max_retries=8)
        results = generate_all(backend, [_req(i) for i in range(40)], GREEDY)
        assert [r.text for r in results] == [f"echo q{i} images=0" for i in range(40)]
        assert srv.stats.requests > 40


def test_bad_key_is_fatal_without_retry():
    with ChatServer(echo, api_key="secret") as srv:
        backend = _backend(srv.base_url, api_key="wrong", concurrency=1, max_retries=5)
        t0 = time.perf_counter()
        with pytest.raises(BackendFatalError, match="401"):
            generate_all(backend, [_req(i) for i in range(10)], GREEDY)
        assert time.perf_counter() - t0 < 2 and srv.stats.requests == 1
        backend = _backend(srv.base_url, api_key="wrong", concurrency=4)
        with pytest.raises(BackendFatalError):
            generate_all(backend, [_req(i) for i in range(50)], GREEDY)
        assert srv.stats.requests <= 1 + 4
        assert generate_all(_backend(srv.base_url, api_key="secret"), [_req(0)], GREEDY)[0].ok


def test_unknown_model_is_fatal():
    with ChatServer(echo, models=["other-model"]) as srv:
        with pytest.raises(BackendFatalError, match="not found"):
            generate_all(_backend(srv.base_url), [_req(0)], GREEDY)


def test_cache_hits_send_nothing_and_failures_are_not_cached(tmp_path):
    with (
        JudgeCache(tmp_path / "c.sqlite") as cache,
        ChatServer(echo, faults=FaultConfig(first=["500"])) as srv,
    ):
        backend = CachedBackend(_backend(srv.base_url, max_retries=0, concurrency=1), cache)
        reqs = [_req(i, [_noise(8, 8)]) for i in range(5)]
        first = generate_all(backend, reqs, GREEDY)
        assert sum(not r.ok for r in first) == 1 and len(cache) == 4
        before = srv.stats.requests
        second = generate_all(backend, reqs, GREEDY)
        assert srv.stats.requests == before + 1  # only the failed one is sent again
        assert all(r.ok for r in second) and sum(r.cached for r in second) == 4
        third = generate_all(backend, reqs, GREEDY)
        assert srv.stats.requests == before + 1 and all(r.cached for r in third)
        assert [r.text for r in third] == [r.text for r in second]
        # a different sampling is a different key; an explicit request.key is used as is
        generate_all(backend, reqs[:1], SamplingParams(temperature=0.7))
        assert srv.stats.requests == before + 2
        keyed = GenRequest(messages=reqs[0].messages, images=reqs[0].images, key="my-key")
        generate_all(backend, [keyed], GREEDY)
        assert "my-key" in cache


def test_works_inside_a_running_event_loop():
    with ChatServer(echo) as srv:
        backend = _backend(srv.base_url, concurrency=3)

        async def main():
            await asyncio.sleep(0)
            return sorted(backend.stream([_req(i) for i in range(6)], GREEDY))

        results = asyncio.run(main())
    assert [i for i, _ in results] == list(range(6)) and all(r.ok for _, r in results)


def test_abandoning_the_stream_stops_the_workers():
    with ChatServer(echo, latency=0.05) as srv:
        stream = _backend(srv.base_url, concurrency=2).stream([_req(i) for i in range(100)], GREEDY)
        next(stream)
        stream.close()
        n = srv.stats.requests
        time.sleep(0.2)
        assert srv.stats.requests <= n + 2 and n < 10
    assert not [t for t in threading.enumerate() if t.name == "openai-backend"]


def test_server_models_and_bad_requests():
    with ChatServer(echo, models=["a", "b"]) as srv:
        with urllib.request.urlopen(srv.base_url + "/models") as resp:
            assert [m["id"] for m in json.load(resp)["data"]] == ["a", "b"]
        req = urllib.request.Request(srv.base_url + "/chat/completions", data=b"{not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req)
        assert info.value.code == 400 and srv.stats.outcomes["400"] == 1
    with pytest.raises(ValueError):
        FaultConfig(rate_429=0.7, rate_500=0.7)
    with pytest.raises(ValueError):
        FaultConfig(first=["boom"])
