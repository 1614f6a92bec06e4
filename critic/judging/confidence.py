"""Attach verdict probabilities (``--verdict-probs``) to judgments, on either kind of backend.

* A server that returned per-token logprobs (``GenResult.logprobs``; asked for with
  ``SamplingParams.top_logprobs`` = :data:`TOP_LOGPROBS`): the distribution at the verdict point is read
  from them (:func:`critic.judging.verdict_probs.from_token_logprobs`).
* A local checkpoint: one teacher-forced forward per batch of judgments
  (:func:`critic.judging.backends.hf_probs.verdict_masses`).
* A server that returns no logprobs: one warning per critic, and no probabilities — never made-up ones.

A judgment of a swapped pair holds the verdict in the original order, so its ``A`` and ``B``
probabilities are swapped back too.
"""

from __future__ import annotations

import warnings
from typing import Any

from critic.judging.verdict_probs import distribution, from_token_logprobs, prob_record, shares, verdict_point

#: Alternatives per token asked of an OpenAI-compatible server (the most OpenAI allows).
TOP_LOGPROBS = 20


class NoLogprobsWarning(UserWarning):
    """The judge's server sent no logprobs, so ``--verdict-probs`` gives no probabilities."""


def is_local(backend: Any) -> bool:
    """Whether ``backend`` (maybe behind a cache) runs a local checkpoint this process can teacher-force."""
    return callable(getattr(backend, "encode", None)) and getattr(backend, "model", None) is not None \
        and getattr(backend, "tokenizer", None) is not None


def _unswap(probs: dict[str, float] | None, swapped: bool) -> dict[str, float] | None:
    if probs is None or not swapped:
        return probs
    flip = {"A": "B", "B": "A"}
    return {flip.get(k, k): v for k, v in probs.items()}


def _usable(j: Any, res: Any) -> bool:
    return j.ok and res is not None and res.ok


class ProbAttacher:
    """Adds ``verdict_probs`` (and ``expected_score``) to judgments; warns once per instance."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.local = is_local(backend)
        self.warned = False

    def _warn(self) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(f"{self.backend.judge_id}: the server returned no logprobs, so --verdict-probs gives no "
                          "verdict probabilities for this judge (vLLM and SGLang return them; OpenAI does for "
                          "text models)", NoLogprobsWarning, stacklevel=3)

    def attach(self, rows: list[tuple[Any, Any, Any, Any]]) -> list[Any]:
        """``rows`` of (task, template, result, judgment) → the judgments with probabilities where they exist."""
        if self.local:
            return self._local(rows)
        out = []
        for task, tmpl, res, j in rows:
            if not _usable(j, res):
                out.append(j)
                continue
            if res.logprobs is None:
                self._warn()
                out.append(j)
                continue
            probs = _unswap(from_token_logprobs(tmpl.spec, res.text, res.logprobs), task.swapped)
            out.append(j.model_copy(update=prob_record(task.item.task, probs)))
        return out

    def _local(self, rows: list[tuple[Any, Any, Any, Any]]) -> list[Any]:
        from critic.judging.backends.hf_probs import verdict_masses

        out = [j for *_, j in rows]
        todo = []
        for n, (_task, tmpl, res, j) in enumerate(rows):
            point = verdict_point(tmpl.spec, res.text) if _usable(j, res) else None
            if point is not None:
                todo.append((n, point))
        if not todo:
            return out
        masses = verdict_masses(self.backend, [rows[n][0].request for n, _ in todo], [p for _, p in todo])
        for (n, point), m in zip(todo, masses):
            task = rows[n][0]
            probs = _unswap(shares(point, m), task.swapped)
            out[n] = out[n].model_copy(update=prob_record(task.item.task, probs))
        return out


__all__ = ["NoLogprobsWarning", "ProbAttacher", "TOP_LOGPROBS", "distribution", "is_local"]
