"""``critic serve``: a real server on a free loopback port, a real HTTP client (issue 19)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from critic.judging.backends.base import GenResult  # noqa: E402
from critic.judging.critic import Critic  # noqa: E402
from critic.judging.factory import make_critic  # noqa: E402
from critic.judging.spec import JudgeSpec  # noqa: E402
from critic.media import to_data_url  # noqa: E402
from critic.records import PointwiseItem  # noqa: E402
from critic.serving.client import RemoteCritic, RemoteError  # noqa: E402
from critic.serving.run import ServeOptions, ServerThread  # noqa: E402
from critic.serving.security import Limits  # noqa: E402
from critic.toy.chat_server import ChatServer  # noqa: E402
from critic.toy.oracle import oracle_answer  # noqa: E402
from critic.toy.world import generate_items  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\n{q}<|im_end|>\n"
          "<|im_start|>assistant\n")


def post(url: str, path: str, body, token: str | None = None, raw: bytes | None = None):
    u = url.split("//", 1)[1]
    conn = http.client.HTTPConnection(u, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", path, body=raw if raw is not None else json.dumps(body).encode(), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """40 toy pointwise items on disk (items file with images) and the oracle judge server."""
    root = tmp_path_factory.mktemp("serve")
    (root / "images").mkdir()
    items, pils = [], []
    with open(root / "items.jsonl", "w") as f:
        for n, (item, images) in enumerate(generate_items(40, seed=3, task="pointwise")):
            rel = f"images/{n:03d}.png"
            images[0].save(root / rel)
            items.append(item.model_copy(update={"images": [str(root / rel)]}))
            pils.append(images)
            f.write(json.dumps({"id": item.id, "question": item.question, "images": [rel]}) + "\n")
    with ChatServer(oracle_answer) as oracle:
        yield {"root": root, "items": items, "pils": pils, "oracle": oracle}


def oracle_critic(world) -> Critic:
    return make_critic(JudgeSpec(backend="openai", model="oracle", base_url=[world["oracle"].base_url], no_cache=True,
                                 concurrency=16), progress=False)


@pytest.fixture(scope="module")
def server(world):
    opts = ServeOptions(port=0, items=str(world["root"] / "items.jsonl"),
                        limits=Limits(image_root=str(world["root"] / "images"), max_body_bytes=1 << 20))
    with ServerThread(oracle_critic(world), opts) as srv:
        yield srv


@pytest.fixture(scope="module")
def in_process(world):
    critic = oracle_critic(world)
    return {it.id: j.score for it, j in zip(world["items"], critic.score(world["items"]))}


def test_openrlhf_request_as_sent_gets_that_items_reward(world, server, in_process):
    item = world["items"][0]
    prompt = PROMPT.format(q=item.question)
    query = "<|endoftext|><|endoftext|>" + prompt + item.response + "<|im_end|>"  # left padding kept, EOT at the end
    status, got = post(server.base_url, "/get_reward", {"query": [query], "prompts": [prompt], "labels": [item.id]})
    assert status == 200, got
    assert got["rewards"] == [in_process[item.id]] == got["scores"]
    assert got["extra_logs"]["critic_parse_failed"] == [0.0] and got["extra_logs"]["critic_rationale"][0]


def test_several_queries_in_order_and_spearman_with_gold(world, server, in_process):
    from scipy.stats import spearmanr

    items = world["items"]
    prompts = [PROMPT.format(q=it.question) for it in items]
    body = {"query": [p + it.response + "<|im_end|>" for p, it in zip(prompts, items)], "prompts": prompts,
            "labels": [it.id for it in items]}
    status, got = post(server.base_url, "/get_reward", body)
    assert status == 200
    assert got["rewards"] == [in_process[it.id] for it in items]
    assert spearmanr(got["rewards"], [it.score for it in items]).statistic >= 0.9


def test_multimodal_extension_with_data_urls(world, server, in_process):
    item, pil = world["items"][1], world["pils"][1]
    label = json.dumps({"question": item.question})
    status, got = post(server.base_url, "/get_reward", {"query": [item.response], "labels": [label],
                                                       "images": [[to_data_url(pil[0], format="PNG")]]})
    assert status == 200 and got["rewards"] == [in_process[item.id]]


def test_v1_routes_and_remote_critic(world, server, in_process):
    remote = RemoteCritic(server.base_url)
    js = remote.score(world["items"][:4])
    assert [j.score for j in js] == [in_process[it.id] for it in world["items"][:4]]
    from critic.toy.world import generate_items as gen

    pair, imgs = next(gen(1, seed=5, task="pairwise"))
    local = oracle_critic(world).compare(pair, swap="both", pil_images=imgs)
    got = remote.compare(pair, swap="both", pil_images=imgs)
    assert got.winner == local.winner and [j.winner for j in got.judgments] == [j.winner for j in local.judgments]
    cset, cimgs = next(gen(1, seed=6, task="candidates"))
    ranked = remote.rank(cset.model_copy(update={"images": [to_data_url(cimgs[0], format="PNG")]}))
    assert ranked.rewards == oracle_critic(world).rank(cset, pil_images={cset.id: cimgs}).rewards
    conn = http.client.HTTPConnection(server.base_url.split("//")[1])
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    assert "critic_requests_total" in text and "critic_batch_size_bucket" in text and "critic_in_flight" in text


def test_bad_requests_are_json_4xx(world, server, tmp_path):
    secret = tmp_path / "secret.png"
    world["pils"][0][0].save(secret)
    opened: list[str] = []
    real_open = Path.read_bytes

    def spy(self, *a, **k):
        opened.append(str(self))
        return real_open(self, *a, **k)

    Path.read_bytes = spy  # the server runs in this process: any read of the file would be seen
    try:
        base = world["items"][0].to_json_dict()
        for ref in (str(secret), "/etc/passwd", "../secret.png", "../../" + secret.name):
            status, got = post(server.base_url, "/v1/score", {"items": [{**base, "images": [ref]}]})
            assert status == 400 and "error" in got, (ref, got)
    finally:
        Path.read_bytes = real_open
    assert not [p for p in opened if "secret" in p or "passwd" in p]
    assert post(server.base_url, "/v1/score", None, raw=b"{not json")[0] == 400
    assert post(server.base_url, "/v1/score", None, raw=b"x" * (2 << 20))[0] == 413
    assert post(server.base_url, "/v1/score", {"items": []})[0] == 422
    assert post(server.base_url, "/get_reward", {"query": ["a"], "labels": ["no-such-id"]})[0] == 400
    assert post(server.base_url, "/v1/score", {"items": [base], "template": "../../etc/passwd"})[0] == 400
    assert post(server.base_url, "/nowhere", {})[0] == 404


class Digits:
    """A fast deterministic judge: the score is the last digit of the response, so a mixed-up answer shows."""

    judge_id = "digits"

    def stream(self, requests, sampling):
        for i, r in enumerate(requests):
            digit = re.findall(r"answer \d*(\d)", json.dumps(r.messages))
            time.sleep(0.0005)
            yield i, GenResult(text=f"ok\nOverall score: {int(digit[-1]) + 1 if digit else 1}")


def test_token_and_public_binding():
    from critic.serving.run import ServeConfigError, make_state

    critic = Critic(Digits(), template="llava_critic_pointwise", progress=False)
    with pytest.raises(ServeConfigError):
        make_state(critic, ServeOptions(host="0.0.0.0"))
    with ServerThread(critic, ServeOptions(port=0, token="s3cret")) as srv:
        body = {"query": ["answer 7"]}
        assert post(srv.base_url, "/get_reward", body)[0] == 401
        assert post(srv.base_url, "/get_reward", body, token="wrong")[0] == 401
        assert post(srv.base_url, "/get_reward", body, token="s3cret")[0] == 200
        assert RemoteCritic(srv.base_url, api_key="s3cret").judge_id == "remote:digits"
        with pytest.raises(RemoteError, match="401"):
            RemoteCritic(srv.base_url, max_retries=0).score(PointwiseItem(id="a", question="?", response="1"))


def test_64_clients_2000_requests_none_lost():
    """64 clients, 2,000 requests of two queries each: every answer is the request's own, in order."""
    critic = Critic(Digits(), template="llava_critic_pointwise", progress=False)
    with ServerThread(critic, ServeOptions(port=0, max_batch=64, max_wait_ms=2)) as srv:
        client = RemoteCritic(srv.base_url)

        def one(n: int) -> bool:
            a, b = f"answer {n}{n % 10}", f"answer {n}{(n + 3) % 10}"
            got = client.request("POST", "/get_reward", {"query": [a, b]})
            return got["rewards"] == [float(n % 10 + 1), float((n + 3) % 10 + 1)]

        with ThreadPoolExecutor(64) as pool:
            ok = list(pool.map(one, range(2000)))
        assert all(ok) and len(ok) == 2000
        assert srv.state.metrics.requests[("/get_reward", 200)] == 2000
        assert max(k for k, c in zip(srv.state.metrics.batches.buckets, srv.state.metrics.batches.counts) if c) > 2


def test_sigterm_drains_requests_in_flight(world, tmp_path):
    slow = ChatServer(oracle_answer, latency=0.6).start()
    try:
        env = {**os.environ, "OPENAI_API_KEY": "x"}
        proc = subprocess.Popen([sys.executable, "-m", "critic", "serve", "--backend", "openai", "--model", "oracle",
                                 "--base-url", slow.base_url, "--port", "0", "--no-cache", "--items",
                                 str(world["root"] / "items.jsonl")], stderr=subprocess.PIPE, text=True, env=env)
        line = proc.stderr.readline()
        url = line.split(" on ")[1].split()[0]
        items = world["items"][:12]
        sent: dict[int, float] = {}
        results: dict[int, object] = {}

        def one(n: int) -> None:
            it = items[n]
            sent[n] = time.monotonic()
            try:
                results[n] = post(url, "/get_reward", {"query": [it.response], "labels": [it.id]})[0]
            except OSError as exc:
                results[n] = exc

        threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        assert proc.wait(30) == 0
        accepted = [n for n in sent if sent[n] < time.monotonic() - 0.3]
        assert accepted and all(results[n] == 200 for n in accepted), results
        with pytest.raises(OSError):
            post(url, "/get_reward", {"query": ["x"]})
    finally:
        if proc.poll() is None:
            proc.kill()
        slow.stop()


def test_label_pairs_remote_equals_in_process(world, server, tmp_path):
    from critic.commands.main import main
    from critic.jsonl import write_records

    sets = []
    (tmp_path / "img").mkdir()
    for n, (cset, imgs) in enumerate(generate_items(3, seed=9, task="candidates")):
        imgs[0].save(tmp_path / "img" / f"{n}.png")
        sets.append(cset.model_copy(update={"images": [str(tmp_path / "img" / f"{n}.png")]}))
    write_records(tmp_path / "sets.jsonl", sets)
    common = ["label-pairs", "--input", str(tmp_path / "sets.jsonl"), "--no-progress", "--no-cache"]
    assert main([*common, "--output", str(tmp_path / "local.jsonl"), "--judge-backend", "openai", "--judge-model",
                 "oracle", "--judge-base-url", world["oracle"].base_url]) == 0
    assert main([*common, "--output", str(tmp_path / "remote.jsonl"), "--judge-backend", "remote",
                 "--judge-base-url", server.base_url]) == 0

    def pairs(p):
        return [(r["chosen"], r["rejected"]) for r in map(json.loads, p.read_text().splitlines())]

    assert pairs(tmp_path / "local.jsonl") == pairs(tmp_path / "remote.jsonl")
    assert pairs(tmp_path / "local.jsonl")


def test_restart_after_kill_9_keeps_the_cache(world, tmp_path):
    def start():
        proc = subprocess.Popen([sys.executable, "-m", "critic", "serve", "--backend", "openai", "--model", "oracle",
                                 "--base-url", world["oracle"].base_url, "--port", "0", "--cache",
                                 str(tmp_path / "judge.sqlite"), "--image-root", str(world["root"])],
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENAI_API_KEY": "x"})
        return proc, proc.stderr.readline().split(" on ")[1].split()[0]

    item = world["items"][2].to_json_dict()
    item["images"] = ["images/002.png"]
    proc, url = start()
    try:
        first = RemoteCritic(url).request("POST", "/v1/score", {"items": [item]})["judgments"][0]
        proc.kill()
        proc.wait(10)
        proc, url = start()
        again = RemoteCritic(url).request("POST", "/v1/score", {"items": [item]})["judgments"][0]
        assert again["cached"] and again["score"] == first["score"] and not first.get("cached")
    finally:
        proc.kill()
        proc.wait(10)
