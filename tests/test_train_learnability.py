"""Learnability end to end: a tiny critic trained on CPU learns to judge toy items by looking at them.

Both tests train through ``critic.training.trainer.train``, judge held-out toy items (never seen in
training) with ``Critic.from_pretrained(checkpoint)`` — the real path — and score the judgments with
``critic.evaluate``.

- the default-run test (small): the critic learns the format — it stops, writes a rationale and a
  verdict the parser reads (parse failures ≤ 2 %) — and its training loss falls by 90 %;
- the slow test (full): pairwise accuracy without ties ≥ 0.9, Pearson with gold ≥ 0.8, parse
  failures ≤ 2 %, training within 5 minutes on 2 cores; and the same model trained on blank images
  stays near chance (pairwise ≤ 0.65): it gets there by looking at the image.

The data: toy colour questions, one-claim responses, the rationale "The <shape> is <colour>." and
the ``compact_*`` templates (``critic.training.toy_data``; ``data_recipes/toy.yaml`` builds the same
kind of data through the oracle teacher).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from critic.training.config import load_config_dict
from critic.training.evaluation import evaluate_checkpoint
from critic.training.toy_data import write_heldout, write_training_set
from critic.training.trainer import train

# The full recipe (also bench/train_learnability.py's defaults and train/toy.yaml).
FULL = {"n": 2000, "epochs": 6, "lr": 5e-4}
SMALL = {"n": 96, "epochs": 4, "lr": 2e-3, "batch": 8}


def run(tmp_path: Path, *, n: int, epochs: float, lr: float, blank: bool = False, eval_n: int = 200,
        batch: int = 32) -> dict:
    data = write_training_set(tmp_path / "data", n_pairwise=n, n_pointwise=n, seed=0)
    held = write_heldout(tmp_path / "held", n=eval_n, seed=1000)
    cfg = load_config_dict({
        "model": {"tiny": {"family": "llava", "seed": 0}},
        "data": {"train": str(data), "image_ablation": "blank" if blank else "none", "cache_encoded": True},
        "train": {"output_dir": str(tmp_path / "model"), "epochs": epochs, "learning_rate": lr, "adam_beta2": 0.95,
                  "global_batch_size": batch, "per_device_batch_size": min(16, batch), "warmup_ratio": 0.05,
                  "save_steps": 10 ** 6, "logging_steps": 10, "progress": False},
    })
    res = train(cfg)
    pw = evaluate_checkpoint(res["output_dir"], held["pairwise"], max_items=eval_n, max_new_tokens=32)
    pt = evaluate_checkpoint(res["output_dir"], held["pointwise"], max_items=eval_n, max_new_tokens=32)
    return {"train_s": res["wall_s"], "losses": res["losses"], **pw, **pt}


def test_small_critic_learns_the_format_end_to_end(tmp_path: Path) -> None:
    r = run(tmp_path, n=SMALL["n"], epochs=SMALL["epochs"], lr=SMALL["lr"], batch=SMALL["batch"], eval_n=48)
    first, last = r["losses"][0][1], r["losses"][-1][1]
    assert last < 0.1 * first, r["losses"]
    assert r["pairwise_parse_failure_rate"] <= 0.02 and r["pointwise_parse_failure_rate"] <= 0.02, r
    assert r["accuracy_without_ties"] is not None


@pytest.mark.slow
def test_tiny_critic_judges_by_looking_at_the_image(tmp_path: Path) -> None:
    r = run(tmp_path / "real", **FULL)
    load = os.getloadavg()[0]
    assert r["accuracy_without_ties"] >= 0.9, r
    assert r["pearson"] is not None and r["pearson"] >= 0.8, r
    assert r["pairwise_parse_failure_rate"] <= 0.02 and r["pointwise_parse_failure_rate"] <= 0.02, r
    assert r["train_s"] <= 300, f"training took {r['train_s']:.0f} s (1-minute load average {load:.1f} on 2 cores)"

    blank = run(tmp_path / "blank", blank=True, **FULL)
    assert blank["accuracy_without_ties"] <= 0.65, blank
