"""What reaches ``TrainingArguments`` beyond critic's own settings: ``train.report_to`` and ``train.trainer_args``.

``report_to`` takes any tracker transformers has an integration for; the ones whose package transformers can
detect must be installed. ``trainer_args`` is merged last, so any ``TrainingArguments`` field can be set (or
overridden) from the config; a key that is not a field is an error naming it.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

#: pip packages of the trackers (the name transformers uses when it differs from the package)
TRACKER_PACKAGES = {"azure_ml": "azureml-core", "comet_ml": "comet-ml"}


class TrainerArgsError(ValueError):
    """A ``train.report_to`` or ``train.trainer_args`` entry that TrainingArguments cannot take."""


def check_trackers(report_to: list[str]) -> None:
    """Every tracker is one transformers supports and, where transformers can tell, is installed."""
    from transformers.integrations import integration_utils as iu

    supported = sorted(iu.INTEGRATION_TO_CALLBACK)
    available = set(iu.get_available_reporting_integrations())
    if iu.is_azureml_available():  # transformers lists azure_ml only without mlflow
        available.add("azure_ml")
    detectable = set(supported) - {"flyte"}  # transformers has no availability check for flyte
    for tracker in report_to:
        if tracker not in supported:
            raise TrainerArgsError(f"train.report_to: {tracker!r} is not a tracker transformers supports "
                                   f"({', '.join(supported)})")
        if tracker in detectable and tracker not in available:
            pkg = TRACKER_PACKAGES.get(tracker, tracker)
            raise TrainerArgsError(f"train.report_to asks for {tracker}, which is not installed (pip install {pkg})")


def merge_trainer_args(kwargs: dict[str, Any], trainer_args: dict[str, Any], cls: type) -> dict[str, Any]:
    """``kwargs`` with ``trainer_args`` merged over them, each key checked against ``cls``'s dataclass fields."""
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in trainer_args:
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TrainerArgsError(f"train.trainer_args: {key!r} is not a TrainingArguments field{hint}")
    return {**kwargs, **trainer_args}
