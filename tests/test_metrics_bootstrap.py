"""The resampling engine: units, strata, reproducibility, and agreement with scipy.stats.bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from critic.evaluation.bootstrap import Estimate, Resampler, percentile_interval, ratio
from critic.evaluation.metrics_pairwise import PairCase, PairVote, pairwise_metrics


def test_strata_keep_their_size_and_units_stay_together():
    strata = [0, 0, 0, 1, 1]
    clusters = [7, 7, 8, 9, 10]  # items 0 and 1 form one unit
    w = np.concatenate(list(Resampler(strata, clusters, n_resamples=300, seed=5, chunk_cells=40).weights()))
    assert w.shape == (300, 5)
    assert np.array_equal(w[:, 0], w[:, 1])
    assert (w[:, 1] + w[:, 2] == 2).all()  # two units in stratum 0, drawn twice in all
    assert (w[:, 3] + w[:, 4] == 2).all()
    assert 0.3 < (w[:, 3] == 1).mean() < 0.7


def test_same_seed_same_weights_and_chunking_does_not_matter_for_the_count():
    r = Resampler([0] * 10, list(range(10)), n_resamples=25, seed=1, chunk_cells=30)
    a = np.concatenate(list(r.weights()))
    b = np.concatenate(list(r.weights()))
    assert a.shape == (25, 10) and np.array_equal(a, b)


def test_unit_spanning_strata_is_refused():
    with pytest.raises(ValueError, match="spans several strata"):
        Resampler([0, 1], [3, 3])


def test_ratio_and_interval_edge_cases():
    assert np.isnan(ratio(1.0, 0.0)) and ratio(1.0, 4.0) == 0.25
    assert percentile_interval(np.array([np.nan, np.nan])) is None
    assert Estimate.of(float("nan"), np.array([0.5]), 0.95) == Estimate(None, None)


def test_percentile_interval_agrees_with_scipy_bootstrap():
    # accuracy over 400 items with one judgment each is a mean of 0/1 values: scipy's percentile
    # bootstrap of the mean and ours must give nearly the same interval
    rng = np.random.default_rng(0)
    labels = rng.choice(["A", "B"], 400)
    ok = rng.random(400) < 0.7
    cases = [PairCase(str(k), lab, (PairVote(lab if good else ("B" if lab == "A" else "A")),))
             for k, (lab, good) in enumerate(zip(labels, ok))]
    ours = pairwise_metrics(cases, n_resamples=4000, seed=1).metrics["accuracy_with_ties"]
    ref = stats.bootstrap((ok.astype(float),), np.mean, n_resamples=4000, method="percentile",
                          confidence_level=0.95, random_state=2).confidence_interval
    assert ours.value == pytest.approx(ok.mean())
    assert ours.ci[0] == pytest.approx(ref.low, abs=0.012)
    assert ours.ci[1] == pytest.approx(ref.high, abs=0.012)
