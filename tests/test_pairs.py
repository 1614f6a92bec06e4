"""MMPR pairs: extractors, correctness pairs on toy questions, Dropout NTP on a tiny policy, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from critic.pairs.extract import ExtractorSpec, make_extractor

ROOT = Path(__file__).resolve().parents[1]

# (extractor spec, answer text, expected parse)
EXTRACT_TABLE = [
    ({"kind": "choice"}, "(B) a dog", "B"),
    ({"kind": "choice"}, "The answer is C.", "C"),
    ({"kind": "choice"}, "d", "D"),
    ({"kind": "choice"}, "Answer: (a)", "A"),
    ({"kind": "choice"}, "I am not sure", None),
    ({"kind": "choice", "choices": "ABCD"}, "E", None),
    ({"kind": "number"}, "There are 3 apples.", "3.0"),
    ({"kind": "number"}, "about 1,250.5 m", "1250.5"),
    ({"kind": "number"}, "first 2, finally -4", "-4.0"),
    ({"kind": "number"}, "none", None),
    ({"kind": "exact"}, "  The Eiffel Tower! ", "eiffel tower"),
    ({"kind": "exact"}, "", None),
    ({"kind": "regex", "pattern": r"(?i)answer:\s*(\w+)"}, "Answer: Blue", "blue"),
    ({"kind": "regex", "pattern": r"(?i)answer:\s*(\w+)"}, "blue", None),
    ({"kind": "regex", "pattern": r"\d+"}, "1 and 22", "22"),
    ({"kind": "boxed"}, r"so \boxed{42}.", "42"),
    ({"kind": "boxed"}, r"\boxed{\frac{1}{2}}", "frac 1 2"),
    ({"kind": "boxed"}, r"\boxed{unclosed", None),
    ({"kind": "boxed"}, "42", None),
]


@pytest.mark.parametrize(("spec", "text", "expected"), EXTRACT_TABLE)
def test_extractors_parse_the_table(spec, text, expected):
    assert make_extractor(spec).parse(text) == expected


@pytest.mark.parametrize(("spec", "text", "gold", "ok"), [
    ({"kind": "number", "tolerance": 0.05}, "3.04", "3", True),
    ({"kind": "number", "tolerance": 0.05}, "3.06", "3", False),
    ({"kind": "number", "rel_tolerance": 0.01}, "1005", "1000", True),
    ({"kind": "choice"}, "(B)", "B", True),
    ({"kind": "choice"}, "(B)", "(C) cat", False),
    ({"kind": "exact"}, "the Red", "red", True),
    ({"kind": "boxed"}, r"\boxed{Paris}", "paris", True),
])
def test_extractors_match_gold(spec, text, gold, ok):
    assert make_extractor(spec).matches_text(text, gold) is ok


def test_a_regex_extractor_needs_a_pattern():
    with pytest.raises(ValueError, match="pattern"):
        make_extractor(ExtractorSpec(kind="regex"))


# ------------------------------------------------------------------------------ correctness on toy questions

COLOUR_RE = {"kind": "regex", "pattern": r"(?i)\b(red|green|blue|yellow|purple|orange)\b"}


def toy_prompts(folder: Path, n: int = 6, seed: int = 3) -> Path:
    from critic.toy.world import make_toy

    make_toy(folder, n=n, seed=seed, task="pointwise", kinds=("colour",))
    return folder / "items.jsonl"


class FixedPolicy:
    """Answers every toy question with the same fixed answers: right, wrong, unparseable."""

    def __init__(self, truths: dict[str, str]):
        self.truths = truths
        self.calls = []

    def answers(self, question: str) -> list[str]:
        from critic.toy.world import parse_question

        shape = parse_question(question).shape
        truth = self.truths[question]
        wrong = [c for c in ("red", "green", "blue", "yellow") if c != truth][:2]
        return [f"The {shape} is {truth}.", f"It is {truth}", f"The {shape} is {wrong[0]}.", f"The {shape} is {wrong[1]}.",
                "I cannot tell.", "", f"The {shape} is {truth}."]  # a duplicate right answer

    def generate(self, requests, sampling, n=1):
        self.calls.append((requests, sampling, n))
        return [self.answers(r.question) for r in requests]


def test_correctness_pairs_on_toy_questions(tmp_path):
    from critic.media import load_image
    from critic.pairs.build import build_pairs
    from critic.pairs.recipe import load_pairs_recipe_dict
    from critic.pairs.rows import read_source_prompts
    from critic.toy.world import analyse_image, grade_response

    items = toy_prompts(tmp_path / "toy")
    prompts, _ = read_source_prompts(items)
    truths = {p.question: p.model_extra["meta"]["truth"] for p in prompts}
    recipe = load_pairs_recipe_dict({"sources": [{"name": "toy", "path": str(items), "method": "correctness",
                                                  "answer_field": "meta.truth", "extractor": COLOUR_RE}],
                                     "policy": {"base_url": ["http://user:sk-secret@gpu1:8000/v1"], "model": "p"}})
    policy = FixedPolicy(truths)
    stats = build_pairs(recipe, tmp_path / "out", policy=policy, log=lambda *_: None)
    saved = (tmp_path / "out" / "recipe.json").read_text()
    assert "sk-secret" not in saved and "http://***@gpu1:8000/v1" in saved  # the recipe is kept, its key is not
    assert policy.calls[0][2] == 32 and policy.calls[0][1].top_k == 50 and policy.calls[0][1].temperature == 0.7
    rows = [json.loads(x) for x in (tmp_path / "out" / "pairs.jsonl").open()]
    by_q = {p.id: p for p in prompts}
    assert {r["pair_type"] for r in rows} == {"correctness", "format"}
    for r in rows:
        p = by_q[r["key"]]
        scene = analyse_image(load_image(p.images[0]))  # the oracle reads the pixels
        chosen, rejected = r["chosen"][0]["content"][0]["text"], r["rejected"][0]["content"][0]["text"]
        assert r["method"] == "correctness" and r["source"] == "toy" and r["gold"] == p.model_extra["meta"]["truth"]
        assert r["chosen_parsed"] == r["gold"]  # every chosen is right
        if chosen.startswith("The"):
            assert grade_response(scene, p.question, chosen).correctness == "right"
        if r["pair_type"] == "correctness":
            assert r["rejected_parsed"] not in (None, r["gold"])  # every rejected wrong
        else:
            assert r["rejected_parsed"] is None and rejected in ("I cannot tell.", "")
    # the format-negative set holds exactly the unparseable answers
    for d in map(json.loads, (tmp_path / "out" / "sources" / "toy" / "done.jsonl").open()):
        unparseable = [a for a, x in zip(d["answers"], d["parsed"]) if x is None]
        assert unparseable == ["I cannot tell.", ""] and d["format_negative"] == 2
        assert (d["positive"], d["negative"]) == (3, 2)
        # 2 distinct right texts x 2 wrong = 4 correctness pairs; x 2 unparseable = 4 format pairs
        assert d["pairs"] == 8
    src = stats["sources"][0]
    assert src["pairs"] == 8 * len(prompts) and src["pair_types"] == {"correctness": 4 * len(prompts),
                                                                      "format": 4 * len(prompts)}
    # resumable: a rerun samples nothing and keeps the rows
    again = FixedPolicy(truths)
    build_pairs(recipe, tmp_path / "out", policy=again, log=lambda *_: None)
    assert again.calls == [] and len((tmp_path / "out" / "pairs.jsonl").read_text().splitlines()) == len(rows)


def test_correctness_caps_pairs_per_question_and_says_why_none():
    from critic.pairs.correctness import correctness_pairs
    from critic.pairs.rows import SourcePrompt

    e = make_extractor({"kind": "number"})
    p = SourcePrompt(id="q", question="How many?")
    answers = [f"{i} things" for i in range(10)]  # "3 things" right, 9 wrong, all distinct
    rows, split, reason = correctness_pairs(p, answers * 1, "3", e, source="s", num_pairs_per_key=4)
    assert len(split.positive) == 1 and len(rows) == 4 and reason is None
    rows, _, reason = correctness_pairs(p, ["5", "6"], "3", e, source="s")
    assert rows == [] and reason == "no answer matches the gold"
    rows, _, reason = correctness_pairs(p, ["3", "3.0"], "3", e, source="s")
    assert rows == [] and reason == "every answer matches the gold"


# ------------------------------------------------------------------------------ Dropout NTP on a tiny policy

def test_dropout_ntp_continues_the_prefix_without_the_image(tiny_model_dir, tmp_path, one_thread):
    from critic.pairs.dropout_ntp import dropout_ntp_pairs
    from critic.pairs.policy import LocalPolicy, PolicyRequest, PolicySampling
    from critic.pairs.rows import read_source_prompts

    items = toy_prompts(tmp_path / "toy", n=4)
    prompts, _ = read_source_prompts(items)
    policy = LocalPolicy(tiny_model_dir("llava"), batch_size=8, dtype="float32")
    sampling = PolicySampling(max_new_tokens=12, seed=1)
    # with the image, the input ids carry image tokens (the check below would catch a leak)
    policy.generate([PolicyRequest(prompts[0].question, list(prompts[0].images))], sampling)
    assert policy.image_token_id in policy.last_input_ids[0]
    rows, reasons = dropout_ntp_pairs(policy, prompts, sampling, source="open", start_ratio=0.5)
    assert len(rows) + len(reasons) == len(prompts) and rows, reasons
    # the last generate call was the blind continuation: no image token in any input
    assert len(policy.last_input_ids) == len(rows) + sum(r == "blind continuation equals the answer"
                                                         for r in reasons.values())
    assert all(policy.image_token_id not in ids for ids in policy.last_input_ids)
    tok = policy.tokenizer
    for r in rows:
        chosen, rejected = r["chosen"][0]["content"][0]["text"], r["rejected"][0]["content"][0]["text"]
        words = chosen.split()
        assert r["prefix"] == " ".join(words[: int(len(words) * 0.5)])
        assert rejected.startswith(r["prefix"]) and rejected != chosen
        assert r["method"] == "dropout_ntp" and r["images"]  # the row itself keeps the image
    texts = [tok.decode(ids) for ids in policy.last_input_ids]
    assert all(any(t.rstrip().endswith(r["prefix"].split()[-1]) for t in texts) for r in rows)


def test_server_continuation_request_has_no_image():
    from critic.pairs.policy import PolicyRequest, PolicySampling, server_body

    body = server_body(PolicyRequest("Colour?", [], prefix="The circle"), PolicySampling(), "m", 1)
    parts = [c for m in body["messages"] if isinstance(m["content"], list) for c in m["content"]]
    assert all(c["type"] != "image_url" for c in parts)
    assert body["messages"][-1] == {"role": "assistant", "content": "The circle"}
    assert body["extra_body"]["continue_final_message"] is True
