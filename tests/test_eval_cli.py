"""`critic eval`: files in, report.json / report.md / plots out; the API gives the same numbers."""

from __future__ import annotations

import json

import pytest

from critic.commands.main import main
from critic.evaluation.evaluate import evaluate
from critic.records import PairwiseJudgment, PointwiseJudgment

PAIRWISE_KEYS = {"n_items", "n_judgments", "accuracy_with_ties", "accuracy_without_ties", "accuracy_original",
                 "accuracy_swapped", "accuracy_both", "consistency", "tie_rate", "first_position_rate",
                 "parse_failure_rate", "accuracy_plus"}
POINTWISE_KEYS = {"n", "pearson", "spearman", "kendall_tau", "mae", "parse_failure_rate", "model_kendall_tau",
                  "model_spearman"}
META = dict(template="llava_critic_pairwise", template_hash="h", judge="openai:judge-1")


def pj(id, winner, swapped=False, **kw):
    extra = {"parse_error": "no verdict found", "raw": "I cannot decide."} if winner is None else {}
    return PairwiseJudgment(id=id, winner=winner, swapped=swapped, **{**META, **extra, **kw}).to_json_dict()


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture()
def pairwise_files(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [
        {"id": "i1", "label": "A", "group": "g1", "question": "items files qualify", "images": []},
        {"id": "i2", "label": "B", "group": "g1"},
        {"id": "i3", "label": "tie", "group": "g2"},
        "{not json",
        {"id": "i4", "label": "C"},
        {"id": "i5"},
        {"id": "i1", "label": "B"},
    ])
    judgments = write_jsonl(tmp_path / "j.jsonl", [
        pj("i1", "A"), pj("i1", "A", swapped=True),
        pj("i2", "A"), pj("i2", "B", swapped=True),
        pj("i3", None), pj("i3", "tie", swapped=True),
        pj("zz", "A"),
        {"id": "i2", "task": "pairwise", "error": "HTTP 500 after 6 retries", **META},
        '{"id": "i1", "task": "pairwise", "winner": "Q", "template": "t", "template_hash": "h", "judge": "j"}',
    ])
    return gold, judgments


def test_eval_writes_the_report_and_prints_a_table(pairwise_files, tmp_path, capsys):
    gold, judgments = pairwise_files
    out = tmp_path / "report"
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(out),
                 "--n-resamples", "200"]) == 0
    printed = capsys.readouterr()
    assert "accuracy_with_ties" in printed.out and "pairwise: 3 items, 6 judgments" in printed.out
    assert f"{gold}:4: (json)" in printed.err and f"{gold}:5: label" in printed.err
    assert f"{judgments}:9: winner" in printed.err
    data = json.loads((out / "report.json").read_text())
    pw = data["pairwise"]
    assert PAIRWISE_KEYS <= set(pw) and all(f"{k}_ci" in pw for k in PAIRWISE_KEYS - {"n_items", "n_judgments"})
    assert (pw["n_items"], pw["n_judgments"]) == (3, 6)
    assert pw["accuracy_with_ties"] == pytest.approx(4 / 6)  # i1 2/2, i2 1/2, i3 1/2 (a parse failure is wrong)
    assert pw["parsed_only"]["accuracy_with_ties"] == pytest.approx(4 / 5)
    assert pw["consistency"] == pytest.approx(1 / 3)
    assert set(pw["groups"]) == {"g1", "g2"} and pw["macro"]["accuracy_with_ties"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert pw["parse_failure_examples"] == [{"id": "i3", "parse_error": "no verdict found", "raw": "I cannot decide.",
                                             "swapped": False}]
    inp = data["inputs"]
    assert (inp["n_gold_problems"], inp["n_judgment_problems"]) == (4, 1)
    assert any("duplicate id 'i1'" in p for p in inp["gold_problems"])
    assert inp["n_error_judgments"] == 1 and inp["error_judgments"] == ["i2: HTTP 500 after 6 retries"]
    assert inp["n_unmatched_judgments"] == 1 and "zz: no gold" in inp["unmatched_judgments"][0]
    assert data["judges"] == ["openai:judge-1"] and data["bootstrap"]["n_resamples"] == 200
    md = (out / "report.md").read_text()
    for heading in ("## Pairwise", "### Per group", "### Position bias and ties", "### Confusion", "### Parse failures",
                    "## Inputs", "## Plots"):
        assert heading in md
    assert "count as wrong" in md and "`i3`" in md
    for png in ("confusion.png", "pairwise_metrics.png", "pairwise_groups.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_api_returns_the_numbers_of_the_cli(pairwise_files, tmp_path):
    gold, judgments = pairwise_files
    main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(tmp_path / "r"),
          "--n-resamples", "100", "--no-plots"])
    on_disk = json.loads((tmp_path / "r" / "report.json").read_text())
    report = evaluate(gold, judgments, n_resamples=100)
    assert report.to_dict()["pairwise"] == on_disk["pairwise"]
    assert report.pairwise.metrics["accuracy_both"].value == pytest.approx(1 / 3)
    assert not list((tmp_path / "r").glob("*.png"))


def test_pointwise_report_with_scales_models_and_plots(tmp_path, capsys):
    gold_rows, rows = [], []
    for k in range(12):
        g = 1 + k % 5
        gold_rows.append({"id": f"s{k}", "score": g, "response_model": f"m{k % 3}", "group": "a" if k < 6 else "b"})
        score = None if k == 11 else float(min(100, g * 20 - (k % 3) * 5))
        extra = {"parse_error": "no score", "raw": "hmm"} if score is None else {}
        rows.append(PointwiseJudgment(id=f"s{k}", score=score, template="llava_critic_pointwise", template_hash="h",
                                      judge="hf:tiny", **extra).to_json_dict())
    gold = write_jsonl(tmp_path / "gold.jsonl", gold_rows)
    judgments = write_jsonl(tmp_path / "j.jsonl", rows)
    out = tmp_path / "out"
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(out), "--n-resamples", "100",
                 "--judge-scale", "1", "100", "--gold-scale", "1", "5"]) == 0
    pt = json.loads((out / "report.json").read_text())["pointwise"]
    assert POINTWISE_KEYS <= set(pt) and pt["n"] == 11 and pt["parse_failure_rate"] == pytest.approx(1 / 12)
    assert pt["pearson"] > 0.8 and pt["scales"]["gold"] == [1, 5] and len(pt["models"]) == 3
    for png in ("pointwise_metrics.png", "pointwise_groups.png", "scores_heatmap.png", "score_distributions.png"):
        assert (out / png).is_file()
    md = (out / "report.md").read_text()
    assert "## Pointwise" in md and "### Models" in md and "### Score distributions" in md


def test_compare_puts_judges_side_by_side(pairwise_files, tmp_path, capsys):
    gold, judgments = pairwise_files
    other = write_jsonl(tmp_path / "j2.jsonl", [pj("i1", "B", judge="openai:judge-2"), pj("i2", "B", judge="openai:judge-2"),
                                                pj("i3", "tie", judge="openai:judge-2")])
    for name, j in (("r1", judgments), ("r2", other)):
        assert main(["eval", "--gold", str(gold), "--judgments", str(j), "--out", str(tmp_path / name),
                     "--n-resamples", "50", "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["eval", "--compare", str(tmp_path / "r1"), str(tmp_path / "r2"), "--out", str(tmp_path / "cmp")]) == 0
    table = capsys.readouterr().out
    assert "| metric | openai:judge-1 | openai:judge-2 |" in table
    assert "| `accuracy_with_ties` | 0.667 [" in table and "| 0.667 [" in table  # judge-2: 2 of 3
    assert (tmp_path / "cmp" / "compare.md").read_text().startswith("## pairwise")


def test_usage_errors_are_clear(tmp_path, capsys):
    assert main(["eval", "--gold", str(tmp_path / "g.jsonl")]) == 2
    assert "missing --judgments, --out" in capsys.readouterr().err
    assert main(["eval", "--gold", str(tmp_path / "nope.jsonl"), "--judgments", str(tmp_path / "j.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "nope.jsonl:0: (file)" in capsys.readouterr().err
    assert main(["eval", "--compare", str(tmp_path / "missing")]) == 2
    assert "cannot read a report" in capsys.readouterr().err


def test_strict_stops_at_the_first_bad_line(pairwise_files, tmp_path, capsys):
    gold, judgments = pairwise_files
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(tmp_path / "o"),
                 "--strict", "--no-plots"]) == 2
    assert f"{gold}:4: (json): not valid JSON" in capsys.readouterr().err
