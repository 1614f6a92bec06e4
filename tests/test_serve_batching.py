"""The batcher waits for requests the server has accepted but not yet queued, and only for them."""

from __future__ import annotations

import time
from contextlib import nullcontext

from critic.judging.backends.base import GenResult
from critic.judging.critic import Critic
from critic.records import PointwiseItem
from critic.serving.batching import ARRIVAL_GRACE, Batcher


class Echo:
    judge_id = "echo"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def stream(self, requests, sampling):
        requests = list(requests)
        self.batches.append(len(requests))
        for i, _ in enumerate(requests):
            yield i, GenResult(text="Fine.\nOverall score: 7")


def item(k: int) -> PointwiseItem:
    return PointwiseItem(id=f"i{k}", question="?", response=f"r{k}")


def run(announced: bool, late_after: float) -> tuple[list[int], float]:
    """One request queued now, a second after ``late_after`` s (announced from the start, or not): the
    batch sizes the judge saw and when the first request was answered."""
    echo = Echo()
    b = Batcher(Critic(echo, template="llava_critic_pointwise", progress=False), max_batch=8, max_wait=0.02)
    t0 = time.monotonic()
    done: list[float] = []
    with b.announce() if announced else nullcontext() as arrival:  # accepted, body not read yet
        first = b.submit([item(0)])
        first.add_done_callback(lambda _: done.append(time.monotonic() - t0))
        time.sleep(late_after)  # reading the second request's body, decoding its images
        late = b.submit([item(1)], arrival=arrival)
    first.result(5), late.result(5)
    b.close()
    return echo.batches, done[0]


def test_an_announced_request_joins_the_batch_after_max_wait() -> None:
    batches, _ = run(announced=True, late_after=0.05)  # 2.5 x max_wait, inside the grace
    assert batches == [2]


def test_without_an_announcement_the_batch_is_cut_at_max_wait() -> None:
    batches, waited = run(announced=False, late_after=0.05)
    assert batches == [1, 1] and waited < 0.05


def test_the_wait_for_announced_requests_is_bounded() -> None:
    batches, waited = run(announced=True, late_after=ARRIVAL_GRACE * 0.02 + 0.1)
    assert batches == [1, 1] and waited < ARRIVAL_GRACE * 0.02 + 0.1


def test_a_request_that_fails_before_submitting_stops_counting() -> None:
    echo = Echo()
    b = Batcher(Critic(echo, template="llava_critic_pointwise", progress=False), max_batch=8, max_wait=0.01)
    try:
        with b.announce():
            raise ValueError("bad body")
    except ValueError:
        pass
    t0 = time.monotonic()
    b.submit([item(0)]).result(5)
    assert time.monotonic() - t0 < ARRIVAL_GRACE * 0.01  # cut at max_wait, not held for the failed request
    b.close()


def test_a_judge_behind_an_api_is_not_held_for_fuller_batches() -> None:
    from types import SimpleNamespace

    from critic.serving.run import ServeOptions, make_state

    for judge_id, grace in (("openai:gpt-4o", 1), ("hf:/ckpt@abc", ARRIVAL_GRACE)):
        critic = Critic(Echo(), template="llava_critic_pointwise", progress=False)
        critic.backend = SimpleNamespace(judge_id=judge_id, stream=Echo().stream)
        state = make_state(critic, ServeOptions(port=0))
        assert state.batcher.arrival_grace == grace
        state.batcher.close()
