"""Pointwise metrics against numbers worked out by hand, and the replicate kernels against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from critic.evaluation.metrics_pointwise import (
    PointCase,
    levenshtein,
    map_scale,
    pointwise_metrics,
    ranking_distance,
)
from critic.evaluation.weighted_correlation import (
    PairedSample,
    TableCorrelator,
    row_rank_correlations,
    table_correlations,
)


def cases(judge, gold, **kw):
    return [PointCase(f"i{k}", g, (j,), **{key: v[k] for key, v in kw.items()}) for k, (j, g) in enumerate(zip(judge, gold))]


def test_correlations_by_hand_without_ties():
    # x = 1..5, y = 2 1 4 3 5: Σdxdy = 8, Σdx² = Σdy² = 10 → r = ρ = 0.8; 8 concordant, 2 discordant of 10 → τ = 0.6
    # |x − y| = 1 1 1 1 0 → MAE 0.8. A sixth item failed to parse: out of the correlations, in the rates.
    cs = cases([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) + [PointCase("bad", 1.0, (None,))]
    r = pointwise_metrics(cs, n_resamples=100)
    m = {k: v.value for k, v in r.metrics.items()}
    assert m["pearson"] == pytest.approx(0.8) and m["spearman"] == pytest.approx(0.8)
    assert m["kendall_tau"] == pytest.approx(0.6) and m["mae"] == pytest.approx(0.8)
    assert m["parse_failure_rate"] == pytest.approx(1 / 6) and m["coverage"] == pytest.approx(5 / 6)
    assert (r.n, r.n_items, r.n_judgments) == (5, 6, 6)


def test_correlations_by_hand_with_ties():
    # x = 1 2 2 3, y = 1 1 2 3. Kendall: 4 concordant, 0 discordant, one tie in x, one in y →
    # τ-b = 4 / sqrt((6−1)(6−1)) = 0.8. Spearman on mid-ranks x 1 2.5 2.5 4, y 1.5 1.5 3 4:
    # 3.75 / 4.5 = 0.8333. Pearson: 2 / sqrt(2 · 2.75) = 0.8528.
    r = pointwise_metrics(cases([1, 2, 2, 3], [1, 1, 2, 3]), n_resamples=50)
    assert r.metrics["kendall_tau"].value == pytest.approx(0.8)
    assert r.metrics["spearman"].value == pytest.approx(3.75 / 4.5)
    assert r.metrics["pearson"].value == pytest.approx(2 / np.sqrt(5.5))


def test_repeated_samples_are_averaged_per_item():
    r = pointwise_metrics([PointCase("a", 1.0, (1.0, 3.0, None)), PointCase("b", 3.0, (5.0,))], n_resamples=20)
    assert r.metrics["mae"].value == pytest.approx((1 + 2) / 2)  # a: mean 2 vs 1; b: 5 vs 3
    assert r.metrics["parse_failure_rate"].value == pytest.approx(1 / 4)
    assert r.n_judgments == 4


def test_mae_on_the_gold_scale():
    # judge 1-100 mapped onto gold 1-5: 100 → 5, 1 → 1, 50.5 → 3
    assert map_scale(np.array([1.0, 50.5, 100.0]), (1, 100), (1, 5)).tolist() == [1.0, 3.0, 5.0]
    r = pointwise_metrics(cases([100, 1, 50.5], [4, 1, 3]), judge_scale=(1, 100), gold_scale=(1, 5), n_resamples=20)
    assert r.metrics["mae"].value == pytest.approx(1 / 3)
    assert r.scales["mae_on"].startswith("gold scale")


def test_groups_single_item_group_and_macro():
    cs = cases([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], group=["g"] * 5) + [PointCase("solo", 3.0, (4.0,), group="h")]
    r = pointwise_metrics(cs, n_resamples=50)
    assert r.groups["g"].metrics["pearson"].value == pytest.approx(0.8)
    solo = r.groups["h"].metrics
    assert solo["pearson"].value is None and solo["pearson"].ci is None  # one item: no correlation
    assert solo["mae"].value == 1.0 and solo["mae"].ci == (1.0, 1.0)
    assert r.macro["pearson"].value == pytest.approx(0.8)  # mean over groups where defined
    assert r.macro["mae"].value == pytest.approx((0.8 + 1.0) / 2)


def test_model_level_ranking():
    # judge means m1 2, m2 4, m3 3; gold means m1 1, m2 3, m3 2 → same order: τ = ρ = 1
    cs = [PointCase("a", 1.0, (1.0,), response_model="m1"), PointCase("b", 1.0, (3.0,), response_model="m1"),
          PointCase("c", 3.0, (4.0,), response_model="m2"), PointCase("d", 2.0, (3.0,), response_model="m3"),
          PointCase("e", 5.0, (None,), response_model="m2")]
    r = pointwise_metrics(cs, n_resamples=50)
    assert r.metrics["model_kendall_tau"].value == pytest.approx(1.0)
    assert r.metrics["model_spearman"].value == pytest.approx(1.0)
    assert r.models == [{"model": "m1", "n": 2, "judge_mean": 2.0, "gold_mean": 1.0},
                        {"model": "m2", "n": 1, "judge_mean": 4.0, "gold_mean": 3.0},
                        {"model": "m3", "n": 1, "judge_mean": 3.0, "gold_mean": 2.0}]


def test_batch_ranking_edit_distance():
    # q1: judge 3 1 2 → A C B; gold 3 2 1 → A B C; lev = 2 → 2/3. q2: same order → 0.
    # q3: one answer unparsed → 1.0 (worst) in the main view, left out of parsed_only.
    cs = [PointCase(f"q1-{k}", g, (j,), question_id="q1") for k, (j, g) in enumerate([(3, 3), (1, 2), (2, 1)])]
    cs += [PointCase(f"q2-{k}", g, (j,), question_id="q2") for k, (j, g) in enumerate([(5, 2), (1, 1)])]
    cs += [PointCase("q3-0", 2.0, (1.0,), question_id="q3"), PointCase("q3-1", 1.0, (None,), question_id="q3")]
    r = pointwise_metrics(cs, n_resamples=50)
    assert r.metrics["ranking_edit_distance"].value == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert r.parsed_only["ranking_edit_distance"].value == pytest.approx((2 / 3 + 0) / 2)
    # a question with a gold item that was never judged is incomplete too
    r = pointwise_metrics(cs[:5], question_sizes={(None, "q2"): 3}, n_resamples=10)
    assert r.metrics["ranking_edit_distance"].value == pytest.approx((2 / 3 + 1) / 2)


def test_levenshtein_and_ranking_distance():
    assert levenshtein("kitten", "sitting") == 3
    assert ranking_distance([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(4 / 4)  # DCBA vs ABCD
    assert ranking_distance([2, 2, 1], [3, 2, 1]) == 0.0  # judge tie keeps item order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_kernels_equal_scipy_on_repeated_samples(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 8, 120).astype(float)
    y = np.clip(x + rng.integers(-3, 4, 120), 1, 10).astype(float)
    w = rng.integers(0, 3, (4, 120)).astype(float)
    sample, table = PairedSample(x, y), TableCorrelator(x, y)(w)
    for k in range(4):
        xs, ys = np.repeat(x, w[k].astype(int)), np.repeat(y, w[k].astype(int))
        want = [stats.pearsonr(xs, ys).statistic, stats.spearmanr(xs, ys).statistic,
                stats.kendalltau(xs, ys, variant="b").statistic]
        assert [sample.pearson(w[k:k + 1])[0], sample.spearman(w[k:k + 1])[0], sample.kendall_b(w[k:k + 1])[0]] == \
            pytest.approx(want)
        assert [table["pearson"][k, 0], table["spearman"][k, 0], table["kendall_tau"][k, 0]] == pytest.approx(want)
    assert sample._kendall_scipy(w) == pytest.approx(sample.kendall_b(w))


def test_table_correlations_constant_input_is_undefined():
    t = np.zeros((1, 1, 2))
    t[0, 0] = [3, 2]  # x constant
    out = table_correlations(t, np.array([1.0]), np.array([1.0, 2.0]))
    assert all(np.isnan(out[k][0]) for k in out)


def test_row_rank_correlations_match_scipy():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    b[0, 1] = b[0, 2]  # a tie
    sp, kt = row_rank_correlations(a, b)
    for k in range(5):
        assert sp[k] == pytest.approx(stats.spearmanr(a[k], b[k]).statistic)
        assert kt[k] == pytest.approx(stats.kendalltau(a[k], b[k], variant="b").statistic)
    a[2, 0] = np.nan
    assert np.isnan(row_rank_correlations(a, b)[0][2])


def test_continuous_scores_use_the_item_level_path():
    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    y = x + rng.normal(size=600)
    assert not TableCorrelator.fits(x, y)
    r = pointwise_metrics(cases(x.tolist(), y.tolist()), n_resamples=30)
    lo, hi = r.metrics["kendall_tau"].ci
    assert lo < r.metrics["kendall_tau"].value < hi
    assert r.metrics["pearson"].value == pytest.approx(stats.pearsonr(x, y).statistic)


def test_a_single_named_group_equals_the_overall_numbers():
    r = pointwise_metrics(cases([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], group=["only"] * 5), n_resamples=40, seed=2)
    assert list(r.groups) == ["only"]
    overall, group = r.metrics, r.groups["only"].metrics
    for k in ("pearson", "spearman", "kendall_tau", "mae"):
        assert group[k].value == pytest.approx(overall[k].value) and group[k].ci == pytest.approx(overall[k].ci)
