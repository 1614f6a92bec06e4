"""K answers per prompt from the current policy, written as candidate sets (resumable).

Prompts are JSONL lines with ``id``, ``question`` and ``images`` (paths relative to the file);
other keys are ignored, so a pointwise items or candidates file serves as a prompts file too.

Two samplers, one output: :func:`sample_candidates` writes one :class:`~critic.records.CandidateSet`
per prompt (``candidates`` = the K answers, ``meta`` = round and policy) the moment its K answers
exist; a rerun skips prompts already in the file.

- ``hf``: transformers ``generate`` through :class:`~critic.judging.backends.hf.HFBackend` (the policy's
  own chat template, batched, left-padded), sampling with ``temperature`` and ``top_p``. The K
  copies of a prompt land in the same batch, so each row samples independently.
- ``openai``: an OpenAI-compatible server (vLLM, SGLang) serving the policy; K requests per prompt
  at ``temperature`` / ``top_p``, sent without a seed and without the cache, so identical requests
  draw different samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from critic.records import CandidateSet


class Prompt(BaseModel):
    """One prompt for the policy; unknown keys are ignored (any items file works)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    question: str
    images: list[str] = Field(default_factory=list)


def read_prompts(path: str | Path, max_prompts: int | None = None) -> tuple[list[Prompt], list[str]]:
    """Prompts and the problems of bad lines (``file:line: field: problem``)."""
    from critic.jsonl import read_unique

    return read_unique(path, Prompt, max_prompts)


def prompt_request(prompt: Prompt, key: str = ""):
    """The generation request of a prompt: the user turn of :func:`critic.dpo.pairs.prompt_messages`."""
    from critic.dpo.pairs import prompt_messages
    from critic.judging.backends.base import GenRequest
    from critic.media import load_image

    images = [load_image(p) for p in prompt.images]
    return GenRequest(messages=prompt_messages(prompt.question, len(images)), images=images, key=key)


def done_ids(path: Path) -> set[str]:
    from critic.jsonl import JsonlReader

    if not path.exists():
        return set()
    return {c.id for c in JsonlReader(path, CandidateSet, resolve_images=False)}


def make_backend(cfg: Any, checkpoint: str, round_index: int, *, dtype: str = "auto", trust_remote_code: bool = False):
    """The sampling backend for a policy checkpoint (``cfg``: the ``sampling`` config section)."""
    if cfg.backend == "hf":
        from critic.judging.backends.hf import HFBackend

        return HFBackend(checkpoint, batch_size=cfg.batch_size, dtype=None if dtype == "auto" else dtype,
                         device=cfg.device, trust_remote_code=trust_remote_code)
    from critic.judging.backends.openai_compat import OpenAIBackend

    model = cfg.model.format(checkpoint=checkpoint, round=round_index)
    return OpenAIBackend(model, base_urls=cfg.base_url, concurrency=cfg.concurrency)


def sample_candidates(backend: Any, prompts: Sequence[Prompt], out_path: Path, *, k: int, temperature: float,
                      top_p: float, max_new_tokens: int, seed: int = 0, meta: dict[str, Any] | None = None,
                      chunk: int = 64, log: Any = print) -> dict[str, int]:
    """Sample ``k`` answers per prompt into ``out_path`` (appending; prompts already there are skipped).

    Returns counts: ``sampled`` prompts, ``resumed`` (already in the file), ``failed`` (a request
    that failed after retries or an unreadable image: the prompt is left out and retried next run).
    """
    from critic.jsonl import JsonlWriter

    done = done_ids(out_path)
    todo = [p for p in prompts if p.id not in done]
    stats = {"sampled": 0, "resumed": len(prompts) - len(todo), "failed": 0}
    with JsonlWriter(out_path, append=True, relative_to=out_path.parent) as out:
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            stats["sampled"] += _sample_chunk(backend, part, out, k, temperature, top_p, max_new_tokens,
                                              seed + start, meta or {}, stats)
    if stats["failed"]:
        log(f"  {stats['failed']} prompt(s) had failed samples; they are retried when the command runs again")
    return stats


def _sample_chunk(backend: Any, prompts: Iterable[Prompt], out: Any, k: int, temperature: float, top_p: float,
                  max_new_tokens: int, seed: int, meta: dict[str, Any], stats: dict[str, int]) -> int:
    from critic.judging.backends.base import SamplingParams
    from critic.media import MediaError

    requests, owner, ready = [], [], []
    for p in prompts:
        try:
            base = prompt_request(p)
        except (MediaError, OSError):
            stats["failed"] += 1
            continue
        ready.append(p)
        for s in range(k):
            key = hashlib.sha256(f"{p.id}:{seed}:{s}".encode()).hexdigest()
            requests.append(type(base)(messages=base.messages, images=base.images, key=key))
            owner.append((len(ready) - 1, s))
    answers: list[list[str | None]] = [[None] * k for _ in ready]
    left = [k] * len(ready)
    bad = [False] * len(ready)
    written = 0
    # one seed per chunk for local sampling (reproducible); servers get none (see _stream)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    for i, res in _stream(backend, requests, params):
        p_idx, s = owner[i]
        if res.ok:
            answers[p_idx][s] = res.text.strip()
        else:
            bad[p_idx] = True
        left[p_idx] -= 1
        if left[p_idx] == 0:
            if bad[p_idx]:
                stats["failed"] += 1
                continue
            p = ready[p_idx]
            out.write(CandidateSet(id=p.id, images=p.images, question=p.question,
                                   candidates=[a or "" for a in answers[p_idx]], meta=dict(meta)))
            written += 1
    return written


def _stream(backend: Any, requests: list[Any], params: Any):
    """Stream completions. A server gets no seed, so identical requests draw different samples."""
    if hasattr(backend, "sampling_kwargs"):
        from dataclasses import replace

        params = replace(params, seed=None)
    yield from backend.stream(requests, params)
