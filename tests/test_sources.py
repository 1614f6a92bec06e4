"""Source converters: every input format becomes items, and every bad row a problem at its file:line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from critic.data.recipe import Recipe
from critic.data.sources import SourceItem, SourceProblem, open_source
from critic.data.sources.prompt_fields import read_prompt_fields
from critic.judging.templates import list_templates
from critic.rows import JsonArrayError, iter_json_array
from critic.toy.world import generate_items

PANDALM = Path("/work/shared/data/pandalm-testset-v1.json")


def _source(tmp_path: Path, **cfg):
    recipe = Recipe.model_validate({"name": "t", "templates": {}, "sources": [cfg]})
    return list(open_source(recipe.sources[0], tmp_path / "recipe.yaml"))


def _split(events):
    return [e for e in events if isinstance(e, SourceItem)], [e for e in events if isinstance(e, SourceProblem)]


def test_prompt_fields_read_back_every_shipped_template():
    item, _ = next(generate_items(1, 3, "pointwise"))
    pair, _ = next(generate_items(1, 4, "pairwise"))
    item.reference = pair.reference = "The reference answer."
    for t in list_templates():
        it = item if t.task == "pointwise" else pair
        p = t.render_prompt(it)
        f = read_prompt_fields(f"{p.system or ''}\n{p.text}")
        assert f.task == t.task and f.question == it.question, t.name
        if t.task == "pointwise":
            assert f.response == it.response, t.name
        else:
            assert (f.response_a, f.response_b) == (it.response_a, it.response_b), t.name
        if "reference answer." in p.text:
            assert f.reference == "The reference answer.", t.name


def test_prompt_fields_bracketed_values_span_lines():
    f = read_prompt_fields("Question: [Line one.\n\nLine [two].]\nThe first response: []\n"
                           "The second response: [B\nmore]\nASSISTANT:")
    assert (f.question, f.response_a, f.response_b) == ("Line one.\n\nLine [two].", "", "B\nmore")


def test_json_array_streams_across_chunks(tmp_path):
    rows = [{"id": i, "text": "x" * (i * 7 % 50), "nested": {"a": [1, 2, i]}} for i in range(200)]
    p = tmp_path / "a.json"
    p.write_text(json.dumps(rows, indent=1))
    got = list(iter_json_array(p, chunk=64))
    assert [r for _, r in got] == rows
    lines = p.read_text().splitlines()
    assert all(lines[line - 1].strip() == "{" for line, _ in got)
    bad = tmp_path / "b.json"
    bad.write_text('[{"a": 1},\n{"a": 2,,}]')
    it = iter_json_array(bad, chunk=8)
    assert next(it) == (1, {"a": 1})
    with pytest.raises(JsonArrayError) as exc:
        next(it)
    assert exc.value.line == 2


def test_jsonl_items_report_bad_lines_in_order(tmp_path):
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    lines = [
        {"id": "p1", "images": ["a.png"], "question": "q", "response": "r", "score": 3},
        "{not json",
        {"id": "p2", "question": "q"},  # no response: missing field
        {"id": "p3", "question": "q", "response_a": "a", "response_b": "b", "label": "C"},  # invalid label
        {"id": "c1", "question": "q", "candidates": ["a", "b"]},  # candidate set
        {"id": "p4", "question": "q", "response_a": "a", "response_b": "b", "label": "B"},
    ]
    (tmp_path / "items.jsonl").write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    events = _source(tmp_path, kind="jsonl", path="items.jsonl")
    assert [(type(e).__name__, e.where.rsplit(":", 1)[1]) for e in events] == [
        ("SourceItem", "1"), ("SourceProblem", "2"), ("SourceProblem", "3"), ("SourceProblem", "4"),
        ("SourceProblem", "5"), ("SourceItem", "6")]
    reasons = [e.reason for e in events if isinstance(e, SourceProblem)]
    assert reasons == ["malformed line", "missing field", "invalid field", "not a pointwise or pairwise item"]
    assert events[0].item.images == [str(tmp_path / "a.png")]


def test_pairwise_file_csv_and_votes(tmp_path):
    with open(tmp_path / "prefs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "response 1", "response 2", "v1", "v2", "v3", "img"])
        w.writerow(["Q1", "a", "b", "1", "1", "2", "x.png"])
        w.writerow(["Q2", "a", "b", "0", "1", "2", "x.png"])
        w.writerow(["Q3", "a", "b", "2", "2", "2", ""])
    cols = {"question": "prompt", "response_a": "response 1", "response_b": "response 2",
            "label": ["v1", "v2", "v3"], "images": "img"}
    items, problems = _split(_source(tmp_path, kind="pairwise_file", path="prefs.csv", columns=cols))
    assert [i.item.label for i in items] == ["A", "B"]
    assert items[0].item.images == [str(tmp_path / "x.png")] and items[1].item.images == []
    assert [(p.reason, p.where.rsplit(":", 1)[1]) for p in problems] == [("no majority label", "3")]
    rows = [{"q": "Q", "a": "x", "b": "y", "pref": "B", "why": "y is right"}, {"q": "Q", "a": "x"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, problems = _split(_source(tmp_path, kind="pairwise_file", path="p.jsonl", columns={
        "question": "q", "response_a": "a", "response_b": "b", "label": "pref", "rationale": "why"}))
    assert items[0].item.meta == {"rationale": "y is right"} and items[0].item.id == "0"
    assert problems[0].reason == "missing field" and problems[0].where.endswith(":2")


@pytest.mark.skipif(not PANDALM.exists(), reason="PandaLM test set not present")
def test_pandalm_through_the_benchmark_loader(tmp_path):
    items, problems = _split(_source(tmp_path, kind="pandalm", path=str(PANDALM)))
    rows = json.loads(PANDALM.read_text())
    assert len(items) + len(problems) == len(rows)
    assert problems and all(p.where.startswith(f"{PANDALM}:") and p.reason == "invalid field" for p in problems)
    first = items[0].item
    assert first.label == "B" and first.question.startswith(rows[0]["instruction"]) and rows[0]["input"] in first.question
    assert len(_split(_source(tmp_path, kind="pandalm", path=str(PANDALM), limit=5))[0]) == 5


def test_vlrewardbench_layout(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "images" / "a.jpg")
    rows = [
        {"id": "r1", "query": "What is it?", "response": ["A cat.", "A dog."], "human_ranking": [0, 1],
         "image_path": "images/a.jpg", "models": ["m1", "m2"], "query_source": "povid"},
        {"id": "r2", "query": "What is it?", "response": ["A cat.", "A dog."], "human_ranking": [1, 0],
         "image_path": "images/a.jpg"},
        {"id": "r3", "query": "What is it?", "response": ["only one"], "human_ranking": [0, 1], "image_path": "images/a.jpg"},
        {"id": "r4", "query": "What?", "response": ["x", "y"], "human_ranking": [0, 1], "image_path": "images/missing.jpg"},
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, problems = _split(_source(tmp_path, kind="vlrewardbench", path="data.jsonl"))
    assert [(i.item.id, i.item.label) for i in items] == [("r1", "A"), ("r2", "B")]
    assert items[0].item.images == [str((tmp_path / "images" / "a.jpg").resolve())]
    assert sorted((p.where.rsplit(":", 1)[1], p.reason) for p in problems) == [("3", "invalid field"),
                                                                               ("4", "missing image")]


def test_jsonl_image_paths_resolve_symlinks_like_path_resolve(tmp_path):
    """The reader resolves a folder once per file, not each path; the result must stay resolve()'s."""
    from critic.jsonl import read_items

    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "images").mkdir(parents=True)
    (elsewhere / "sub").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(data / "images" / "a.png")
    (data / "linkdir").symlink_to(elsewhere / "sub", target_is_directory=True)  # a symlinked folder
    (data / "images" / "filelink.png").symlink_to("a.png")  # a symlinked file (the HF hub's layout)
    (data / "images" / "dangling.png").symlink_to("nope.png")
    rels = ["images/a.png", "./images//a.png", "linkdir/a.png", "linkdir/../sib.png", "images/filelink.png",
            "images/dangling.png", "missing/x.png", "images/a.png/x", "images/", "..", "a.png"]
    (data / "items.jsonl").write_text("".join(
        json.dumps({"id": str(i), "question": "q", "response": "r", "images": [p, p]}) + "\n"
        for i, p in enumerate(rels)))
    items, errors = read_items(data / "items.jsonl")
    assert not errors
    assert [it.images for it in items] == [[str((data.resolve() / p).resolve())] * 2 for p in rels]
    assert items[3].images[0] == str((elsewhere / "sib.png").resolve())  # "..": the symlink's parent


def _llava_rows():
    point = ("<image>\nGiven an image and a corresponding question, please serve as an unbiased and fair judge to "
             "evaluate the quality of the answer provided by a Large Multimodal Model (LMM). Score the response out "
             "of 100 and explain your reasoning with specific details. Your task is provided as follows:\n"
             "Question: [What colour is the circle?]\nThe LMM response: [The circle is red.]\nASSISTANT:\n")
    pair = ("<image>\nGiven an image and a corresponding question, please serve as an unbiased and fair judge to "
            "evaluate the quality of the answers provided by a Large Multimodal Model (LMM). Determine which answer "
            "is better and explain your reasoning with specific details. Your task is provided as follows:\n"
            "Question: [How many squares are there?]\nThe first response: [There are 2 squares.]\n"
            "The second response: [There is 1 square.]\nASSISTANT:\n")
    return [
        {"id": "c1", "image": "img/a.png", "source": "vlfeedback",
         "conversations": [{"from": "human", "value": point},
                           {"from": "gpt", "value": "The circle is indeed red.\n\nOverall score: 90"}]},
        {"id": "c2", "image": "img/a.png",
         "conversations": [{"from": "human", "value": pair},
                           {"from": "gpt", "value": "Two squares are visible. Therefore, the first response is better."}]},
        {"id": "c3", "image": "img/a.png",
         "conversations": [{"from": "human", "value": pair}, {"from": "gpt", "value": "Hard to say."}]},
        {"id": "c4", "image": "img/a.png", "conversations": [{"from": "human", "value": "Describe the image."},
                                                            {"from": "gpt", "value": "A red circle."}]},
        {"id": "c5"},
    ]


def test_llava_conversations_become_items_with_gold(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "img" / "a.png")
    (tmp_path / "critic.json").write_text(json.dumps(_llava_rows(), indent=2))
    items, problems = _split(_source(tmp_path, kind="llava", path="critic.json"))
    a, b = (i.item for i in items)
    assert (a.task, a.score, a.question, a.response) == ("pointwise", 90.0, "What colour is the circle?", "The circle is red.")
    assert a.meta == {"rationale": "The circle is indeed red.", "source": "vlfeedback"}
    assert items[0].gold_scale == (1.0, 100.0) and a.images == [str(tmp_path / "img" / "a.png")]
    assert (b.task, b.label, b.response_b) == ("pairwise", "A", "There is 1 square.")
    assert [p.reason for p in problems] == ["unparseable conversation"] * 2 + ["missing field"]
    lines = (tmp_path / "critic.json").read_text().splitlines()
    assert [lines[int(p.where.rsplit(":", 1)[1]) - 1].strip() for p in problems] == ["{"] * 3
    (tmp_path / "critic.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _llava_rows()))
    assert len(_split(_source(tmp_path, kind="llava", path="critic.jsonl"))[0]) == 2


def test_hf_disk_with_image_feature(tmp_path):
    import datasets

    pics = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    ds = datasets.Dataset.from_dict(
        {"prompt": ["Q1", "Q2"], "chosen": ["a", "b"], "rejected": ["c", "d"], "image": pics, "pref": ["A", "B"]},
        features=datasets.Features({"prompt": datasets.Value("string"), "chosen": datasets.Value("string"),
                                    "rejected": datasets.Value("string"), "image": datasets.Image(),
                                    "pref": datasets.Value("string")}))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "ds"))
    cols = {"question": "prompt", "response_a": "chosen", "response_b": "rejected", "images": "image", "label": "pref"}
    items, problems = _split(_source(tmp_path, kind="hf_disk", path="ds", columns=cols))
    assert not problems and [i.item.label for i in items] == ["A", "B"]
    assert items[1].pil_images[0].convert("RGB").getpixel((0, 0)) == (0, 0, 255)
    items, problems = _split(_source(tmp_path, kind="hf_disk", path="ds", split="test", columns=cols))
    assert not items and "no split 'test'" in problems[0].detail
