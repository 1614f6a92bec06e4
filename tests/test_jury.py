"""Juries: κ against scikit-learn and by hand, Dawid–Skene and gold weights beat a plain vote where one judge
is bad, and ``critic jury`` writes judgments ``critic eval`` reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from critic.commands.main import main
from critic.evaluation.agreement import cohen_kappa, fleiss_kappa
from critic.evaluation.jury import CLASSES, combine


def test_cohen_kappa_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    a = rng.choice(CLASSES, 300).tolist()
    b = [x if rng.uniform() < 0.6 else rng.choice(CLASSES) for x in a]
    assert cohen_kappa(a, b) == pytest.approx(sk.cohen_kappa_score(a, b))


def test_fleiss_kappa_of_two_judges_is_close_to_scotts_pi():
    # Fleiss' kappa with two raters is Scott's pi: p_e from the pooled shares
    a, b = ["A", "A", "B", "B", "tie"], ["A", "B", "B", "B", "tie"]
    pooled = {k: (a.count(k) + b.count(k)) / 10 for k in CLASSES}
    pe = sum(v * v for v in pooled.values())
    assert fleiss_kappa(list(zip(a, b))) == pytest.approx((4 / 5 - pe) / (1 - pe))


def _votes(n: int = 400, seed: int = 1):
    rng = np.random.default_rng(seed)
    truth = rng.choice(["A", "B"], n)
    acc = {"good": 0.9, "fair": 0.65, "bad1": 0.45, "bad2": 0.45}
    votes = {j: {} for j in acc}
    for i, t in enumerate(truth):
        for j, a in acc.items():
            votes[j][str(i)] = t if rng.uniform() < a else rng.choice([c for c in CLASSES if c != t])
    return votes, {str(i): t for i, t in enumerate(truth)}


def test_dawid_skene_and_weights_beat_the_plain_vote():
    votes, gold = _votes()

    def acc(vs):
        return np.mean([v.winner == gold[v.item] for v in vs])

    maj, ds, wt = (acc(combine(votes, m, gold)) for m in ("majority", "dawid_skene", "weighted"))
    assert ds > maj + 0.05 and wt > maj + 0.05, (maj, ds, wt)
    for v in combine(votes, "dawid_skene"):
        assert sum(v.probs.values()) == pytest.approx(1, abs=1e-3)


def test_jury_cli(tmp_path, capsys):
    votes, gold = _votes(60)
    paths = []
    for j, vs in votes.items():
        rows = [{"id": i, "task": "pairwise", "winner": w, "swapped": s, "template": "t", "template_hash": "h",
                 "judge": j} for i, w in vs.items() for s in (False, True)]
        paths.append(tmp_path / f"{j}.jsonl")
        paths[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps({"id": i, "label": g}) + "\n" for i, g in gold.items()))
    out = tmp_path / "jury.jsonl"
    assert main(["jury", "--judgments", *map(str, paths), "--gold", str(tmp_path / "gold.jsonl"), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fleiss kappa" in printed and "accuracy on gold jury" in printed
    side = json.loads((tmp_path / "jury.agreement.json").read_text())
    assert side["method"] == "weighted" and len(side["agreement"]["pairs"]) == 6
    assert main(["eval", "--gold", str(tmp_path / "gold.jsonl"), "--judgments", str(out), "--out",
                 str(tmp_path / "rep"), "--n-resamples", "20", "--no-plots"]) == 0
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())["pairwise"]
    assert rep["calibration"]["source"] == "verdict_probs" and rep["n_items"] == 60
    assert main(["jury", "--judgments", str(paths[0]), str(paths[1]), "--method", "dawid_skene",
                 "--output", str(tmp_path / "ds.jsonl")]) == 0
