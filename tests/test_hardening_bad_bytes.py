"""A byte that is not UTF-8 costs its own line (reported as ``file:line``), never the whole file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from critic.commands.main import main
from critic.jsonl import ids_in, read_items
from critic.records import PointwiseJudgment

META = dict(template="t", template_hash="h", judge="j")
BAD = b'{"id": "x", "question": "caf\xe9?", "response": "r"}\n'  # Latin-1 "é" inside a UTF-8 file


def write_lines(path: Path, lines: list[bytes | dict]) -> Path:
    path.write_bytes(b"".join(x if isinstance(x, bytes) else json.dumps(x).encode() + b"\n" for x in lines))
    return path


def test_the_reader_reports_the_line_and_reads_the_rest(tmp_path: Path) -> None:
    """issue 14.7: a non-UTF-8 byte was a UnicodeDecodeError and nothing was read."""
    path = write_lines(tmp_path / "items.jsonl", [{"id": "1", "question": "q", "response": "r"}, BAD,
                                                  {"id": "3", "question": "où ?", "response": "là"}])
    items, errors = read_items(path)
    assert [i.id for i in items] == ["1", "3"] and items[1].question == "où ?"
    assert [str(e) for e in errors] == [f"{path}:2: (json): not valid UTF-8: byte 0xe9 at column 29"]
    assert ids_in(path) == {"1", "x", "3"}  # resume bookkeeping reads past it too


def test_critic_eval_skips_the_bad_lines_of_gold_and_judgments(tmp_path: Path, capsys) -> None:
    """issue 14.7: critic eval stopped with a traceback on one bad byte."""
    gold = write_lines(tmp_path / "gold.jsonl", [{"id": "a", "score": 1}, b'{"id": "\xff", "score": 2}\n',
                                                 {"id": "b", "score": 3}, {"id": "c", "score": 5}])
    judgments = write_lines(tmp_path / "j.jsonl", [
        PointwiseJudgment(id="a", score=2, **META).to_json_dict(), b'{"id": "b", "raw": "\xe9"}\n',
        PointwiseJudgment(id="b", score=3, **META).to_json_dict(),
        PointwiseJudgment(id="c", score=4, **META).to_json_dict()])
    out = tmp_path / "report"
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(out),
                 "--n-resamples", "20"]) == 0
    inputs = json.loads((out / "report.json").read_text())["inputs"]
    assert inputs["gold_problems"] == [f"{gold}:2: (json): not valid UTF-8: byte 0xff at column 9"]
    assert inputs["judgment_problems"] == [f"{judgments}:2: (json): not valid UTF-8: byte 0xe9 at column 21"]
    assert json.loads((out / "report.json").read_text())["pointwise"]["n"] == 3


def test_critic_judge_skips_the_bad_line_and_judges_the_rest(tmp_path: Path, capsys) -> None:
    """issue 14.7: critic judge judged nothing when one input line held a bad byte."""
    from critic.toy.chat_server import ChatServer

    items = write_lines(tmp_path / "items.jsonl", [{"id": "1", "question": "q", "response": "r"}, BAD,
                                                   {"id": "3", "question": "q", "response": "r"}])
    out = tmp_path / "j.jsonl"
    with ChatServer(lambda body, images: "Fine.\n\nRating: [[4]]") as srv:
        assert main(["judge", "--input", str(items), "--output", str(out), "--backend", "openai",
                     "--model", "m", "--base-url", srv.base_url, "--template", "mllm_judge_score", "--no-cache",
                     "--no-progress"]) == 1  # a skipped input: not all the work asked for (issue 14.12)
    assert sorted(json.loads(line)["id"] for line in out.read_text().splitlines()) == ["1", "3"]  # completion order
    assert f"skipped: {items}:2: (json): not valid UTF-8" in capsys.readouterr().err


def test_critic_data_build_drops_the_bad_line_and_builds_the_rest(tmp_path: Path) -> None:
    """issue 14.7: critic data build stopped with a traceback on one bad byte."""
    from critic.data.build import BuildOptions, build_dataset
    from critic.toy.world import make_toy

    make_toy(tmp_path / "toy", n=3, seed=1, task="pointwise")
    path = tmp_path / "toy" / "items.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + BAD + lines[1] + lines[2])
    rcp = tmp_path / "recipe.yaml"
    rcp.write_text(yaml.safe_dump({
        "name": "t", "seed": 1, "templates": {"mllm_judge_score": 1}, "splits": {"train": 1},
        "sources": [{"kind": "jsonl", "path": "toy/items.jsonl", "target": "gold", "gold_scale": [1, 10]}],
        "teacher": {"model": "none", "base_url": "http://127.0.0.1:9/v1"}}))
    res = build_dataset(rcp, tmp_path / "out", BuildOptions(cache=tmp_path / "c.sqlite", progress=False))
    assert res.stats.total == 3
    listed = json.loads((tmp_path / "out" / "stats.json").read_text())["drops"]["listed"]
    assert [(d["reason"], d["where"]) for d in listed] == [("malformed line", f"{path}:2")]


def test_a_config_with_a_bad_byte_is_a_message(tmp_path: Path, capsys) -> None:
    """issue 14.7: a training config with a bad byte was a UnicodeDecodeError traceback."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(b"model:\n  name_or_path: m\n# caf\xe9\n")
    assert main(["train", str(cfg)]) == 2
    assert f"{cfg}:3: not valid UTF-8 (byte 0xe9)" in capsys.readouterr().err


def test_strict_reading_stops_at_the_bad_line_with_its_place(tmp_path: Path) -> None:
    """issue 14.7: --strict names the line instead of raising UnicodeDecodeError."""
    from critic.jsonl import RecordFileError

    path = write_lines(tmp_path / "items.jsonl", [{"id": "1", "question": "q", "response": "r"}, BAD])
    with pytest.raises(RecordFileError, match=r"items.jsonl:2: \(json\): not valid UTF-8"):
        read_items(path, strict=True)


def test_a_recipe_with_a_bad_byte_is_a_message(tmp_path: Path, capsys) -> None:
    """issue 14.7: a data recipe with a bad byte was a UnicodeDecodeError traceback."""
    rcp = tmp_path / "recipe.yaml"
    rcp.write_bytes(b"name: x\n# caf\xe9\n")
    assert main(["data", "build", str(rcp), "--out", str(tmp_path / "out")]) == 2
    assert f"{rcp}:2: not valid UTF-8 (byte 0xe9)" in capsys.readouterr().err


@pytest.mark.parametrize("suffix, good, bad", [
    (".jsonl", '{"a": 1}\n', b'{"a": "caf\xe9"}\n'),
    (".csv", None, b'caf\xe9,2\n'),
])
def test_the_row_reader_loses_only_the_bad_line(tmp_path, suffix, good, bad):
    """issue 14.7: critic.rows (benchmarks, preference files) reads past a byte that is not UTF-8."""
    from critic.rows import read_rows

    path = tmp_path / f"rows{suffix}"
    head = b"a,b\n1,2\n" if suffix == ".csv" else good.encode()
    tail = b"3,4\n" if suffix == ".csv" else b'{"a": 3}\n'
    path.write_bytes(head + bad + tail)
    rows = list(read_rows(path))
    problems = [r for r in rows if r.problem]
    assert len(problems) == 1 and "not valid UTF-8" in problems[0].problem and problems[0].line in (2, 3)
    assert [r.value for r in rows if not r.problem] in ([{"a": 1}, {"a": 3}], [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}])
