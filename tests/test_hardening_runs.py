"""Issue 14.2, 14.5, 14.6, 14.8, 14.12: runs that fail loudly, one writer per output, a resume that checks
what was asked, exit codes that say whether the work was done, diagnostics on stderr."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest

from critic.commands.main import main
from critic.toy.chat_server import ChatServer, FaultConfig


def score_judge(body, images):
    return "Fine.\n\nRating: [[4]]"


def write_items(path: Path, n: int = 4, extra: list[str] = ()) -> Path:
    lines = [json.dumps({"id": f"i{k}", "question": "q", "response": f"r{k}"}) for k in range(n)]
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def judge_argv(srv, items: Path, out: Path, *more: str) -> list[str]:
    return ["judge", "--input", str(items), "--output", str(out), "--backend", "openai", "--model", "m",
            "--base-url", srv.base_url, "--template", "mllm_judge_score", "--no-cache", "--no-progress", *more]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- 14.12: exit codes and streams --------------------------------------------------------------

def test_judge_exits_1_when_every_request_failed_unless_failures_are_allowed(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 2)
    with ChatServer(score_judge, faults=FaultConfig(rate_500=1.0)) as srv:
        argv = judge_argv(srv, items, tmp_path / "j.jsonl", "--max-retries", "0", "--concurrency", "1")
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "failed i0: HTTP 500" in err and "--allow-failures" in err
        assert main([*argv, "--allow-failures"]) == 0


def test_judge_exits_1_when_every_line_was_rejected_and_says_so_on_stderr(tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a"}\n[1, 2]\n', encoding="utf-8")
    with ChatServer(score_judge) as srv:
        assert main(judge_argv(srv, items, tmp_path / "j.jsonl")) == 1
    out, err = capsys.readouterr()
    assert f"skipped: {items}:1:" in err and f"skipped: {items}:2: (record)" in err
    assert "skipped:" not in out and "judged 0" in out


def test_every_skipped_input_is_written_with_file_and_line(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 2, extra=["{not json"] * 15)
    out = tmp_path / "j.jsonl"
    with ChatServer(score_judge) as srv:
        assert main(judge_argv(srv, items, out)) == 1
    skipped = rows(out.with_name("j.jsonl.skipped.jsonl"))
    assert [s["where"] for s in skipped] == [f"{items}:{n}" for n in range(3, 18)]
    assert all("not valid JSON" in s["reason"] for s in skipped)
    assert "and 5 more skipped inputs" in capsys.readouterr().err and len(rows(out)) == 2


def test_eval_exits_1_when_no_gold_matched(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "g1", "label": "A"}\n', encoding="utf-8")
    judgments = tmp_path / "j.jsonl"
    judgments.write_text(json.dumps({"id": "other", "task": "pairwise", "winner": "A", "template": "t",
                                     "template_hash": "h", "judge": "j"}) + "\n", encoding="utf-8")
    rc = main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(tmp_path / "r"),
               "--n-resamples", "10", "--no-plots"])
    assert rc == 1 and "no judgment in" in capsys.readouterr().err


def test_a_closed_pipe_is_not_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "critic", "templates", "list", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# -- 14.6: two writers, one output --------------------------------------------------------------

def test_a_second_writer_on_one_output_is_refused(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 2)
    out = tmp_path / "j.jsonl"
    with (tmp_path / "j.jsonl.lock").open("w") as held, ChatServer(score_judge) as srv:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # what another `critic judge` on this output holds
        assert main(judge_argv(srv, items, out)) == 2
        assert "being written by another process" in capsys.readouterr().err
        assert not out.exists()
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        assert main(judge_argv(srv, items, out)) == 0
    assert len(rows(out)) == 2 and not (tmp_path / "j.jsonl.lock").exists()


def test_output_equal_to_input_is_an_error(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 2)
    before = items.read_bytes()
    assert main(["judge", "--input", str(items), "--output", str(items), "--backend", "openai", "--model", "m",
                 "--no-cache"]) == 2
    assert "is the --input file" in capsys.readouterr().err and items.read_bytes() == before


def test_a_fully_successful_rerun_removes_the_stale_failures(tmp_path):
    items = write_items(tmp_path / "items.jsonl", 2)
    out = tmp_path / "j.jsonl"
    failed = out.with_name("j.jsonl.failed.jsonl")
    with ChatServer(score_judge, faults=FaultConfig(first=["500"])) as srv:
        assert main(judge_argv(srv, items, out, "--max-retries", "0", "--concurrency", "1")) == 1
        assert [r["id"] for r in rows(failed)] == ["i0"]
        assert main(judge_argv(srv, items, out, "--max-retries", "0")) == 0
    assert not failed.exists() and sorted(r["id"] for r in rows(out)) == ["i0", "i1"]


def test_eval_reports_duplicate_judgment_rows_instead_of_counting_them(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "g1", "label": "A"}\n{"id": "g2", "label": "B"}\n', encoding="utf-8")
    meta = {"task": "pairwise", "template": "t", "template_hash": "h", "judge": "j"}
    lines = [{"id": "g1", "winner": "A", **meta}, {"id": "g2", "winner": "A", **meta}, {"id": "g2", "winner": "A", **meta}]
    judgments = tmp_path / "j.jsonl"
    judgments.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(tmp_path / "r"),
                 "--n-resamples", "10", "--no-plots"]) == 0
    assert f"{judgments}:3: id: duplicate judgment of 'g2'" in capsys.readouterr().err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["pairwise"]["n_judgments"] == 2


# -- 14.8: resume checks what was asked ---------------------------------------------------------

@pytest.mark.parametrize("change, says", [
    (["--template", "score_0_100"], "template 'mllm_judge_score'"),
    (["--model", "other"], "judge 'openai:m' there, 'openai:other' now"),
    (["--temperature", "0.7"], "sampling"),
])
def test_resume_with_other_settings_is_an_error_that_says_what_differs(tmp_path, capsys, change, says):
    items = write_items(tmp_path / "items.jsonl", 2)
    out = tmp_path / "j.jsonl"
    with ChatServer(score_judge, models=None) as srv:
        assert main(judge_argv(srv, items, out)) == 0
        before = out.read_bytes()
        argv = judge_argv(srv, items, out)
        for flag, value in zip(change[::2], change[1::2]):
            if flag in argv:
                argv[argv.index(flag) + 1] = value
            else:
                argv += [flag, value]
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "new --output" in err and out.read_bytes() == before


def test_a_recipe_that_builds_no_samples_exits_1(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\nseed: 0\nsources:\n  - kind: toy\n    task: pointwise\n    n: 3\n    seed: 1\n"
                      "    target: gold\ntemplates:\n  compact_pointwiseX: 1\n", encoding="utf-8")
    assert main(["data", "build", str(recipe), "--out", str(tmp_path / "out"), "--no-cache", "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert f"{recipe}:10: unknown template: compact_pointwiseX" in err and "built no samples" in err
    assert "dropped" not in out
