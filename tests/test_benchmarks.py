"""Benchmark loaders on fixtures in each benchmark's own layout, and `critic eval-bench` end to end.

The end-to-end tests judge through the OpenAI backend against the loopback chat server, whose
judge prefers (or scores high) the response marked ``[ok]`` in the synthetic fixtures.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from critic.commands.main import main
from critic.evaluation.benchmarks import BenchmarkError, list_specs, load_benchmark, load_spec
from critic.jsonl import read_items
from critic.toy.chat_server import ChatServer

FIXTURES = Path(__file__).parent / "fixtures"


def bench_dir(tmp_path: Path, name: str, image_keys=("image_path", "image")) -> Path:
    """Copy a fixture folder and draw every image its rows name (except the ones called missing)."""
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    for f in dst.glob("*.jsonl"):
        for line in f.read_text().splitlines():
            row = json.loads(line)
            for key in image_keys:
                rel = row.get(key)
                if isinstance(rel, str) and "missing" not in rel:
                    p = dst / rel
                    p.parent.mkdir(parents=True, exist_ok=True)
                    Image.new("RGB", (16, 16), (200, 30, 30)).save(p)
    return dst


def load(name: str, data: Path, **kw):
    return load_benchmark(load_spec(name), data, **kw)


def test_every_shipped_definition_loads_and_names_a_loader():
    specs = list_specs()
    assert {s.name for s in specs} >= {"vl_rewardbench", "mllm_judge_pair", "mllm_judge_score", "mllm_judge_batch",
                                        "wildvision_battle", "mm_rlhf_rewardbench", "pandalm", "generic_pairwise",
                                        "generic_pointwise"}
    for s in specs:
        assert (Path(__file__).parent.parent / "critic" / "evaluation" / "benchmarks" / f"{s.loader}.py").is_file()


def test_vl_rewardbench_groups_labels_and_a_missing_image(tmp_path):
    d = bench_dir(tmp_path, "vl_rewardbench")
    r = load("vl_rewardbench", d)
    assert (r.n_rows, len(r.items), r.n_skipped) == (8, 7, 1)
    assert r.problems == [f"{d / 'data.jsonl'}:8: VLF-0008: image not found: {d / 'images/vlfeedback/missing-0008.jpg'}"]
    by_id = {it.id: it for it in r.items}
    assert [by_id[i].label for i in ("VLF-0001", "wildvision-0002", "RLAIF-V-0004")] == ["A", "B", "B"]
    groups = {i: it.group for i, it in by_id.items()}
    assert groups == {"VLF-0001": "general", "wildvision-0002": "general", "hallucination-0003": "hallucination",
                      "RLAIF-V-0004": "hallucination", "RLHF-V-0005": "hallucination", "mathverse_0006": "reasoning",
                      "mmmu_pro_0007": "reasoning"}
    assert by_id["VLF-0001"].model_a == "model-x" and Path(by_id["VLF-0001"].images[0]).is_file()


def test_vl_rewardbench_image_root_option(tmp_path):
    d = bench_dir(tmp_path, "vl_rewardbench")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(d / "images"), str(elsewhere / "images"))
    assert len(load("vl_rewardbench", d).items) == 0
    assert len(load("vl_rewardbench", d / "data.jsonl", image_root=elsewhere).items) == 7


def test_mllm_judge_pair_score_and_batch(tmp_path):
    d = bench_dir(tmp_path, "mllm_judge")
    pair = load("mllm_judge_pair", d)
    assert [it.label for it in pair.items] == ["A", "B", "tie", "A"]
    assert [it.question_id for it in pair.items] == ["0", "0", "1", "2"] and pair.items[2].model_b == "llava"
    assert len(pair.problems) == 1 and "pair.jsonl:5: 15: human_answer: expected A, B or C, got 'D'" in pair.problems[0]

    score = load("mllm_judge_score", d)
    assert [it.score for it in score.items] == [5.0, 2.0, 4.0, 1.0, 4.0]
    assert score.items[0].response_model == "llava" and score.items[0].group == "coco"
    assert "score.jsonl:6: 15: human: not a number: 'n/a'" in score.problems[0]

    batch = load("mllm_judge_batch", d)
    got = {it.id: it.score for it in batch.items}
    assert got == {"200-A": 2.0, "200-B": 1.0, "200-C": 4.0, "200-D": 3.0,  # human order CDAB
                   "201-A": 4.0, "201-B": 2.0, "201-C": 3.0, "201-D": 1.0}  # ACBD
    assert {it.question_id for it in batch.items} == {"200", "201"}
    assert "batch.jsonl:3: 202: human_answer: 'CBAA' is not an order of the letters ABCD" in batch.problems[0]


def test_wildvision_battles(tmp_path):
    d = bench_dir(tmp_path, "wildvision")
    r = load("wildvision_battle", d)
    assert [(it.id, it.label, it.group) for it in r.items] == [
        ("wv-1", "A", "animals"), ("wv-2", "B", "ocr"), ("wv-3", "tie", "counting"), ("wv-4", "tie", "food")]
    assert r.items[0].question == "What breed is this dog?" and r.items[0].response_b == "A husky."
    assert len(r.problems) == 1 and "wv-5: turn: 2 turns" in r.problems[0]


def test_mm_rlhf_pairs_questions_and_acc_plus_layout(tmp_path):
    d = bench_dir(tmp_path, "mm_rlhf")
    r = load("mm_rlhf_rewardbench", d)
    assert r.problems == [f"{d / 'mm_reward_bench.jsonl'}:7: v1-0: video not found: {d / 'video/v1'}"]
    for i in range(2):  # the video row's clip: a folder of frames
        (d / "video" / "v1").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (0, 0, 40 * i)).save(d / "video" / "v1" / f"{i}.png")
    r = load("mm_rlhf_rewardbench", d)
    assert [it.id for it in r.items] == ["q1-0", "q1-1", "q2-0", "q3-0", "q3-1", "q4-0", "v1-0"]
    assert [it.group for it in r.items] == ["mcq", "mcq", "short", "long", "long", "safety", "video"]
    assert {it.question_id for it in r.items} == {"q1", "q2", "q3", "q4", "v1"}
    for it in r.items[:-1]:  # the chosen answer is where the label says, whichever side the coin put it
        chosen = it.response_a if it.label == "A" else it.response_b
        assert chosen.endswith("[ok]")
    assert {it.label for it in r.items} == {"A", "B"} and not r.problems
    video = r.items[-1]  # kept, its clip in `video`, no image
    assert video.images == [] and video.video == str((d / "video" / "v1").resolve())
    assert {video.response_a, video.response_b} == {"A man runs.", "A man swims."}


def test_pandalm_excerpt_majority_of_three(tmp_path):
    r = load("pandalm", FIXTURES / "pandalm_excerpt.json")
    assert len(r.items) == 30 and not r.problems
    labels = [it.label for it in r.items]
    assert (labels.count("A"), labels.count("B"), labels.count("tie")) == (12, 12, 6)
    first = r.items[0]
    assert first.images == [] and first.model_a == "bloom-7b" and first.model_b == "llama-7b"
    assert first.question.startswith("The sentence you are given") and "\n\nIf you have any questions" in first.question
    rows = json.loads((FIXTURES / "pandalm_excerpt.json").read_text())[:2]
    rows[1].update(annotator1=0, annotator2=1, annotator3=2)
    (tmp_path / "t.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
    r = load("pandalm", tmp_path / "t.json")  # a problem names the line its element starts on
    assert len(r.items) == 1 and r.problems == [f"{tmp_path / 't.json'}:3: 1: annotators: no majority in [0, 1, 2]"]


def test_generic_loader_with_a_column_map(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    rows = [{"qid": 1, "prompt": "Q?", "pic": "a.png", "out": {"a": "x", "b": "y"}, "winner": "model_b", "cat": 3},
            {"qid": 2, "prompt": "Q?", "pic": "gone.png", "out": {"a": "x", "b": "y"}, "winner": "model_a"},
            {"qid": 3, "prompt": "Q?", "pic": "a.png", "out": {"a": "x", "b": "y"}}]
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec_file = tmp_path / "mine.yaml"
    spec_file.write_text(
        "name: mine\nloader: generic\ntask: pairwise\nsource: mine.jsonl\noptions:\n  task: pairwise\n"
        "  columns: {id: qid, question: prompt, images: pic, response_a: out.a, response_b: out.b, label: winner,"
        " group: cat}\n  label_map: {model_a: A, model_b: B}\n")
    r = load_benchmark(load_spec(spec_file), tmp_path)
    assert [(it.id, it.label, it.group) for it in r.items] == [("1", "B", "3")]
    assert "mine.jsonl:2: 2: image not found" in r.problems[0] and "mine.jsonl:3: 3: winner: no gold label" in r.problems[1]


def test_definition_errors_are_clear(tmp_path):
    with pytest.raises(BenchmarkError, match="unknown benchmark 'nope'; known: .*vl_rewardbench"):
        load_spec("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nloader: generic\ntask: listwise\nsource: a\n")
    with pytest.raises(BenchmarkError, match="bad.yaml: task: Input should be 'pairwise' or 'pointwise'"):
        load_spec(bad)
    with pytest.raises(BenchmarkError, match="benchmark data file not found"):
        load("vl_rewardbench", tmp_path)
    odd = tmp_path / "odd.yaml"
    odd.write_text("name: x\nloader: ../os\ntask: pairwise\nsource: a.jsonl\n")
    (tmp_path / "a.jsonl").write_text("{}\n")
    with pytest.raises(BenchmarkError, match="unknown loader '../os'"):
        load_benchmark(load_spec(odd), tmp_path)


def _text(body) -> str:
    return " ".join(p.get("text", "") for m in body["messages"] if isinstance(m["content"], list)
                    for p in m["content"] if p.get("type") == "text")


def ok_judge(body, images):
    """Prefers the response marked [ok]; scores a marked response 5 and others 1."""
    text = _text(body)
    first = re.search(r"The first response: \[(.*?)\]\nThe second", text, re.S)
    if first:
        second = re.search(r"The second response: \[(.*?)\]\nASSISTANT", text, re.S)
        a, b = "[ok]" in first.group(1), "[ok]" in second.group(1)
        verdict = ("the two responses are equally good" if a == b
                   else "the first response is better" if a else "the second response is better")
        return f"Looking at the image. Therefore, {verdict}."
    answer = re.search(r"\[The Start of Assistant's Answer\]\n(.*?)\n\[The End", text, re.S).group(1)
    return f"Judging the answer. Rating: [[{5 if '[ok]' in answer else 1}]]"


def test_eval_bench_pairwise_end_to_end(tmp_path, capsys):
    d = bench_dir(tmp_path, "vl_rewardbench")
    out = tmp_path / "run"
    with ChatServer(ok_judge) as srv:
        args = ["eval-bench", "vl_rewardbench", "--data", str(d), "--out", str(out), "--judge-backend", "openai",
                "--judge-model", "judge", "--judge-base-url", srv.base_url, "--no-cache", "--no-progress",
                "--n-resamples", "100"]
        assert main(args) == 0
        assert srv.stats.requests == 14  # 7 items, both orders (the benchmark's default)
        printed = capsys.readouterr()
        assert "vl_rewardbench: 7 items from 8 rows (1 skipped)" in printed.out
        assert "missing-0008.jpg" in printed.err and "accuracy_with_ties" in printed.out
        assert main(args) == 0  # resumes: nothing judged twice
        assert srv.stats.requests == 14
    items, errors = read_items(out / "items.jsonl")
    assert len(items) == 7 and not errors
    assert "image not found" in (out / "load_problems.txt").read_text()
    report = json.loads((out / "report.json").read_text())
    pw = report["pairwise"]
    assert (pw["n_items"], pw["n_judgments"]) == (7, 14)
    assert pw["accuracy_with_ties"] == 1.0 and pw["consistency"] == 1.0 and pw["accuracy_both"] == 1.0
    assert set(pw["groups"]) == {"general", "hallucination", "reasoning"} and pw["macro"]["accuracy_with_ties"] == 1.0
    assert report["templates"] == ["llava_critic_pairwise"] and report["inputs"]["benchmark"]["skipped_rows"] == 1
    assert (out / "report.md").is_file() and (out / "confusion.png").is_file()


def test_eval_bench_batch_ranking_end_to_end(tmp_path, capsys):
    d = bench_dir(tmp_path, "mllm_judge")
    out = tmp_path / "run"
    with ChatServer(ok_judge) as srv:
        assert main(["eval-bench", "mllm_judge_batch", "--data", str(d), "--out", str(out), "--judge-backend", "openai",
                     "--judge-model", "judge", "--judge-base-url", srv.base_url, "--no-cache", "--no-progress",
                     "--n-resamples", "50", "--no-plots"]) == 0
        assert srv.stats.requests == 8
    pt = json.loads((out / "report.json").read_text())["pointwise"]
    # q200: judge scores 1 1 5 5 → order C D A B (ties keep item order) = gold C D A B → 0
    # q201: judge 5 5 5 1 → A B C D vs gold A C B D → lev 2 / 4
    assert pt["ranking_edit_distance"] == pytest.approx((0 + 2 / 4) / 2)
    assert pt["n"] == 8 and pt["scales"]["judge"] == [1, 5]
