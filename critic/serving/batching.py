"""Dynamic batching: work from many requests merged into one critic call.

Each request hands the :class:`Batcher` a unit of work (its items, their images, a swap policy and a
template) and gets a :class:`concurrent.futures.Future`. A dispatcher thread takes the oldest unit,
waits up to ``max_wait`` for more with the same options until the batch holds ``max_batch``
generations, and runs the batch through :meth:`Critic._run` (so the local backend fills its
forward passes and the OpenAI backend keeps one concurrency limit over all clients); each unit's
future is resolved the moment its last judgment is in. A batch whose judge call raises fails only
the units in it. The judge cache is the critic's own, so it is shared by every client.

Requests the server has accepted but not yet queued (their bodies being read, their images decoded)
are *announced* (:meth:`Batcher.announce`). When ``max_wait`` is up and the batch is not full, the
dispatcher keeps waiting while announced requests are on their way, up to ``ARRIVAL_GRACE`` times
``max_wait`` in all: closed-loop clients that all got their answers from one batch send their next
requests together, and on two cores decoding 32 of them takes longer than 10 ms, so without this the
batch after a full one was cut in two (measured: 21 generations per batch instead of 32).

A judge behind an API (the OpenAI backend) gains nothing from fuller batches, since its requests run
side by side under its concurrency limit anyway; ``critic serve`` gives it ``arrival_grace=1`` (no wait
past ``max_wait``).

``workers`` dispatchers run batches side by side (1 for a local model: one forward at a time).

>>> from critic.judging.critic import Critic
>>> from critic.judging.backends.base import GenResult
>>> class Echo:
...     judge_id = "echo"
...     def stream(self, requests, sampling):
...         for i, _ in enumerate(requests):
...             yield i, GenResult(text="Fine.\\nOverall score: 7")
>>> from critic.records import PointwiseItem
>>> b = Batcher(Critic(Echo(), template="llava_critic_pointwise", progress=False), max_batch=4, max_wait=0.01)
>>> [[j.score for j in js] for js in b.submit([PointwiseItem(id="a", question="?", response="r")]).result()]
[[7.0]]
>>> b.close()
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from critic.records import PairwiseItem, PointwiseItem

#: the longest a batch waits for announced requests, in units of ``max_wait``
ARRIVAL_GRACE = 5


class Overloaded(RuntimeError):
    """The queue is full or the batcher is closing: the caller answers 503."""


@dataclass(eq=False)
class Work:
    items: list[PointwiseItem | PairwiseItem]
    pil: list[Sequence[Image.Image]] | None
    swap: str
    template: str | None
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple[str, str | None, bool]:
        return (self.swap, self.template, self.pil is not None)

    @property
    def size(self) -> int:
        both = self.swap == "both"
        return sum(2 if both and it.task == "pairwise" else 1 for it in self.items)


@dataclass(eq=False)
class Arrival:
    """One announced request (:meth:`Batcher.announce`)."""

    pending: bool = True


class Batcher:
    """Merges work units into batches for ``critic`` (see the module doc)."""

    def __init__(self, critic: Any, *, max_batch: int = 32, max_wait: float = 0.01, workers: int = 1,
                 max_queue: int = 100_000, on_batch: Callable[[int, int, bool], None] | None = None,
                 arrival_grace: float = ARRIVAL_GRACE) -> None:
        self.critic = critic
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.arrival_grace = max(1.0, arrival_grace)  # 1: never wait past max_wait
        self.on_batch = on_batch  # (generations, cache hits, failed) after each batch
        self._queue: deque[Work] = deque()
        self._announced = 0  # accepted requests that have not submitted their work yet
        self._cond = threading.Condition()
        self._closing = False
        self._threads = [threading.Thread(target=self._loop, name=f"critic-batcher-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @contextmanager
    def announce(self) -> Iterator[Arrival]:
        """Mark one request as on its way for the time of the block; pass the yielded :class:`Arrival` to
        :meth:`submit` (a request that fails before submitting is forgotten when the block ends)."""
        arrival = Arrival()
        with self._cond:
            self._announced += 1
        try:
            yield arrival
        finally:
            with self._cond:
                self._landed(arrival)

    def _landed(self, arrival: Arrival | None) -> None:
        if arrival is not None and arrival.pending:  # under self._cond
            arrival.pending = False
            self._announced -= 1
            self._cond.notify_all()

    def submit(self, items: Sequence[PointwiseItem | PairwiseItem], *, swap: str = "none",
               template: str | None = None, pil: Sequence[Sequence[Image.Image]] | None = None,
               arrival: Arrival | None = None) -> Future:
        """A future of the judgments per item (two for a pair under ``swap="both"``), in order.

        ``arrival``: what :meth:`announce` yielded for this request; it stops counting as on its way."""
        work = Work(list(items), list(pil) if pil is not None else None, swap, template)
        with self._cond:
            self._landed(arrival)
            if self._closing:
                raise Overloaded("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise Overloaded(f"{len(self._queue)} units queued; try again")
            self._queue.append(work)
            self._cond.notify()
        return work.future

    def _take(self) -> list[Work] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            first = self._queue.popleft()
            batch, size = [first], first.size
            now = time.monotonic()
            deadline, grace_end = now + self.max_wait, now + self.arrival_grace * self.max_wait
            while size < self.max_batch:
                match = next((w for w in self._queue if w.key == first.key), None)
                if match is not None:
                    if size + match.size > self.max_batch:
                        break
                    self._queue.remove(match)
                    batch.append(match)
                    size += match.size
                    continue
                now = time.monotonic()
                left = (deadline if self._announced == 0 else grace_end) - now
                if left <= 0 or self._closing:
                    break
                self._cond.wait(left)
            return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            self._run(batch)

    def _run(self, batch: list[Work]) -> None:
        items = [it for w in batch for it in w.items]
        pil = [p for w in batch for p in w.pil] if batch[0].pil is not None else None
        owner = [(k, n) for k, w in enumerate(batch) for n in range(len(w.items))]
        results: list[list[list[Any]]] = [[[] for _ in w.items] for w in batch]
        remaining = [w.size for w in batch]
        hits = 0
        failed = False
        try:
            for n, judgment in self.critic._run(items, swap=batch[0].swap, template=batch[0].template,
                                                pil_images=pil, desc="serving"):
                k, i = owner[n]
                results[k][i].append(judgment)
                hits += bool(getattr(judgment, "cached", False))
                remaining[k] -= 1
                if remaining[k] == 0 and not batch[k].future.done():
                    batch[k].future.set_result(results[k])
        except BaseException as exc:  # noqa: BLE001 - the batch's requests fail, the server stays up
            failed = True
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(exc)
        for k, w in enumerate(batch):  # every unit answered, whatever the stream did
            if not w.future.done():
                w.future.set_result(results[k])
        if self.on_batch is not None:
            self.on_batch(sum(w.size for w in batch), hits, failed)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking work, finish what is queued, and stop the dispatchers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
