"""``critic data build``: turn a recipe into a critic dataset, in one streaming pass.

For each source, in recipe order, items are read one at a time (:mod:`critic.data.sources`) and planned
into jobs (:mod:`critic.data.plan`). Jobs are processed in windows of ``teacher.window``: the
teacher calls of a window go out together through :class:`critic.data.teacher.Teacher` (full
concurrency; the cache answers whatever was asked before), then the window's samples are made with
:func:`critic.data.samples.make_sample` and written, in job order, to the staging folder
(:mod:`critic.data.writers`). Memory is one window whatever the dataset size, and the output
depends only on the recipe and the teacher's answers, which the cache fixes: same recipe + same
cache → same bytes. A build killed at any moment leaves ``DIR/.partial``; running it again rebuilds
from the cache, re-sending only the calls that never succeeded.

Every input that cannot become a sample is counted and listed with its ``file:line``
(:mod:`critic.data.stats`); only a fatal teacher error (bad key, unknown model) stops the run.
"""

from __future__ import annotations

import collections
import itertools
import math
import multiprocessing as mp
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.data.pairs import PairJob, PairPlanner, answer_jobs, check_layout, process_pair_window
from critic.data.plan import Planner
from critic.data.recipe import TEACHER_MODES, Recipe, TeacherConfig, load_recipe, resolve_path
from critic.data.sources import open_source
from critic.data.stats import DatasetStats, write_card
from critic.data.teacher import Estimate, Teacher
from critic.data.worker import (
    JobSpec,
    WindowResult,
    WorkerConfig,
    close_worker,
    init_worker,
    process_window,
)
from critic.data.writers import ImageStore, PairWriter, SampleWriter, Staging, write_hf
from critic.judging.backends.cache import JudgeCache, default_cache_path
from critic.judging.templates import load_template
from critic.media import DEFAULT_MAX_IMAGE_PIXELS


@dataclass
class BuildOptions:
    """Command-line overrides and hooks; ``backend`` replaces the teacher endpoint (tests, benchmarks;
    only with ``num_proc`` 1, the backend living in this process)."""

    teacher_base_url: list[str] | None = None
    teacher_model: str | None = None
    cache: Path | None = None
    no_cache: bool = False
    dry_run: bool = False
    num_proc: int | None = None
    backend: Any = None
    progress: bool = True
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS  # a larger image drops its item (issue 14.4)
    image_root: Path | None = None  # images outside this folder drop their item, unread (issue 14.16)
    rubric: str | None = None  # rubric text for items without one (``--rubric FILE``; before the recipe's ``rubrics``)


@dataclass
class BuildResult:
    """What a build did. ``estimate`` is set by a dry run (and then nothing was written or sent)."""

    recipe: Recipe
    stats: DatasetStats
    out: Path | None
    estimate: Estimate | None = None
    teacher_model: str | None = None
    price: tuple[float, float] | None = None
    planned: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


def _windows(jobs: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        window = list(itertools.islice(jobs, size))
        if not window:
            return
        yield window


def _recipe_with_overrides(path: Path, opts: BuildOptions) -> Recipe:
    recipe = load_recipe(path)
    update: dict[str, Any] = {}
    if opts.teacher_base_url:
        update["base_url"] = list(opts.teacher_base_url)
    if opts.teacher_model:
        update["model"] = opts.teacher_model
    if update:
        recipe.teacher = recipe.teacher.model_copy(update=update)
    return recipe


def _cache_path(recipe: Recipe, path: Path, opts: BuildOptions) -> Path | None:
    if opts.no_cache or not recipe.uses_teacher:
        return None
    if opts.cache:
        return Path(opts.cache)
    return resolve_path(path, recipe.teacher.cache) if recipe.teacher.cache else default_cache_path("teacher")


def _progress(enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(desc=desc, unit="item", disable=not enabled, dynamic_ncols=True)


def worker_share(teacher: TeacherConfig, num_proc: int) -> TeacherConfig:
    """One worker's part of the recipe's teacher limits, which hold for the whole build.

    ``concurrency`` is divided rounding up, ``rpm`` and ``tpm`` rounding down (never below 1), so N
    workers together stay within the provider's limits.

    >>> t = worker_share(TeacherConfig(model="gpt-4o", concurrency=16, rpm=5000, tpm=2_000_001), 3)
    >>> t.concurrency, t.rpm, t.tpm
    (6, 1666, 666667)
    >>> worker_share(TeacherConfig(model="m", concurrency=4), 2).rpm is None
    True
    """
    share = {"concurrency": math.ceil(teacher.concurrency / num_proc)}
    share.update({k: max(1, v // num_proc) for k in ("rpm", "tpm") if (v := getattr(teacher, k))})
    return teacher.model_copy(update=share)


class _Runner:
    """Runs the windows, inline or in a process pool, and hands their results over in window order;
    ``work`` is what a window becomes (samples, or preference pairs: :mod:`critic.data.pairs`)."""

    def __init__(self, cfg: WorkerConfig, num_proc: int, backend: Any, work: Any = process_window) -> None:
        self.num_proc, self.work = num_proc, work
        self.pool = None
        if num_proc > 1:
            if backend is not None:
                raise ValueError("an injected backend lives in this process: use num_proc 1")
            if cfg.teacher:
                cfg.teacher = worker_share(cfg.teacher, num_proc)
                cfg.concurrency = cfg.teacher.concurrency
            self.pool = mp.get_context("spawn").Pool(num_proc, initializer=init_worker, initargs=(cfg,))
        else:
            init_worker(cfg, backend)

    def run(self, windows: Iterator[list[JobSpec]]) -> Iterator[tuple[list[JobSpec], WindowResult]]:
        if self.pool is None:
            for w in windows:
                yield w, self.work(w)
            return
        pending: collections.deque[tuple[list[JobSpec], Any]] = collections.deque()
        for w in windows:  # at most num_proc + 1 windows in flight: memory stays bounded
            pending.append((w, self.pool.apply_async(self.work, (w,))))
            while len(pending) > self.num_proc or (pending and pending[0][1].ready()):
                done, res = pending.popleft()
                yield done, res.get()
        while pending:
            done, res = pending.popleft()
            yield done, res.get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        else:
            close_worker()


def _jobs(recipe: Recipe, path: Path, stats: DatasetStats, images: ImageStore,
          rubric: str | None = None) -> Iterator[JobSpec | PairJob]:
    seq = itertools.count()
    planner_type = PairPlanner if recipe.layout == "pairs" else Planner
    for i, cfg in enumerate(recipe.sources):
        planner = planner_type(recipe, path, i, stats, images, seq, rubric)
        yield from planner.jobs(open_source(cfg, path))


def _count(planned: dict[str, int], window: list[Any]) -> list[Any]:
    for job in window:
        planned[job.mode] = planned.get(job.mode, 0) + len(job.orders)
    return window


def _dry_run(recipe: Recipe, path: Path, opts: BuildOptions, result: BuildResult, cache_path: Path | None) -> None:
    """Plan everything and estimate the teacher calls; nothing is sent, nothing written to the output."""
    cache = JudgeCache(cache_path) if cache_path is not None and cache_path.exists() else None
    teacher = Teacher(recipe.teacher, cache, backend=opts.backend) if recipe.uses_teacher else None
    tmp = Path(tempfile.mkdtemp(prefix="critic-dry-run-"))
    result.estimate = Estimate()
    try:
        store = ImageStore(tmp, copy_files=False)
        store.max_pixels, store.image_root = opts.max_image_pixels, opts.image_root
        jobs = _jobs(recipe, path, result.stats, store, opts.rubric)
        with _progress(opts.progress, "planning") as bar:
            for window in _windows(jobs, recipe.teacher.window_size):
                _count(result.planned, window)
                if teacher is not None:
                    calls, frames = [], []
                    for job in window:
                        if isinstance(job, PairJob):  # two calls, one per answer
                            if job.template is not None:
                                for sub, sent in answer_jobs(job, load_template(job.template), teacher,
                                                             recipe.explain_instruction):
                                    calls.append((sub.item, sent))
                                    frames.append(job.frames)
                        elif job.mode in TEACHER_MODES:
                            t = load_template(job.template)
                            if job.mode == "teacher_explain":
                                t = teacher.explain_template(t, recipe.explain_instruction, job.gold_scale)
                            calls.append((job.item, t))
                            frames.append(job.frames)
                    teacher.estimate(calls, result.estimate, frames)
                bar.update(len(window))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if cache is not None:
            cache.close()


def check_sources(recipe: Recipe, path: Path) -> None:
    """Every source file and image folder the recipe names must exist, before anything is planned.

    A missing source is the recipe's problem, not a malformed line: it stops the build (and the
    dry run, whose bill would otherwise leave the source out) with the recipe line, the resolved
    path and, where the path uses one, the environment variable that is not set.
    """
    import os
    import re

    from critic.data.recipe import RecipeError, line_of, resolve_path

    problems = []
    for i, src in enumerate(recipe.sources):
        for key in ("path", "image_folder"):
            value = getattr(src, key, None)
            if not value:
                continue
            resolved = resolve_path(path, value)
            if resolved.exists():
                continue
            unset = [v for v in re.findall(r"\$\{?(\w+)", value) if v not in os.environ]
            why = f" (environment variable {', '.join('$' + v for v in unset)} not set)" if unset else ""
            line = line_of(path, ("sources", i, key))
            problems.append(f"{path}{f':{line}' if line else ''}: sources[{i}].{key}: {resolved} does not exist{why}")
    if problems:
        raise RecipeError("\n".join(problems))


def build_dataset(recipe_path: str | Path, out_dir: str | Path | None, opts: BuildOptions | None = None) -> BuildResult:
    """Build the dataset of ``recipe_path`` into ``out_dir`` (see the module docstring).

    With ``opts.dry_run`` nothing is sent or written (``out_dir`` may be None): the result's
    ``estimate`` holds the calls, the cached calls and the estimated tokens.
    """
    opts = opts or BuildOptions()
    t0 = time.perf_counter()
    path = Path(recipe_path)
    recipe = _recipe_with_overrides(path, opts)
    check_sources(recipe, path)
    check_layout(recipe, path)
    stats = DatasetStats(recipe=recipe.name, seed=recipe.seed, layout=recipe.layout)
    cache_path = _cache_path(recipe, path, opts)
    result = BuildResult(recipe, stats, None, teacher_model=recipe.teacher.model if recipe.uses_teacher else None,
                         price=recipe.teacher.price_per_mtok)
    if recipe.uses_teacher and result.price is None:
        from critic.judging.backends.openai_compat import price_for

        result.price = price_for(recipe.teacher.model)
    if opts.dry_run:
        _dry_run(recipe, path, opts, result, cache_path)
        result.wall_s = time.perf_counter() - t0
        return result
    if out_dir is None:
        raise ValueError("an output folder is needed (only a dry run goes without)")
    splits = list(recipe.splits)
    staging = Staging(Path(out_dir))
    staging.images.max_pixels, staging.images.image_root = opts.max_image_pixels, opts.image_root
    pairs = recipe.layout == "pairs"
    writer = (PairWriter if pairs else SampleWriter)(staging.root, splits)
    cfg = WorkerConfig(recipe.teacher if recipe.uses_teacher else None, str(cache_path) if cache_path else None,
                       recipe.explain_instruction, str(staging.out), max_image_pixels=opts.max_image_pixels)
    runner = _Runner(cfg, opts.num_proc or 1, opts.backend, process_pair_window if pairs else process_window)
    try:
        jobs = _jobs(recipe, path, stats, staging.images, opts.rubric)
        windows = (_count(result.planned, w) for w in _windows(jobs, recipe.teacher.window_size))
        with _progress(opts.progress, "building") as bar:
            for window, res in runner.run(windows):
                for row in res.rows:
                    writer.write(row.split, row.line, row.llava, row.images)
                    stats.add(row.stat)
                for split, batch in res.hf.items():
                    writer.write_batch(split, batch)
                for d in res.drops:
                    stats.drop(*d)
                for c in res.calls:
                    stats.teacher_call(*c)
                for f in res.failed:
                    stats.teacher_failed(*f)
                bar.update(len(window))
    finally:
        runner.close()
        writer.close()
    stats.images = len(writer.images)
    stats.image_bytes = sum(staging.images.sizes.get(n, 0) for n in writer.images)
    if not pairs:
        write_hf(staging.root, splits, num_proc=opts.num_proc if (opts.num_proc or 1) > 1 else None)
    stats.write(staging.root / "stats.json")
    write_card(staging.root / "card.md", stats, path.read_text(encoding="utf-8"), recipe.description,
               result.teacher_model)
    staging.commit(splits, writer.images)
    result.out = staging.out
    result.wall_s = time.perf_counter() - t0
    return result
