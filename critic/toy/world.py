"""The toy world: seeded multimodal judging tasks whose answer is only in the image.

Each question is about a scene from :mod:`critic.toy.scene` (colour of a shape, shape of a colour,
how many objects of a colour/shape, left or right of another object). Every response is two claims
in fixed sentence templates: the main answer, then one extra claim about the image (the subject's
side, the counted objects' shared shape/colour, or the first object's shape). Its correctness class
is set by which claims the image makes true (:data:`critic.toy.scene.SCORES`):

========== ===================================================== =====
class      claims                                                score
========== ===================================================== =====
right      main answer true, extra claim true                    10
partly     main answer true, extra claim false                   6
wrong      main answer false (3 when the extra claim is true)    3 / 2
off_topic  answers about another subject (not the one asked)     1
========== ===================================================== =====

The text does not reveal the class: truths are drawn uniformly, a false claim states the question's
one distractor value, itself drawn uniformly from the same value set, and every class uses the same
templates, so the same sentence is right for some images and wrong for others (and in a candidate
set the truth and the distractor are equally likely to be the majority answer). Off-topic responses
use the same words about a different subject. The generator grades every response it writes with
:func:`critic.toy.scene.grade_response` and fails loudly if the grade is not the class it meant.

The oracle's side (pixels to scene, true answer, grade) lives in :mod:`critic.toy.scene` and is
re-exported here: :func:`analyse_image`, :func:`answer_question`, :func:`grade_response`.

>>> item, images = next(generate_items(1, seed=0, task="pairwise"))
>>> item.question_id, item.group, images[0].size
('toy0-q00000', 'colour', (32, 32))
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from PIL import Image

from critic.jsonl import JsonlWriter
from critic.records import CandidateSet, Item, PairwiseItem, PointwiseItem
from critic.toy.scene import (
    CELLS,
    COLOURS,
    KINDS,
    SCORES,
    SHAPES,
    SIDES,
    Question,
    Scene,
    ToyGrade,
    analyse_image,
    answer_question,
    claim_truths,
    draw_scene,
    grade_response,
    item_rationale,
    parse_question,
    place_objects,
)

__all__ = ["ALL_KINDS", "DEFAULT_KINDS", "KINDS", "SCORES", "Question", "Scene", "ToyGrade", "ToyStats", "analyse_image",
           "answer_question", "generate_items", "grade_response", "make_toy", "parse_question"]

DEFAULT_KINDS: tuple[str, ...] = KINDS
#: every kind, with ``motion`` (a clip, :mod:`critic.toy.motion`): asked for by name, never by default
ALL_KINDS: tuple[str, ...] = (*KINDS, "motion")
COUNTS = ("1", "2", "3")
PAIRS_PER_QUESTION = 2
# per task: probability of an off-topic response, of a true main answer, of a true extra claim
_MIX = {"pointwise": (0.08, 0.55, 0.7), "pairwise": (0.03, 0.5, 0.5), "candidates": (0.05, 0.5, 0.5)}
_TIE_RATE = 0.2


@dataclass
class ToyStats:
    """What :func:`make_toy` wrote: counts, gold-label and gold-score histograms."""

    task: str
    n_items: int = 0
    n_images: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    scores: dict[int, int] = field(default_factory=dict)
    correctness: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


# -------------------------------------------------------------------------------------- generation

_Q_TEMPLATES = {
    "colour": ["What colour is the {shape}?", "Which colour does the {shape} have?"],
    "shape": ["What shape is the {colour} object?", "Which shape is the {colour} object?"],
    "count_colour": ["How many {colour} objects are there?", "How many {colour} objects are in the image?"],
    "count_shape": ["How many {shape}s are there?", "How many {shape}s are in the image?"],
    "position": ["Is the {colour} object to the left or to the right of the {colour2} object?",
                 "Is the {colour} object left or right of the {colour2} one?"],
}
_MAIN = {
    "colour": ["The {shape} is {v}.", "The colour of the {shape} is {v}.", "The {shape} in the image is {v}.",
               "Looking at the image, the {shape} is {v}."],
    "shape": ["The {colour} object is a {v}.", "The {colour} shape is a {v}.", "The {colour} object in the image is a {v}.",
              "Looking at the image, the {colour} object is a {v}."],
    "count": ["There {are} {v} {thing}.", "I count {v} {thing}.", "The image contains {v} {thing}.",
              "Looking at the image, there {are} {v} {thing}."],
    "position": ["The {colour} object is to the {v} of the {colour2} object.",
                 "The {colour} object is on the {v} side of the {colour2} object.",
                 "The {colour} object lies to the {v} of the {colour2} one.",
                 "Looking at the image, the {colour} object is to the {v} of the {colour2} object."],
}
_EXTRA = {
    "side": ["It is on the {v} side of the image.", "It is located on the {v}.", "It sits in the {v} half of the picture."],
    "count1_shape": ["It is a {v}.", "Its shape is a {v}.", "It is shaped like a {v}."],
    "count_shape": ["They are all {v}s.", "All of them are {v}s.", "Each of them is a {v}."],
    "count1_colour": ["It is {v}.", "Its colour is {v}.", "It is coloured {v}."],
    "count_colour": ["They are all {v}.", "All of them are {v}.", "Each of them is {v}."],
    "position": ["The {colour} object is a {v}.", "The {colour} one is a {v}.", "The {colour} object has the shape of a {v}."],
}


def _values(q: Question) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(main answer values, extra claim values) for a question."""
    return {"colour": (COLOURS, SIDES), "shape": (SHAPES, SIDES), "position": (SIDES, SHAPES),
            "count": (COUNTS, SHAPES if q.colour else COLOURS)}[q.kind]


def _sample_scene(rng: random.Random, kind: str, two_object_rate: float | None = None) -> tuple[Question, Scene]:
    """A question of ``kind`` and a scene where its answer and the extra-claim truth are uniform.

    Colour questions get one or two objects, evenly; ``two_object_rate`` sets the share of two.
    """
    cells = rng.sample(CELLS, len(CELLS))
    if kind == "colour":
        shapes = rng.sample(SHAPES, 2)
        n_objects = rng.randint(1, 2) if two_object_rate is None else 1 + (rng.random() < two_object_rate)
        specs = [(rng.choice(COLOURS), s, c) for s, c in zip(shapes, cells[:n_objects])]
        q = dict(shape=shapes[0])
    elif kind == "shape":
        colours = rng.sample(COLOURS, 3)
        specs = [(c, rng.choice(SHAPES), cell) for c, cell in zip(colours, cells[: rng.randint(1, 3)])]
        q = dict(colour=colours[0])
    elif kind == "count":
        n, by_colour = rng.randint(1, 3), rng.random() < 0.5
        colour, shape = rng.choice(COLOURS), rng.choice(SHAPES)
        specs = [(colour, shape, cell) for cell in cells[:n]]
        for cell in cells[n: n + rng.randint(1, len(CELLS) - n)]:
            if by_colour:
                specs.append((rng.choice([c for c in COLOURS if c != colour]), rng.choice(SHAPES), cell))
            else:
                specs.append((rng.choice(COLOURS), rng.choice([s for s in SHAPES if s != shape]), cell))
        kind = "count_colour" if by_colour else "count_shape"
        q = dict(colour=colour) if by_colour else dict(shape=shape)
    elif kind == "position":
        colours = rng.sample(COLOURS, 4)
        first_col = rng.randint(0, 1)
        a = rng.choice([c for c in cells if c[0] == first_col])
        b = rng.choice([c for c in cells if c[0] != first_col])
        rest = [c for c in cells if c not in (a, b)][: rng.randint(0, 2)]
        specs = [(col, rng.choice(SHAPES), cell) for col, cell in zip(colours, [a, b, *rest])]
        q = dict(colour=colours[0], colour2=colours[1])
    else:
        raise ValueError(f"unknown toy question kind {kind!r}; choose from {', '.join(KINDS)}")
    text = rng.choice(_Q_TEMPLATES[kind]).format(**q)
    return parse_question(text), place_objects(rng, specs)


def _other_subject(rng: random.Random, q: Question) -> Question:
    """The same kind of question about a different subject (what an off-topic response answers)."""
    if q.kind == "colour":
        return replace(q, shape=rng.choice([s for s in SHAPES if s != q.shape]))
    if q.kind == "position":
        c3 = rng.choice([c for c in COLOURS if c not in (q.colour, q.colour2)])
        return replace(q, colour=c3, colour2=rng.choice([c for c in COLOURS if c != c3]))
    if q.kind == "count" and q.shape:
        return replace(q, shape=rng.choice([s for s in SHAPES if s != q.shape]))
    return replace(q, colour=rng.choice([c for c in COLOURS if c != q.colour]))


def _render(rng: random.Random, q: Question, main: str, extra: str | None) -> str:
    one = main == "1"
    thing = (f"{q.colour} object" if q.colour else q.shape) + ("" if one else "s")
    text = rng.choice(_MAIN[q.kind]).format(v=main, shape=q.shape, colour=q.colour, colour2=q.colour2,
                                            are="is" if one else "are", thing=thing)
    if extra is not None:
        key = {"colour": "side", "shape": "side", "position": "position"}.get(q.kind) or (
            f"count{'1' if one else ''}_{'shape' if q.colour else 'colour'}")
        text += " " + rng.choice(_EXTRA[key]).format(v=extra, colour=q.colour)
    return text


@dataclass(frozen=True)
class _Setup:
    """One question with its scene, truths and the one distractor value per claim."""

    q: Question
    scene: Scene
    truth: str
    extra_truth: str
    wrong: str
    wrong_extra: str


def _setup(rng: random.Random, kind: str, two_object_rate: float | None = None) -> _Setup:
    q, scene = _sample_scene(rng, kind, two_object_rate)
    truth, extra_truth = claim_truths(scene, q)
    mains, extras = _values(q)
    if extra_truth is None:
        raise RuntimeError(f"toy generator bug: no true extra claim for {q.text!r} in {scene}")
    return _Setup(q, scene, truth, extra_truth, rng.choice([v for v in mains if v != truth]),
                  rng.choice([v for v in extras if v != extra_truth]))


def _response(rng: random.Random, s: _Setup, task: str, extra_claims: bool,
              mix: tuple[float, float, float] | None = None) -> tuple[str, str, int]:
    """Draw a class and write a response of it: (text, class, gold score); ``mix`` overrides :data:`_MIX`."""
    p_off, p_main, p_extra = mix or _MIX[task]
    if rng.random() < p_off:
        other = _other_subject(rng, s.q)
        mains, extras = _values(other)
        return _render(rng, other, rng.choice(mains), rng.choice(extras) if extra_claims else None), "off_topic", 1
    main_ok, extra_ok = rng.random() < p_main, (rng.random() < p_extra) if extra_claims else None
    text = _render(rng, s.q, s.truth if main_ok else s.wrong,
                   None if extra_ok is None else (s.extra_truth if extra_ok else s.wrong_extra))
    if main_ok:
        return text, ("partly" if extra_ok is False else "right"), SCORES["partly" if extra_ok is False else "right"]
    return text, "wrong", SCORES["wrong"] if extra_ok else SCORES["wrong"] - 1


def _checked(s: _Setup, responses: list[tuple[str, str, int]]) -> list[ToyGrade]:
    grades = [grade_response(s.scene, s.q.text, text) for text, _, _ in responses]
    for (text, cls, score), g in zip(responses, grades):
        if (g.correctness, g.score) != (cls, score):
            raise RuntimeError(f"toy generator bug: {text!r} meant {cls}/{score}, graded {g.correctness}/{g.score}")
    return grades


def _tie_keep(task: str, extra_claims: bool, mix: tuple[float, float, float] | None = None,
              tie_rate: float = _TIE_RATE) -> float:
    """Probability of keeping a drawn tie so that about ``tie_rate`` of pairs are ties."""
    p_off, p_main, p_extra = mix or _MIX[task]
    on = 1 - p_off
    if extra_claims:
        probs = [on * p_main * p_extra, on * p_main * (1 - p_extra), on * (1 - p_main) * p_extra,
                 on * (1 - p_main) * (1 - p_extra), p_off]
    else:
        probs = [on * p_main, on * (1 - p_main), p_off]
    p_tie = sum(p * p for p in probs)
    return min(1.0, tie_rate * (1 - p_tie) / (p_tie * (1 - tie_rate)))


def generate_items(n: int, seed: int, task: Literal["pointwise", "pairwise", "candidates"], *,
                   image_size: int = 32, kinds: Sequence[str] = DEFAULT_KINDS, k: int = 5,
                   extra_claims: bool = True, off_topic_rate: float | None = None,
                   tie_rate: float | None = None,
                   two_object_rate: float | None = None) -> Iterator[tuple[Item, list[Image.Image]]]:
    """Yield ``n`` items with their images (in memory); ``item.images`` holds ``images/NNNNN.png`` names.

    Question ``i`` draws from its own ``random.Random(f"{seed}:{i}")``, so a smaller ``n`` gives a prefix.
    Kinds go round-robin. Pairwise items come :data:`PAIRS_PER_QUESTION` to a question (same image,
    same ``question_id``). ``extra_claims=False`` writes one-claim responses (classes right / wrong /
    off_topic only): the easiest task, learnable by a tiny model on the colour kind. ``off_topic_rate``
    (the probability that a response answers about another subject) and ``tie_rate`` (the share of
    pairs that are ties) override the task's defaults (:data:`_MIX`, :data:`_TIE_RATE`), e.g. for a
    training mix with more off-topic negatives; ``None`` keeps the defaults (and the same bytes).
    ``two_object_rate`` is the share of colour questions asked of a two-object scene (default: half).
    """
    if task not in _MIX:
        raise ValueError(f"unknown task {task!r}")
    if not kinds or any(kd not in ALL_KINDS for kd in kinds):
        raise ValueError(f"kinds must be a non-empty subset of {ALL_KINDS}, got {list(kinds)}")
    if k < 1:
        raise ValueError("k must be >= 1")
    for name, rate in (("off_topic_rate", off_topic_rate), ("tie_rate", tie_rate)):
        if rate is not None and not 0 <= rate < 1:
            raise ValueError(f"{name} must be in [0, 1), got {rate}")
    if two_object_rate is not None and not 0 <= two_object_rate <= 1:
        raise ValueError(f"two_object_rate must be in [0, 1], got {two_object_rate}")
    per_q = PAIRS_PER_QUESTION if task == "pairwise" else 1
    mix = None if off_topic_rate is None else (off_topic_rate, *_MIX[task][1:])
    keep_tie = _tie_keep(task, extra_claims, mix, _TIE_RATE if tie_rate is None else tie_rate)
    made = 0
    for qi in range((n + per_q - 1) // per_q):
        rng = random.Random(f"{seed}:{qi}")
        kind = kinds[qi % len(kinds)]
        if kind == "motion":  # a clip: its items carry `video`, and the frames come with them
            from critic.toy.motion import motion_items

            got = motion_items(rng, seed=seed, qi=qi, task=task, count=min(per_q, n - made), mix=_MIX[task],
                               keep_tie=keep_tie, extra_claims=extra_claims, k=k, image_size=image_size)
            made += len(got)
            yield from got
            continue
        s = _setup(rng, kind, two_object_rate)
        image, name, qid = draw_scene(s.scene, image_size), f"images/{qi:05d}.png", f"toy{seed}-q{qi:05d}"
        base = {"group": kind, "question_id": qid, "images": [name], "question": s.q.text}
        meta = {"kind": kind, "truth": s.truth, "scene": s.scene.to_json()}
        for j in range(min(per_q, n - made)):
            if task == "pointwise":
                resp = [_response(rng, s, task, extra_claims, mix)]
                grades = _checked(s, resp)
                item: Item = PointwiseItem(id=f"toy{seed}-{qi:05d}", response=resp[0][0], score=resp[0][2], **base,
                                           meta={**meta, "correctness": [resp[0][1]],
                                                 "rationale": item_rationale(s.scene, s.q.text, grades, task)})
            elif task == "pairwise":
                while True:
                    resp = [_response(rng, s, task, extra_claims, mix) for _ in range(2)]
                    tie = resp[0][2] == resp[1][2]
                    if resp[0][0] != resp[1][0] and (not tie or rng.random() < keep_tie):
                        break
                grades = _checked(s, resp)
                label = "tie" if tie else ("A" if resp[0][2] > resp[1][2] else "B")
                item = PairwiseItem(id=f"toy{seed}-{qi:05d}-{j}", response_a=resp[0][0], response_b=resp[1][0],
                                    label=label, **base,
                                    meta={**meta, "correctness": [r[1] for r in resp], "scores": [r[2] for r in resp],
                                          "rationale": item_rationale(s.scene, s.q.text, grades, task)})
            else:
                resp = [_response(rng, s, task, extra_claims, mix) for _ in range(k)]
                grades = _checked(s, resp)
                item = CandidateSet(id=f"toy{seed}-{qi:05d}", candidates=[r[0] for r in resp],
                                    scores=[float(r[2]) for r in resp], **base,
                                    meta={**meta, "correctness": [r[1] for r in resp],
                                          "rationale": item_rationale(s.scene, s.q.text, grades, task)})
            made += 1
            yield item, [image]


def make_toy(out_dir: Path, *, n: int, seed: int, task: Literal["pointwise", "pairwise", "candidates"],
             image_size: int = 32, kinds: Sequence[str] = DEFAULT_KINDS, k: int = 5,
             extra_claims: bool = True) -> ToyStats:
    """Write ``out_dir/items.jsonl`` and ``out_dir/images/*.png``; same arguments give the same bytes."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    stats = ToyStats(task=task)
    labels: Counter[str] = Counter()
    scores: Counter[int] = Counter()
    correctness: Counter[str] = Counter()
    kinds_seen: Counter[str] = Counter()
    written: set[str] = set()
    with JsonlWriter(out_dir / "items.jsonl", relative_to=out_dir) as writer:
        for item, images in generate_items(n, seed, task, image_size=image_size, kinds=kinds, k=k,
                                           extra_claims=extra_claims):
            if item.video:  # a motion clip: `images` are its frames
                from critic.toy.motion import save_gif

                if item.video not in written:
                    (out_dir / "videos").mkdir(exist_ok=True)
                    save_gif(images, out_dir / item.video)
                    written.add(item.video)
                item.video = str((out_dir / item.video).resolve())
                images = []
            paths = []
            for name, image in zip(item.images, images):
                path = out_dir / name
                if name not in written:
                    image.save(path, format="PNG", optimize=False, compress_level=6)
                    written.add(name)
                paths.append(str(path.resolve()))
            item.images = paths
            writer.write(item)
            meta = item.meta or {}
            kinds_seen[meta["kind"]] += 1
            correctness.update(meta["correctness"])
            if isinstance(item, PairwiseItem):
                labels[item.label or "?"] += 1
                scores.update(meta["scores"])
            elif isinstance(item, PointwiseItem):
                scores[int(item.score or 0)] += 1
            else:
                scores.update(int(x) for x in item.scores or [])
            stats.n_items += 1
    stats.n_images = len(written)
    stats.labels, stats.correctness, stats.kinds = dict(sorted(labels.items())), dict(correctness), dict(kinds_seen)
    stats.scores = dict(sorted(scores.items()))
    return stats
