"""Toy-world scenes, from both sides: draw them, read them back from pixels, answer and grade questions.

This is everything the oracle teacher needs. A scene is a white canvas cut into a 2 x 2 grid; each
cell holds at most one solid shape (circle, square or triangle pointing up) in one of six far-apart
colours, drawn without antialiasing well inside its cell, so objects never touch. Coordinates are
fractions of the image side, so one scene draws at any size (32, 64, 336 px ...).

:func:`analyse_image` recovers the scene from pixels only (foreground = far from white, connected
components, median colour of the eroded core to the nearest palette entry, shape from how much mass
sits in the top half and how full the bounding-box corners are). It survives JPEG re-encoding and
resizing, as an HTTP teacher receiving base64 images must. :func:`answer_question` gives the true
short answer to a toy question and :func:`grade_response` judges a response like a careful grader:
correctness class, gold score (:data:`SCORES`) and a rationale citing what the image shows.

>>> scene = Scene((ToyObject("red", "circle", 0.25, 0.25, 0.34), ToyObject("blue", "triangle", 0.75, 0.7, 0.3)))
>>> seen = analyse_image(draw_scene(scene, 32))
>>> [(o.colour, o.shape, o.side) for o in seen.objects]
[('red', 'circle', 'left'), ('blue', 'triangle', 'right')]
>>> answer_question(seen, "What colour is the circle?")
'red'
>>> g = grade_response(seen, "What colour is the circle?", "The circle is red. It is on the right side of the image.")
>>> g.correctness, g.score
('partly', 6)
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 30),
    "green": (20, 160, 40),
    "blue": (30, 70, 235),
    "yellow": (250, 220, 0),
    "purple": (150, 30, 190),
    "orange": (255, 125, 0),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
BACKGROUND = (255, 255, 255)
GRID = 2  # cells per side
CELLS: tuple[tuple[int, int], ...] = tuple((c, r) for r in range(GRID) for c in range(GRID))  # (column, row)

KINDS: tuple[str, ...] = ("colour", "shape", "count", "position")
SIDES: tuple[str, ...] = ("left", "right")
SCORES = {"right": 10, "partly": 6, "wrong": 3, "off_topic": 1}  # wrong is 2 when its extra claim is false too
_NUMBER_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}

_CELL = 1.0 / GRID
_SIZE_RANGE = (0.56, 0.72)  # object side as a fraction of the cell side
_MARGIN = 0.1  # minimum free border inside a cell, fraction of the cell side
_FG_THRESHOLD = 110  # 255 - min(r, g, b) above this is foreground; every palette colour is >= 220


@dataclass(frozen=True)
class ToyObject:
    """One shape; ``x``/``y`` are its centre and ``size`` its side, all as fractions of the image side."""

    colour: str
    shape: str
    x: float
    y: float
    size: float

    @property
    def side(self) -> str:
        """Which half of the image the object is in: ``"left"`` or ``"right"``."""
        return "left" if self.x < 0.5 else "right"

    @property
    def place(self) -> str:
        """Where it is, in words: ``"top left"``, ``"bottom right"`` ..."""
        return f"{'top' if self.y < 0.5 else 'bottom'} {self.side}"

    def to_json(self) -> dict[str, object]:
        return {"colour": self.colour, "shape": self.shape, "x": round(self.x, 3), "y": round(self.y, 3),
                "size": round(self.size, 3)}


@dataclass(frozen=True)
class Scene:
    """The objects in one image, ordered top-to-bottom then left-to-right."""

    objects: tuple[ToyObject, ...]

    def select(self, colour: str | None = None, shape: str | None = None) -> list[ToyObject]:
        """The objects matching the given colour and/or shape."""
        return [o for o in self.objects if (colour is None or o.colour == colour) and (shape is None or o.shape == shape)]

    def signature(self) -> list[tuple[str, str, str]]:
        """Sorted (colour, shape, place) triples: two scenes with equal signatures show the same thing."""
        return sorted((o.colour, o.shape, o.place) for o in self.objects)

    def describe(self) -> str:
        """One sentence saying what the image shows, e.g. ``The image shows a red circle (top left).``"""
        if not self.objects:
            return "The image is blank."
        parts = [f"{'an' if o.colour[0] in 'aeiou' else 'a'} {o.colour} {o.shape} ({o.place})" for o in self.objects]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"The image shows {listed}."

    def to_json(self) -> list[dict[str, object]]:
        return [o.to_json() for o in self.objects]


def _ordered(objects: Sequence[ToyObject]) -> tuple[ToyObject, ...]:
    return tuple(sorted(objects, key=lambda o: (o.y >= 0.5, o.x, o.y)))


def place_objects(rng: random.Random, specs: Sequence[tuple[str, str, tuple[int, int]]]) -> Scene:
    """Put ``(colour, shape, (column, row))`` objects in their grid cells with a random size and jitter."""
    cells = [cell for _, _, cell in specs]
    if len(set(cells)) != len(cells):
        raise ValueError(f"two objects in one cell: {cells}")
    objects = []
    for colour, shape, (col, row) in specs:
        frac = rng.uniform(*_SIZE_RANGE)
        room = max(0.0, (1.0 - frac) / 2 - _MARGIN) * _CELL
        x = (col + 0.5) * _CELL + rng.uniform(-room, room)
        y = (row + 0.5) * _CELL + rng.uniform(-room, room)
        objects.append(ToyObject(colour, shape, x, y, frac * _CELL))
    return Scene(_ordered(objects))


def _box(obj: ToyObject, size: int) -> tuple[int, int, int, int]:
    half = obj.size / 2
    x0, y0 = round((obj.x - half) * size), round((obj.y - half) * size)
    x1, y1 = round((obj.x + half) * size) - 1, round((obj.y + half) * size) - 1
    return x0, y0, max(x0, x1), max(y0, y1)


def draw_scene(scene: Scene, size: int = 32) -> Image.Image:
    """Render the scene as a ``size`` x ``size`` RGB image (solid fills, no antialiasing)."""
    img = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:
        fill = PALETTE[obj.colour]
        x0, y0, x1, y1 = _box(obj, size)
        if obj.shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif obj.shape == "square":
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        elif obj.shape == "triangle":
            draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=fill)
        else:
            raise ValueError(f"unknown shape {obj.shape!r}")
    return img


_PALETTE_RGB = np.array([PALETTE[c] for c in COLOURS], dtype=np.float64)


def _nearest_colour(rgb: np.ndarray) -> str:
    return COLOURS[int(np.argmin(((_PALETTE_RGB - rgb) ** 2).sum(axis=1)))]


def _classify_shape(mask: np.ndarray) -> str:
    """Triangles (apex up) keep far less mass in their top half; squares fill their corners, circles do not."""
    h, w = mask.shape
    top = mask[: h // 2].sum()
    bottom = mask[(h + 1) // 2:].sum()
    if top < 0.75 * max(bottom, 1):
        return "triangle"
    ch, cw = max(1, round(0.2 * h)), max(1, round(0.2 * w))
    corners = mask[:ch, :cw].sum() + mask[:ch, -cw:].sum() + mask[-ch:, :cw].sum() + mask[-ch:, -cw:].sum()
    return "square" if corners > 0.4 * 4 * ch * cw else "circle"


def analyse_image(img: Image.Image) -> Scene:
    """Recover the scene from pixels: colour, shape and position of every object.

    Works on any size and survives JPEG re-encoding and resizing; components smaller than 0.6 % of
    the image (compression specks) are ignored.
    """
    arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    h, w = arr.shape[:2]
    fg = (255 - arr.min(axis=2)) > _FG_THRESHOLD
    labels, _ = ndimage.label(fg, structure=np.ones((3, 3), dtype=bool))
    min_area = max(4.0, 0.006 * h * w)
    objects = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == i
        if mask.sum() < min_area:
            continue
        core = ndimage.binary_erosion(mask)
        if core.sum() < 3:
            core = mask
        colour = _nearest_colour(np.median(arr[sl][core], axis=0))
        ys, xs = sl
        x = (xs.start + xs.stop) / 2 / w
        y = (ys.start + ys.stop) / 2 / h
        size = max(xs.stop - xs.start, ys.stop - ys.start) / max(h, w)
        objects.append(ToyObject(colour, _classify_shape(mask), x, y, size))
    return Scene(_ordered(objects))


# ----------------------------------------------------------------------------------------- questions


@dataclass(frozen=True)
class Question:
    """A parsed toy question: ``kind`` plus the subject it names."""

    kind: str
    text: str
    colour: str | None = None  # shape kind, colour-count, position (the first object)
    shape: str | None = None  # colour kind, shape-count
    colour2: str | None = None  # position: the reference object

    @property
    def subject(self) -> str:
        """The thing asked about, in words: ``the circle``, ``the red object``, ``red objects`` ..."""
        if self.kind == "count":
            return f"{self.colour} objects" if self.colour else f"{self.shape}s"
        return f"the {self.shape}" if self.kind == "colour" else f"the {self.colour} object"


@dataclass(frozen=True)
class ToyGrade:
    """How right one response is: class, gold score, what it claimed and a rationale citing the image."""

    correctness: str
    score: int
    truth: str
    claimed: str | None
    main_correct: bool | None
    extra_correct: bool | None
    rationale: str


def _words(text: str) -> list[str]:
    out = []
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        w = _NUMBER_WORDS.get(w, w)
        out.append(w[:-1] if w.endswith("s") and w[:-1] in SHAPES else ("colour" if w == "color" else w))
    return out


def _first(words: list[str], vocab: Sequence[str]) -> str | None:
    return next((w for w in words if w in vocab), None)


def parse_question(text: str) -> Question:
    """Read a toy question back: its kind and subject. Raises ``ValueError`` for other questions."""
    w = _words(text)
    colours = [x for x in w if x in COLOURS]
    shape = _first(w, SHAPES)
    if "how" in w and "many" in w:
        if colours or shape:
            return Question("count", text, colour=colours[0] if colours else None, shape=None if colours else shape)
    elif "left" in w and "right" in w and len(colours) >= 2:
        return Question("position", text, colour=colours[0], colour2=colours[1])
    elif "shape" in w and colours:
        return Question("shape", text, colour=colours[0])
    elif "colour" in w and shape:
        return Question("colour", text, shape=shape)
    raise ValueError(f"not a toy-world question: {text!r}")


def claim_truths(scene: Scene, q: Question) -> tuple[str, str | None]:
    """(short answer, value a true extra claim states); the answer is ``none`` if the subject is absent."""
    if q.kind == "count":
        objs = scene.select(colour=q.colour, shape=q.shape)
        shared = {o.shape if q.colour else o.colour for o in objs}
        return str(len(objs)), shared.pop() if len(shared) == 1 else None
    if q.kind == "position":
        a, b = scene.select(colour=q.colour), scene.select(colour=q.colour2)
        if len(a) != 1 or len(b) != 1:
            return "none", None
        return ("left" if a[0].x < b[0].x else "right"), a[0].shape
    objs = scene.select(shape=q.shape) if q.kind == "colour" else scene.select(colour=q.colour)
    if len(objs) != 1:
        return "none", None
    return (objs[0].colour if q.kind == "colour" else objs[0].shape), objs[0].side


def answer_question(scene: Scene, question: str) -> str:
    """The true short answer (``red``, ``triangle``, ``2``, ``left``) to a toy question about ``scene``."""
    return claim_truths(scene, parse_question(question))[0]


def _main_claim(q: Question, w: list[str]) -> tuple[str | None, str | None]:
    """(what the first sentence of a response is about if not the question's subject, claimed value)."""
    colours = [x for x in w if x in COLOURS]
    shapes = [x for x in w if x in SHAPES]
    if q.kind == "colour":
        return (f"the {shapes[0]}" if shapes and shapes[0] != q.shape else None), (colours[0] if colours else None)
    if q.kind == "shape":
        return (f"the {colours[0]} object" if colours and colours[0] != q.colour else None), (shapes[0] if shapes else None)
    number = _first(w, [str(i) for i in range(11)])
    if q.kind == "count":
        named = colours if q.colour else shapes
        if named and named[0] != (q.colour or q.shape):
            return (f"{named[0]} objects" if q.colour else f"{named[0]}s"), number
        return None, number
    side = _first(w, SIDES)
    if colours[:2] in ([q.colour, q.colour2], [q.colour]) or not colours:
        return None, side
    if colours[:2] in ([q.colour2, q.colour], [q.colour2]):
        return None, {"left": "right", "right": "left"}.get(side or "")
    return f"the {' and the '.join(colours[:2])} object{'s' if len(colours) > 1 else ''}", side


def _extra_claim(q: Question, w: list[str], scene: Scene) -> tuple[str, bool, str | None] | None:
    """(claimed value, true?, actual value) for one later sentence, or ``None`` if it claims nothing checkable."""
    if q.kind in ("colour", "shape", "count"):
        value = _first(w, SIDES if q.kind != "count" else SHAPES if q.colour else COLOURS)
        actual = claim_truths(scene, q)[1]
        return None if value is None else (value, value == actual, actual)
    colour, shape = _first(w, COLOURS), _first(w, SHAPES)
    if colour is None or shape is None:
        return None
    objs = scene.select(colour=colour)
    actual = objs[0].shape if len(objs) == 1 else None
    return shape, bool(objs) and all(o.shape == shape for o in objs), actual


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if s.strip()]


# ----------------------------------------------------------------------------------------- grading


def say_main(q: Question, v: str) -> str:
    """The main claim ``v`` about question ``q`` as a lower-case clause: ``"the circle is red"``."""
    if q.kind == "colour":
        return f"the {q.shape} is {v}"
    if q.kind == "shape":
        return f"the {q.colour} object is a {v}"
    if q.kind == "count":
        thing = f"{q.colour} object" if q.colour else q.shape
        return f"there {'is' if v == '1' else 'are'} {v} {thing}{'' if v == '1' else 's'}"
    return f"the {q.colour} object is to the {v} of the {q.colour2} object"


def _say_extra(q: Question, v: str, colour: str | None = None) -> str:
    if q.kind in ("colour", "shape"):
        return f"it is on the {v} side of the image"
    if q.kind == "count":
        return f"the {q.subject} are all {v}{'s' if q.colour else ''}"
    return f"the {colour or q.colour} object is a {v}"


def grade_response(scene: Scene, question: str, response: str) -> ToyGrade:
    """Judge one response against the scene like a careful grader would.

    The first sentence is the answer; each later sentence that makes a checkable claim (side, shared
    shape/colour, an object's shape) is checked too. A first sentence about another subject, or one
    giving no value, is off-topic.
    """
    q = parse_question(question)
    truth, _ = claim_truths(scene, q)
    sents = _sentences(response) or [""]
    other, value = _main_claim(q, _words(sents[0]))
    if other is not None or value is None:
        why = f"talks about {other} instead of {q.subject}" if other else "does not give an answer"
        return ToyGrade("off_topic", SCORES["off_topic"], truth, value, None, None,
                        f"The response {why}, so it does not answer the question.")
    main_ok = value == truth
    checks = []
    for sent in sents[1:]:
        w = _words(sent)
        claim = _extra_claim(q, w, scene)
        if claim is not None:
            checks.append((claim, _first(w, COLOURS)))
    extra_ok = all(c[1] for c, _ in checks) if checks else None
    if main_ok:
        cls, score = ("right", SCORES["right"]) if extra_ok is not False else ("partly", SCORES["partly"])
    else:
        cls, score = "wrong", SCORES["wrong"] if extra_ok else SCORES["wrong"] - 1
    text = f"The response says {say_main(q, value)}, which is " + (
        "correct" if main_ok else f"wrong: {say_main(q, truth) if truth != 'none' else 'the image has no ' + q.subject}")
    for (claimed, ok, actual), colour in checks:
        text += f"; it also says {_say_extra(q, claimed, colour)}, which is {'true' if ok else 'false'}"
        if not ok and actual is not None:
            text += ": " + _say_extra(q, actual, colour).replace(" of the image", "").replace(" all ", " ")
    verdict = {"right": "Everything it says matches the image.",
               "partly": "The answer is right, but it also says something the image contradicts.",
               "wrong": "The answer is wrong."}[cls]
    return ToyGrade(cls, score, truth, value, main_ok, extra_ok, f"{text}. {verdict}")


def item_rationale(scene: Scene, question: str, grades: Sequence[ToyGrade], task: str) -> str:
    """The gold rationale for an item: what the image shows, what each response says, the verdict."""
    q = parse_question(question)
    truth = grades[0].truth
    lead = scene.describe() + (f" So {say_main(q, truth)}." if truth != "none" else "")
    if task == "pointwise":
        return f"{lead} {grades[0].rationale}"
    names = ["Response A", "Response B"] if task == "pairwise" else [f"Candidate {i + 1}" for i in range(len(grades))]
    parts = [lead] + [g.rationale.replace("The response", name, 1) for name, g in zip(names, grades)]
    best = max(g.score for g in grades)
    winners = [i + 1 for i, g in enumerate(grades) if g.score == best]
    how = "good" if best >= SCORES["partly"] else "poor"
    if task == "pairwise":
        parts.append(f"Both responses are equally {how}." if len(winners) == 2 else f"{names[winners[0] - 1]} is better.")
    elif len(winners) == len(grades):
        parts.append(f"All candidates are equally {how}.")
    elif len(winners) == 1:
        parts.append(f"Candidate {winners[0]} is the best.")
    else:
        listed = ", ".join(map(str, winners[:-1])) + f" and {winners[-1]}"
        parts.append(f"Candidates {listed} are the best.")
    return " ".join(parts)
