"""The toy world's motion kind: a short clip where one shape moves left, right, up or down.

The answer is only in the motion: the shape's path is centred anywhere in the middle of the canvas,
so where it stands in any one frame is consistent with every direction; only comparing frames
tells which way it went. A question asks ``Which way does the circle move?``; a response is a main
claim (``The circle moves left.``) and, with extra claims, the shape's colour (``It is red.``),
graded into the world's classes (:data:`critic.toy.scene.SCORES`): right, partly (colour false),
wrong (direction false), off_topic (about another shape).

The oracle's side reads the clip back from pixels (:func:`read_motion`: the first and last frame
through :func:`critic.toy.scene.analyse_image`, each shape's displacement) and grades
(:func:`grade_motion`). Clips are written as GIF (no codec needed; PyAV and Pillow both read it).

>>> import random
>>> clip = sample_clip(random.Random(0))
>>> frames = draw_clip(clip, 32)
>>> len(frames), read_motion(frames) == [(clip.colour, clip.shape, clip.direction)]
(8, True)
>>> q = f"Which way does the {clip.shape} move?"
>>> grade_motion(read_motion(frames), q, f"The {clip.shape} moves {clip.direction}. It is {clip.colour}.").correctness
'right'
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from critic.records import CandidateSet, Item, PairwiseItem, PointwiseItem
from critic.toy.scene import COLOURS, SCORES, SHAPES, Scene, ToyGrade, ToyObject, analyse_image, draw_scene

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
_STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
N_FRAMES = 8
_SIZE = 0.3  # the shape's side, fraction of the canvas
_TRAVEL = 0.24  # how far it moves over the clip
_CENTRE = (0.35, 0.65)  # range of the path's centre on each axis

QUESTIONS = ["Which way does the {shape} move?", "In which direction does the {shape} move?"]
_MAIN = ["The {shape} moves {v}.", "The {shape} is moving {v}.", "Looking at the clip, the {shape} moves {v}."]
_EXTRA = ["It is {v}.", "Its colour is {v}.", "The {shape} is {v}."]


@dataclass(frozen=True)
class MotionClip:
    """One moving shape: its path's centre ``(x, y)`` as fractions of the canvas, and its direction."""

    colour: str
    shape: str
    direction: str
    x: float
    y: float

    def position(self, t: float) -> tuple[float, float]:
        """The shape's centre at time ``t`` in [0, 1]."""
        dx, dy = _STEP[self.direction]
        return self.x + dx * _TRAVEL * (t - 0.5), self.y + dy * _TRAVEL * (t - 0.5)

    def describe(self) -> str:
        return f"The clip shows {'an' if self.colour[0] in 'aeiou' else 'a'} {self.colour} {self.shape} moving {self.direction}."

    def to_json(self) -> dict[str, object]:
        return {"colour": self.colour, "shape": self.shape, "direction": self.direction,
                "x": round(self.x, 3), "y": round(self.y, 3)}


def sample_clip(rng: random.Random) -> MotionClip:
    """A clip with a uniform colour, shape, direction and path centre."""
    return MotionClip(rng.choice(COLOURS), rng.choice(SHAPES), rng.choice(DIRECTIONS),
                      rng.uniform(*_CENTRE), rng.uniform(*_CENTRE))


def draw_clip(clip: MotionClip, size: int = 32, n_frames: int = N_FRAMES) -> list[Image.Image]:
    """The clip's frames, ``size`` x ``size`` RGB each."""
    out = []
    for k in range(n_frames):
        x, y = clip.position(k / max(1, n_frames - 1))
        out.append(draw_scene(Scene((ToyObject(clip.colour, clip.shape, x, y, _SIZE),)), size))
    return out


def save_gif(frames: Sequence[Image.Image], path, frame_ms: int = 125) -> None:
    """Write ``frames`` as a looping GIF (palette colours are the toy palette's, so nothing is lost)."""
    frames[0].save(path, format="GIF", save_all=True, append_images=list(frames[1:]), duration=frame_ms, loop=0,
                   optimize=False, disposal=1)


def read_motion(frames: Sequence[Image.Image]) -> list[tuple[str, str, str]]:
    """``(colour, shape, direction)`` of every shape found in both the first and the last frame."""
    if len(frames) < 2:
        return []
    first, last = analyse_image(frames[0]), analyse_image(frames[-1])
    out = []
    for a in first.objects:
        b = next((o for o in last.objects if (o.colour, o.shape) == (a.colour, a.shape)), None)
        if b is None:
            continue
        dx, dy = b.x - a.x, b.y - a.y
        if max(abs(dx), abs(dy)) < 0.02:
            direction = "still"
        elif abs(dx) >= abs(dy):
            direction = "right" if dx > 0 else "left"
        else:
            direction = "down" if dy > 0 else "up"
        out.append((a.colour, a.shape, direction))
    return out


def _words(text: str) -> list[str]:
    return [w[:-1] if w.endswith("s") and w[:-1] in SHAPES else w for w in re.findall(r"[a-z]+", text.lower())]


def parse_motion_question(text: str) -> str:
    """The shape a motion question asks about; ``ValueError`` for any other question."""
    w = _words(text)
    shape = next((x for x in w if x in SHAPES), None)
    if shape is None or not ({"move", "moving", "moves"} & set(w)):
        raise ValueError(f"not a toy motion question: {text!r}")
    return shape


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if s.strip()]


def grade_motion(seen: Sequence[tuple[str, str, str]], question: str, response: str) -> ToyGrade:
    """Grade one response to a motion question against what the clip shows (see the module docstring)."""
    shape = parse_motion_question(question)
    match = [s for s in seen if s[1] == shape]
    colour, truth = (match[0][0], match[0][2]) if len(match) == 1 else (None, "none")
    sents = _sentences(response) or [""]
    w = _words(sents[0])
    named = next((x for x in w if x in SHAPES), shape)
    value = next((x for x in w if x in DIRECTIONS), None)
    if named != shape or value is None:
        why = f"talks about the {named} instead of the {shape}" if named != shape else "does not give a direction"
        return ToyGrade("off_topic", SCORES["off_topic"], truth, value, None, None,
                        f"The response {why}, so it does not answer the question.")
    main_ok = value == truth
    checks = [(c, c == colour) for s in sents[1:] for c in [next((x for x in _words(s) if x in COLOURS), None)]
              if c is not None]
    extra_ok = all(ok for _, ok in checks) if checks else None
    if main_ok:
        cls = "right" if extra_ok is not False else "partly"
        score = SCORES[cls]
    else:
        cls, score = "wrong", SCORES["wrong"] if extra_ok else SCORES["wrong"] - 1
    text = f"The response says the {shape} moves {value}, which is " + (
        "correct" if main_ok else f"wrong: the {shape} moves {truth}" if truth != "none" else "wrong: no such shape moves")
    for claimed, ok in checks:
        text += f"; it also says the {shape} is {claimed}, which is {'true' if ok else f'false: it is {colour}'}"
    verdict = {"right": "Everything it says matches the clip.",
               "partly": "The direction is right, but it also says something the clip contradicts.",
               "wrong": "The direction is wrong."}[cls]
    return ToyGrade(cls, score, truth, value, main_ok, extra_ok, f"{text}. {verdict}")


def motion_rationale(seen: Sequence[tuple[str, str, str]], question: str, grades: Sequence[ToyGrade], task: str) -> str:
    """The gold rationale: what the clip shows, what each response says, the verdict."""
    shape = parse_motion_question(question)
    lead = " ".join(f"The clip shows a {c} {s} moving {d}." for c, s, d in seen) or "The clip shows no moving shape."
    lead += f" So the {shape} moves {grades[0].truth}." if grades[0].truth != "none" else ""
    if task == "pointwise":
        return f"{lead} {grades[0].rationale}"
    names = ["Response A", "Response B"]
    parts = [lead] + [g.rationale.replace("The response", name, 1) for name, g in zip(names, grades)]
    best = max(g.score for g in grades)
    if grades[0].score == grades[1].score:
        parts.append(f"Both responses are equally {'good' if best >= SCORES['partly'] else 'poor'}.")
    else:
        parts.append(f"{names[0] if grades[0].score > grades[1].score else names[1]} is better.")
    return " ".join(parts)


def oracle_motion(question: str, responses: Sequence[str], frames: Sequence[Image.Image],
                  task: str) -> tuple[list[ToyGrade], str] | None:
    """The oracle's grades and rationale for a motion question shown as frames, or None when it is none."""
    try:
        parse_motion_question(question)
    except ValueError:
        return None
    seen = read_motion(frames)
    grades = [grade_motion(seen, question, r) for r in responses]
    return grades, motion_rationale(seen, question, grades, task)


def write_response(rng: random.Random, clip: MotionClip, mix: tuple[float, float, float],
                   extra_claims: bool) -> tuple[str, str, int]:
    """Draw a class with probabilities ``mix`` (off-topic, main true, extra true) and write it: (text, class, score)."""
    p_off, p_main, p_extra = mix
    pick = _MAIN[rng.randrange(len(_MAIN))]
    if rng.random() < p_off:
        other = rng.choice([s for s in SHAPES if s != clip.shape])
        text = pick.format(shape=other, v=rng.choice(DIRECTIONS))
        if extra_claims:
            text += " " + rng.choice(_EXTRA).format(shape=other, v=rng.choice(COLOURS))
        return text, "off_topic", SCORES["off_topic"]
    main_ok = rng.random() < p_main
    wrong_dir = rng.choice([d for d in DIRECTIONS if d != clip.direction])
    text = pick.format(shape=clip.shape, v=clip.direction if main_ok else wrong_dir)
    extra_ok = None
    if extra_claims:
        extra_ok = rng.random() < p_extra
        colour = clip.colour if extra_ok else rng.choice([c for c in COLOURS if c != clip.colour])
        text += " " + rng.choice(_EXTRA).format(shape=clip.shape, v=colour)
    if main_ok:
        cls = "right" if extra_ok is not False else "partly"
        return text, cls, SCORES[cls]
    return text, "wrong", SCORES["wrong"] if extra_ok else SCORES["wrong"] - 1


def motion_items(rng: random.Random, *, seed: int, qi: int, task: str, count: int, mix: tuple[float, float, float],
                 keep_tie: float, extra_claims: bool, k: int, image_size: int) -> list[tuple[Item, list[Image.Image]]]:
    """``count`` items about one clip (question ``qi``), each with the clip's frames; ``item.video`` names
    ``videos/NNNNN.gif`` (:func:`critic.toy.world.make_toy` writes it there)."""
    clip = sample_clip(rng)
    frames = draw_clip(clip, image_size)
    question = rng.choice(QUESTIONS).format(shape=clip.shape)
    seen = [(clip.colour, clip.shape, clip.direction)]
    base = {"group": "motion", "question_id": f"toy{seed}-q{qi:05d}", "video": f"videos/{qi:05d}.gif",
            "question": question}
    meta = {"kind": "motion", "truth": clip.direction, "clip": clip.to_json()}
    out: list[tuple[Item, list[Image.Image]]] = []
    for j in range(count):
        n_resp = {"pointwise": 1, "pairwise": 2}.get(task, k)
        while True:
            resp = [write_response(rng, clip, mix, extra_claims) for _ in range(n_resp)]
            if task != "pairwise":
                break
            tie = resp[0][2] == resp[1][2]
            if resp[0][0] != resp[1][0] and (not tie or rng.random() < keep_tie):
                break
        grades = [grade_motion(seen, question, r[0]) for r in resp]
        for (text, cls, score), g in zip(resp, grades):
            if (g.correctness, g.score) != (cls, score):
                raise RuntimeError(f"toy generator bug: {text!r} meant {cls}/{score}, graded {g.correctness}/{g.score}")
        full = {**meta, "correctness": [r[1] for r in resp]}
        if task == "pointwise":
            item: Item = PointwiseItem(id=f"toy{seed}-{qi:05d}", response=resp[0][0], score=resp[0][2], **base,
                                       meta={**full, "rationale": motion_rationale(seen, question, grades, task)})
        elif task == "pairwise":
            label = "tie" if resp[0][2] == resp[1][2] else ("A" if resp[0][2] > resp[1][2] else "B")
            item = PairwiseItem(id=f"toy{seed}-{qi:05d}-{j}", response_a=resp[0][0], response_b=resp[1][0],
                                label=label, **base, meta={**full, "scores": [r[2] for r in resp],
                                                           "rationale": motion_rationale(seen, question, grades, task)})
        else:
            item = CandidateSet(id=f"toy{seed}-{qi:05d}", candidates=[r[0] for r in resp],
                                scores=[float(r[2]) for r in resp], **base, meta=full)
        out.append((item, frames))
    return out


__all__ = ["DIRECTIONS", "MotionClip", "N_FRAMES", "QUESTIONS", "draw_clip", "grade_motion", "motion_items", "motion_rationale", "oracle_motion",
           "parse_motion_question", "read_motion", "sample_clip", "save_gif", "write_response"]
