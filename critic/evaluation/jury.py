"""A jury: several judges' pairwise verdicts on the same items combined into one, with a probability.

Each judge's verdict on an item is the unique most common verdict among its parsed judgments of
it (both orders, samples), else ``tie``. With ``K = 3`` verdicts (A, B, tie):

- ``majority``: the verdict most judges give (``tie`` when no single verdict leads); its
  probabilities are the vote shares.
- ``weighted`` (needs gold): judge ``j``'s accuracy on the gold items ``a_j = (right + 1)/(n + 2)``
  gives the weight ``w_j = log((K − 1) a_j / (1 − a_j))`` (the optimal weighted vote when a judge's
  errors are spread evenly over the wrong verdicts; Nitzan & Paroush 1982); verdict
  ``argmax_k Σ_j w_j 1[v_j = k]``, probabilities ``softmax`` of those sums.
- ``dawid_skene`` (no gold): EM over per-judge confusion matrices ``π_j[true, said]`` and class
  priors (Dawid & Skene 1979) with a weak prior that judges beat chance, started from the
  majority's vote shares; the verdict is the
  posterior's argmax and its probabilities the posterior.

>>> votes = {"j1": {"x": "A", "y": "B"}, "j2": {"x": "A", "y": "A"}, "j3": {"x": "B", "y": "B"}}
>>> [(v.item, v.winner) for v in combine(votes, "majority")]
[('x', 'A'), ('y', 'B')]
>>> combine(votes, "majority")[0].probs["A"]
0.6667
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CLASSES = ("A", "B", "tie")
METHODS = ("majority", "weighted", "dawid_skene")


@dataclass(frozen=True)
class JuryVerdict:
    item: str
    winner: str
    probs: dict[str, float]
    n_judges: int


def item_verdict(winners: Sequence[str | None]) -> str | None:
    """One judge's verdict on an item from its judgments: the unique most common parsed one, else tie.

    >>> item_verdict(["A", "B"]), item_verdict(["B", None, "B"]), item_verdict([None])
    ('tie', 'B', None)
    """
    counts = Counter(w for w in winners if w is not None).most_common()
    if not counts:
        return None
    return counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else "tie"


def _rounded(p: np.ndarray) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in zip(CLASSES, p)}


def judge_weights(votes: Mapping[str, Mapping[str, str]], gold: Mapping[str, str]) -> dict[str, float]:
    """``w_j = log(2 a_j / (1 − a_j))`` with ``a_j = (right + 1)/(n + 2)`` on the gold items (module docstring).

    >>> round(judge_weights({"j": {"1": "A", "2": "A"}}, {"1": "A", "2": "B"})["j"], 4)   # a = 2/4: log 2
    0.6931
    """
    out = {}
    for j, vs in votes.items():
        judged = [i for i in vs if i in gold]
        a = (sum(vs[i] == gold[i] for i in judged) + 1) / (len(judged) + 2)
        out[j] = math.log((len(CLASSES) - 1) * a / (1 - a))
    return out


def dawid_skene(votes: Mapping[str, Mapping[str, str]], items: Sequence[str], *, n_iter: int = 100,
                prior_strength: float = 10.0, prior_accuracy: float = 0.7) -> np.ndarray:
    """Posterior ``P(true verdict = k | votes)`` per item (rows follow ``items``), by EM (MAP).

    Each judge's confusion rows get Dirichlet pseudo-counts ``prior_strength`` spread as a judge
    right with probability ``prior_accuracy`` (the rest evenly over the wrong verdicts). Plain
    maximum likelihood lets a verdict that is never true (no gold tie) absorb items: on 400
    simulated items with one good and three poor judges it fell from 0.91 to 0.67–0.80 accuracy (seeds 1–3)
    after 100 iterations; the prior keeps it at 0.91–0.94.
    """
    judges = list(votes)
    idx = {c: n for n, c in enumerate(CLASSES)}
    K = len(CLASSES)
    # obs[i, j] = verdict index or −1 (judge j did not judge item i)
    obs = np.array([[idx[votes[j][i]] if i in votes[j] else -1 for j in judges] for i in items], dtype=np.int64)
    post = np.zeros((len(items), K))
    for k in range(K):
        post[:, k] = (obs == k).sum(axis=1)
    post = (post + 1e-9) / (post + 1e-9).sum(axis=1, keepdims=True)
    for _ in range(n_iter):
        prior = post.mean(axis=0)
        pseudo = np.full((K, K), prior_strength * (1 - prior_accuracy) / (K - 1))
        np.fill_diagonal(pseudo, prior_strength * prior_accuracy)
        conf = np.tile(pseudo, (len(judges), 1, 1))
        for jn in range(len(judges)):
            seen = obs[:, jn] >= 0
            for said in range(K):
                conf[jn, :, said] += post[seen & (obs[:, jn] == said)].sum(axis=0)
        conf /= conf.sum(axis=2, keepdims=True)
        logp = np.tile(np.log(prior + 1e-12), (len(items), 1))
        for jn in range(len(judges)):
            seen = obs[:, jn] >= 0
            logp[seen] += np.log(conf[jn][:, obs[seen, jn]].T)
        new = np.exp(logp - logp.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        if np.abs(new - post).max() < 1e-8:
            post = new
            break
        post = new
    return post


def combine(votes: Mapping[str, Mapping[str, str]], method: str = "majority",
            gold: Mapping[str, str] | None = None) -> list[JuryVerdict]:
    """The jury's verdict on every item some judge judged, in first-seen order (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"unknown jury method {method!r}; one of {', '.join(METHODS)}")
    if method == "weighted" and not gold:
        raise ValueError("the weighted jury fits its weights on gold: give --gold")
    items = list(dict.fromkeys(i for vs in votes.values() for i in vs))
    n_judges = {i: sum(i in vs for vs in votes.values()) for i in items}
    out = []
    if method == "dawid_skene":
        post = dawid_skene(votes, items)
        for i, p in zip(items, post):
            out.append(JuryVerdict(i, CLASSES[int(np.argmax(p))], _rounded(p), n_judges[i]))
        return out
    weights = judge_weights(votes, gold or {}) if method == "weighted" else {j: 1.0 for j in votes}
    for i in items:
        s = np.zeros(len(CLASSES))
        for j, vs in votes.items():
            if i in vs:
                s[CLASSES.index(vs[i])] += weights[j]
        if method == "majority":
            p = s / s.sum()
            top = np.flatnonzero(s == s.max())
            winner = CLASSES[int(top[0])] if top.size == 1 else "tie"
        else:
            p = np.exp(s - s.max())
            p /= p.sum()
            winner = CLASSES[int(np.argmax(s))]
        out.append(JuryVerdict(i, winner, _rounded(p), n_judges[i]))
    return out


def jury_summary(verdicts: Sequence[JuryVerdict], votes: Mapping[str, Mapping[str, str]],
                 gold: Mapping[str, str] | None) -> dict[str, Any]:
    """Accuracy of each judge and of the jury on the gold items (when gold is given)."""
    if not gold:
        return {}
    acc = {}
    for j, vs in votes.items():
        judged = [i for i in vs if i in gold]
        acc[j] = sum(vs[i] == gold[i] for i in judged) / len(judged) if judged else None
    on_gold = [v for v in verdicts if v.item in gold]
    acc["jury"] = sum(v.winner == gold[v.item] for v in on_gold) / len(on_gold) if on_gold else None
    return {"accuracy_on_gold": acc}


__all__ = ["CLASSES", "METHODS", "JuryVerdict", "combine", "dawid_skene", "item_verdict", "judge_weights",
           "jury_summary"]
