"""Ranking K candidate answers with a critic: tournaments, rewards, chosen / rejected pairs.

``rank(critic, sets, mode=..., aggregation=...)`` (also ``Critic.rank``) gives one
:class:`RankedSet` per :class:`~critic.records.CandidateSet`: every answer's reward, the full
judgment matrix, the counts of ties / parse failures / errors, and the chosen (highest reward) and
rejected (lowest reward) answer with their margin — or no pair and the reason why.

**Pairwise mode** (default; LLaVA-OneVision-Chat with LLaVA-Critic as the reward source). The K
answers play a full tournament: all K·(K−1) *ordered* pairs are judged, so each unordered pair is
seen in both positions and position bias cancels. Pairwise item ``f"{set.id}:{i}>{j}"`` shows
answer ``i`` first (response A) and answer ``j`` second (response B). Each judgment gives a
*relative score of the second answer over the first*, ``s(i→j)``:

- with a template that grades both responses (LLaVA-Bench style, two scores): ``score_B − score_A``;
- with a choice template (A / B / tie): ``+1`` if the second is better, ``−1`` if the first is, ``0``
  for a tie.

Aggregations (``aggregation=``):

- ``llava_ov`` (default) — the reward of answer ``a`` is the sum of its relative scores when shown
  second minus those when shown first: ``R(a) = Σ_{i≠a} s(i→a) − Σ_{j≠a} s(a→j)``. Every answer
  takes part in ``2(K−1)`` judgments; when some of them have no verdict (parse failure or error) the
  sum over the usable ones is scaled by ``2(K−1) / n_a`` so that an answer is not pulled towards 0
  for the critic's failures (with no failures this is exactly the paper's sum);
- ``win_count`` — wins (1) and ties (½) over the judgments an answer took part in, scaled the same way;
- ``bradley_terry`` — log-strengths of a Bradley–Terry model fitted to the same wins (ties ½) with
  the hand-written MM iteration of :mod:`critic.judging.bradley_terry`.

>>> m = [[None, 1, 1], [-1, None, 0], [-1, 0, None]]    # m[i][j] = s(i→j)
>>> llava_ov_rewards(m)                               # answer 0 beaten as second, first: strong
[-4.0, 2.0, 2.0]
>>> llava_ov_rewards([[None, -1, None], [1, None, None], [None, None, None]])   # failures: scaled
[4.0, -4.0, None]

**Pointwise mode**: each answer is scored on its own (K judgments); its reward is the score.

Chosen / rejected are the answers with the highest / lowest reward (lowest index on equal rewards).
A set yields no pair — with a ``reason`` — when it has fewer than two answers, no usable judgment,
fewer than two answers with a reward, equal rewards everywhere, or chosen and rejected texts equal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from critic.judging.backends.base import Backend
from critic.judging.templates import Template
from critic.records import (
    CandidateSet,
    PairwiseItem,
    PairwiseJudgment,
    PointwiseItem,
    PointwiseJudgment,
    Record,
)

MODES: tuple[str, ...] = ("pairwise", "pointwise")
AGGREGATIONS: tuple[str, ...] = ("llava_ov", "win_count", "bradley_terry")


class Judge(Protocol):
    """What ranking needs of a critic: a :class:`~critic.judging.critic.Critic` is one."""

    backend: Backend

    def judge_stream(self, items: Sequence[PointwiseItem | PairwiseItem], *, swap: str = "none",
                     template: str | Template | None = None,
                     pil_images: Sequence[Sequence[Image.Image]] | None = None,
                     desc: str = "judging") -> Iterator[PointwiseJudgment | PairwiseJudgment]: ...


class RankedSet(Record):
    """What ranking one candidate set gave.

    ``matrix[i][j]`` is ``s(i→j)``, the relative score of answer ``j`` over answer ``i`` when ``i``
    was shown first (None on the diagonal and where the judgment failed); ``verdicts[i][j]`` the raw
    winner of that judgment (``A`` = answer ``i``). Pointwise rankings carry ``scores`` instead.
    ``n_judgments[a]`` counts the usable judgments answer ``a`` took part in.
    """

    id: str
    mode: str
    aggregation: str
    k: int
    rewards: list[float | None]
    n_judgments: list[int]
    matrix: list[list[float | None]] | None = None
    verdicts: list[list[str | None]] | None = None
    scores: list[float | None] | None = None
    chosen: int | None = None
    rejected: int | None = None
    chosen_reward: float | None = None
    rejected_reward: float | None = None
    margin: float | None = None
    #: chosen minus rejected answer's expected reward, where the judgments carry verdict probabilities
    #: (:mod:`critic.judging.expected_outcomes`); unset otherwise
    expected_margin: float | None = None
    reason: str | None = None
    n_judged: int = 0
    n_ties: int = 0
    n_parse_failures: int = 0
    n_errors: int = 0
    judgment_ids: list[str] = []
    judge: str | None = None
    template: str | None = None

    @property
    def has_pair(self) -> bool:
        return self.chosen is not None and self.rejected is not None


@dataclass
class SetResult:
    """One ranked set with the judgments behind it (errors included; see ``RankedSet.n_errors``)."""

    candidates: CandidateSet
    ranked: RankedSet
    judgments: list[PairwiseJudgment | PointwiseJudgment] = field(default_factory=list)


# ----------------------------------------------------------------------------------- aggregation

def relative_score(j: PairwiseJudgment) -> float | None:
    """``s(first→second)`` of one judgment shown in its original order, or None without a verdict."""
    if j.winner is None:
        return None
    if j.scores is not None and len(j.scores) == 2:
        return float(j.scores[1] - j.scores[0])
    return {"A": -1.0, "B": 1.0, "tie": 0.0}[j.winner]


def _counts(matrix: Sequence[Sequence[Any]]) -> list[int]:
    k = len(matrix)
    return [sum(matrix[a][j] is not None for j in range(k) if j != a)
            + sum(matrix[i][a] is not None for i in range(k) if i != a) for a in range(k)]


def llava_ov_rewards(matrix: Sequence[Sequence[float | None]]) -> list[float | None]:
    """``R(a) = Σ_i s(i→a) − Σ_j s(a→j)`` over usable judgments, scaled by ``2(K−1)/n_a`` (see module doc)."""
    k = len(matrix)
    full = 2 * (k - 1)
    out: list[float | None] = []
    for a, n in enumerate(_counts(matrix)):
        if n == 0:
            out.append(None)
            continue
        second = sum(x for i in range(k) if i != a and (x := matrix[i][a]) is not None)
        first = sum(x for j in range(k) if j != a and (x := matrix[a][j]) is not None)
        out.append(float(second - first) * full / n)
    return out


def _wins(verdicts: Sequence[Sequence[str | None]]) -> list[list[float]]:
    k = len(verdicts)
    w = [[0.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(k):
            v = verdicts[i][j]
            if i == j or v is None:
                continue
            if v == "A":
                w[i][j] += 1
            elif v == "B":
                w[j][i] += 1
            else:
                w[i][j] += 0.5
                w[j][i] += 0.5
    return w


def win_count_rewards(verdicts: Sequence[Sequence[str | None]]) -> list[float | None]:
    """Wins (1) and ties (½) of each answer, scaled by ``2(K−1)/n_a``; None without judgments."""
    k = len(verdicts)
    w = _wins(verdicts)
    return [None if n == 0 else sum(w[a]) * 2 * (k - 1) / n for a, n in enumerate(_counts(verdicts))]


def bradley_terry_rewards(verdicts: Sequence[Sequence[str | None]]) -> list[float | None]:
    """Bradley–Terry log-strengths (mean 0 over answers with judgments); None without judgments."""
    from critic.judging.bradley_terry import fit

    strengths = fit(_wins(verdicts))
    return [None if n == 0 else s for s, n in zip(strengths, _counts(verdicts))]


def choose_pair(candidates: Sequence[str], rewards: Sequence[float | None]) -> tuple[int | None, int | None, str | None]:
    """``(chosen, rejected, reason)``: highest / lowest reward, or no pair and why."""
    scored = [(r, a) for a, r in enumerate(rewards) if r is not None]
    if len(scored) < 2:
        return None, None, ("no answer has a usable judgment" if not scored
                            else "only one answer has a usable judgment")
    best = max(r for r, _ in scored)
    worst = min(r for r, _ in scored)
    if best == worst:
        return None, None, f"all answers with a reward have the same reward ({best:g})"
    chosen = min(a for r, a in scored if r == best)
    rejected = min(a for r, a in scored if r == worst)
    if candidates[chosen].strip() == candidates[rejected].strip():
        return None, None, "the highest- and lowest-reward answers are the same text"
    return chosen, rejected, None


# ----------------------------------------------------------------------------------- items

def tournament_items(cset: CandidateSet) -> list[PairwiseItem]:
    """The K·(K−1) ordered pairs of a set as pairwise items, ``f"{set.id}:{i}>{j}"`` (i shown first)."""
    k = len(cset.candidates)
    common = dict(images=list(cset.images), question=cset.question, reference=cset.reference,
                  group=cset.group, question_id=cset.question_id)
    return [PairwiseItem(id=f"{cset.id}:{i}>{j}", response_a=cset.candidates[i], response_b=cset.candidates[j],
                         **common) for i in range(k) for j in range(k) if i != j]


def pointwise_items(cset: CandidateSet) -> list[PointwiseItem]:
    """One pointwise item per answer, ``f"{set.id}:{i}"``."""
    return [PointwiseItem(id=f"{cset.id}:{i}", images=list(cset.images), question=cset.question,
                          reference=cset.reference, group=cset.group, question_id=cset.question_id, response=c)
            for i, c in enumerate(cset.candidates)]


def _items(cset: CandidateSet, mode: str) -> tuple[list[Any], list[tuple[int, ...]]]:
    k = len(cset.candidates)
    if mode == "pairwise":
        return tournament_items(cset), [(i, j) for i in range(k) for j in range(k) if i != j]
    return pointwise_items(cset), [(i,) for i in range(k)]


def summarise(cset: CandidateSet, judgments: Sequence[Any], keys: Sequence[tuple[int, ...]], mode: str,
              aggregation: str, use_expected: bool = False) -> RankedSet:
    """Build the :class:`RankedSet` of one set from its judgments (``keys[n]`` = answers of ``judgments[n]``).

    ``use_expected``: rank by expected outcomes (:mod:`critic.judging.expected_outcomes`)."""
    from critic.judging.expected_outcomes import (
        expected_margin,
        expected_point_score,
        expected_relative_score,
    )

    k = len(cset.candidates)
    counts = dict(n_judged=sum(j.error is None for j in judgments), n_errors=sum(j.error is not None for j in judgments),
                  n_parse_failures=sum(j.parse_error is not None for j in judgments),
                  n_ties=sum(getattr(j, "winner", None) == "tie" for j in judgments))
    first = next((j for j in judgments if j.error is None), None)
    extra: dict[str, Any] = dict(judgment_ids=[j.id for j in judgments],
                                 judge=first.judge if first else None, template=first.template if first else None)
    if mode == "pairwise":
        matrix: list[list[float | None]] = [[None] * k for _ in range(k)]
        verdicts: list[list[str | None]] = [[None] * k for _ in range(k)]
        for j, (a, b) in zip(judgments, keys):
            matrix[a][b] = expected_relative_score(j) if use_expected else relative_score(j)
            verdicts[a][b] = j.winner
        rewards = {"llava_ov": lambda: llava_ov_rewards(matrix), "win_count": lambda: win_count_rewards(verdicts),
                   "bradley_terry": lambda: bradley_terry_rewards(verdicts)}[aggregation]()
        n_j = _counts(matrix)
        extra.update(matrix=matrix, verdicts=verdicts)
    else:
        scores: list[float | None] = [None] * k
        for j, (a,) in zip(judgments, keys):
            scores[a] = expected_point_score(j) if use_expected else j.score
        rewards, n_j = list(scores), [int(s is not None) for s in scores]
        extra["scores"] = scores
    chosen, rejected, reason = choose_pair(cset.candidates, rewards) if k >= 2 else (None, None, "fewer than 2 answers")
    if reason is not None and k >= 2 and not any(n_j):
        reason = (f"no usable judgments ({counts['n_parse_failures']} parse failures, "
                  f"{counts['n_errors']} errors of {len(judgments)})")
    pair: dict[str, Any] = {}
    if chosen is not None and rejected is not None:
        cr, rr = rewards[chosen], rewards[rejected]
        pair = dict(chosen=chosen, rejected=rejected, chosen_reward=cr, rejected_reward=rr, margin=cr - rr)  # type: ignore[operator]
        pair["expected_margin"] = expected_margin(judgments, keys, mode, k, chosen, rejected,
                                                   llava_ov_rewards)
    return RankedSet(id=cset.id, mode=mode, aggregation=aggregation if mode == "pairwise" else "score", k=k,
                     rewards=rewards, n_judgments=n_j, reason=reason, **pair, **counts, **extra)


# ----------------------------------------------------------------------------------- reuse

def _load_once(cset: CandidateSet) -> list[Any] | None:
    from critic.media import MediaError, load_image

    try:
        return [load_image(p) for p in cset.images]
    except (MediaError, OSError):
        return None  # each request then reports the unreadable image itself


# ----------------------------------------------------------------------------------- running

def rank_stream(critic: Judge, sets: Iterable[CandidateSet], *, mode: str = "pairwise", aggregation: str = "llava_ov",
                template: str | Template | None = None, chunk_sets: int = 32, reuse: bool = True,
                pil_images: Mapping[str, Sequence[Image.Image]] | None = None,
                use_expected: bool = False) -> Iterator[SetResult]:
    """Rank sets, yielding a :class:`SetResult` as soon as all judgments of a set are in.

    Sets are judged ``chunk_sets`` at a time (one backend stream per chunk keeps the backend busy
    and memory bounded). With ``reuse`` each set's images are read once for all its requests and
    a backend with an image-reuse scope (the OpenAI backend's ``reuse_images``) encodes each image
    once. ``pil_images`` maps a set id to its images in memory (PIL), used instead of reading
    ``set.images``. ``use_expected``: rank by expected outcomes (pointwise, or pairwise ``llava_ov``;
    :mod:`critic.judging.expected_outcomes`).
    """
    if use_expected and mode == "pairwise" and aggregation != "llava_ov":
        raise ValueError(f"ranking by expected scores works with the llava_ov aggregation, not {aggregation}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
    chunk: list[CandidateSet] = []
    seen: set[str] = set()
    scope = getattr(critic.backend, "reuse_images", None) if reuse else None
    guard = scope() if scope is not None else contextlib.nullcontext()
    with guard:
        for cset in sets:
            if cset.id in seen:
                raise ValueError(f"duplicate candidate set id {cset.id!r}")
            seen.add(cset.id)
            chunk.append(cset)
            if len(chunk) >= chunk_sets:
                yield from _rank_chunk(critic, chunk, mode, aggregation, template, reuse, pil_images or {},
                                       use_expected)
                chunk = []
        if chunk:
            yield from _rank_chunk(critic, chunk, mode, aggregation, template, reuse, pil_images or {}, use_expected)


def _rank_chunk(critic: Judge, sets: list[CandidateSet], mode: str, aggregation: str,
                template: str | Template | None, reuse: bool,
                given: Mapping[str, Sequence[Image.Image]], use_expected: bool = False) -> Iterator[SetResult]:
    items: list[Any] = []
    pil: list[Any] = []
    where: dict[str, tuple[int, int]] = {}  # item id -> (set index, position in the set's item list)
    keys: list[list[tuple[int, ...]]] = []
    got: list[list[Any]] = []
    for s, cset in enumerate(sets):
        its, ks = _items(cset, mode)
        images: list[Any] | None
        if cset.id in given:
            images = list(given[cset.id])
        else:
            images = _load_once(cset) if reuse and cset.images else None
        for n, it in enumerate(its):
            where[it.id] = (s, n)
            items.append(it)
            pil.append(images)
        keys.append(ks)
        got.append([None] * len(its))
    for s, cset in enumerate(sets):  # sets with fewer than 2 answers have nothing to judge (pairwise)
        if not keys[s]:
            yield SetResult(cset, summarise(cset, [], [], mode, aggregation))
    remaining = [len(k) for k in keys]
    stream = critic.judge_stream(items, swap="none", template=template, pil_images=pil if reuse or given else None,
                                 desc="ranking")
    for j in stream:
        s, n = where[j.id]
        got[s][n] = j
        remaining[s] -= 1
        if remaining[s] == 0:
            cset = sets[s]
            yield SetResult(cset, summarise(cset, got[s], keys[s], mode, aggregation, use_expected), list(got[s]))


def rank(critic: Judge, sets: Sequence[CandidateSet] | CandidateSet, **kwargs: Any) -> list[RankedSet] | RankedSet:
    """Rank candidate sets (see the module doc); returns :class:`RankedSet` s in input order."""
    single = isinstance(sets, CandidateSet)
    batch: list[CandidateSet] = [sets] if isinstance(sets, CandidateSet) else list(sets)
    by_id = {r.candidates.id: r.ranked for r in rank_stream(critic, batch, **kwargs)}
    out = [by_id[c.id] for c in batch]
    return out[0] if single else out
