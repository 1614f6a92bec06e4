"""--verdict-probs and --n-samples against the oracle teacher, whose chat server returns toy logprobs
(critic.toy.toy_logprobs: P(n) = .8, P(n±1) = .1 at a number; P(self) = .8, P(other) = .2 at A / B)."""

from __future__ import annotations

import math
import warnings

import pytest

from critic.judging.backends.cache import JudgeCache
from critic.judging.backends.generation import SamplingParams
from critic.judging.critic import Critic
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer
from critic.toy.world import generate_items

N = 12


def _items(tmp_path, task, seed):
    rows = []
    for k, (item, images) in enumerate(generate_items(N, seed, task)):
        path = tmp_path / f"{task}{k}.png"
        images[0].save(path)
        rows.append(item.model_copy(update={"images": [str(path)]}))
    return rows


@pytest.fixture(scope="module")
def server():
    with ChatServer(oracle_answer) as srv:
        yield srv


def _critic(srv, template, cache=None, **kw):
    return Critic.from_openai("oracle", base_url=srv.base_url, template=template, cache=cache, progress=False, **kw)


def hand_expected(score: int) -> float:
    """The toy distribution on the 1–10 scale: .8 on the token s, .1 on each neighbour; a token "1" also
    begins "10", so its mass is split between 1 and 10 (critic.judging.verdict_probs); tokens naming no
    score (0, 11) drop out and the rest is renormalised."""
    mass: dict[int, float] = {}
    for tok, q in ((score, 0.8), (score - 1, 0.1), (score + 1, 0.1)):
        targets = [1, 10] if tok == 1 else [tok] if 1 <= tok <= 10 else []
        for s in targets:
            mass[s] = mass.get(s, 0.0) + q / len(targets)
    return sum(s * p for s, p in mass.items()) / sum(mass.values())


def test_hand_worked_values():
    assert hand_expected(5) == pytest.approx(5.0)
    assert hand_expected(1) == pytest.approx((0.4 * 1 + 0.4 * 10 + 0.1 * 2) / 0.9)  # 5.111: the "1"/"10" split
    assert hand_expected(2) == pytest.approx(0.05 * 1 + 0.05 * 10 + 0.8 * 2 + 0.1 * 3)  # 2.45
    assert hand_expected(10) == pytest.approx((0.8 * 10 + 0.1 * 9) / 0.9)


def test_pointwise_probs_sum_to_one_and_expected_score_matches_hand_worked(server, tmp_path):
    js = _critic(server, "compact_pointwise", verdict_probs=True).score(_items(tmp_path, "pointwise", 3))
    assert all(j.ok for j in js)
    for j in js:
        assert math.isclose(sum(j.verdict_probs.values()), 1.0, abs_tol=1e-5)
        assert j.expected_score == pytest.approx(hand_expected(int(j.score)), abs=1e-5)


def test_pairwise_probs_follow_the_original_order(server, tmp_path):
    comps = _critic(server, "compact_pairwise", verdict_probs=True).compare(_items(tmp_path, "pairwise", 4), swap="both")
    for c in comps:
        for j in c.judgments:
            assert math.isclose(sum(j.verdict_probs.values()), 1.0, abs_tol=1e-5)
            if j.winner in ("A", "B"):  # the toy puts .8 on the token written, .2 on the other letter
                assert j.verdict_probs[j.winner] == pytest.approx(0.8, abs=1e-5)


def test_probs_off_keeps_requests_and_judgments_as_they_were(server, tmp_path):
    j = _critic(server, "compact_pointwise").score(_items(tmp_path, "pointwise", 3)[:1])[0]
    assert j.verdict_probs is None and "top_logprobs" not in j.sampling


def test_a_server_without_logprobs_warns_once_and_gives_none(server, tmp_path, monkeypatch):
    import critic.toy.chat_server as cs

    monkeypatch.setattr(cs, "toy_logprobs", lambda content, top: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        js = _critic(server, "compact_pointwise", verdict_probs=True).score(_items(tmp_path, "pointwise", 3)[:4])
    assert all(j.ok and j.verdict_probs is None for j in js)
    assert sum("no logprobs" in str(w.message) for w in caught) == 1


def test_probs_come_back_from_the_cache(server, tmp_path):
    items = _items(tmp_path, "pointwise", 3)[:3]
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        first = _critic(server, "compact_pointwise", cache, verdict_probs=True).score(items)
        again = _critic(server, "compact_pointwise", cache, verdict_probs=True).score(items)
    assert all(j.cached for j in again)
    assert [j.verdict_probs for j in again] == [j.verdict_probs for j in first]


def test_n_samples_records_each_verdict_and_a_rerun_sends_only_new_samples(server, tmp_path):
    items = _items(tmp_path, "pairwise", 5)[:4]
    sampling = SamplingParams(max_new_tokens=256, temperature=0.7, seed=1)
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        before = server.stats.requests
        comps = _critic(server, "compact_pairwise", cache, sampling=sampling, n_samples=5).compare(items)
        assert server.stats.requests - before == 5 * len(items)
        for c in comps:
            (j,) = c.judgments
            assert len(j.sample_verdicts) == 5 and j.sample_agreement == 1.0  # the oracle is deterministic
            assert j.winner == j.sample_verdicts[0]
        before = server.stats.requests
        _critic(server, "compact_pairwise", cache, sampling=sampling, n_samples=7).compare(items)
        assert server.stats.requests - before == 2 * len(items)  # samples 0-4 are cached by index


def test_n_samples_needs_a_temperature(server):
    with pytest.raises(ValueError, match="temperature"):
        _critic(server, "compact_pairwise", n_samples=3)
