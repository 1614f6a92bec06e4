"""Ranking candidate sets: reward formulas, ties and failures, and the oracle teacher end to end."""

from __future__ import annotations

import pytest

from critic.judging.ranking import (
    bradley_terry_rewards,
    choose_pair,
    llava_ov_rewards,
    rank_stream,
    summarise,
    tournament_items,
    win_count_rewards,
)
from critic.records import CandidateSet, PairwiseJudgment, PointwiseJudgment
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer

COMMON = dict(template="t", template_hash="h", judge="j")


def pj(id_: str, winner=None, *, scores=None, parse_error=None, error=None) -> PairwiseJudgment:
    return PairwiseJudgment(id=id_, winner=winner, scores=scores, parse_error=parse_error, error=error, **COMMON)


def cset(k: int, sid: str = "s") -> CandidateSet:
    return CandidateSet(id=sid, question="q?", candidates=[f"answer {i}" for i in range(k)])


def tournament(winners: dict[tuple[int, int], str | None], k: int, **fail) -> tuple[list, list]:
    keys = [(i, j) for i in range(k) for j in range(k) if i != j]
    js = []
    for i, j in keys:
        w = winners.get((i, j))
        js.append(pj(f"s:{i}>{j}", w, parse_error=None if w else "no verdict"))
    return js, keys


def test_tournament_items_are_all_ordered_pairs():
    items = tournament_items(cset(3))
    assert [it.id for it in items] == ["s:0>1", "s:0>2", "s:1>0", "s:1>2", "s:2>0", "s:2>1"]
    assert items[2].response_a == "answer 1" and items[2].response_b == "answer 0"


def test_llava_ov_reward_is_second_minus_first_sum():
    # answer 2 always wins, 0 always loses, 0 vs 1 is a tie in one order and a win for 1 in the other
    w = {(0, 1): "tie", (1, 0): "A", (0, 2): "B", (2, 0): "A", (1, 2): "B", (2, 1): "A"}
    js, keys = tournament(w, 3)
    r = summarise(cset(3), js, keys, "pairwise", "llava_ov")
    # R(0): as second: s(1→0)=-1, s(2→0)=-1; as first: s(0→1)=0, s(0→2)=+1  -> -2 - 1 = -3
    # R(1): second: s(0→1)=0, s(2→1)=-1; first: s(1→0)=-1, s(1→2)=+1      -> -1 - 0 = -1
    # R(2): second: s(0→2)=1, s(1→2)=1; first: s(2→0)=-1, s(2→1)=-1       -> 2 + 2 = 4
    assert r.rewards == [-3.0, -1.0, 4.0]
    assert (r.chosen, r.rejected, r.margin) == (2, 0, 7.0)
    assert r.n_ties == 1 and r.n_parse_failures == 0 and r.n_judged == 6 and r.reason is None
    assert r.matrix[0][1] == 0.0 and r.verdicts[1][0] == "A" and r.matrix[0][0] is None
    assert r.judgment_ids == [j.id for j in js]


def test_aggregations_agree_on_a_clear_order():
    w = {(i, j): ("A" if i > j else "B") for i in range(4) for j in range(4) if i != j}  # higher index wins
    js, keys = tournament(w, 4)
    for agg in ("llava_ov", "win_count", "bradley_terry"):
        r = summarise(cset(4), js, keys, "pairwise", agg)
        assert (r.chosen, r.rejected) == (3, 0), agg
        assert r.rewards == sorted(r.rewards), agg
    verdicts = [[w.get((i, j)) for j in range(4)] for i in range(4)]
    assert win_count_rewards(verdicts) == [0.0, 2.0, 4.0, 6.0]
    bt = bradley_terry_rewards(verdicts)
    assert abs(sum(bt)) < 1e-9 and bt[3] > bt[2] > bt[1] > bt[0]


def test_two_score_templates_give_graded_relative_scores():
    js = [PairwiseJudgment(id="s:0>1", winner="B", scores=[3, 9], **COMMON),
          PairwiseJudgment(id="s:1>0", winner="A", scores=[8, 4], **COMMON)]
    r = summarise(cset(2), js, [(0, 1), (1, 0)], "pairwise", "llava_ov")
    # s(0→1) = 9-3 = 6, s(1→0) = 4-8 = -4; R(0) = -4 - 6 = -10, R(1) = 6 - (-4) = 10
    assert r.rewards == [-10.0, 10.0] and r.margin == 20.0


def test_parse_failures_are_counted_and_scaled_not_zeroed():
    w = {(0, 1): "B", (1, 0): None, (0, 2): "B", (2, 0): "A", (1, 2): None, (2, 1): None}
    js, keys = tournament(w, 3)
    r = summarise(cset(3), js, keys, "pairwise", "llava_ov")
    assert r.n_parse_failures == 3 and r.n_judged == 6
    assert r.n_judgments == [3, 1, 2]
    # R(1): only s(0→1)=+1 usable, scaled by 4/1; R(2): s(0→2)=+1, s(2→0)=-1 as first -> 2 * 4/2
    assert r.rewards == [pytest.approx(-4.0), 4.0, 4.0]
    assert (r.chosen, r.rejected) == (1, 0)


def test_sets_without_a_pair_say_why():
    js, keys = tournament({}, 3)  # every judgment failed to parse
    r = summarise(cset(3), js, keys, "pairwise", "llava_ov")
    assert not r.has_pair and r.reason.startswith("no usable judgments (6 parse failures, 0 errors")
    ties, keys = tournament({(0, 1): "tie", (1, 0): "tie"}, 2)
    r = summarise(cset(2), ties, keys, "pairwise", "llava_ov")
    assert not r.has_pair and "same reward" in r.reason and r.n_ties == 2
    assert summarise(cset(1), [], [], "pairwise", "llava_ov").reason == "fewer than 2 answers"
    assert choose_pair(["same", "same "], [1.0, -1.0])[2] == "the highest- and lowest-reward answers are the same text"
    errs = [pj("s:0>1", error="HTTP 500"), pj("s:1>0", "A")]
    r = summarise(cset(2), errs, [(0, 1), (1, 0)], "pairwise", "llava_ov")
    assert r.n_errors == 1 and r.n_judged == 1 and r.has_pair


def test_pointwise_rewards_are_scores():
    js = [PointwiseJudgment(id=f"s:{i}", score=s, **COMMON) if s is not None else
          PointwiseJudgment(id=f"s:{i}", parse_error="x", **COMMON) for i, s in enumerate([40.0, None, 90.0])]
    r = summarise(cset(3), js, [(0,), (1,), (2,)], "pointwise", "llava_ov")
    assert r.aggregation == "score" and r.rewards == [40.0, None, 90.0] and (r.chosen, r.rejected) == (2, 0)
    assert r.n_parse_failures == 1 and r.n_judgments == [1, 0, 1]


def test_llava_ov_doc_formula_matches_matrix_helper():
    assert llava_ov_rewards([[None, 2.0], [-2.0, None]]) == [-4.0, 4.0]


@pytest.fixture(scope="module")
def toy_sets(tmp_path_factory):
    from critic.jsonl import read_records
    from critic.toy.world import make_toy

    d = tmp_path_factory.mktemp("cands")
    make_toy(d, n=24, seed=11, task="candidates")
    sets, errors = read_records(d / "items.jsonl", CandidateSet)
    assert not errors
    return sets


def test_oracle_tournament_chooses_gold_better_answers(toy_sets):
    """≥ 95 % of sets whose gold scores differ: gold(chosen) ≥ gold(rejected), for every aggregation."""
    from critic.judging.critic import Critic

    with ChatServer(oracle_answer) as srv:
        critic = Critic.from_openai("oracle", base_url=srv.base_url, progress=False)
        results = list(rank_stream(critic, toy_sets, chunk_sets=8))
        assert srv.stats.requests == 24 * 20
        [one] = critic.rank([toy_sets[0]], mode="pointwise")  # Critic.rank delegates to critic.judging.ranking
    assert one.mode == "pointwise" and one.k == 5 and len(one.judgment_ids) == 5
    for agg in ("llava_ov", "win_count", "bradley_terry"):
        differ = ok = 0
        for res in results:
            gold = res.candidates.scores
            keys = [(i, j) for i in range(5) for j in range(5) if i != j]
            r = summarise(res.candidates, res.judgments, keys, "pairwise", agg)
            assert r.n_parse_failures == 0 and r.n_errors == 0
            if len(set(gold)) > 1:
                differ += 1
                ok += r.has_pair and gold[r.chosen] >= gold[r.rejected]
        assert differ >= 15 and ok / differ >= 0.95, (agg, ok, differ)


def test_images_are_encoded_once_per_set(toy_sets, monkeypatch):
    """With reuse, the OpenAI backend encodes each distinct image once; the verdicts are unchanged."""
    import critic.judging.backends.openai_compat as oc
    import critic.media as media
    from critic.judging.critic import Critic

    calls = {"n": 0}
    real = media.to_data_url

    def counting(*a, **kw):
        calls["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(media, "to_data_url", counting)
    monkeypatch.setattr(oc, "to_data_url", counting)
    sets = toy_sets[:3]
    with ChatServer(oracle_answer) as srv:
        critic = Critic.from_openai("oracle", base_url=srv.base_url, progress=False)
        reused = [r.ranked for r in rank_stream(critic, sets, reuse=True)]
        n_reuse = calls["n"]
        plain = [r.ranked for r in rank_stream(critic, sets, reuse=False)]
    assert n_reuse == 3 and calls["n"] - n_reuse == 60
    assert [r.rewards for r in reused] == [r.rewards for r in plain]
    assert critic.backend._image_urls is None  # the memo is gone after the run


def test_reuse_images_is_a_scope_of_the_openai_backend(tmp_path, monkeypatch):
    """Inside reuse_images() an image (by hash and encoding settings) is encoded once; outside it, every time."""
    from PIL import Image

    import critic.judging.backends.openai_compat as oc
    from critic.judging.backends.base import GenRequest
    from critic.judging.backends.cache import JudgeCache
    from critic.judging.backends.cached import CachedBackend
    from critic.media import image_hash

    calls = {"n": 0}
    real = oc.to_data_url

    def counting(*a, **kw):
        calls["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(oc, "to_data_url", counting)
    im = Image.new("RGB", (8, 8), "red")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]}]
    req = GenRequest(messages=messages, images=[im], image_hashes=[image_hash(im)])
    backend = oc.OpenAIBackend("m", base_urls="http://127.0.0.1:9/v1", api_key="k")
    with JudgeCache(tmp_path / "c.sqlite") as cache:
        cached = CachedBackend(backend, cache)  # the scope is reached through the cache wrapper too
        with cached.reuse_images():
            with backend.reuse_images():  # a nested scope uses the outer memo
                first = backend.chat_messages(req)
            assert backend.chat_messages(req) == first and calls["n"] == 1
            backend.chat_messages(GenRequest(messages=messages, images=[im]))  # no hashes: encoded anew
            assert calls["n"] == 2
        backend.chat_messages(req)
    assert calls["n"] == 3 and backend._image_urls is None
