"""A ``critic dpo`` round whose pairs come from per-source methods (the run config's ``pairs`` section).

The section is a pairs recipe without a policy: each round's policy is the newest checkpoint (or
the sampling server serving it, ``sampling.backend: openai``). Each source is built with its own
method — ``correctness``, ``dropout_ntp`` or ``critic`` (the run's ``critic`` judge unless the
section names its own) — into ``round_N/sources/NAME/`` and mixed with the sources'
``proportion`` s into ``round_N/pairs.jsonl``, so one loop mixes MMPR and critic pairs per source.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from critic.pairs.recipe import PairsRecipe, PolicySpec


def round_recipe(section: PairsRecipe, sampling: Any, policy_cfg: Any, checkpoint: str, r: int,
                 seed: int) -> PairsRecipe:
    """The section with this round's policy and seed (``sampling``, ``policy_cfg``: the run's sections)."""
    if sampling.backend == "hf":
        spec = PolicySpec(checkpoint=checkpoint, dtype=policy_cfg.dtype, device=sampling.device,
                          batch_size=sampling.batch_size, trust_remote_code=policy_cfg.trust_remote_code)
    else:
        spec = PolicySpec(base_url=sampling.base_url, model=sampling.model.format(checkpoint=checkpoint, round=r),
                          concurrency=sampling.concurrency)
    return section.model_copy(update={"policy": spec, "seed": seed + r})


def label_round_from_sources(cfg: Any, r: int, checkpoint: str, folder: Path, log: Any,
                             judge_factory: Callable[[], Any], evaluate: Callable[[], Any]) -> dict[str, Any]:
    """Build the round's pairs per source into ``folder``; returns the round's labelling record."""
    from critic.pairs.build import build_pairs

    ev = evaluate()
    recipe = round_recipe(cfg.pairs, cfg.sampling, cfg.policy, checkpoint, r, cfg.seed)
    own = recipe.critic is not None  # else critic sources rank with the run's critic: its judge, mode, aggregation
    stats = build_pairs(recipe, folder, judge_factory=None if own else judge_factory,
                        ranking=None if own else cfg.critic, log=log)
    rows = [json.loads(x) for x in (folder / "pairs.jsonl").open() if x.strip()]
    if not rows:
        raise RuntimeError(f"round {r}: the sources made no pairs (see {folder / 'stats.json'})")
    dropped: Counter = Counter()
    for s in stats["sources"]:
        dropped.update(s["dropped"])
    return {"sampling": {s["name"]: s["samples_this_run"] for s in stats["sources"]}, "eval": ev, "pairs": len(rows),
            "sets": sum(s["questions"] for s in stats["sources"]),
            "mean_margin": sum(float(x["margin"]) for x in rows) / len(rows),
            "mean_chosen_reward": sum(float(x["chosen_reward"]) for x in rows) / len(rows),
            "mean_rejected_reward": sum(float(x["rejected_reward"]) for x in rows) / len(rows),
            "no_pair": dict(dropped), "mix": stats["mix"],
            "by_source": {s["name"]: {"method": s["method"], "pairs": s["pairs"], "pair_types": s["pair_types"]}
                          for s in stats["sources"]}}
