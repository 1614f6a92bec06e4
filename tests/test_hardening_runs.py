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


# -- 14.2: a dead server is noticed; identical requests are sent once -----------------------------

def test_a_server_that_always_fails_stops_the_run_naming_server_and_cause(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 34)
    out = tmp_path / "j.jsonl"
    with ChatServer(score_judge, faults=FaultConfig(rate_500=1.0)) as srv:
        rc = main(judge_argv(srv, items, out, "--max-retries", "1", "--concurrency", "2"))
        sent = srv.stats.requests
    err = capsys.readouterr().err
    assert rc == 2 and srv.base_url in err and "10 requests in a row failed" in err and "HTTP 5xx" in err
    assert sent < 34 * 2 // 2  # not every request spent its retries
    failed = rows(out.with_name("j.jsonl.failed.jsonl"))
    assert sorted(r["id"] for r in failed) == sorted(f"i{k}" for k in range(34))  # what was not done, recorded
    assert "Traceback" not in err


def test_connection_refused_stops_the_run(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    items = write_items(tmp_path / "items.jsonl", 30)
    rc = main(["judge", "--input", str(items), "--output", str(tmp_path / "j.jsonl"), "--backend", "openai",
               "--model", "m", "--base-url", f"http://127.0.0.1:{port}/v1", "--template", "mllm_judge_score",
               "--no-cache", "--no-progress", "--max-retries", "0", "--concurrency", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and f"127.0.0.1:{port}" in err and "(connection error)" in err


def test_identical_requests_in_one_run_are_sent_once(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"i{k}", "question": "q", "response": "same"}) + "\n"
                             for k in range(3)), encoding="utf-8")
    out = tmp_path / "j.jsonl"
    with ChatServer(score_judge) as srv:
        argv = [a for a in judge_argv(srv, items, out) if a != "--no-cache"] + ["--cache", str(tmp_path / "c.sqlite")]
        assert main(argv) == 0
        assert srv.stats.requests == 1
    assert sorted(r["id"] for r in rows(out)) == ["i0", "i1", "i2"]


# -- 14.5: a corrupt cache is set aside, not a traceback ----------------------------------------

@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_cache_is_moved_aside_with_a_warning_and_the_run_goes_on(tmp_path, damage):
    from critic.judging.backends.cache import CorruptCacheWarning, JudgeCache
    from critic.judging.backends.generation import GenResult

    cache = tmp_path / "c.sqlite"
    if damage == "garbage":
        cache.write_bytes(b"not a database " * 200)
    else:
        with JudgeCache(cache) as c:
            for k in range(300):
                c.put(JudgeCache.key(k=k), GenResult(text="x" * 500))
        for side in ("-wal", "-shm"):
            Path(f"{cache}{side}").unlink(missing_ok=True)
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 3])
    items = write_items(tmp_path / "items.jsonl", 2)
    out = tmp_path / "j.jsonl"
    with ChatServer(score_judge) as srv, pytest.warns(CorruptCacheWarning, match=str(cache)):
        argv = [a for a in judge_argv(srv, items, out) if a != "--no-cache"] + ["--cache", str(cache)]
        assert main(argv) == 0
    assert len(rows(out)) == 2
    assert [p.name for p in tmp_path.glob("c.sqlite.corrupt-*")][:1] and len(JudgeCache(cache)) == 2
