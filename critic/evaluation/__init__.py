"""``critic eval``: agreement of a judge's verdicts with gold labels, with bootstrap intervals.

(Named ``evaluation``, not ``eval``: the repository's ``eval/`` folder ships as ``critic.eval_configs``.)

One module per idea:

========================  ======================================================================
``gold``                  gold labels read leniently from any JSONL with ``id`` and ``label`` / ``score``
``metrics_pairwise``      accuracies, consistency across orders, ties, position bias, ACC+
``metrics_pointwise``     judge scores against gold: Pearson, Spearman, Kendall, MAE, per group / model
``bootstrap``             one stratified cluster bootstrap shared by every metric, group and view
``weighted_correlation``  Pearson / Spearman / Kendall τ-b of bootstrap-weighted samples, batched
``evaluate``              the Python API behind ``critic eval``: judgments + gold → report
``report``                ``report.md`` and the printed table
``plots``                 PNG plots (matplotlib Agg)
``tracking``              the report's metrics to experiment trackers (``--report-to``, accelerate's trackers)
``browser_data``          the judgment browser's data: items, one or two judges, gold, per-item flags
``browser``               the judgment browser page (``report.html``, ``critic view``) and its thumbnails
``benchmarks/``           published judge benchmarks as items with gold (``critic eval-bench``); rows and column maps from :mod:`critic.rows`
========================  ======================================================================
"""
