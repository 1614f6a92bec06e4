"""Judging into a file, resumably: the one loop behind ``critic judge``, ``eval-bench`` and ``filter``.

:func:`judge_to_file` skips what the output already holds, judges the rest, appends each judgment
the moment it exists and sends failures to their own file; its :class:`JudgeRun` prints the
end-of-run summary. The resume rules, in one place:

* **Done** is every ``(id, swapped)`` the output holds, verdicts and parse failures alike
  (:func:`judged_keys`): rerunning a deterministic judge would not change a parse failure. A
  malformed line (a run killed mid-write) is reported and its judgment redone.
* **Failures** (``error`` set: the request failed after its retries, or an input could not be read)
  are never written to the output, so a rerun retries them. They go to ``OUTPUT.failed.jsonl``,
  rewritten by each run that has any (the failures of the last run, not a history).
* Judgments are written one line at a time (:class:`~critic.jsonl.JsonlWriter`): a killed run loses
  at most what was in flight.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from critic.judging.critic import Critic, Judgment
from critic.judging.summary import JudgeSummary
from critic.judging.templates import Template
from critic.records import PairwiseItem, PointwiseItem


def failed_path(output: Path) -> Path:
    """Where the failures of a run judging into ``output`` go: ``OUTPUT.failed.jsonl``."""
    return output.with_name(output.name + ".failed.jsonl")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def judged_keys(path: Path, warn: Callable[[str], None] = _stderr) -> set[tuple[str, bool]]:
    """``(id, swapped)`` of the judgments already in ``path``, verdicts and parse failures alike."""
    from critic.jsonl import JsonlReader
    from critic.records import PairwiseJudgment, PointwiseJudgment

    if not path.exists():
        return set()
    pick = lambda d: PairwiseJudgment if d.get("task") == "pairwise" else PointwiseJudgment  # noqa: E731
    reader = JsonlReader(path, pick, resolve_images=False)
    done = {(j.id, getattr(j, "swapped", False)) for j in reader if j.error is None}
    for err in reader.errors:
        warn(f"warning: {err} (kept; that judgment will be redone)")
    return done


@dataclass
class JudgeRun:
    """What :func:`judge_to_file` did: the summary, where it wrote, whether any judgment failed."""

    summary: JudgeSummary
    output: Path
    failed: Path
    any_failed: bool = False

    def render(self) -> str:
        """The end-of-run summary, pointing at the failures file when there is one."""
        return self.summary.render(self.output, self.failed if self.any_failed else None)


def judge_to_file(
    critic: Critic,
    items: Sequence[PointwiseItem | PairwiseItem],
    output: Path,
    *,
    swap: str = "none",
    template: str | Template | None = None,
    desc: str = "judging",
    summary: JudgeSummary | None = None,
    done: Collection[tuple[str, bool]] | None = None,
    failures: Path | None = None,
    on_judgment: Callable[[Judgment], None] | None = None,
    warn: Callable[[str], None] = _stderr,
) -> JudgeRun:
    """Judge ``items`` into ``output`` (appended to), resuming; see the module doc.

    ``done``: ``(id, swapped)`` pairs not to judge (default: :func:`judged_keys` of ``output``; a
    caller that resumes by its own files passes them, or an empty set). ``failures``: where failed
    judgments go (default :func:`failed_path`). ``on_judgment`` is called with each judgment written
    to ``output``, after it is written. :class:`~critic.judging.backends.base.BackendFatalError` and
    ``ValueError`` (a template that does not fit an item) propagate; what was written stays.
    """
    from critic.jsonl import JsonlWriter

    output = Path(output)
    run = JudgeRun(summary if summary is not None else JudgeSummary(), output, failures or failed_path(output))
    if done is None:
        done = judged_keys(output, warn)
    run.summary.resumed += len(done)
    failed: JsonlWriter | None = None
    try:
        with JsonlWriter(output, append=True) as out:
            for j in critic.judge_stream(items, swap=swap, template=template, desc=desc, skip=frozenset(done)):
                run.summary.add(j)
                if j.error is not None:
                    failed = failed or JsonlWriter(run.failed)
                    run.any_failed = True
                    failed.write(j)
                    continue
                out.write(j)
                if on_judgment is not None:
                    on_judgment(j)
    finally:
        if failed is not None:
            failed.close()
    return run
