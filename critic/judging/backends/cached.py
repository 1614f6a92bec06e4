"""Caching as a wrapper: ``CachedBackend(backend, cache)`` answers from a :class:`JudgeCache` first.

Every backend is cached the same way, and none of them knows the cache:

* **Keys.** A request's own ``key`` when set (the judge sets it from everything that changes the
  answer); else the wrapped backend's ``cache_key(request, sampling)`` when it has one (the OpenAI
  backend hashes its judge id, the messages, image hashes, sampling and its image settings); else
  the request is not cached at all.
* **Hits** come back first, with ``cached=True``, and are never sent.
* **Identical misses** (one key) in a stream are sent once and the answer handed to each.
* **Misses** go to the wrapped backend in one stream; each success is put (with ``info={"judge":
  judge_id}``) as it is handed over, so a killed run keeps every answer it already gave. Failures are
  never put, so a rerun retries exactly them. A cache that cannot be written (disk full, locked for
  too long) is logged and the result still handed over.

Everything else (``judge_id``, ``cache_settings``, ``reuse_images``, ``model``, ...) is read from the
wrapped backend, so a cached backend stands wherever the backend did.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from critic.judging.backends.base import Backend, GenRequest, GenResult, SamplingParams
from critic.judging.backends.cache import JudgeCache

log = logging.getLogger(__name__)


class CachedBackend:
    """``backend`` behind ``cache``: see the module doc. ``inner`` is the wrapped backend."""

    def __init__(self, backend: Backend, cache: JudgeCache) -> None:
        self.inner = backend
        self.cache = cache

    @property
    def judge_id(self) -> str:
        return self.inner.judge_id

    def __getattr__(self, name: str) -> Any:
        # only called for names this wrapper lacks: the wrapped backend's settings and helpers
        if name in ("inner", "cache"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CachedBackend({self.inner!r}, {self.cache!r})"

    def key(self, request: GenRequest, sampling: SamplingParams) -> str:
        """The cache key of ``request`` ("" when it cannot be cached)."""
        if request.key:
            return request.key
        fallback = getattr(self.inner, "cache_key", None)
        return fallback(request, sampling) if callable(fallback) else ""

    def _get(self, key: str) -> GenResult | None:
        try:
            return self.cache.get(key)
        except sqlite3.DatabaseError as exc:  # a damaged page: a miss, and the answer is asked again
            log.warning("cache %s could not be read (%s); asking the backend instead", self.cache.path, exc)
            return None

    def stream(self, requests: Sequence[GenRequest], sampling: SamplingParams) -> Iterator[tuple[int, GenResult]]:
        keys = [self.key(r, sampling) for r in requests]
        pending: list[int] = []
        for i, key in enumerate(keys):
            hit = self._get(key) if key else None
            if hit is not None:
                yield i, hit
            else:
                pending.append(i)
        if not pending:
            return
        send: list[int] = []
        twins: dict[int, list[int]] = {}  # a sent request -> the identical ones that wait for its answer
        first: dict[str, int] = {}
        for i in pending:
            if keys[i] and keys[i] in first:
                twins[first[keys[i]]].append(i)
                continue
            if keys[i]:
                first[keys[i]] = i
            send.append(i)
            twins[i] = []
        for j, result in self.inner.stream([requests[i] for i in send], sampling):
            i = send[j]
            if result.ok and keys[i]:
                try:
                    info: dict[str, Any] = {"judge": self.inner.judge_id}
                    if result.logprobs is not None:  # --verdict-probs: a hit must give them back
                        info["logprobs"] = result.logprobs
                    self.cache.put(keys[i], result, info=info)
                except sqlite3.Error as exc:  # a cache problem must not lose the result
                    log.warning("cache put failed for request %d: %s", i, exc)
            yield i, result
            for twin in twins[i]:
                yield twin, result
