"""The files beside a judgments output: its lock, what it already holds (the resume key), failures and skipped inputs.

* **Lock.** :func:`output_lock` holds an exclusive ``fcntl`` lock on ``OUTPUT.lock`` while a run
  writes ``OUTPUT``; a second process on the same output gets :class:`OutputBusyError` at once
  (two writers used to append 100 lines for 50 items). The lock is re-entrant within a process.
* **Resume key.** A line of the output counts as done for ``(id, swapped)`` only when it was made by
  the same judge, template (its hash) and sampling as this run asks for; :func:`check_resume` raises
  :class:`ResumeMismatchError` naming what differs instead of silently judging nothing.
* **Side files.** ``OUTPUT.failed.jsonl`` (judgments that failed, and items a stopped run never
  reached) and ``OUTPUT.skipped.jsonl`` (every input line that was not judged, with ``file:line`` and
  the reason) are rewritten by each run, and removed by a run that has none.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

_HELD: dict[str, list[Any]] = {}  # resolved lock path -> [open file, depth]


class OutputBusyError(ValueError):
    """Another process is writing the same output."""


class ResumeMismatchError(ValueError):
    """The output holds judgments made with other settings than this run's."""


def failed_path(output: Path) -> Path:
    """Where the failures of a run judging into ``output`` go: ``OUTPUT.failed.jsonl``."""
    return output.with_name(output.name + ".failed.jsonl")


def skipped_path(output: Path) -> Path:
    """Where the inputs a run skipped go: ``OUTPUT.skipped.jsonl``."""
    return output.with_name(output.name + ".skipped.jsonl")


def lock_path(output: Path) -> Path:
    """The lock file of ``output``: ``OUTPUT.lock``."""
    return output.with_name(output.name + ".lock")


@contextlib.contextmanager
def output_lock(output: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of ``output`` (see the module doc); raise :class:`OutputBusyError` if taken.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "j.jsonl"
    >>> with output_lock(out), output_lock(out):  # re-entrant in one process
    ...     lock_path(out).exists()
    True
    >>> lock_path(out).exists()
    False
    """
    import fcntl

    path = lock_path(Path(output))
    key = str(path.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fh = path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise OutputBusyError(
                f"{output} is being written by another process{f' (pid {holder})' if holder else ''} "
                f"(lock {path}); wait for it or choose another --output") from None
        try:  # the holder before us may have removed the file: lock the one that is there
            same = os.path.samestat(os.fstat(fh.fileno()), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    _HELD[key] = [fh, 1]
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            path.unlink()
        fh.close()


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def resume_key(judgment: Any) -> tuple[str, str, str]:
    """What must match for a judgment in the output to count as this run's: judge, template hash, sampling."""
    return judgment.judge, judgment.template_hash, json.dumps(_norm(judgment.sampling), sort_keys=True)


def check_resume(output: Path, held: dict[tuple[str, bool], tuple[str, tuple[str, str, str], str]],
                 wanted: dict[str, tuple[str, str, str, str]]) -> None:
    """Raise :class:`ResumeMismatchError` when a judgment in ``output`` was made otherwise than asked.

    ``held``: ``(id, swapped) -> (task, resume key, template name)`` of the output's lines;
    ``wanted``: ``task -> (judge, template hash, sampling, template name)`` of this run.
    """
    for (id_, _), (task, key, name) in held.items():
        if task not in wanted:
            continue
        judge, thash, sampling, want_name = wanted[task]
        if key == (judge, thash, sampling):
            continue
        diffs = []
        if key[0] != judge:
            diffs.append(f"judge {key[0]!r} there, {judge!r} now")
        if key[1] != thash:
            diffs.append(f"template {name!r} (hash {key[1][:12]}) there, {want_name!r} (hash {thash[:12]}) now")
        if key[2] != sampling:
            diffs.append(f"sampling {key[2]} there, {sampling} now")
        raise ResumeMismatchError(
            f"{output} already holds judgments made otherwise than this run asks (first: {id_!r}): "
            f"{'; '.join(diffs)}. Resuming would mix them; use a new --output, or the same options as before")


_WHERE = re.compile(r"^(?P<where>.+?:\d+): (?P<reason>.*)$", re.S)


def write_skipped(path: Path, reasons: Iterable[str]) -> int:
    """Write each skipped input (``file:line: reason`` text) as ``{"where", "reason"}`` to ``path``.

    Removes ``path`` when there is none; returns how many were written.
    """
    rows = []
    for text in reasons:
        m = _WHERE.match(text)
        rows.append({"where": m["where"], "reason": m["reason"]} if m else {"where": None, "reason": text})
    if not rows:
        with contextlib.suppress(OSError):
            path.unlink()
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)


Warn = Callable[[str], None]
