"""``critic eval`` on awkward inputs: the report is always written, and gold it cannot trust is refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from critic.commands.main import main
from critic.evaluation.evaluate import evaluate
from critic.evaluation.gold import read_gold
from critic.records import PointwiseJudgment

META = dict(template="t", template_hash="h", judge="j")


def grouped_pointwise(seed: int = 0) -> tuple[list[dict], list[PointwiseJudgment]]:
    """12 items: three groups of two questions, and a group ``solo`` of one question (3 items)."""
    rng = random.Random(seed)
    golds, judgments = [], []
    for i in range(12):
        group = ["g1", "g2", "g3"][i % 3] if i < 9 else "solo"
        question = f"q{i % 2}" if group != "solo" else "qs"
        golds.append({"id": str(i), "score": rng.randint(1, 10), "group": group, "question_id": question})
        judgments.append(PointwiseJudgment(id=str(i), score=rng.randint(1, 10), **META))
    return golds, judgments


def test_a_collapsed_interval_does_not_crash_the_plots(tmp_path: Path) -> None:
    """issue 14.17: a bootstrap bound that rounds past its value made matplotlib refuse the error bars."""
    golds, judgments = grouped_pointwise()
    report = evaluate(golds, judgments, n_resamples=200)
    written = {p.name for p in report.write(tmp_path)}
    assert {"report.json", "report.md", "pointwise_groups.png"} <= written
    assert (tmp_path / "pointwise_groups.png").stat().st_size > 0


def test_a_group_of_one_question_shows_its_interval_as_not_estimable(tmp_path: Path) -> None:
    """issue 14.17: a one-question group's interval collapses onto its value, which reads like certainty."""
    golds, judgments = grouped_pointwise()
    report = evaluate(golds, judgments, n_resamples=200)
    groups = report.to_dict()["pointwise"]["groups"]
    assert groups["solo"]["n_questions"] == 1 and groups["g1"]["n_questions"] == 2
    report.write(tmp_path, plots=False)
    rows = {line.split(" | ")[0].strip("| "): line for line in (tmp_path / "report.md").read_text().splitlines()
            if line.startswith("| ")}
    assert "n/a (1 question)" in rows["solo"] and "[" not in rows["solo"].split(" | ", 3)[3]
    assert "n/a" not in rows["g1"]


def test_a_plot_failure_is_a_warning_and_the_report_is_still_written(tmp_path: Path, monkeypatch) -> None:
    """issue 14.17: a failing plot used to abort the run before report.md was written."""
    import critic.evaluation.plots as plots

    def broken(report, out):
        raise ValueError("'yerr' must not contain negative values")

    monkeypatch.setattr(plots, "make_plots", broken)
    golds, judgments = grouped_pointwise()
    with pytest.warns(RuntimeWarning, match="plots not drawn"):
        evaluate(golds, judgments, n_resamples=50).write(tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["pointwise"]["n"] == 12
    md = (tmp_path / "report.md").read_text()
    assert "## Pointwise" in md and "plots not drawn: ValueError" in md


def test_gold_scores_outside_the_gold_scale_are_bad_lines(tmp_path: Path, capsys) -> None:
    """issue 14.14: a gold score of 1e9 on a 1–10 scale was accepted and measured against."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "score": 3}, {"id": "b", "score": 1e9}, {"id": "c", "score": 7}, {"id": "d", "score": 0}]))
    judgments = tmp_path / "j.jsonl"
    judgments.write_text("".join(PointwiseJudgment(id=i, score=s, **META).model_dump_json() + "\n"
                                 for i, s in [("a", 3), ("b", 9), ("c", 8), ("d", 1)]))
    out = tmp_path / "report"
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(out),
                 "--gold-scale", "1", "10", "--n-resamples", "50"]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["pointwise"]["n"] == 2
    assert data["inputs"]["gold_problems"] == [f"{gold}:2: score: 1e+09 is outside the gold scale 1–10",
                                               f"{gold}:4: score: 0 is outside the gold scale 1–10"]
    golds, problems = read_gold(gold)  # without a scale nothing is out of range
    assert len(golds) == 4 and not problems


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_gold_score(value: bool) -> None:
    """issue 14.14: ``"score": true`` was read as 1.0."""
    golds, problems = read_gold([{"id": "a", "score": value}, {"id": "b", "score": "4"}])
    assert [g.id for g in golds] == ["b"] and golds[0].score == 4.0
    assert len(problems) == 1 and problems[0].field == "score"
    assert f"score must be a number, got {str(value).lower()}" in problems[0].problem
