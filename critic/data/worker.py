"""The per-window work of a dataset build: teacher calls, targets, samples and their serialised rows.

:func:`process_window` takes a window of planned jobs (:class:`JobSpec`, plain picklable records)
and returns everything the writer needs (:class:`WindowResult`): for each sample its JSONL record
(image paths already relative to the dataset folder), its LLaVA conversation, its HF row and its
stats; plus drops, teacher usage and failed calls. It runs in the build's own process
(``--num-proc 1``) or in worker processes (``--num-proc N``: rendering, parsing and serialising
are CPU-bound), each with its own teacher backend and cache connection (SQLite in WAL mode takes
several processes). Results are consumed in window order, so the output does not depend on N.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from critic.data.recipe import TEACHER_MODES, TeacherConfig
from critic.data.samples import make_sample
from critic.data.teacher import RememberingTemplate, Teacher, teacher_verdict
from critic.judging.backends.cache import JudgeCache
from critic.judging.critic import Judgment
from critic.judging.templates import Template, TemplateError, load_template
from critic.judging.verdicts import Verdict
from critic.media import DEFAULT_MAX_IMAGE_PIXELS
from critic.records import PairwiseItem, PointwiseItem

# Drop reasons decided here (see critic.data.plan for the planner's).
TEACHER_FAILED = "teacher call failed"
UNPARSEABLE_ANSWER = "teacher answer unparseable"
CONTRADICTS = "teacher verdict contradicts the label"
INVALID_VERDICT = "verdict does not fit the template"
NO_RATIONALE = "no rationale"
UNREADABLE_IMAGE = "unreadable image"
NO_TEMPLATE = "no template fits"


@dataclass
class JobSpec:
    """One item with one template, planned: the sample(s) it becomes. ``seq`` orders reports."""

    seq: int
    where: str
    source: str
    mode: str
    item: PointwiseItem | PairwiseItem
    template: str  # path of the template file
    orders: list[bool]
    split: str
    gold: dict[str, Any] | None = None
    gold_scale: tuple[float, float] | None = None
    frames: list[str] = field(default_factory=list)  # a video item's stored frames, shown first (critic.data.clips)


@dataclass
class WorkerConfig:
    """What every worker needs: the teacher, its cache file, the explain instruction, the dataset root."""

    teacher: TeacherConfig | None
    cache: str | None
    explain_instruction: str
    root: str
    concurrency: int | None = None  # per worker (the recipe's, divided among the workers)
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS  # the teacher decodes no larger image


@dataclass
class Row:
    """One sample, serialised: its JSONL line, its LLaVA conversation (JSON text), the image files it
    uses and its stats entry (its HF row travels in the window's Arrow batch)."""

    split: str
    line: str
    llava: str | None  # None for a preference pair (critic.data.pairs): the pairs layout has no LLaVA file
    images: list[str]
    stat: tuple[Any, ...]


@dataclass
class WindowResult:
    """What one window produced, in job order."""

    rows: list[Row] = field(default_factory=list)
    hf: dict[str, Any] = field(default_factory=dict)  # split -> pyarrow RecordBatch of HF rows
    drops: list[tuple[int, str, str, str, str]] = field(default_factory=list)  # seq, where, source, reason, detail
    calls: list[tuple[bool, int, int, float | None]] = field(default_factory=list)  # cached, in, out, cost
    failed: list[tuple[int, str, str, str]] = field(default_factory=list)  # seq, where, id, error


class _State:
    """Per-process: the teacher (built on first use) and loaded templates."""

    def __init__(self, cfg: WorkerConfig, backend: Any = None) -> None:
        self.cfg = cfg
        self.cache: JudgeCache | None = None
        self.teacher: Teacher | None = None
        self.backend = backend
        self.templates: dict[str, RememberingTemplate] = {}
        self.prefix = os.path.join(os.path.realpath(cfg.root), "")

    def template(self, path: str) -> Template:
        if path not in self.templates:
            self.templates[path] = RememberingTemplate.wrap(load_template(path))
        return self.templates[path]

    def forget(self) -> None:
        for t in self.templates.values():
            t.forget()

    def get_teacher(self) -> Teacher:
        if self.teacher is None:
            assert self.cfg.teacher is not None
            tcfg = self.cfg.teacher
            if self.cfg.concurrency:
                tcfg = tcfg.model_copy(update={"concurrency": self.cfg.concurrency})
            self.cache = JudgeCache(self.cfg.cache) if self.cfg.cache else None
            self.teacher = Teacher(tcfg, self.cache, backend=self.backend,
                                   images_folder=os.path.join(self.cfg.root, "images"),
                                   max_image_pixels=self.cfg.max_image_pixels)
        return self.teacher

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        self.teacher = None


_STATE: _State | None = None


def init_worker(cfg: WorkerConfig, backend: Any = None) -> None:
    """Set up this process (a pool initializer, or called once in the build's own process)."""
    global _STATE
    if _STATE is not None:
        _STATE.close()
    _STATE = _State(cfg, backend)


def current_state() -> _State:
    """This process's state (:func:`init_worker` must have run): its teacher and templates."""
    assert _STATE is not None, "init_worker was not called"
    return _STATE


def close_worker() -> None:
    global _STATE
    if _STATE is not None:
        _STATE.close()
        _STATE = None


def process_window(jobs: list[JobSpec]) -> WindowResult:
    """Teacher calls for the window's teacher jobs, then every job's samples, serialised."""
    st = _STATE
    assert st is not None, "init_worker was not called"
    out = WindowResult()
    calls, idx, frames = [], [], []
    for k, job in enumerate(jobs):
        if job.mode in TEACHER_MODES:
            teacher = st.get_teacher()
            t = st.template(job.template)
            if job.mode == "teacher_explain":
                t = teacher.explain_template(t, st.cfg.explain_instruction, job.gold_scale)
            calls.append((job.item, t))
            idx.append(k)
            frames.append(job.frames)
    answers: dict[int, Judgment] = {}
    if calls:
        for k, j in zip(idx, st.get_teacher().judge(calls, frames)):
            answers[k] = j
    hf_rows: dict[str, list[dict[str, Any]]] = {}
    for k, job in enumerate(jobs):
        got = job_target(job, answers.get(k), out)
        if got is not None:
            _samples(st, job, *got, out, hf_rows)
    st.forget()
    if hf_rows:
        import pyarrow as pa

        from critic.data.writers import arrow_schema

        schema = arrow_schema()
        out.hf = {split: pa.RecordBatch.from_pylist(rows, schema=schema) for split, rows in hf_rows.items()}
    return out


def job_target(job: JobSpec, j: Judgment | None, out: WindowResult) -> tuple[str, Verdict] | None:
    """(rationale, verdict) for the job's samples, or None when it is dropped (and recorded in ``out``)."""
    def drop(reason: str, detail: str) -> None:
        out.drops.append((job.seq, job.where, job.source, reason, detail))

    if j is None:
        return (job.item.meta or {})["rationale"], Verdict.from_dict(job.gold or {})
    if j.usage is not None:
        out.calls.append((j.cached, j.usage.prompt_tokens, j.usage.completion_tokens, j.usage.cost))
    if j.error is not None:
        if j.error.startswith("input:"):
            drop(UNREADABLE_IMAGE, j.error)
        elif j.error.startswith("template:"):
            drop(NO_TEMPLATE, j.error)
        else:
            out.failed.append((job.seq, job.where, f"{job.source}:{job.item.id}:{j.template}", j.error))
            drop(TEACHER_FAILED, j.error)
        return None
    if j.parse_error is not None:
        drop(UNPARSEABLE_ANSWER, f"{j.parse_error}; answer ends: {j.raw[-200:]!r}")
        return None
    verdict = teacher_verdict(j)
    if job.mode == "teacher_explain":
        gold = Verdict.from_dict(job.gold or {})
        same = (verdict.winner == gold.winner and (gold.scores is None or verdict.scores == gold.scores)
                if (gold.scores is not None or verdict.scores is not None) else verdict == gold)
        if not same:
            drop(CONTRADICTS, f"label {gold.to_dict()}, teacher {verdict.to_dict()}")
            return None
    if not (j.rationale or "").strip():
        drop(NO_RATIONALE, "the teacher's answer has a verdict but no rationale")
        return None
    return j.rationale or "", verdict


def _words(parts: list[dict[str, Any]]) -> int:
    return sum(len((p.get("text") or "").split()) for p in parts if p.get("type") == "text")


def _samples(st: _State, job: JobSpec, rationale: str, verdict: Verdict, out: WindowResult,
             hf_rows: dict[str, list[dict[str, Any]]]) -> None:
    from critic.data.writers import hf_row, llava_record, record_line

    template = st.template(job.template)
    for swapped in job.orders:
        sid = f"{job.source}:{job.item.id}:{template.name}" + (":swapped" if swapped else "")
        try:
            sample = make_sample(job.item, template, rationale, verdict, swapped=swapped, source=job.source,
                                 sample_id=sid, frames=job.frames)
        except (TemplateError, ValueError) as exc:
            out.drops.append((job.seq, job.where, job.source, INVALID_VERDICT, str(exc)))
            continue
        record = sample.to_json_dict()
        rel = [p[len(st.prefix):] if p.startswith(st.prefix) else p for p in sample.images]
        record["images"] = rel
        if sample.video and sample.video.startswith(st.prefix):  # a clip inside the dataset: relative, like images
            record["video"] = sample.video[len(st.prefix):]
        v = sample.verdict or {}
        key = v.get("winner") if "winner" in v else v.get("score")
        label = f"{key:g}" if isinstance(key, float) else str(key)
        stat = (job.split, sample.task, sample.template, job.source, job.mode, swapped, label,
                sum(_words(m.content) for m in sample.prompt_messages), len(sample.completion.split()))
        llava = json.dumps(llava_record(sample, rel), ensure_ascii=False)
        out.rows.append(Row(job.split, record_line(record), llava, rel, stat))
        hf_rows.setdefault(job.split, []).append(hf_row(record, sample.images))
