"""A SQLite cache of model calls (teacher calls, judge calls), safe across threads and processes.

Keys hash everything that changes the answer (:meth:`JudgeCache.key`): model id, template hash,
rendered messages, image hashes, sampling parameters. Only successful generations are stored
(:meth:`JudgeCache.put` raises ``ValueError`` for a failed one), so a rerun retries exactly the
calls that failed. Each ``put`` is its own committed transaction: a run killed at any moment loses
nothing already put, and a rerun repeats no finished call.

Concurrency: the database is in WAL mode (readers never block the writer) with a ``busy_timeout``,
so several processes — e.g. data-building workers — can write the same file at once; a writer that
finds the lock taken waits for it instead of failing with ``database is locked``. Within a process
one connection is shared by all threads behind a lock.

A file that is not a readable SQLite cache (truncated, overwritten) is moved aside to
``FILE.corrupt-<time>`` with a :class:`CorruptCacheWarning` naming both, and an empty cache takes
its place: the default cache is shared by every run, so one bad file must not stop them all.

Default files follow one rule, :func:`default_cache_path`: ``$CRITIC_CACHE_DIR/judge.sqlite`` (or
``teacher.sqlite``) when the variable is set and not empty, else under ``~/.cache/critic``. Backends
do not know this cache: :class:`~critic.judging.backends.cached.CachedBackend` wraps one.

>>> import tempfile, os
>>> from critic.judging.backends.generation import GenResult
>>> with JudgeCache(os.path.join(tempfile.mkdtemp(), "c.sqlite")) as cache:
...     k = JudgeCache.key(model="m", messages=[{"role": "user", "content": "hi"}])
...     cache.put(k, GenResult(text="hello", prompt_tokens=3, completion_tokens=1))
...     cache.get(k).text, cache.get(k).cached, len(cache)
('hello', True, 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from critic.judging.backends.generation import GenResult

#: The environment variable naming the folder of the default caches.
CACHE_DIR_ENV = "CRITIC_CACHE_DIR"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,
    created REAL NOT NULL,
    info TEXT
)
"""


class CorruptCacheWarning(UserWarning):
    """A cache file could not be read and was set aside (``FILE.corrupt-<time>``); an empty one replaces it."""


def default_cache_dir() -> Path:
    """``$CRITIC_CACHE_DIR`` when set and not empty, else ``~/.cache/critic``: the one rule for default caches."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "critic")


def default_cache_path(name: str) -> Path:
    """The default cache file ``name`` (``"judge"``, ``"teacher"``): ``default_cache_dir() / f"{name}.sqlite"``."""
    return default_cache_dir() / f"{name}.sqlite"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, (bytes, Path)):
        return str(obj)
    raise TypeError(f"cannot put {type(obj).__name__} in a cache key")


@dataclass(frozen=True)
class CacheEntry:
    """A stored row: the result plus when it was stored and the caller's free-form ``info``."""

    key: str
    result: GenResult
    created: float
    info: dict[str, Any] | None


class JudgeCache:
    """Results of model calls keyed by :meth:`key`; use as a context manager or call :meth:`close`.

    ``busy_timeout`` (seconds) is how long a write waits for another process's lock before
    ``sqlite3.OperationalError: database is locked`` is raised.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._open(busy_timeout)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            self._set_aside(exc)
            self._open(busy_timeout)

    def _open(self, busy_timeout: float) -> None:
        # isolation_level=None: autocommit, each statement is its own transaction.
        self._conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._retry_locked(lambda c: c.execute("PRAGMA journal_mode = WAL"), busy_timeout)
        # NORMAL in WAL mode survives a killed process (only power loss can drop the last commits).
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._retry_locked(lambda c: c.execute(_SCHEMA), busy_timeout)
        self._conn.execute("SELECT key, text FROM results ORDER BY rowid DESC LIMIT 1").fetchall()

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        """A file that is not a readable cache (truncated, garbage) is moved to ``FILE.corrupt-<time>``."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            try:
                os.replace(src, Path(str(aside) + suffix))
            except FileNotFoundError:  # no such side file, or another process moved it first
                pass
        warnings.warn(f"cache {self.path} is not a readable SQLite cache ({exc}); moved it to {aside} and "
                      "started an empty one", CorruptCacheWarning, stacklevel=3)

    def _retry_locked(self, fn: Any, budget: float) -> None:
        # Switching the journal mode may return SQLITE_BUSY without consulting the busy handler
        # when another process opens the file at the same moment; retry that briefly.
        deadline = time.monotonic() + budget
        while True:
            try:
                fn(self._connection())
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @staticmethod
    def key(**parts: Any) -> str:
        """sha256 hex of the canonical JSON of ``parts`` (sorted keys, no whitespace, UTF-8).

        Pass everything that changes the answer, e.g. ``model=, template_hash=, messages=,
        image_hashes=, sampling=``. Objects with ``to_dict()`` / ``model_dump()`` are converted.
        """
        blob = json.dumps(
            parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"cache {self.path} is closed")
        return self._conn

    def get(self, key: str) -> GenResult | None:
        """The stored result for ``key`` (with ``cached=True``), or None."""
        entry = self.get_entry(key)
        return entry.result if entry else None

    def get_entry(self, key: str) -> CacheEntry | None:
        """The stored row for ``key`` with its creation time and info, or None."""
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT text, prompt_tokens, completion_tokens, cost, created, info FROM results WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        if row is None:
            return None
        text, pt, ct, cost, created, info = row
        result = GenResult(text=text, prompt_tokens=pt, completion_tokens=ct, cost=cost, cached=True)
        meta = json.loads(info) if info else None
        if isinstance(meta, dict) and isinstance(meta.get("logprobs"), list):  # stored with --verdict-probs
            result.logprobs = meta["logprobs"]
        return CacheEntry(key=key, result=result, created=created, info=meta)

    def put(self, key: str, result: GenResult, *, info: dict[str, Any] | None = None) -> None:
        """Store a successful ``result`` under ``key`` (replacing any previous one) and commit.

        Raises ``ValueError`` for a failed result (``error`` set or ``text`` None): failures are
        never cached, and storing one by mistake would freeze the failure forever.
        """
        if not result.ok:
            raise ValueError(f"refusing to cache a failed generation: {result.error or 'no text'}")
        row = (
            key,
            result.text,
            int(result.prompt_tokens),
            int(result.completion_tokens),
            result.cost,
            time.time(),
            json.dumps(info, sort_keys=True, default=_json_default) if info else None,
        )
        with self._lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO results (key, text, prompt_tokens, completion_tokens, cost, created, info)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def __contains__(self, key: object) -> bool:
        with self._lock:
            row = self._connection().execute("SELECT 1 FROM results WHERE key = ?", (key,)).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent); the data stays on disk."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JudgeCache({str(self.path)!r})"
