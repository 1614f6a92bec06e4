"""The Critic: render items with a template, generate on a backend, parse verdicts into judgments.

>>> # critic = Critic.from_pretrained("ckpt/")                       # local transformers
>>> # critic = Critic.from_openai("gpt-4o", base_url="http://localhost:8000/v1")
>>> # critic = make_critic(JudgeSpec(backend="openai", model="gpt-4o"))  # critic.judging.factory
>>> # critic.score(items); critic.compare(pairs, swap="both")

Both calls accept one item or a list, items holding image paths or PIL images (``images=[...]`` on
the record, or ``pil_images`` passed alongside), run from scripts and inside a running event loop
(the OpenAI backend drives its own loop in a thread), and show a progress bar for long batches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from critic.judging.backends.base import Backend, GenRequest, GenResult, SamplingParams
from critic.judging.backends.cache import JudgeCache
from critic.judging.pair_order import Comparison, make_comparison, orders, swap_verdict
from critic.judging.templates import Template, load_template
from critic.media import DEFAULT_MAX_IMAGE_PIXELS
from critic.records import PairwiseItem, PairwiseJudgment, PointwiseItem, PointwiseJudgment, Usage, as_item
from critic.secrets import redact_url

#: Templates a critic uses when neither the caller nor the checkpoint names one.
DEFAULT_TEMPLATES = {"pointwise": "llava_critic_pointwise", "pairwise": "llava_critic_pairwise"}
#: File in a checkpoint folder recording what critic trained it on (written by ``critic train``).
CRITIC_META = "critic.json"

Judgment = PointwiseJudgment | PairwiseJudgment


@dataclass
class Task:
    """One generation to make: an item shown in one order."""

    item: PointwiseItem | PairwiseItem
    swapped: bool
    request: GenRequest | None
    error: str | None = None
    sample: int = 0  # which of the --n-samples samples (0 is the one a single-sample run makes)


def checkpoint_templates(path: str | Path) -> dict[str, str]:
    """Templates recorded in a checkpoint's ``critic.json`` (task → template name), if any."""
    meta = Path(path) / CRITIC_META
    if not meta.is_file():
        return {}
    data = json.loads(meta.read_text())
    return dict(data.get("default_templates") or {})


class Critic:
    """A generative critic: a backend plus the templates it reads and writes.

    ``templates`` maps a task (``pointwise`` / ``pairwise``) to a template (name, path or
    :class:`Template`); ``template`` may name a single one, whose task decides its slot.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        template: str | Template | None = None,
        templates: dict[str, str | Template] | None = None,
        sampling: SamplingParams | None = None,
        seed: int = 0,
        progress: bool = True,
        template_dirs: Sequence[str | Path] = (),
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
        image_root: str | Path | None = None,
        verdict_probs: bool = False,
        n_samples: int = 1,
    ):
        from dataclasses import replace

        from critic.judging.confidence import TOP_LOGPROBS, ProbAttacher, is_local

        self.backend = backend
        self.max_image_pixels = max_image_pixels  # larger images are a per-item error, never decoded
        self.image_root = image_root  # image paths outside this folder are a per-item error, never read
        self.sampling = sampling or SamplingParams()
        # --verdict-probs: a server is asked for logprobs (a local checkpoint is teacher-forced instead)
        self.verdict_probs = verdict_probs
        self._probs = ProbAttacher(backend) if verdict_probs else None
        if verdict_probs and not is_local(backend):
            self.sampling = replace(self.sampling, top_logprobs=TOP_LOGPROBS)
        if n_samples < 1 or (n_samples > 1 and self.sampling.temperature <= 0):
            raise ValueError(f"n_samples={n_samples}: self-consistency needs n_samples >= 1 and, above 1, "
                             "a temperature above 0 (greedy samples are all the same)")
        self.n_samples = n_samples
        self.seed = seed
        self.progress = progress
        self.template_dirs = list(template_dirs)
        names: dict[str, str | Template] = {**DEFAULT_TEMPLATES, **(templates or {})}
        if template is not None:
            t = self._load(template)
            names[t.task] = t
        self._templates = names

    # -- construction ----------------------------------------------------------------------
    # A critic from a whole JudgeSpec: critic.judging.factory.make_critic. These two are the short
    # Python forms; both make their backend with critic.judging.backends.make.make_backend.
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        template: str | Template | None = None,
        batch_size: int = 8,
        dtype: str | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        cache: JudgeCache | None = None,
        **kwargs: Any,
    ) -> Critic:
        """A critic running a local transformers checkpoint (a folder or a hub id), behind ``cache`` if given."""
        from critic.judging.backends.make import make_backend
        from critic.judging.spec import JudgeSpec

        spec = JudgeSpec(backend="hf", model=str(path), batch_size=batch_size, dtype=dtype, device=device,
                         trust_remote_code=trust_remote_code)
        templates = {**checkpoint_templates(path), **kwargs.pop("templates", {})}
        return cls(make_backend(spec, cache), template=template, templates=templates, **kwargs)

    @classmethod
    def from_openai(
        cls,
        model: str,
        *,
        base_url: str | Sequence[str] | None = None,
        template: str | Template | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        cache: JudgeCache | None = None,
        backend_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Critic:
        """A critic served by any OpenAI-compatible endpoint (GPT-4o, vLLM, SGLang), behind ``cache`` if given.

        ``backend_options`` go to :class:`~critic.judging.backends.openai_compat.OpenAIBackend` as they are.
        """
        from critic.judging.backends.make import make_backend
        from critic.judging.spec import JudgeSpec

        urls = [base_url] if isinstance(base_url, str) else (list(base_url) if base_url else None)
        spec = JudgeSpec(backend="openai", model=model, base_url=urls, concurrency=concurrency)
        options = dict(backend_options or {})
        if api_key is not None:
            options["api_key"] = api_key
        return cls(make_backend(spec, cache, **options), template=template, **kwargs)

    # -- templates -------------------------------------------------------------------------
    def _load(self, t: str | Template) -> Template:
        return t if isinstance(t, Template) else load_template(t, self.template_dirs)

    def template_for(self, task: str, override: str | Template | None = None) -> Template:
        t = self._load(override) if override is not None else self._load(self._templates[task])
        self._templates.setdefault(task, t)
        if t.task != task:
            raise ValueError(f"template {t.name!r} is {t.task}, but a {task} template is needed")
        return t

    # -- building requests -----------------------------------------------------------------
    def sampling_for(self, sample: int) -> SamplingParams:
        """Sample ``k``'s sampling: the critic's own for 0, the seed moved on by ``k`` after it."""
        from dataclasses import replace

        seed = self.sampling.seed
        return self.sampling if sample == 0 or seed is None else replace(self.sampling, seed=seed + sample)

    def _task(self, item: PointwiseItem | PairwiseItem, template: Template, swapped: bool,
              pil_images: Sequence[Image.Image] | None = None, sample: int = 0) -> Task:
        from critic.media import LazyImages, MediaError, image_hash

        if pil_images is not None and len(pil_images) != len(item.images):
            # images given as PIL objects: the template still needs to know how many there are
            item = item.model_copy(update={"images": [f"<image {i}>" for i in range(len(pil_images))]})
        try:
            prompt = template.render_prompt(item, swapped=swapped)
            sources = list(pil_images) if pil_images is not None else list(item.images)
            order = prompt.image_order()
            shown = [sources[i] for i in order]
            # decoded one at a time to hash and dropped: the request decodes again when it is sent,
            # so a run holds the pixels of the requests in flight only (issue 14.4)
            lazy = LazyImages(shown, max_pixels=self.max_image_pixels, root=self.image_root)
            hashes = [image_hash(lazy[i]) for i in range(len(lazy))]
        except (MediaError, IndexError, OSError) as exc:
            return Task(item, swapped, None, error=f"input: {exc}")
        except ValueError as exc:  # TemplateError and friends: a field the template needs is missing
            return Task(item, swapped, None, error=f"template: {exc}")
        messages = prompt.messages()
        media: Sequence[Any] = lazy  # a clip's MediaList below
        extra: dict[str, Any] = {}
        if item.video:  # a clip: its frames first (critic.judging.video_inputs); image-only keys unchanged
            from critic.judging.video_inputs import video_inputs

            try:
                v = video_inputs(item, messages, lazy, hashes)
            except (MediaError, OSError) as exc:
                return Task(item, swapped, None, error=f"input: {exc}")
            messages, media, hashes, extra = v.messages, v.media, v.hashes, {"video": v.key}
        key = JudgeCache.key(judge=self.backend.judge_id, template=template.hash, messages=messages,
                             images=hashes, sampling=self.sampling_for(sample).to_dict(),
                             **backend_cache_settings(self.backend), **extra,
                             **({"sample": sample} if sample else {}))  # sample 0 keeps a one-sample run's key
        return Task(item, swapped, GenRequest(messages=messages, images=media, image_hashes=hashes,  # type: ignore[arg-type]
                                              key=key), sample=sample)

    def _judgment(self, task: Task, template: Template, result: GenResult | None) -> Judgment:
        common: dict[str, Any] = dict(
            id=task.item.id, template=template.name, template_hash=template.hash, judge=self.backend.judge_id,
            sampling=self.sampling.to_dict(),
        )
        if task.item.rubric and template.takes_rubric:
            common["rubric"] = task.item.rubric
        if result is None or not result.ok:
            err = task.error or (result.error if result else "no result") or "empty output"
            # errors reach .failed.jsonl, stats.json and summaries: a base URL's key must not (issue 14.15)
            common.update(raw=(result.text or "") if result else "", error=redact_url(err))
        else:
            usage = Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                          cost=result.cost)
            parsed = template.parse(result.text or "")
            common.update(raw=result.text or "", rationale=parsed.rationale, usage=usage, cached=result.cached)
            if parsed.verdict is None:  # not parsed.ok
                common["parse_error"] = parsed.error
            elif task.item.task == "pointwise":
                common["score"] = parsed.verdict.score
            else:
                v = swap_verdict(parsed.verdict) if task.swapped else parsed.verdict
                common["winner"] = v.winner
                if v.scores is not None:
                    common["scores"] = list(v.scores)
        if task.item.task == "pointwise":
            return PointwiseJudgment(**common)
        return PairwiseJudgment(swapped=task.swapped, **common)

    # -- running ---------------------------------------------------------------------------
    def judge_stream(
        self,
        items: Sequence[PointwiseItem | PairwiseItem],
        *,
        swap: str = "none",
        template: str | Template | None = None,
        pil_images: Sequence[Sequence[Image.Image]] | None = None,
        desc: str = "judging",
        skip: frozenset[tuple[str, bool]] | set[tuple[str, bool]] = frozenset(),
    ) -> Iterator[Judgment]:
        """Yield a judgment per (item, order) as each finishes; pairwise items follow ``swap``.

        ``skip`` holds ``(id, swapped)`` pairs already judged (a resumed run): they are not redone.
        """
        for _, judgment in self._run(items, swap=swap, template=template, pil_images=pil_images, desc=desc,
                                     skip=skip):
            yield judgment

    def _run(self, items, *, swap, template, pil_images, desc, skip=frozenset()) -> Iterator[tuple[int, Judgment]]:
        override = self._load(template) if template is not None else None
        tmpl: dict[str, Template] = {}
        tasks: list[tuple[int, Task]] = []
        for n, item in enumerate(items):
            item = as_item(item, default_id=str(n))  # a plain dict is validated like a record
            if item.task not in tmpl:
                if override is not None and override.task != item.task:
                    raise ValueError(f"template {override.name!r} is {override.task}; item {item.id!r} is {item.task}")
                tmpl[item.task] = override or self.template_for(item.task)
            flags = orders(item.id, swap, self.seed) if item.task == "pairwise" else [False]
            for flag in flags:
                if (item.id, flag) in skip:
                    continue
                imgs = pil_images[n] if pil_images is not None else None
                first = self._task(item, tmpl[item.task], flag, imgs)
                tasks.append((n, first))
                if first.request is not None:  # one error stands for all samples of a bad item
                    tasks += [(n, self._task(item, tmpl[item.task], flag, imgs, k)) for k in range(1, self.n_samples)]
        bar = _progress(len(tasks), desc, self.progress)
        from critic.judging.sampled_run import run_tasks

        try:
            for n, t in tasks:
                if t.request is None:
                    bar.update(1)
                    yield n, self._judgment(t, tmpl[t.item.task], None)
            yield from run_tasks(self, [(n, t) for n, t in tasks if t.request is not None], tmpl, bar)
        finally:
            bar.close()

    @staticmethod
    def _as_batch(items, cls, pil_images):
        single = isinstance(items, (cls, dict))
        batch = [items] if single else list(items)
        batch = [as_item(it, default_id=str(n), kind=cls) for n, it in enumerate(batch)]  # plain dicts too
        imgs = [pil_images] if (single and pil_images is not None) else pil_images
        return single, batch, imgs

    def score(self, items, *, template: str | Template | None = None, pil_images=None):
        """Score pointwise items; returns judgments in input order (one item → one judgment)."""
        single, batch, imgs = self._as_batch(items, PointwiseItem, pil_images)
        out: list[Any] = [None] * len(batch)
        for n, j in self._run(batch, swap="none", template=template, pil_images=imgs, desc="scoring"):
            out[n] = j
        return out[0] if single else out

    def compare(self, items, *, swap: str = "none", rule: str = "tie", template: str | Template | None = None,
                pil_images=None):
        """Compare pairwise items; returns a :class:`~critic.judging.pair_order.Comparison` per item, in order.

        Each comparison holds the judgment(s) made (both orders with ``swap="both"``) and the
        verdict combined by ``rule`` (see :mod:`critic.judging.pair_order`).
        """
        single, batch, imgs = self._as_batch(items, PairwiseItem, pil_images)
        got: list[list[PairwiseJudgment]] = [[] for _ in batch]
        for n, j in self._run(batch, swap=swap, template=template, pil_images=imgs, desc="comparing"):
            got[n].append(j)  # type: ignore[arg-type]
        out = [make_comparison(item.id, js, rule) for item, js in zip(batch, got)]
        return out[0] if single else out

    def rank(self, sets, **kw):
        """Rank candidate sets: rewards, judgment matrix, chosen / rejected (see :mod:`critic.judging.ranking`)."""
        from critic.judging.ranking import rank

        return rank(self, sets, **kw)


def backend_cache_settings(backend: Any) -> dict[str, Any]:
    """What else of the backend changes the answer (image encoding, extra body), for cache keys.

    Empty for backends without such settings, so their keys stay as they were.
    """
    fn = getattr(backend, "cache_settings", None)
    return {"backend": fn()} if callable(fn) else {}


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="judgment", disable=not enabled or total < 2, dynamic_ncols=True)


__all__ = ["Critic", "Comparison", "DEFAULT_TEMPLATES", "CRITIC_META", "checkpoint_templates"]
