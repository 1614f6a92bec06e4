"""critic.judging.backends.cache.JudgeCache: round trip, no failures, reopen, two writers at once."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp

import pytest

from critic.judging.backends.base import GenResult, SamplingParams
from critic.judging.backends.cache import JudgeCache


def test_key_is_canonical():
    a = JudgeCache.key(model="m", sampling={"temperature": 0.0, "top_p": 1.0}, messages=[{"role": "user"}])
    b = JudgeCache.key(messages=[{"role": "user"}], sampling={"top_p": 1.0, "temperature": 0.0}, model="m")
    assert a == b and len(a) == 64
    assert a != JudgeCache.key(
        model="m2", sampling={"temperature": 0.0, "top_p": 1.0}, messages=[{"role": "user"}]
    )


def test_sampling_keys_do_not_move():
    """Users' caches are keyed by these bytes: SamplingParams.to_dict() is asdict() written out, less
    ``top_logprobs`` when it is unset (it came later: runs without verdict probabilities keep their keys)."""
    s = SamplingParams(max_new_tokens=7, temperature=0.5, top_p=0.9, seed=11)
    plain = {k: v for k, v in dataclasses.asdict(s).items() if k != "top_logprobs"}
    assert list(s.to_dict().items()) == list(plain.items())
    assert SamplingParams(top_logprobs=20).to_dict()["top_logprobs"] == 20
    messages = [{"role": "user", "content": [{"type": "text", "text": "q"}]}]
    assert JudgeCache.key(judge="j", template="h", messages=messages, images=["ab"], sampling=s.to_dict()) == \
        "040c61113a74d884ec6a71fd567fb264ac8e82834e562ea53914b0b970b05916"
    assert JudgeCache.key(sampling=SamplingParams()) == \
        "b912e8a430dd788030e45d9c9b7ba9ffce55144c62e7118e4698160d7793e2d7"


def test_round_trip(tmp_path):
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("k") is None and len(cache) == 0 and "k" not in cache
        cache.put(
            "k",
            GenResult(text="Score: 7", prompt_tokens=12, completion_tokens=3, cost=0.5),
            info={"judge": "j"},
        )
        got = cache.get("k")
        assert got == GenResult(text="Score: 7", prompt_tokens=12, completion_tokens=3, cost=0.5, cached=True)
        entry = cache.get_entry("k")
        assert entry.info == {"judge": "j"} and entry.created > 0
        assert "k" in cache and len(cache) == 1
        cache.put("k", GenResult(text="Score: 8"))  # replace
        assert cache.get("k").text == "Score: 8" and cache.get("k").cost is None and len(cache) == 1


def test_failures_are_refused(tmp_path):
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(ValueError, match="failed"):
            cache.put("k", GenResult(text=None, error="HTTP 500"))
        with pytest.raises(ValueError):
            cache.put("k", GenResult(text="partial", error="timeout"))
        assert len(cache) == 0


def test_reopen_keeps_data_and_closed_cache_refuses(tmp_path):
    path = tmp_path / "sub" / "c.sqlite"
    cache = JudgeCache(path)
    cache.put("a", GenResult(text="x"))
    cache.close()
    cache.close()
    with pytest.raises(RuntimeError, match="closed"):
        cache.get("a")
    with JudgeCache(path) as again:
        assert again.get("a").text == "x"


def _writer(path: str, tag: str, n: int, barrier) -> None:
    barrier.wait(30)  # open the file at the same moment
    with JudgeCache(path, busy_timeout=30) as cache:
        for i in range(n):
            cache.put(f"{tag}-{i}", GenResult(text=f"{tag}{i}", prompt_tokens=i))


def test_two_processes_write_at_once(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, tag, 200, barrier)) for tag in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with JudgeCache(path) as cache:
        assert len(cache) == 400
        assert cache.get("p-199").text == "p199" and cache.get("q-0").text == "q0"


def test_default_cache_path_has_one_rule(monkeypatch, tmp_path):
    """$CRITIC_CACHE_DIR when set and not empty, else ~/.cache/critic; judge and teacher files side by side."""
    from pathlib import Path

    from critic.judging.backends.cache import default_cache_path

    monkeypatch.setenv("CRITIC_CACHE_DIR", str(tmp_path))
    assert default_cache_path("judge") == tmp_path / "judge.sqlite"
    assert default_cache_path("teacher") == tmp_path / "teacher.sqlite"
    for unset in ("", None):
        if unset is None:
            monkeypatch.delenv("CRITIC_CACHE_DIR")
        else:
            monkeypatch.setenv("CRITIC_CACHE_DIR", unset)
        assert default_cache_path("judge") == Path.home() / ".cache" / "critic" / "judge.sqlite"
