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
* **Resume key.** A line counts as done only when the same judge, template (hash) and sampling made
  it; a mismatch is an error that says what differs (:func:`~critic.judging.run_files.check_resume`).
* **One writer.** The output is locked (``OUTPUT.lock``) while a run writes it; a second run on it
  stops at once with :class:`~critic.judging.run_files.OutputBusyError`.
* **Side files.** A run with no failures removes a stale ``OUTPUT.failed.jsonl``; the inputs a command
  skipped (``summary.skipped``) go to ``OUTPUT.skipped.jsonl`` with ``file:line`` and the reason.
* **Stopping.** When the backend gives up (:class:`~critic.judging.backends.base.BackendFatalError`:
  bad key, unknown model, a server that failed many requests in a row), what was written stays, the
  items not judged are listed in ``OUTPUT.failed.jsonl`` and the error, saying so, propagates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from critic.judging.critic import Critic, Judgment
from critic.judging.run_files import (
    check_resume,
    failed_path,
    output_lock,
    resume_key,
    skipped_path,
    write_skipped,
)
from critic.judging.run_files import stderr as _stderr
from critic.judging.summary import JudgeSummary
from critic.judging.templates import Template
from critic.records import PairwiseItem, PointwiseItem

__all__ = ["JudgeRun", "failed_path", "judge_to_file", "judged_keys", "skipped_path"]


def _held(path: Path, warn: Callable[[str], None]) -> dict[tuple[str, bool], tuple[str, tuple[str, str, str], str]]:
    from critic.jsonl import JsonlReader
    from critic.records import PairwiseJudgment, PointwiseJudgment

    if not path.exists():
        return {}
    pick = lambda d: PairwiseJudgment if d.get("task") == "pairwise" else PointwiseJudgment  # noqa: E731
    reader = JsonlReader(path, pick, resolve_images=False)
    held = {(j.id, getattr(j, "swapped", False)): (j.task, resume_key(j), j.template) for j in reader
            if j.error is None}
    for err in reader.errors:
        warn(f"warning: {err} (kept; that judgment will be redone)")
    return held


def judged_keys(path: Path, warn: Callable[[str], None] = _stderr) -> set[tuple[str, bool]]:
    """``(id, swapped)`` of the judgments already in ``path``, verdicts and parse failures alike."""
    return set(_held(path, warn))


def _wanted(critic: Critic, items: Sequence[PointwiseItem | PairwiseItem],
            template: str | Template | None) -> dict[str, tuple[str, str, str, str]]:
    """task -> (judge, template hash, sampling, template name) this run will write."""
    import json

    sampling = json.dumps(json.loads(json.dumps(critic.sampling.to_dict(), default=str)), sort_keys=True)
    wanted = {}
    for task in {it.task for it in items}:
        try:
            t = critic.template_for(task, template)
        except (KeyError, ValueError):  # judge_stream says what is wrong
            continue
        wanted[task] = (critic.backend.judge_id, t.hash, sampling, t.name)
    return wanted


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

    @property
    def complete(self) -> bool:
        """Whether all the work asked for was done: no failed judgment and no skipped input."""
        return not self.any_failed and not self.summary.skipped

    def print(self) -> None:
        """The summary's headline to stdout, its diagnostics (failed, skipped, parse failures) to stderr."""
        head, problems = self.summary.render_parts(self.output, self.failed if self.any_failed else None,
                                                   skipped_path(self.output))
        print(head)
        if problems:
            print(problems, file=sys.stderr)


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

    ``done``: ``(id, swapped)`` pairs not to judge (default: :func:`judged_keys` of ``output``, checked
    against this run's judge, template and sampling; a caller that resumes by its own files passes
    them, or an empty set). ``failures``: where failed
    judgments go (default :func:`failed_path`). ``on_judgment`` is called with each judgment written
    to ``output``, after it is written. :class:`~critic.judging.backends.base.BackendFatalError` and
    ``ValueError`` (a template that does not fit an item) propagate; what was written stays.
    """
    output = Path(output)
    with output_lock(output):
        return _judge_locked(critic, items, output, swap=swap, template=template, desc=desc, summary=summary,
                             done=done, failures=failures, on_judgment=on_judgment, warn=warn)


def _judge_locked(critic, items, output, *, swap, template, desc, summary, done, failures, on_judgment,
                  warn) -> JudgeRun:
    from critic.jsonl import JsonlWriter
    from critic.judging.backends.base import BackendFatalError

    run = JudgeRun(summary if summary is not None else JudgeSummary(), output, failures or failed_path(output))
    if done is None:
        held = _held(output, warn)
        check_resume(output, held, _wanted(critic, items, template))
        done = set(held)
    run.summary.resumed += len(done)
    write_skipped(skipped_path(output), run.summary.skipped)
    failed: JsonlWriter | None = None
    reached: set[str] = set()
    try:
        with JsonlWriter(output, append=True) as out:
            for j in critic.judge_stream(items, swap=swap, template=template, desc=desc, skip=frozenset(done)):
                reached.add(j.id)
                run.summary.add(j)
                if j.error is not None:
                    failed = failed or JsonlWriter(run.failed)
                    run.any_failed = True
                    failed.write(j)
                    continue
                out.write(j)
                if on_judgment is not None:
                    on_judgment(j)
    except BackendFatalError as exc:
        failed = failed or JsonlWriter(run.failed)
        done_ids = {k[0] for k in done}
        left = [it for it in items if it.id not in reached and it.id not in done_ids]
        for it in left:
            failed.write({"id": it.id, "task": it.task, "error": f"not judged: the run stopped: {exc}"})
        raise BackendFatalError(
            f"{exc}\nstopped: {run.summary.judged} judgments written to {output} are kept; {len(left)} items not "
            f"judged and {len(run.summary.failed)} failed are listed in {run.failed}; rerun the same command to "
            "go on") from None
    finally:
        if failed is not None:
            failed.close()
    if not run.any_failed and run.failed.exists():
        run.failed.unlink()  # a fully successful rerun: the old failures are done now
    return run
