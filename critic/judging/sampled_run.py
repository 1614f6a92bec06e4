"""The generation loop of :class:`~critic.judging.critic.Critic`: samples, verdict probabilities, combining.

Tasks of sample ``k`` (``--n-samples``) go to the backend in one stream with that sample's sampling
(:meth:`Critic.sampling_for`): seed ``seed + k``, and a cache key holding ``sample=k`` for ``k > 0``, so
sample 0 is the judgment a single-sample run makes and ``K = 5`` after ``K = 3`` sends only two more.
Each result is parsed into a judgment; with ``--verdict-probs`` its probabilities are attached
(:class:`~critic.judging.confidence.ProbAttacher`; a local checkpoint in batches of its batch size,
one forward each). With one sample a judgment is yielded as soon as it is made; with K, when the K
samples of its item and order are all in, combined by :func:`critic.judging.self_consistency.combine`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from critic.judging.self_consistency import combine


def _with_probs(critic: Any, rows: list[tuple[Any, Any, Any, Any]]) -> list[Any]:
    if critic._probs is None:
        return [j for *_, j in rows]
    return critic._probs.attach(rows)


def run_tasks(critic: Any, tasks: list[tuple[int, Any]], tmpl: dict[str, Any], bar: Any) -> Iterator[tuple[int, Any]]:
    """Yield ``(input index, judgment)`` for runnable ``tasks`` (see the module doc)."""
    k_total = critic.n_samples
    chunk = getattr(critic.backend, "batch_size", 1) if critic._probs is not None and critic._probs.local else 1
    held: dict[tuple[int, bool], list[Any]] = {}

    def finish(rows: list[tuple[Any, Any, Any, Any]], ns: list[int]) -> Iterator[tuple[int, Any]]:
        for n, (task, *_), j in zip(ns, rows, _with_probs(critic, rows)):
            if k_total == 1:
                yield n, j
                continue
            got = held.setdefault((n, task.swapped), [None] * k_total)
            got[task.sample] = j
            if all(g is not None for g in got):
                del held[(n, task.swapped)]
                yield n, combine(got)

    for k in range(k_total):
        mine = [(n, t) for n, t in tasks if t.sample == k]
        if not mine:
            continue
        rows: list[tuple[Any, Any, Any, Any]] = []
        ns: list[int] = []
        for j, res in critic.backend.stream([t.request for _, t in mine], critic.sampling_for(k)):
            n, t = mine[j]
            bar.update(1)
            template = tmpl[t.item.task]
            rows.append((t, template, res, critic._judgment(t, template, res)))
            ns.append(n)
            if len(rows) >= chunk:
                yield from finish(rows, ns)
                rows, ns = [], []
        if rows:
            yield from finish(rows, ns)


__all__ = ["run_tasks"]
