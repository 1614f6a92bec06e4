"""Iterative DPO end to end on CPU: a tiny SFT'd policy, the oracle teacher as critic, rewards rise (slow).

The policy is a tiny LLaVA fine-tuned (plain torch steps) on mixed-quality toy answers to "What
colour is the circle?": right and wrong colours as the toy world draws them, and about two thirds
of the answers about another shape (off-topic, the oracle's lowest grade). Each round samples K
answers per prompt, the oracle teacher ranks them in a pairwise tournament over HTTP and TRL's
DPOTrainer trains on best-vs-worst pairs (MPO's loss mixture with Dynamic Reward Scaling, as in
``train/dpo_toy.yaml``). The oracle's mean pointwise score of the policy's answers to held-out
prompts must rise from round 0 to the final policy. (Measured once: 10.0 → 26.2 → 27.6 → 26.6 on
the 1–100 scale: the off-topic answers disappear in the first round; reading colours from pixels is
beyond what a few DPO steps teach a 1M-parameter model, so the rest is the colour lottery.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def circle_sets(n: int, seed: int):
    """Toy colour candidate sets whose question is about the circle."""
    from critic.toy.world import generate_items

    return [(cs, imgs) for cs, imgs in generate_items(n, seed=seed, task="candidates", kinds=("colour",),
                                                      extra_claims=False, k=4) if "circle" in cs.question]


def write_prompts(folder: Path, n: int, seed: int) -> Path:
    from critic.jsonl import JsonlWriter
    from critic.records import PointwiseItem

    (folder / "images").mkdir(parents=True)
    with JsonlWriter(folder / "items.jsonl") as w:
        for cs, imgs in circle_sets(n, seed):
            imgs[0].save(folder / "images" / f"{cs.id}.png")
            w.write(PointwiseItem(id=cs.id, images=[str(folder / "images" / f"{cs.id}.png")], question=cs.question,
                                  response=""))
    return folder / "items.jsonl"


def sft_policy(out: Path, *, steps: int, off_topic: float = 0.65, seed: int = 0):
    """A tiny LLaVA trained on toy answers of mixed quality to circle questions (``critic toy policy``)."""
    from critic.toy.policy import sft_toy_policy

    return sft_toy_policy(out, steps=steps, off_topic=off_topic, seed=seed, shapes=("circle",))


def test_iterative_dpo_raises_the_oracle_reward(tmp_path, one_thread):
    pytest.importorskip("trl")
    import yaml

    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import run
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    policy = sft_policy(tmp_path / "policy", steps=150)
    cfg = yaml.safe_load((ROOT / "train" / "dpo_toy.yaml").read_text())
    cfg.update(output_dir=str(tmp_path / "run"), prompts=str(write_prompts(tmp_path / "prompts", 200, 50)), rounds=3)
    cfg["policy"]["name_or_path"] = str(policy)
    cfg["sampling"].update(k=4, max_new_tokens=16, batch_size=32)
    cfg["dpo"].update(epochs=2, learning_rate=1e-3, batch_size=8, logging_steps=50)
    cfg["eval"].update(k=4, prompts=str(write_prompts(tmp_path / "held_out", 200, 51)))
    with ChatServer(oracle_answer) as srv:
        cfg["critic"]["base_url"] = [srv.base_url]
        summary = run(load_dpo_config_dict(cfg), log=lambda *a: None)
    scores = summary["eval_mean_score"]
    assert len(scores) == 4 and all(s is not None for s in scores)
    assert scores[-1] > scores[0] + 5, scores  # the oracle's 1-100 scale; measured 10.0 -> 26.6
    for r in range(3):
        rec = json.loads((tmp_path / "run" / f"round_{r}" / "round.json").read_text())
        assert rec["pairs"] >= 10 and rec["train"]["per_pair_beta"] and rec["mean_margin"] > 0
