"""Length-controlled win rates: a planted length preference is removed, the fit matches scikit-learn, the CLI
writes the leaderboard."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from critic.commands.main import main
from critic.evaluation.logistic import sigmoid
from critic.evaluation.winrate import WinRow, design, model_win_rate

THETA, BETA = 0.3, 0.8


def _planted(n: int, seed: int = 0, mean_diff: float = 150.0) -> tuple[list[WinRow], float]:
    rng = np.random.default_rng(seed)
    d = rng.normal(mean_diff, 200.0, n)
    y = (rng.uniform(size=n) < sigmoid(THETA + BETA * np.tanh(d / d.std()))).astype(float)
    return [WinRow("m", str(i), float(y[i]), float(d[i])) for i in range(n)], float(100 * sigmoid(THETA))


def test_lc_win_rate_recovers_the_length_free_win_rate():
    rows, truth = _planted(20000)
    r = model_win_rate(rows, n_resamples=0)
    planted_shift = r.win_rate - truth
    assert abs(r.lc_win_rate - truth) < 1.0, (r.lc_win_rate, truth)
    assert planted_shift > 5.0  # the raw win rate carries the planted length preference (~7.7 points)
    assert r.coef["length"] == pytest.approx(BETA, abs=0.1)


def test_fit_matches_an_independent_logistic_regression():
    lm = pytest.importorskip("sklearn.linear_model")
    rows, _ = _planted(3000, seed=1)
    X, _ = design(rows, use_difficulty=False)
    y = np.array([r.y for r in rows])
    ours = model_win_rate(rows, n_resamples=0)
    ref = lm.LogisticRegression(C=1e12, fit_intercept=False, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose([ours.coef["model"], ours.coef["length"]], ref.coef_[0], atol=1e-4)
    lc_ref = 100 * sigmoid(np.full(len(rows), ref.coef_[0][0])).mean()
    assert ours.lc_win_rate == pytest.approx(lc_ref, abs=1e-3)


def _files(tmp_path, n=200):
    rng = np.random.default_rng(4)
    items, judgments, diff = [], [], {}
    for k in range(n):
        for model, extra in (("long-model", 300), ("short-model", 0)):
            i = f"{model}-{k}"
            mine = "x" * int(50 + extra + rng.integers(0, 100))
            base = "y" * int(50 + rng.integers(0, 100))
            flip = k % 2 == 0
            items.append({"id": i, "question": "?", "question_id": f"q{k}", "response_a": base if flip else mine,
                          "response_b": mine if flip else base, "model_a": "base" if flip else model,
                          "model_b": model if flip else "base"})
            wins = rng.uniform() < (0.75 if model == "long-model" else 0.5)
            winner = ("B" if flip else "A") if wins else ("A" if flip else "B")
            judgments.append({"id": i, "task": "pairwise", "winner": winner, "template": "t", "template_hash": "h",
                              "judge": "toy"})
        diff[f"q{k}"] = float(rng.normal())
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(r) + "\n" for r in judgments))
    (tmp_path / "difficulty.json").write_text(json.dumps(diff))


def test_winrate_cli_writes_a_leaderboard(tmp_path, capsys):
    _files(tmp_path)
    out = tmp_path / "lb"
    assert main(["winrate", "--judgments", str(tmp_path / "j.jsonl"), "--items", str(tmp_path / "items.jsonl"),
                 "--baseline", "base", "--out", str(out), "--n-resamples", "20"]) == 0
    assert "long-model" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    assert [r["model"] for r in rows] and {r["model"] for r in rows} == {"long-model", "short-model"}
    long = next(r for r in rows if r["model"] == "long-model")
    assert float(long["win_rate"]) == pytest.approx(75, abs=8)
    assert float(long["lc_win_rate_lo"]) <= float(long["lc_win_rate"]) <= float(long["lc_win_rate_hi"])
    md = (out / "leaderboard.md").read_text()
    assert "without an instruction-difficulty term" in md
    assert (out / "leaderboard.png").stat().st_size > 1000
    assert main(["winrate", "--judgments", str(tmp_path / "j.jsonl"), "--items", str(tmp_path / "items.jsonl"),
                 "--baseline", "base", "--out", str(out), "--n-resamples", "0", "--difficulty",
                 str(tmp_path / "difficulty.json"), "--no-plots"]) == 0
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["difficulty_term"] is True and "difficulty" in data["models"][0]["coef"]
    assert "with an instruction-difficulty term" in (out / "leaderboard.md").read_text()


def test_winrate_cli_says_when_no_item_has_the_baseline(tmp_path, capsys):
    _files(tmp_path, n=4)
    assert main(["winrate", "--judgments", str(tmp_path / "j.jsonl"), "--items", str(tmp_path / "items.jsonl"),
                 "--baseline", "nobody", "--out", str(tmp_path / "o")]) != 0
    assert "nobody" in capsys.readouterr().err
