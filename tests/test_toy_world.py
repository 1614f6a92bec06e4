"""Toy world: determinism, read-back, pixel analysis, grading agreement, balance, and no text-only leak."""

from __future__ import annotations

import hashlib
import io
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import sparse
from scipy.optimize import minimize

from critic.jsonl import read_items
from critic.records import CandidateSet, PairwiseItem, PointwiseItem
from critic.toy.scene import (
    CELLS,
    COLOURS,
    SHAPES,
    Scene,
    ToyObject,
    analyse_image,
    draw_scene,
    place_objects,
)
from critic.toy.world import (
    DEFAULT_KINDS,
    SCORES,
    answer_question,
    generate_items,
    grade_response,
    make_toy,
    parse_question,
)

# ------------------------------------------------------------------------------------------ files


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("task", ["pointwise", "pairwise", "candidates"])
def test_make_toy_is_byte_deterministic(tmp_path: Path, task: str) -> None:
    a = make_toy(tmp_path / "a", n=13, seed=7, task=task)
    b = make_toy(tmp_path / "b", n=13, seed=7, task=task)
    make_toy(tmp_path / "c", n=13, seed=8, task=task)
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert da == db and a == b
    assert da["items.jsonl"] != dc["items.jsonl"]
    assert len(da) == 1 + a.n_images and a.n_items == 13
    assert a.n_images == (7 if task == "pairwise" else 13)  # two pairwise items per question


@pytest.mark.parametrize("task,cls", [("pointwise", PointwiseItem), ("pairwise", PairwiseItem),
                                      ("candidates", CandidateSet)])
def test_items_read_back_with_images(tmp_path: Path, task: str, cls: type) -> None:
    stats = make_toy(tmp_path, n=20, seed=1, task=task, image_size=64, k=4)
    raw = (tmp_path / "items.jsonl").read_text().splitlines()
    assert all('"images":["images/' in line for line in raw)  # written relative to the folder
    items, errors = read_items(tmp_path / "items.jsonl")
    assert errors == [] and len(items) == 20 == stats.n_items
    for item in items:
        assert isinstance(item, cls)
        assert item.group in DEFAULT_KINDS and item.meta and {"rationale", "truth", "correctness", "kind"} <= set(item.meta)
        path = Path(item.images[0])
        assert path.is_file() and Image.open(path).size == (64, 64)
        if isinstance(item, CandidateSet):
            assert len(item.candidates) == 4 == len(item.scores or [])
    if task == "pairwise":
        by_q = Counter(i.question_id for i in items)
        assert set(by_q.values()) == {2}
        assert all(len({i.question for i in items if i.question_id == q}) == 1 for q in by_q)


def test_other_image_sizes_draw_and_analyse() -> None:
    for size in (128, 336):
        for item, (img,) in generate_items(8, 3, "pointwise", image_size=size):
            assert img.size == (size, size)
            assert analyse_image(img).signature() == _meta_scene(item).signature()


# ------------------------------------------------------------------------------------------ analysis


def _meta_scene(item) -> Scene:
    return Scene(tuple(ToyObject(**o) for o in item.meta["scene"]))


def _jpeg(img: Image.Image, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _random_scene(rng: random.Random) -> Scene:
    cells = rng.sample(CELLS, rng.randint(1, len(CELLS)))
    return place_objects(rng, [(rng.choice(COLOURS), rng.choice(SHAPES), c) for c in cells])


VARIANTS = {"png": lambda im: im, "jpeg85": _jpeg, "resize2x": lambda im: im.resize((im.width * 2, im.height * 2))}


@pytest.mark.parametrize("size", [32, 64])
def test_analyse_image_recovers_scenes(size: int) -> None:
    """300 scenes (150 from the generator, 150 with any colours/shapes in any cells) in three encodings."""
    rng = random.Random(size)
    scenes = [_meta_scene(item) for item, _ in generate_items(150, size, "pointwise", image_size=size)]
    scenes += [_random_scene(rng) for _ in range(150)]
    for name, variant in VARIANTS.items():
        count_ok = 0
        for scene in scenes:
            got = analyse_image(variant(draw_scene(scene, size)))
            if len(got.objects) == len(scene.objects):
                count_ok += 1
                assert got.signature() == scene.signature(), (name, scene, got)  # colour, shape, place: 100 %
        assert count_ok / len(scenes) >= 0.99, name


def test_answer_question_on_a_hand_made_scene() -> None:
    scene = Scene((ToyObject("red", "circle", 0.25, 0.25, 0.3), ToyObject("blue", "square", 0.75, 0.25, 0.3),
                   ToyObject("red", "triangle", 0.25, 0.75, 0.3)))
    assert answer_question(scene, "What colour is the square?") == "blue"
    assert answer_question(scene, "Which shape is the blue object?") == "square"
    assert answer_question(scene, "How many red objects are there?") == "2"
    assert answer_question(scene, "How many circles are in the image?") == "1"
    assert answer_question(scene, "Is the blue object to the left or to the right of the red object?") == "none"
    scene2 = Scene(scene.objects[:2])
    assert answer_question(scene2, "Is the blue object left or right of the red one?") == "right"
    assert parse_question("How many green objects are there?").kind == "count"
    with pytest.raises(ValueError):
        parse_question("Describe the image.")
    g = grade_response(scene2, "What colour is the square?", "Looking at the image, the triangle is blue.")
    assert (g.correctness, g.score) == ("off_topic", 1)
    g = grade_response(scene2, "What colour is the square?", "The square is blue. It is on the right side of the image.")
    assert (g.correctness, g.score, g.truth) == ("right", 10, "blue")


# ------------------------------------------------------------------------------------------ gold


@pytest.mark.parametrize("task", ["pointwise", "pairwise", "candidates"])
def test_grade_response_from_pixels_agrees_with_generator(task: str) -> None:
    """500 items: re-read the scene from the (JPEG re-encoded) image and re-grade every response."""
    for n, (item, (img,)) in enumerate(generate_items(500, 11, task)):
        scene = analyse_image(_jpeg(img) if n % 2 else img)
        assert answer_question(scene, item.question) == item.meta["truth"]
        responses = ([item.response] if isinstance(item, PointwiseItem) else
                     [item.response_a, item.response_b] if isinstance(item, PairwiseItem) else item.candidates)
        grades = [grade_response(scene, item.question, r) for r in responses]
        assert [g.correctness for g in grades] == item.meta["correctness"]
        scores = [g.score for g in grades]
        if isinstance(item, PointwiseItem):
            assert scores == [item.score]
        elif isinstance(item, PairwiseItem):
            assert scores == item.meta["scores"]
            assert item.label == ("tie" if scores[0] == scores[1] else "A" if scores[0] > scores[1] else "B")
            assert item.response_a != item.response_b
        else:
            assert scores == item.scores


def test_label_balance_and_score_spread() -> None:
    labels = Counter(item.label for item, _ in generate_items(2000, 5, "pairwise"))
    assert 0.45 <= labels["A"] / (labels["A"] + labels["B"]) <= 0.55, labels
    assert 0.10 <= labels["tie"] / 2000 <= 0.30, labels
    items = [item for item, _ in generate_items(2000, 5, "pointwise")]
    scores = Counter(int(i.score) for i in items)
    assert set(scores) == {1, 2, 3, 6, 10}
    assert min(scores.values()) >= 0.05 * 2000 and scores[1] <= 0.10 * 2000, scores  # off-topic <= 10 %
    assert Counter(i.group for i in items) == {k: 500 for k in DEFAULT_KINDS}
    cand_scores = Counter(s for item, _ in generate_items(500, 5, "candidates") for s in item.scores)
    assert {1.0, 10.0} <= set(cand_scores)
    # the one-claim variant (what a tiny model learns first) still balances and ties
    easy = Counter(item.label for item, _ in generate_items(1000, 5, "pairwise", kinds=["colour"], extra_claims=False))
    assert 0.45 <= easy["A"] / (easy["A"] + easy["B"]) <= 0.55 and 0.10 <= easy["tie"] / 1000 <= 0.30, easy


# ------------------------------------------------------------------------------------------ text only
# A text-only judge (L2 logistic regression and multinomial naive Bayes on word unigrams + bigrams)
# is fit on 2,000 generated items and scored on 1,000 others. It must stay within
# CHANCE + 0.06, chance being the majority-class rate of the test labels (and 0.5 for balanced
# accuracy). The control gives it the truth (as truth-word x response-word features) and it must
# then clear chance by a wide margin, so the test can fail.

MARGIN = 0.06


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _features(text: str, prefix: str, truth: str | None) -> list[str]:
    w = _words(text)
    out = [prefix + x for x in w] + [f"{prefix}{a}_{b}" for a, b in zip(w, w[1:])]
    if truth is not None:
        out += [f"t:{t}&{prefix}{x}" for t in _words(truth) for x in set(w)]
    return out


def _dataset(task: str, n: int, seed: int, with_truth: bool) -> tuple[list[list[str]], np.ndarray]:
    docs, ys = [], []
    for item, _ in generate_items(n, seed, task):
        truth = item.meta["truth"] if with_truth else None
        doc = _features(item.question, "q:", None)
        if isinstance(item, PointwiseItem):
            docs.append(doc + _features(item.response, "r:", truth))
            ys.append(item.meta["correctness"][0] == "right")
        elif item.label != "tie":
            docs.append(doc + _features(item.response_a, "a:", truth) + _features(item.response_b, "b:", truth))
            ys.append(item.label == "A")
    return docs, np.array(ys, dtype=int)


def _matrix(docs: list[list[str]], vocab: dict[str, int]) -> sparse.csr_matrix:
    rows, cols = [], []
    for i, doc in enumerate(docs):
        idx = sorted({vocab[f] for f in doc if f in vocab})
        rows += [i] * len(idx)
        cols += idx
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(vocab)))


def _logistic(x: sparse.csr_matrix, y: np.ndarray, x_test: sparse.csr_matrix, lam: float = 1e-3) -> np.ndarray:
    s = 2.0 * y - 1

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = s * (x @ w[:-1] + w[-1])
        g = -s / (1 + np.exp(z)) / len(y)
        grad = np.append(x.T @ g + 2 * lam * w[:-1], g.sum())
        return float(np.logaddexp(0, -z).mean() + lam * w[:-1] @ w[:-1]), grad

    w = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 200}).x
    return (x_test @ w[:-1] + w[-1] > 0).astype(int)


def _naive_bayes(docs: list[list[str]], y: np.ndarray, vocab: dict[str, int], test: list[list[str]]) -> np.ndarray:
    counts = np.ones((2, len(vocab)))
    for doc, label in zip(docs, y):
        np.add.at(counts[label], [vocab[f] for f in doc], 1)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    prior = np.log(np.bincount(y, minlength=2) / len(y))
    return np.array([int(np.argmax(prior + log_p[:, [vocab[f] for f in d if f in vocab]].sum(axis=1))) for d in test])


def _text_only(task: str, with_truth: bool, seed: int = 0) -> dict[str, float]:
    train, y = _dataset(task, 2000, 1000 + seed, with_truth)
    test, y_test = _dataset(task, 1000, 2000 + seed, with_truth)
    vocab = {f: i for i, f in enumerate(sorted({f for d in train for f in d}))}
    out = {"chance": max(y_test.mean(), 1 - y_test.mean())}
    preds = {"logistic": _logistic(_matrix(train, vocab), y, _matrix(test, vocab))}
    if not with_truth:
        preds["naive_bayes"] = _naive_bayes(train, y, vocab, test)
    for name, p in preds.items():
        out[name] = float((p == y_test).mean())
        out[name + "_balanced"] = float(np.mean([(p[y_test == c] == c).mean() for c in (0, 1)]))
    return out


@pytest.mark.parametrize("task", ["pointwise", "pairwise"])
def test_text_only_judge_stays_at_chance(task: str) -> None:
    r = _text_only(task, with_truth=False)
    for name in ("logistic", "naive_bayes"):
        assert r[name] <= r["chance"] + MARGIN, r
        assert r[name + "_balanced"] <= 0.5 + MARGIN, r


@pytest.mark.parametrize("task", ["pointwise", "pairwise"])
def test_text_only_judge_control_sees_the_truth(task: str) -> None:
    r = _text_only(task, with_truth=True)
    assert r["logistic"] >= r["chance"] + MARGIN, r
    assert r["logistic_balanced"] >= 0.5 + 2 * MARGIN, r


def test_candidates_majority_vote_is_at_chance() -> None:
    """Self-consistency: the most common main answer in a candidate set is the truth only half the time."""
    hits = 0
    sets = [item for item, _ in generate_items(1000, 3, "candidates")]
    for item in sets:
        kind = parse_question(item.question).kind
        vocab = {"colour": COLOURS, "shape": SHAPES, "count": ("1", "2", "3"), "position": ("left", "right")}[kind]
        firsts = [next((w.rstrip("s") for w in _words(c.split(".")[0]) if w.rstrip("s") in vocab), None)
                  for c in item.candidates]
        votes = Counter(v for v in firsts if v)
        hits += bool(votes) and votes.most_common(1)[0][0] == item.meta["truth"]
    assert abs(hits / len(sets) - 0.5) <= MARGIN, hits


def test_scores_are_the_documented_scale() -> None:
    assert SCORES == {"right": 10, "partly": 6, "wrong": 3, "off_topic": 1}


def test_off_topic_and_tie_rates_shape_a_training_mix() -> None:
    """``off_topic_rate`` / ``tie_rate`` change the mix; ``None`` keeps the default items byte for byte."""
    def dump(**kw):
        return [it.model_dump_json() for it, _ in generate_items(200, 7, "pairwise", kinds=["colour"],
                                                                   extra_claims=False, **kw)]

    assert dump() == dump(off_topic_rate=None, tie_rate=None)
    items = [PairwiseItem.model_validate_json(s) for s in dump(off_topic_rate=0.2, tie_rate=0.1)]
    off = sum("off_topic" in it.meta["correctness"] for it in items) / len(items)
    ties = sum(it.label == "tie" for it in items) / len(items)
    assert 0.3 <= off <= 0.6 and ties <= 0.2, (off, ties)  # default: about 6 % off-topic, 20 % ties
    with pytest.raises(ValueError, match="off_topic_rate"):
        next(generate_items(1, 0, "pairwise", off_topic_rate=1.5))


def test_two_object_rate_sets_the_share_of_two_object_colour_scenes() -> None:
    """``two_object_rate`` moves the one / two-object split of colour questions; ``None`` keeps the bytes."""
    def dump(**kw):
        return [it.model_dump_json() for it, _ in generate_items(300, 7, "pointwise", kinds=["colour"],
                                                                   extra_claims=False, **kw)]

    assert dump() == dump(two_object_rate=None)
    for rate, lo, hi in ((0.0, 0.0, 0.0), (0.75, 0.68, 0.82), (1.0, 1.0, 1.0)):
        items = [PointwiseItem.model_validate_json(s) for s in dump(two_object_rate=rate)]
        share = sum(len(it.meta["scene"]) == 2 for it in items) / len(items)
        assert lo <= share <= hi, (rate, share)
    with pytest.raises(ValueError, match="two_object_rate must be in"):
        next(generate_items(1, 0, "pointwise", two_object_rate=1.5))
