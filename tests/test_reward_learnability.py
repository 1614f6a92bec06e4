"""Reward models learn the toy world from scratch on CPU (issue 15; slow: minutes each on 2 cores).

- a scalar Bradley–Terry model reaches pairwise accuracy >= 0.9 on held-out toy pairs;
- the same model trained on blank images stays near 0.5 (the control: the answer is in the pixels);
- a critique-then-score model reaches >= 0.9 and its critiques name the colour in the image.

The short versions (a few steps of each kind, every command) run by default in
``tests/test_reward_models.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def _train(tmp: Path, config: str, *overrides: str, name: str | None = None) -> Path:
    """Train ``config`` on the toy pairs into ``tmp / name`` (default: the config's stem); the checkpoint.

    Training must finish within 5 minutes on 2 cores (the issue's budget; measured 146-249 s)."""
    from critic.training.config import load_config
    from critic.training.objectives import run_training

    out = tmp / (name or Path(config).stem)
    cfg = load_config(REPO / config, ["--data.train", str(tmp / "pairs" / "train.jsonl"),
                                      "--train.output_dir", str(out), "--train.progress", "false", *overrides])
    t0 = time.perf_counter()
    run_training(cfg)
    wall = time.perf_counter() - t0
    assert wall <= 300, f"training took {wall:.0f} s (1-minute load average {os.getloadavg()[0]:.1f} on 2 cores)"
    return out


def _accuracy(ckpt: Path, heldout: Path, **kw) -> tuple[float, list]:
    from critic.jsonl import read_items
    from critic.reward.judge import RewardCritic

    items = [it for it in read_items(heldout / "items.jsonl", strict=True)[0] if it.label in ("A", "B")]
    critic = RewardCritic.from_pretrained(ckpt, **kw)
    comps = critic.compare(items)
    right = sum(c.winner == it.label for c, it in zip(comps, items))
    return right / len(items), list(zip(items, comps))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from critic.toy.pairs import write_toy_pairs
    from critic.toy.world import make_toy

    root = tmp_path_factory.mktemp("rm_learn")
    write_toy_pairs(root / "pairs", n=2400, seed=0)  # data_recipes/toy_pairs.yaml's pairs, offline
    make_toy(root / "heldout", n=200, seed=1000, task="pairwise", kinds=("colour",), extra_claims=False)
    return root


def test_scalar_reward_model_learns_toy_pairs(toy):
    acc, _ = _accuracy(_train(toy, "train/toy_rm.yaml"), toy / "heldout")
    assert acc >= 0.9, acc


def test_scalar_reward_model_on_blank_images_stays_near_chance(toy):
    acc, _ = _accuracy(_train(toy, "train/toy_rm.yaml", "--data.image_ablation", "blank", name="blank"),
                       toy / "heldout")
    assert 0.3 <= acc <= 0.7, acc


def test_critique_then_score_model_learns_and_names_the_colour(toy):
    acc, judged = _accuracy(_train(toy, "train/toy_critique_rm.yaml"), toy / "heldout", max_new_tokens=24)
    assert acc >= 0.9, acc
    named = [c.judgments[0].rationale.split("\n")[0].split(". ")[0].lower().endswith(it.meta["truth"])
             for it, c in judged]
    # the first sentence states the image's colour; measured 0.835 (the rest copy the answer's colour)
    assert sum(named) / len(named) >= 0.8
