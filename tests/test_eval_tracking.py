"""``critic eval --report-to``: the report's metrics reach the trackers ``critic train`` reports to."""

from __future__ import annotations

import json

import pytest

from critic.commands.main import main


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def files(tmp_path):
    meta = dict(task="pairwise", template="t", template_hash="h", judge="j")
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"id": f"i{k}", "label": "AB"[k % 2]} for k in range(4)])
    judgments = write_jsonl(tmp_path / "j.jsonl", [{"id": f"i{k}", "winner": "A", **meta} for k in range(4)])
    return gold, judgments


def test_metrics_land_in_tensorboard_events_at_the_step(files, tmp_path, capsys) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    gold, judgments = files
    out = tmp_path / "report"
    assert main(["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(out), "--no-plots",
                 "--n-resamples", "50", "--report-to", "tensorboard", "--step", "750"]) == 0
    assert "to tensorboard" in capsys.readouterr().out
    events = [p for p in (out / "runs").rglob("events.out.tfevents.*")]
    assert events, sorted(p.name for p in (out / "runs").rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    scalars = acc.Tags()["scalars"]
    assert "pairwise/accuracy_with_ties" in scalars and "pairwise/accuracy_with_ties_ci_low" in scalars
    (point,) = acc.Scalars("pairwise/accuracy_with_ties")
    assert point.step == 750 and point.value == pytest.approx(0.5)  # 2 of 4 right, the printed report's number


def test_an_unknown_or_missing_tracker_fails_before_any_work(files, tmp_path, capsys, monkeypatch) -> None:
    gold, judgments = files
    out = tmp_path / "report"
    args = ["eval", "--gold", str(gold), "--judgments", str(judgments), "--out", str(out)]
    assert main(args + ["--report-to", "tensorbored"]) == 2
    assert "'tensorbored' is not a tracker" in capsys.readouterr().err and not out.exists()
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert main(args + ["--report-to", "wandb"]) == 2
    assert "pip install wandb" in capsys.readouterr().err and not out.exists()
