"""critic: build, train, run and measure generative vision-language critics.

The names users need are importable from here; each is loaded on first use, so ``import critic``
(and ``critic --help``) stays fast and pulls in neither torch nor transformers:

>>> import critic
>>> critic.PairwiseItem(id="1", question="Which colour?", response_a="red", response_b="blue").task
'pairwise'
>>> "torch" in critic.__all__
False

The flow and where each stage lives: ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name → the module that defines it
_EXPORTS = {
    "Critic": "critic.judging.critic",
    "JudgeSpec": "critic.judging.spec",
    "make_critic": "critic.judging.factory",
    "load_template": "critic.judging.templates",
    "Verdict": "critic.judging.verdicts",
    "rank": "critic.judging.ranking",
    "CriticPairwiseJudge": "critic.judging.trl_adapters",
    "CriticRewardFunc": "critic.judging.trl_adapters",
    "JudgeCache": "critic.judging.backends.cache",
    "evaluate": "critic.evaluation.evaluate",
    "PointwiseItem": "critic.records",
    "PairwiseItem": "critic.records",
    "CandidateSet": "critic.records",
    "PointwiseJudgment": "critic.records",
    "PairwiseJudgment": "critic.records",
    "TrainingSample": "critic.records",
    "read_items": "critic.jsonl",
    "RemoteCritic": "critic.serving.client",
}

__all__ = [
    "__version__",
    "CandidateSet",
    "Critic",
    "CriticPairwiseJudge",
    "CriticRewardFunc",
    "JudgeCache",
    "JudgeSpec",
    "PairwiseItem",
    "PairwiseJudgment",
    "PointwiseItem",
    "PointwiseJudgment",
    "RemoteCritic",
    "TrainingSample",
    "Verdict",
    "evaluate",
    "load_template",
    "make_critic",
    "rank",
    "read_items",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from critic.evaluation.evaluate import evaluate
    from critic.jsonl import read_items
    from critic.judging.backends.cache import JudgeCache
    from critic.judging.critic import Critic
    from critic.judging.factory import make_critic
    from critic.judging.ranking import rank
    from critic.judging.spec import JudgeSpec
    from critic.judging.templates import load_template
    from critic.judging.trl_adapters import CriticPairwiseJudge, CriticRewardFunc
    from critic.judging.verdicts import Verdict
    from critic.records import (
        CandidateSet,
        PairwiseItem,
        PairwiseJudgment,
        PointwiseItem,
        PointwiseJudgment,
        TrainingSample,
    )
    from critic.serving.client import RemoteCritic


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'critic' has no attribute {name!r}")


assert set(__all__) == {"__version__", *_EXPORTS}, "keep __all__ and _EXPORTS in step"


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
