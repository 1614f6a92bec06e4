"""Judging through the OpenAI-compatible backend against a real loopback HTTP server.

The server's judge reads the prompt it is sent and prefers the response that names the colour of
the image's centre pixel, so its verdict depends on content, not position: swapping the order must
not change the verdict once it is mapped back to the item's original order.
"""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from critic.commands.main import main
from critic.jsonl import read_records
from critic.records import PairwiseItem, PairwiseJudgment, PointwiseItem, PointwiseJudgment
from critic.toy.chat_server import ChatServer, FaultConfig

COLOURS = {(220, 20, 20): "red", (20, 20, 220): "blue"}


def _colour(img: Image.Image) -> str:
    px = img.convert("RGB").getpixel((img.width // 2, img.height // 2))
    return min(COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c, px)))


def content_judge(body, images):
    text = " ".join(p.get("text", "") for m in body["messages"] if isinstance(m["content"], list)
                    for p in m["content"] if p.get("type") == "text")
    colour = COLOURS[_colour(images[0])]
    first = re.search(r"The first response: \[(.*?)\]", text)
    if first:
        second = re.search(r"The second response: \[(.*?)\]", text)
        a_ok, b_ok = colour in first.group(1), colour in second.group(1)
        verdict = ("the two responses are equally good" if a_ok == b_ok
                   else "the first response is better" if a_ok else "the second response is better")
        return f"The image is {colour}. Therefore, {verdict}."
    resp = re.search(r"The LMM response: \[(.*?)\]", text).group(1)
    return f"The image is {colour}. Overall score: {90 if colour in resp else 10}"


@pytest.fixture()
def items(tmp_path):
    for rgb, name in COLOURS.items():
        Image.new("RGB", (32, 32), rgb).save(tmp_path / f"{name}.png")
    pairs = [PairwiseItem(id=f"p{i}", images=[f"{c}.png"], question="What colour is the image?",
                          response_a=f"It is {a}.", response_b=f"It is {b}.")
             for i, (c, a, b) in enumerate([("red", "red", "blue"), ("blue", "red", "blue"), ("red", "red", "red")])]
    points = [PointwiseItem(id=f"s{i}", images=[f"{c}.png"], question="What colour?", response=f"It is {r}.")
              for i, (c, r) in enumerate([("red", "red"), ("red", "blue")])]
    for name, rows in (("pairs.jsonl", pairs), ("points.jsonl", points)):
        (tmp_path / name).write_text("".join(json.dumps(r.to_json_dict()) + "\n" for r in rows))
    return tmp_path


def test_compare_both_orders_maps_verdicts_back(items):
    from critic.judging.critic import Critic

    pairs, _ = read_records(items / "pairs.jsonl", PairwiseItem)
    with ChatServer(content_judge) as srv:
        critic = Critic.from_openai("judge", base_url=srv.base_url, progress=False)
        comps = critic.compare(pairs, swap="both")
        assert srv.stats.requests == 6
    assert [c.winner for c in comps] == ["A", "B", "tie"]
    for c in comps:
        assert c.consistent is True and sorted(j.swapped for j in c.judgments) == [False, True]
        assert all(j.judge == "openai:judge" and j.rationale.startswith("The image is") for j in c.judgments)


def test_score_inside_a_running_event_loop(items):
    import asyncio

    from critic.judging.critic import Critic

    points, _ = read_records(items / "points.jsonl", PointwiseItem)

    async def inside():
        with ChatServer(content_judge) as srv:
            return Critic.from_openai("judge", base_url=srv.base_url, progress=False).score(points)

    scored = asyncio.run(inside())
    assert [j.score for j in scored] == [90.0, 10.0]
    assert all(j.usage.prompt_tokens > 0 and j.usage.completion_tokens > 0 for j in scored)


def test_cli_survives_faults_and_resumes(items, tmp_path, capsys):
    out = tmp_path / "j.jsonl"
    faults = FaultConfig(rate_429=0.1, rate_500=0.1, rate_empty=0.05, rate_malformed=0.05, seed=3)
    with ChatServer(content_judge, faults=faults, latency=0.0) as srv:
        args = ["judge", "--backend", "openai", "--model", "judge", "--base-url", srv.base_url,
                "--input", str(items / "pairs.jsonl"), "--output", str(out), "--swap", "both",
                "--cache", str(tmp_path / "c.sqlite"), "--no-progress", "--max-retries", "8"]
        assert main(args) == 0
        summary = capsys.readouterr().out
        rows, errors = read_records(out, PairwiseJudgment)
        assert not errors and len(rows) == 6 and all(r.winner for r in rows)
        assert "failed 0" in summary
        n = srv.stats.requests
        assert main(args) == 0
        assert "judged 0 (0 from cache, 6 already in" in capsys.readouterr().out
        assert srv.stats.requests == n


def test_cli_bad_key_fails_fast_with_a_clear_message(items, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with ChatServer(content_judge, api_key="right") as srv:
        rc = main(["judge", "--backend", "openai", "--model", "judge", "--base-url", srv.base_url,
                   "--input", str(items / "points.jsonl"), "--output", str(tmp_path / "o.jsonl"), "--no-cache",
                   "--no-progress"])
        assert srv.stats.requests <= 2
    assert rc == 2
    assert "401" in capsys.readouterr().err


def test_unknown_model_is_an_error_not_a_retry_loop(items, tmp_path, capsys):
    with ChatServer(content_judge, models=["served"]) as srv:
        rc = main(["judge", "--backend", "openai", "--model", "other", "--base-url", srv.base_url,
                   "--input", str(items / "points.jsonl"), "--output", str(tmp_path / "o.jsonl"), "--no-cache",
                   "--no-progress"])
    assert rc == 2 and "404" in capsys.readouterr().err


def test_rerun_of_failed_requests(items, tmp_path, capsys):
    out = tmp_path / "j.jsonl"
    # every attempt of the first run fails with 500 (retries exhausted); the rerun succeeds
    with ChatServer(content_judge, faults=FaultConfig(first=["500"] * 6)) as srv:
        args = ["judge", "--backend", "openai", "--model", "judge", "--base-url", srv.base_url, "--input",
                str(items / "points.jsonl"), "--output", str(out), "--no-cache", "--no-progress",
                "--max-retries", "2", "--concurrency", "1"]
        assert main(args) == 1  # work asked for was not done (issue 14.12)
        first = capsys.readouterr()
        assert "failed 2" in first.out and "rerun the same command" in first.err
        assert not out.exists() or out.read_text() == ""
        assert out.with_name(out.name + ".failed.jsonl").exists()
        assert main(args) == 0
        rows, _ = read_records(out, PointwiseJudgment)
        assert [r.score for r in rows] == [90.0, 10.0]
        assert not out.with_name(out.name + ".failed.jsonl").exists()  # stale failures removed (issue 14.6)


def test_image_encoding_settings_are_part_of_the_cache_key(items, tmp_path):
    """A smaller image limit sends different pixels, so it must not reuse answers cached at another one."""
    from critic.judging.backends.cache import JudgeCache
    from critic.judging.critic import Critic

    points, _ = read_records(items / "points.jsonl", PointwiseItem)
    cache = JudgeCache(tmp_path / "c.sqlite")
    with ChatServer(content_judge) as srv:
        for side, sent in ((None, 2), (None, 0), (16, 2)):
            before = srv.stats.requests
            opts = {} if side is None else {"max_image_side": side}
            critic = Critic.from_openai("judge", base_url=srv.base_url, cache=cache, backend_options=opts,
                                        progress=False)
            critic.score(points)
            assert srv.stats.requests - before == sent, side
