"""Calibration and bias in ``critic eval``: the metrics against hand-worked and reference values (scikit-learn
where installed), length bias planted on toy data and absent from the oracle, and the report files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from critic.commands.main import main
from critic.evaluation.bias import PairRow, pairwise_length_bias
from critic.evaluation.calibration import auroc, brier, calibration, ece
from critic.evaluation.evaluate import evaluate
from critic.evaluation.logistic import fit_logistic
from critic.records import PairwiseItem, PairwiseJudgment

J = dict(template="t", template_hash="h", judge="j")


def test_ece_brier_auroc_hand_worked():
    conf = np.array([0.95, 0.95, 0.55, 0.55, 0.15])
    ok = np.array([1, 1, 1, 0, 0])
    # bins: 0.1 → |0 − 0.15|·1, 0.5 → |0.5 − 0.55|·2, 0.9 → |1 − 0.95|·2, over 5
    assert ece(conf, ok) == pytest.approx((0.15 + 0.1 + 0.1) / 5)
    assert brier(conf, ok) == pytest.approx((2 * 0.05**2 + 0.45**2 + 0.55**2 + 0.15**2) / 5)
    # right {0.95, 0.95, 0.55} vs wrong {0.55, 0.15}: 5 wins + 1 tie (½) of 6 pairs
    assert auroc(conf, ok) == pytest.approx(5.5 / 6)
    cal = calibration(conf, ok, n_resamples=50)
    assert [b["n"] for b in cal.bins] == [0, 1, 0, 0, 0, 2, 0, 0, 0, 2]
    assert cal.ci["ece"] is not None and cal.ci["ece"][0] <= cal.ci["ece"][1]


def test_calibration_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 500)
    ok = (rng.uniform(size=500) < conf).astype(int)
    assert brier(conf, ok) == pytest.approx(sk.brier_score_loss(ok, conf))
    assert auroc(conf, ok) == pytest.approx(sk.roc_auc_score(ok, conf))


def test_logistic_fit_matches_scikit_learn():
    lm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(400), rng.normal(size=400), rng.normal(size=400)])
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-(X @ [0.3, 1.2, -0.7])))).astype(float)
    ours = fit_logistic(X, y)
    ref = lm.LogisticRegression(C=1e12, fit_intercept=False, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(ours.coef, ref.coef_[0], atol=1e-4)
    # soft targets = each row twice with weights y and 1 − y
    ys = rng.uniform(size=400)
    soft = fit_logistic(X, ys)
    ref2 = lm.LogisticRegression(C=1e12, fit_intercept=False, tol=1e-10, max_iter=1000).fit(
        np.vstack([X, X]), np.r_[np.ones(400), np.zeros(400)], sample_weight=np.r_[ys, 1 - ys])
    np.testing.assert_allclose(soft.coef, ref2.coef_[0], atol=1e-4)


def test_length_slope_recovers_a_planted_coefficient():
    rng = np.random.default_rng(2)
    n = 3000
    gold = rng.choice(["A", "B", "tie"], size=n)
    la, lb = rng.integers(50, 500, n), rng.integers(50, 500, n)
    z = np.array([{"A": 1.0, "B": -1.0, "tie": 0.0}[g] for g in gold]) + 0.8 * (la - lb) / np.std(la - lb)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(float)
    rows = [PairRow(i, y[i], gold[i], int(la[i]), int(lb[i])) for i in range(n)]
    out = pairwise_length_bias(rows, n_resamples=30)
    assert out["slope"] == pytest.approx(0.8, abs=0.1)
    assert out["slope_ci"][0] < 0.8 < out["slope_ci"][1] or abs(out["slope"] - 0.8) < 0.05


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from critic.toy.world import generate_items

    d = tmp_path_factory.mktemp("trust")
    items = []
    for k, (item, images) in enumerate(generate_items(60, 5, "pairwise")):
        images[0].save(d / f"{k}.png")
        items.append(item.model_copy(update={"images": [str(d / f"{k}.png")], "model_a": "mine-7b" if k % 2 else "other",
                                             "model_b": "other" if k % 2 else "mine-13b"}))
    (d / "items.jsonl").write_text("".join(json.dumps(i.to_json_dict()) + "\n" for i in items))
    return d, items


def _longer_judge(items: list[PairwiseItem]) -> list[PairwiseJudgment]:
    out = []
    for it in items:
        for swapped in (False, True):
            la, lb = len(it.response_a), len(it.response_b)
            out.append(PairwiseJudgment(id=it.id, winner="A" if la > lb else "B" if lb > la else "tie", swapped=swapped,
                                        **J))
    return out


def test_length_bias_detected_on_a_planted_judge_and_not_on_the_oracle(toy):
    from critic.judging.critic import Critic
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    d, items = toy
    planted = evaluate(d / "items.jsonl", _longer_judge(items), n_resamples=100).to_dict()["pairwise"]["bias"]["length"]
    assert planted["longer_preferred_rate"] == 1.0
    assert planted["slope"] > 1.0 and planted["slope_ci"][0] > 0.5
    with ChatServer(oracle_answer) as srv:
        critic = Critic.from_openai("oracle", base_url=srv.base_url, progress=False, concurrency=8)
        oracle = [j for c in critic.compare(items, swap="both") for j in c.judgments]
    rep = evaluate(d / "items.jsonl", oracle, n_resamples=100).to_dict()["pairwise"]
    length = rep["bias"]["length"]
    assert length["longer_preferred_rate"] is None or length["longer_preferred_rate"] < 0.2
    assert abs(length["slope"]) < 0.5 and length["slope_ci"][0] < 0.5
    assert rep["calibration"]["source"] == "order_agreement"


def test_eval_cli_writes_calibration_bias_and_reliability(toy, tmp_path, capsys):
    d, items = toy
    rng = np.random.default_rng(3)
    rows = []
    for it in items:  # a judge right 70 % of the time, saying how sure it is; favours "mine" answers
        p = float(rng.uniform(0.4, 1.0))
        right = rng.uniform() < p
        winner = it.label if right else ("B" if it.label == "A" else "A")
        probs = {"A": 0.0, "B": 0.0, "tie": 0.0}
        probs[winner] = p
        rest = [k for k in probs if k != winner]
        probs[rest[0]] = probs[rest[1]] = (1 - p) / 2
        rows.append(PairwiseJudgment(id=it.id, winner=winner, verdict_probs=probs, **J).to_json_dict())
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "rep"
    assert main(["eval", "--gold", str(d / "items.jsonl"), "--judgments", str(tmp_path / "j.jsonl"), "--out", str(out),
                 "--n-resamples", "50", "--judge-family", "mine"]) == 0
    rep = json.loads((out / "report.json").read_text())["pairwise"]
    cal = rep["calibration"]
    assert cal["source"] == "verdict_probs" and cal["n"] == len(items)
    assert sum(b["n"] for b in cal["bins"]) == len(items) and len(cal["bins"]) == 10
    assert 0 <= cal["ece"] <= 1 and cal["auroc"] is not None
    assert rep["bias"]["self_preference"]["n_judgments"] > 0
    assert "accuracy_with_ties" in rep and "consistency" in rep  # existing keys unchanged
    assert (out / "reliability_pairwise.png").stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert "### Calibration" in md and "### Bias" in md and "reliability_pairwise.png" in md
    capsys.readouterr()
    assert main(["eval", "--compare", str(out), str(out)]) == 0
    assert "calibration `ece`" in capsys.readouterr().out
