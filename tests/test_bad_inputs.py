"""Issue 14: a table of bad inputs across the commands. Each row writes its files to a fresh folder, runs
one command in-process (``critic.commands.main.main``), and checks the exit status, a phrase of stderr
(with ``file:line`` where there is a file) and that no traceback was printed. Where good lines surround
the bad one, the good ones are judged and nothing already written is lost.

Exit statuses: 0 done, 1 work asked for not (fully) done, 2 a usage error (see docs/robustness.md).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from critic.commands.main import main
from critic.toy.chat_server import ChatServer

GOOD = [json.dumps({"id": f"g{k}", "question": "q", "response": f"r{k}"}) for k in range(2)]
PAIR_META = {"task": "pairwise", "template": "t", "template_hash": "h", "judge": "j"}
TRAIN_CFG = "model:\n  name_or_path: none\ndata:\n  train: {t}/train.jsonl\ntrain:\n  output_dir: {t}/ckpt\n"
RECIPE = ("name: r\nseed: 0\nsources:\n  - kind: toy\n    task: pointwise\n    n: 3\n    seed: 1\n    target: gold\n"
          "templates:\n  compact_pointwise: 1\n")


def around(bad: str | bytes) -> bytes:
    """``bad`` as line 2, between two good items (lines 1 and 3)."""
    bad = bad if isinstance(bad, bytes) else bad.encode()
    return GOOD[0].encode() + b"\n" + bad + b"\n" + GOOD[1].encode() + b"\n"


@dataclass
class Row:
    argv: list[str]  # {t}: the row's folder, {url}: the teacher server's base URL
    files: dict[str, str | bytes] = field(default_factory=dict)
    rc: int = 2
    says: str = ""  # a phrase of stderr, {t} replaced
    judged: list[str] | None = None  # ids expected in {t}/j.jsonl afterwards (good lines kept)


def judge(*more: str, inp: str = "{t}/items.jsonl", out: str = "{t}/j.jsonl") -> list[str]:
    return ["judge", "--input", inp, "--output", out, "--backend", "openai", "--model", "m", "--base-url", "{url}",
            "--template", "mllm_judge_score", "--no-cache", "--no-progress", *more]


def eval_(gold: str = "{t}/gold.jsonl", judgments: str = "{t}/jd.jsonl", *more: str) -> list[str]:
    return ["eval", "--gold", gold, "--judgments", judgments, "--out", "{t}/r", "--n-resamples", "10", "--no-plots",
            *more]


GOLD = '{"id": "g0", "label": "A"}\n'
JD = json.dumps({"id": "g0", "winner": "A", **PAIR_META}) + "\n"
IMG_ITEM = {"id": "img", "question": "q", "response": "r"}
in_progress = dict(marks=pytest.mark.xfail(strict=False, reason="issue 14: an empty question is accepted by records today"))

ROWS = [
    # -- critic judge ----------------------------------------------------------------------------
    pytest.param(Row(judge(inp="{t}/nope.jsonl"), {}, 2, "{t}/nope.jsonl:0: (file)"), id="judge-missing-file"),
    pytest.param(Row(judge(), {"items.jsonl": ""}, 2, "{t}/items.jsonl: no items"), id="judge-empty-file"),
    pytest.param(Row(judge(inp="{t}"), {}, 2, "is a folder"), id="judge-input-is-a-folder"),
    pytest.param(Row(judge(out="{t}"), {"items.jsonl": around(GOOD[0])}, 2, "is a folder"), id="judge-output-is-a-folder"),
    pytest.param(Row(judge(), {"items.jsonl": around("{not json")}, 1, "{t}/items.jsonl:2: (json): not valid JSON",
                     ["g0", "g1"]), id="judge-not-json"),
    pytest.param(Row(judge(), {"items.jsonl": around("[1, 2]")}, 1, "{t}/items.jsonl:2: (record): expected a JSON object",
                     ["g0", "g1"]), id="judge-json-array"),
    pytest.param(Row(judge(), {"items.jsonl": around('"text"')}, 1, "{t}/items.jsonl:2: (record)", ["g0", "g1"]),
                 id="judge-json-string"),
    pytest.param(Row(judge(), {"items.jsonl": around('{"question": "q", "response": "r"}')}, 1, "{t}/items.jsonl:2: id",
                     ["g0", "g1"]), id="judge-missing-id"),
    pytest.param(Row(judge(), {"items.jsonl": around(GOOD[0])}, 1, "{t}/items.jsonl:2: g0: duplicate id",
                     ["g0", "g1"]), id="judge-duplicate-id"),
    pytest.param(Row(judge(), {"items.jsonl": around('{"id": "x", "question": 5, "response": "r"}')}, 1,
                     "{t}/items.jsonl:2: question", ["g0", "g1"]), id="judge-wrong-type"),
    pytest.param(Row(judge(), {"items.jsonl": around('{"id": "x", "question": "q"}')}, 1, "{t}/items.jsonl:2:",
                     ["g0", "g1"]), id="judge-no-response"),
    pytest.param(Row(judge(), {"items.jsonl": around('{"id": "x", "question": "", "response": "r"}')}, 1,
                     "{t}/items.jsonl:2: question", ["g0", "g1"]), id="judge-empty-question", **in_progress),
    pytest.param(Row(judge(), {"items.jsonl": around(json.dumps({**IMG_ITEM, "images": ["missing.png"]}))}, 1,
                     "missing.png", ["g0", "g1"]), id="judge-missing-image"),
    pytest.param(Row(judge(), {"items.jsonl": around(json.dumps({**IMG_ITEM, "images": ["fake.png"]})),
                               "fake.png": b"this is no image"}, 1, "fake.png", ["g0", "g1"]),
                 id="judge-image-not-an-image"),
    pytest.param(Row(judge(), {"items.jsonl": around(b'{"id": "x", "question": "caf\xe9", "response": "r"}')}, 1,
                     "{t}/items.jsonl:2: (json): not valid UTF-8", ["g0", "g1"]), id="judge-not-utf8"),
    pytest.param(Row(judge(), {"items.jsonl": around(b'{"id": "x\x00y", "question": "q"\x00}')}, 1,
                     "{t}/items.jsonl:2: (json)", ["g0", "g1"]), id="judge-nul-bytes"),
    pytest.param(Row(judge(), {"items.jsonl": around('{"id": "long", "question": "' + "x" * 3_000_000)}, 1,
                     "{t}/items.jsonl:2: (json)", ["g0", "g1"]), id="judge-very-long-line"),
    pytest.param(Row(judge(inp="{t}/j.jsonl"), {"j.jsonl": around(GOOD[0])}, 2, "is the --input file"),
                 id="judge-output-is-input"),
    pytest.param(Row(judge("--template", "no_such_template"), {"items.jsonl": around(GOOD[0])}, 2,
                     "no_such_template"), id="judge-unknown-template"),
    pytest.param(Row(judge("--template", "mllm_judge_pair"), {"items.jsonl": "\n".join(GOOD)}, 2,
                     "is a pairwise template"), id="judge-template-for-the-other-task"),
    pytest.param(Row([*judge(), "--backend", "nope"], {"items.jsonl": "\n".join(GOOD)}, 2, "invalid choice: 'nope'"),
                 id="judge-unknown-backend"),
    pytest.param(Row([*judge(), "--swap", "sideways"], {"items.jsonl": "\n".join(GOOD)}, 2, "invalid choice: 'sideways'"),
                 id="judge-bad-swap"),
    pytest.param(Row(judge("--concurrency", "0"), {"items.jsonl": "\n".join(GOOD)}, 2, "--concurrency"),
                 id="judge-zero-concurrency"),
    pytest.param(Row(judge("--temperature", "-1"), {"items.jsonl": "\n".join(GOOD)}, 2, "--temperature"),
                 id="judge-negative-temperature"),
    pytest.param(Row(judge("--max-retries", "x"), {"items.jsonl": "\n".join(GOOD)}, 2, "invalid int value"),
                 id="judge-retries-not-a-number"),
    pytest.param(Row(judge("--model", "other"), {"items.jsonl": "\n".join(GOOD), "j.jsonl": ""}, 0, ""),
                 id="judge-empty-output-resumes"),
    # -- critic eval -----------------------------------------------------------------------------
    pytest.param(Row(eval_("{t}/nope.jsonl"), {"jd.jsonl": JD}, 2, "{t}/nope.jsonl:0: (file)"), id="eval-gold-missing"),
    pytest.param(Row(eval_(), {"gold.jsonl": GOLD}, 2, "{t}/jd.jsonl:0: (file)"), id="eval-judgments-missing"),
    pytest.param(Row(eval_(judgments="{t}"), {"gold.jsonl": GOLD}, 2, ":0: (file)"), id="eval-judgments-folder"),
    pytest.param(Row(eval_(), {"gold.jsonl": "", "jd.jsonl": JD}, 1, "no judgment in"), id="eval-gold-empty"),
    pytest.param(Row(eval_(), {"gold.jsonl": '{"label": "A"}\n', "jd.jsonl": JD}, 1, "{t}/gold.jsonl:1: id"),
                 id="eval-gold-without-ids"),
    pytest.param(Row(eval_(judgments="{t}/gold.jsonl"), {"gold.jsonl": GOLD}, 1, "{t}/gold.jsonl:1:"),
                 id="eval-judgments-file-is-gold"),
    pytest.param(Row(eval_(), {"gold.jsonl": GOLD, "jd.jsonl": "{nope\n" + JD}, 0, "{t}/jd.jsonl:1: (json)"),
                 id="eval-judgments-not-json"),
    pytest.param(Row(eval_(), {"gold.jsonl": GOLD, "jd.jsonl": JD + JD}, 0, "{t}/jd.jsonl:2: id: duplicate judgment"),
                 id="eval-duplicate-judgments"),
    pytest.param(Row(eval_("{t}/gold.jsonl", "{t}/jd.jsonl", "--gold-scale", "5", "1"),
                     {"gold.jsonl": GOLD, "jd.jsonl": JD}, 2, "LO < HI"), id="eval-inverted-scale"),
    pytest.param(Row(eval_("{t}/gold.jsonl", "{t}/jd.jsonl", "--n-resamples", "-5"),
                     {"gold.jsonl": GOLD, "jd.jsonl": JD}, 2, "--n-resamples"), id="eval-negative-resamples"),
    # -- critic data build -----------------------------------------------------------------------
    pytest.param(Row(["data", "build", "{t}/nope.yaml", "--out", "{t}/o"], {}, 2, "nope.yaml"), id="recipe-missing"),
    pytest.param(Row(["data", "build", "{t}/r.yaml", "--out", "{t}/o"], {"r.yaml": "name: [unclosed\n"}, 2, "r.yaml"),
                 id="recipe-bad-yaml"),
    pytest.param(Row(["data", "build", "{t}/r.yaml", "--out", "{t}/o"], {"r.yaml": "- a\n- b\n"}, 2, "r.yaml"),
                 id="recipe-not-a-mapping"),
    pytest.param(Row(["data", "build", "{t}/r.yaml", "--out", "{t}/o"], {"r.yaml": RECIPE + "colour: red\n"}, 2,
                     "{t}/r.yaml:11: colour: unknown key"), id="recipe-unknown-key"),
    pytest.param(Row(["data", "build", "{t}/r.yaml", "--out", "{t}/o"],
                     {"r.yaml": "name: r\nsources:\n  - kind: jsonl\n    path: {t}/absent.jsonl\n    target: gold\n"
                      "templates:\n  compact_pointwise: 1\n"}, 2, "absent.jsonl"), id="recipe-source-path-missing"),
    pytest.param(Row(["data", "build", "{t}/r.yaml", "--out", "{t}/o", "--no-cache", "--no-progress"],
                     {"r.yaml": RECIPE.replace("compact_pointwise", "compact_pointwize")}, 1,
                     "{t}/r.yaml:10: unknown template: compact_pointwize"), id="recipe-misspelt-only-template"),
    pytest.param(Row(["data", "build", "{t}/r.yaml", "--out", "{t}/o", "--num-proc", "0"], {"r.yaml": RECIPE}, 2,
                     "--num-proc"), id="recipe-zero-workers"),
    # -- critic train ----------------------------------------------------------------------------
    pytest.param(Row(["train", "{t}/nope.yaml"], {}, 2, "nope.yaml"), id="train-config-missing"),
    pytest.param(Row(["train", "{t}/c.yaml", "--print-config"], {"c.yaml": TRAIN_CFG + "  colour: red\n"}, 2,
                     "{t}/c.yaml:6: train.colour: unknown key"), id="train-unknown-key",
                 marks=pytest.mark.xfail(strict=False, reason="issue 14: train config errors name no line yet")),
    pytest.param(Row(["train", "{t}/c.yaml", "--print-config", "--train.nope", "1"], {"c.yaml": TRAIN_CFG}, 2,
                     "train.nope"), id="train-unknown-override"),
    pytest.param(Row(["train", "{t}/c.yaml", "--print-config", "--train.learning_rate", "fast"], {"c.yaml": TRAIN_CFG},
                     2, "train.learning_rate"), id="train-bad-override-value"),
    pytest.param(Row(["train", "{t}/c.yaml", "--print-config"], {"c.yaml": "model: [\n"}, 2, "c.yaml"),
                 id="train-bad-yaml"),
    # -- critic label-pairs ----------------------------------------------------------------------
    pytest.param(Row(["label-pairs", "--input", "{t}/nope.jsonl", "--output", "{t}/p.jsonl", "--judge-backend", "openai",
                      "--judge-model", "m", "--judge-base-url", "{url}", "--no-cache"], {}, 2, "{t}/nope.jsonl:0: (file)"),
                 id="label-pairs-missing-file"),
    pytest.param(Row(["label-pairs", "--input", "{t}/items.jsonl", "--output", "{t}/p.jsonl", "--judge-backend", "openai",
                      "--judge-model", "m", "--judge-base-url", "{url}", "--no-cache", "--no-progress"],
                     {"items.jsonl": "{nope\n"}, 1, "{t}/items.jsonl:1: (json)"), id="label-pairs-not-json"),
]


@pytest.fixture(scope="module")
def server():
    with ChatServer(lambda body, images: "Fine.\n\nRating: [[4]]") as srv:
        yield srv


def fill(text: str, t: Path, url: str) -> str:
    return text.replace("{t}", str(t)).replace("{url}", url)


@pytest.mark.parametrize("row", ROWS)
def test_bad_input(row: Row, server, tmp_path: Path, capsys) -> None:
    for name, content in row.files.items():
        data = content if isinstance(content, bytes) else fill(content, tmp_path, server.base_url).encode()
        (tmp_path / name).write_bytes(data)
    before = {name: (tmp_path / name).read_bytes() for name in ("j.jsonl",) if (tmp_path / name).is_file()}
    try:
        rc = main([fill(a, tmp_path, server.base_url) for a in row.argv])
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert rc == row.rc, err[-2000:]
    assert fill(row.says, tmp_path, server.base_url) in err, err[-2000:]
    if row.judged is not None:
        judged = [json.loads(line)["id"] for line in (tmp_path / "j.jsonl").read_text().splitlines()]
        assert sorted(judged) == sorted(row.judged)
    for name, old in before.items():  # what was already written is kept
        assert (tmp_path / name).read_bytes().startswith(old)


def post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url + "/chat/completions", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


TEACHER_ROWS: list[tuple[str, bytes, int, str]] = [
    ("not-json", b"{nope", 400, "bad request"),
    ("json-array", b"[1, 2]", 400, "bad request"),
    ("no-messages", json.dumps({"model": "m"}).encode(), 400, "messages"),
    ("messages-not-a-list", json.dumps({"model": "m", "messages": "hi"}).encode(), 400, "messages"),
    ("bad-image-url", json.dumps({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!"}}]}]}).encode(), 400, "bad request"),
]


@pytest.mark.parametrize("name, body, status, says", TEACHER_ROWS, ids=[r[0] for r in TEACHER_ROWS])
def test_teacher_server_rejects_bad_requests(server, name: str, body: bytes, status: int, says: str,
                                             capsys) -> None:
    code, text = post(server.base_url, body)
    assert code == status and says in text
    assert "Traceback" not in capsys.readouterr().err


def test_the_table_is_large_enough() -> None:
    assert len(ROWS) + len(TEACHER_ROWS) >= 40


