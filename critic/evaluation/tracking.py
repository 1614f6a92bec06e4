"""Logging a report's metrics to experiment trackers (``critic eval --report-to tensorboard``).

The trackers are accelerate's (:mod:`accelerate.tracking`: tensorboard, wandb, mlflow, comet_ml, aim,
clearml, dvclive, swanlab, trackio), the same services ``critic train`` and ``critic dpo`` report to
through transformers. accelerate skips a tracker whose package is missing with only a warning; here
that is an error naming the package, since the user asked for it.

Every number in the report becomes one scalar named by its path, confidence intervals as
``_ci_low`` / ``_ci_high``:

>>> flat_metrics({"pairwise": {"accuracy": 0.9, "accuracy_ci": [0.8, 0.95], "groups": {"colour": {"n": 3}}},
...               "inputs": {"n_gold": {"pairwise": 3}}, "pointwise": None})
{'pairwise/accuracy': 0.9, 'pairwise/accuracy_ci_low': 0.8, 'pairwise/accuracy_ci_high': 0.95, 'pairwise/groups/colour/n': 3.0}
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

#: report keys that describe the inputs, not the judge's quality
_NOT_METRICS = ("critic_eval", "judges", "templates", "inputs", "bootstrap", "notes")
#: tracker -> the package it needs (accelerate's names)
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet_ml",
                    "aim": "aim", "clearml": "clearml", "dvclive": "dvclive", "swanlab": "swanlab", "trackio": "trackio"}


class TrackingError(ValueError):
    """A tracker that cannot be used here (unknown, or its package is missing)."""


def flat_metrics(report: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of ``report`` as ``{"a/b/c": value}``; ``[lo, hi]`` pairs under ``*_ci`` keys are split."""
    out: dict[str, float] = {}
    for key, value in report.items():
        if not prefix and key in _NOT_METRICS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_metrics(value, name + "/"))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            if math.isfinite(value):  # NaN (an undefined correlation) is left out, never logged as a number
                out[name] = float(value)
        elif key.endswith("_ci") and isinstance(value, (list, tuple)) and len(value) == 2:
            for side, v in zip(("low", "high"), value):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    out[f"{name}_{side}"] = float(v)
    return out


def check_trackers(trackers: list[str]) -> None:
    """Every tracker is one accelerate knows and its package is installed (accelerate itself too)."""
    if importlib.util.find_spec("accelerate") is None:
        raise TrackingError("--report-to uses accelerate's trackers: pip install accelerate (or 'critic[train]')")
    for t in trackers:
        if t not in TRACKER_PACKAGES:
            raise TrackingError(f"--report-to: {t!r} is not a tracker ({', '.join(TRACKER_PACKAGES)})")
        if importlib.util.find_spec(TRACKER_PACKAGES[t]) is None:
            raise TrackingError(f"--report-to {t}: its package is not installed (pip install {TRACKER_PACKAGES[t]})")


def log_report(trackers: list[str], report: dict[str, Any], *, project: str, run_name: str | None,
               logging_dir: Path, step: int = 0, config: dict[str, Any] | None = None) -> dict[str, float]:
    """Log ``report``'s metrics at ``step`` to each tracker; returns what was logged."""
    check_trackers(trackers)
    from accelerate import Accelerator

    metrics = flat_metrics(report)
    acc = Accelerator(log_with=trackers, project_dir=str(logging_dir), cpu=True)
    init_kwargs = {"wandb": {"name": run_name}} if run_name and "wandb" in trackers else {}
    acc.init_trackers(run_name or project, config=config or {}, init_kwargs=init_kwargs)
    acc.log(metrics, step=step)
    acc.end_training()
    return metrics
