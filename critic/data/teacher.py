"""Teacher distillation: ask a teacher model for rationales and verdicts, through the judge's stack.

The teacher is any OpenAI-compatible endpoint, described by the recipe's ``teacher`` (a judge's
server and sampling options, :class:`~critic.data.recipe.TeacherConfig`), reached with the backend
:func:`~critic.judging.backends.make.make_backend` makes of it
(:class:`~critic.judging.backends.openai_compat.OpenAIBackend`: concurrency, RPM pacing, retries,
failover, cost) behind the SQLite :class:`~critic.judging.backends.cache.JudgeCache`. Prompts are rendered by the template and
answers turned into judgments by :class:`~critic.judging.critic.Critic`, exactly as when judging; only the
cache key differs from the judge's: images are identified by the SHA-256 of their file bytes (the
dataset's image store names them so), which lets a warm rebuild skip decoding them. Two target modes:

* ``teacher_judge`` — the teacher judges the item with the template; its verdict is the label.
* ``teacher_explain`` — the verdict is known: the prompt is the template's prompt followed by the
  recipe's ``explain_instruction`` stating that verdict in the template's own format
  (:class:`ExplainTemplate`); an answer whose parsed verdict differs is dropped by the builder.

The teacher always sees the item in its original order; swap augmentation is applied afterwards,
when the sample is made (verdict swapped, rationale's position words rewritten).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, cast

from critic.data.clips import with_frames
from critic.data.recipe import TeacherConfig
from critic.data.samples import gold_verdict
from critic.judging.backends.base import Backend, GenRequest, GenResult
from critic.judging.backends.cache import JudgeCache
from critic.judging.backends.make import make_backend
from critic.judging.critic import Critic, Judgment, Task, backend_cache_settings
from critic.judging.templates import Prompt, Template, TemplateError
from critic.judging.verdicts import Verdict
from critic.media import DEFAULT_MAX_IMAGE_PIXELS, LazyImages, MediaError, check_pixels
from critic.records import PairwiseItem, PointwiseItem

Item = PointwiseItem | PairwiseItem


@dataclass(frozen=True, eq=False)
class ExplainTemplate(Template):
    """A template whose prompt ends with an instruction giving the item's known verdict.

    Its ``name`` is the base template's (judgments and samples name the base); its ``hash`` covers
    the base hash, the instruction and the gold scale, so explain requests never share a cache
    entry with judge requests.
    """

    instruction: str = ""
    gold_scale: tuple[float, float] | None = None

    @classmethod
    def wrap(cls, base: Template, instruction: str, gold_scale: tuple[float, float] | None) -> ExplainTemplate:
        values = {f.name: getattr(base, f.name) for f in fields(Template)}
        digest = hashlib.sha256(f"{base.hash}\0{instruction}\0{gold_scale}".encode()).hexdigest()[:16]
        values["hash"] = digest
        return cls(**values, instruction=instruction, gold_scale=gold_scale)

    def render_prompt(self, item: Item, *, swapped: bool = False, rubric: str | None = None) -> Prompt:
        prompt = super().render_prompt(item, swapped=swapped, rubric=rubric)
        verdict = gold_verdict(item, self, self.gold_scale)
        text = self.instruction.replace("{verdict}", self.spec.render(verdict))
        return Prompt(prompt.system, [*prompt.parts, {"type": "text", "text": text}])


@dataclass(frozen=True, eq=False)
class RememberingTemplate(Template):
    """A template that remembers the prompts it rendered until :meth:`forget` (same name and hash).

    A teacher request and the training sample made from its answer render the same prompt (same
    item object, same order); remembering it halves the rendering work of a build.
    """

    memory: dict[tuple[int, bool, str | None], tuple[Any, Prompt]] = field(default_factory=dict, repr=False)

    @classmethod
    def wrap(cls, base: Template) -> RememberingTemplate:
        return cls(**{f.name: getattr(base, f.name) for f in fields(Template)})

    def render_prompt(self, item: Item, *, swapped: bool = False, rubric: str | None = None) -> Prompt:
        key = (id(item), swapped, rubric)
        hit = self.memory.get(key)
        if hit is not None and hit[0] is item:
            return hit[1]
        prompt = super().render_prompt(item, swapped=swapped, rubric=rubric)
        self.memory[key] = (item, prompt)
        return prompt

    def forget(self) -> None:
        self.memory.clear()


def image_tokens(width: int, height: int, detail: str | None) -> int:
    """GPT-4o's published image token count: 85 (+170 per 512-px tile at high detail).

    >>> image_tokens(32, 32, None), image_tokens(1024, 1024, "high"), image_tokens(4000, 3000, "low")
    (255, 765, 85)
    """
    if detail == "low":
        return 85
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


@dataclass
class Estimate:
    """What a teacher pass would cost (``--dry-run``)."""

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0


class Teacher:
    """Judges batches of (item, template) pairs with the configured teacher, results in input order.

    Requests are keyed by judge id, template hash, rendered messages, the SHA-256 of each image
    file's bytes (the name the dataset's image store gives it) and the sampling parameters. The
    cache is consulted before any image is decoded, so a warm rebuild decodes no image at all;
    the misses go to the backend, which sends them (concurrency, retries) and caches the answers.
    """

    def __init__(self, cfg: TeacherConfig, cache: JudgeCache | None, backend: Backend | None = None,
                 images_folder: str | None = None, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        self.cfg = cfg
        self.max_image_pixels = max_image_pixels
        self.cache = cache
        # an injected backend (tests, benchmarks) is used as it is; the teacher's own sits behind the cache
        self.backend = backend if backend is not None else make_backend(cfg.judge_spec(), cache)
        sampling = cfg.sampling_params()  # unseeded, as the teacher always was: the seed is in the cache keys
        self.critic = Critic(self.backend, sampling=sampling, progress=False)
        self._sampling = sampling.to_dict()
        self._explain: dict[tuple[str, str, Any], ExplainTemplate] = {}
        self._images_folder = os.path.realpath(images_folder) if images_folder else None
        self._file_hash: dict[str, str] = {}

    @property
    def model(self) -> str:
        return str(getattr(self.backend, "model", self.backend.judge_id))

    def explain_template(self, base: Template, instruction: str, gold_scale: tuple[float, float] | None) -> Template:
        key = (base.hash, instruction, gold_scale)
        if key not in self._explain:
            self._explain[key] = ExplainTemplate.wrap(base, instruction, gold_scale)
        return self._explain[key]

    def _pace(self, est_tokens_per_call: float) -> None:
        """Turn a TPM limit into the backend's RPM pacing, from the estimated tokens per call."""
        sender = getattr(self.backend, "inner", self.backend)  # the backend behind the cache
        if self.cfg.tpm and hasattr(sender, "rpm"):
            rpm = max(1, int(self.cfg.tpm / max(1.0, est_tokens_per_call)))
            sender.rpm = min(rpm, self.cfg.rpm) if self.cfg.rpm else rpm

    def image_hash(self, path: str) -> str:
        """SHA-256 (32 hex digits) of an image file's bytes: the store's file name, or computed once."""
        got = self._file_hash.get(path)
        if got is None:
            if self._images_folder and os.path.dirname(path) == self._images_folder:
                got = os.path.splitext(os.path.basename(path))[0]
            else:
                try:
                    with open(path, "rb") as fh:
                        got = hashlib.sha256(fh.read()).hexdigest()[:32]
                except OSError:
                    got = f"unreadable:{path}"
            self._file_hash[path] = got
        return got

    def _check(self, path: str) -> str | None:
        """What is wrong with the image file ``path`` (read from its header), or None."""
        from PIL import Image

        try:
            with Image.open(path) as im:
                check_pixels(im.size, path, self.max_image_pixels)
        except MediaError as exc:
            return str(exc)
        except Image.DecompressionBombError as exc:
            return f"{path}: image too large ({exc})"
        except (OSError, SyntaxError, ValueError) as exc:
            return str(MediaError(path, f"unreadable image ({exc})"))
        return None

    def tasks(self, calls: Sequence[tuple[Item, Template]],
              frames: Sequence[Sequence[str]] | None = None) -> list[tuple[Task, list[str]]]:
        """The request of each call (images not loaded yet) and the image paths it needs, in order.

        ``frames[k]`` are call ``k``'s stored clip frames (:mod:`critic.data.clips`): image parts at
        the start of the user turn and the first images sent, as the judge sends a clip. The frame
        files' hashes identify the clip in the cache key.
        """
        out: list[tuple[Task, list[str]]] = []
        for k, (item, t) in enumerate(calls):
            shown = list(frames[k]) if frames is not None else []
            try:
                prompt = t.render_prompt(item)
                paths = shown + [item.images[i] for i in prompt.image_order()]
            except (TemplateError, ValueError, IndexError) as exc:
                out.append((Task(item, False, None, error=f"template: {exc}"), []))
                continue
            messages = with_frames(prompt.messages(), shown)
            hashes = [self.image_hash(p) for p in paths]
            key = JudgeCache.key(judge=self.backend.judge_id, template=t.hash, messages=messages, images=hashes,
                                 sampling=self._sampling, **backend_cache_settings(self.backend))
            out.append((Task(item, False, GenRequest(messages=messages, image_hashes=hashes, key=key)), paths))
        return out

    def judge(self, calls: Sequence[tuple[Item, Template]],
              frames: Sequence[Sequence[str]] | None = None) -> list[Judgment]:
        """One judgment per call (item shown in its original order), in order.

        A judgment has a verdict, a ``parse_error`` (answer without a readable verdict) or an
        ``error`` (no answer: the call failed after its retries, or an image could not be read).
        ``frames``: each call's stored clip frames (see :meth:`tasks`).
        """
        tasks = self.tasks(calls, frames)
        results: dict[int, GenResult] = {}
        if self.cache is not None:
            for k, (task, _) in enumerate(tasks):
                if task.request is not None:
                    hit = self.cache.get(task.request.key)
                    if hit is not None:
                        results[k] = hit
        checked: dict[str, str | None] = {}  # path -> problem; an image shared by several calls is checked once
        pending = []
        for k, (task, paths) in enumerate(tasks):
            if task.request is None or k in results:
                continue
            problem = next((e for p in paths if (e := checked.setdefault(p, self._check(p))) is not None), None)
            if problem is not None:
                task.request, task.error = None, f"input: {problem}"
                continue
            # decoded when sent, a request in flight at a time: a window held every pixel before (issue 14.4)
            task.request.images = LazyImages(paths, max_pixels=self.max_image_pixels)  # type: ignore[assignment]
            pending.append(k)
        if self.cfg.tpm and pending:
            sample = pending[:64]  # image sizes from the headers: nothing decoded to estimate
            est = sum(_prompt_tokens(cast(GenRequest, tasks[k][0].request).messages, [], self.cfg.image_detail,
                                     _sizes(tasks[k][1])) for k in sample) / len(sample)
            self._pace(est + self.cfg.est_output_tokens)
        requests = [r for k in pending if (r := tasks[k][0].request) is not None]  # every pending one has its request
        for j, result in self.backend.stream(requests, self.critic.sampling):
            results[pending[j]] = result
            tasks[pending[j]][0].request.images = []  # type: ignore[union-attr]  # free the pixels
        return [self.critic._judgment(task, t, results.get(k)) for k, ((task, _), (_, t)) in enumerate(zip(tasks, calls))]

    def estimate(self, calls: Sequence[tuple[Item, Template]], into: Estimate,
                 frames: Sequence[Sequence[str]] | None = None) -> None:
        """Add what ``calls`` would cost to ``into`` (nothing is sent; cached calls are free)."""

        for task, paths in self.tasks(calls, frames):
            if task.request is None:
                continue
            into.calls += 1
            if self.cache is not None and self.cache.get(task.request.key) is not None:
                into.cached += 1
                continue
            into.prompt_tokens += _prompt_tokens(task.request.messages, [], self.cfg.image_detail, _sizes(paths))
            into.output_tokens += self.cfg.est_output_tokens

    def price(self) -> tuple[float, float] | None:
        from critic.judging.backends.openai_compat import price_for

        return self.cfg.price_per_mtok or price_for(self.cfg.model)


def _sizes(paths: Sequence[str]) -> list[tuple[int, int]]:
    """(width, height) of each readable image file, from its header."""
    from PIL import Image

    sizes = []
    for p in paths:
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
        except (OSError, Image.DecompressionBombError):
            continue
    return sizes


def _prompt_tokens(messages: list[dict[str, Any]], images: Sequence[Any], detail: str | None,
                   sizes: Sequence[tuple[int, int]] = ()) -> int:
    """Estimated prompt tokens: text characters / 4 plus GPT-4o's image tokens."""
    chars = sum(len(p.get("text", "")) for m in messages for p in m["content"] if p.get("type") == "text")
    sizes = [*sizes, *(im.size for im in images)]
    return math.ceil(chars / 4) + sum(image_tokens(w, h, detail) for w, h in sizes)


def teacher_verdict(j: Judgment) -> Verdict:
    """The verdict of a parsed judgment, in the item's original order."""
    if j.task == "pointwise":
        return Verdict(score=j.score)  # type: ignore[union-attr]
    if getattr(j, "scores", None):
        return Verdict(scores=tuple(j.scores))  # type: ignore[union-attr,arg-type]
    return Verdict(winner=j.winner)  # type: ignore[union-attr]
