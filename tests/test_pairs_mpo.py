"""MPO end to end: a `critic dpo` round on correctness pairs with MPO's loss mixture.

Short version (default suite): the loop's ``pairs`` section on the tiny random LLaVA, its policy
replaced by fixed toy answers, a mixed correctness + Dropout NTP round of 2 steps with
``sigmoid + bco_pair + sft`` (0.8 / 0.2 / 1). Slow version: the SFT'd tiny toy policy, one MPO
round on correctness pairs, the oracle-graded accuracy on held-out toy questions rises over round 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pairs import COLOUR_RE, FixedPolicy, toy_prompts

ROOT = Path(__file__).resolve().parents[1]
MPO = {"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0]}


def dpo_cfg(tmp_path: Path, policy: str, items: Path, sources: list[dict], **dpo) -> dict:
    return {"output_dir": str(tmp_path / "run"), "prompts": str(items), "rounds": 1, "seed": 0,
            "policy": {"name_or_path": policy, "dtype": "float32"},
            "sampling": {"batch_size": 32, "max_new_tokens": 12},
            "critic": {"backend": "openai", "model": "oracle", "base_url": ["http://127.0.0.1:9/v1"]},
            "dpo": {"beta": 0.1, "learning_rate": 5e-4, "batch_size": 4, "logging_steps": 1, "bf16": False,
                    "lr_scheduler": "constant", "warmup_ratio": 0.0, **MPO, **dpo},
            "eval": {"enabled": False},
            "pairs": {"sampling": {"n": 8, "max_new_tokens": 12}, "sources": sources}}


def test_dpo_round_mixes_correctness_and_dropout_pairs(tiny_model_dir, tmp_path, monkeypatch, one_thread):
    pytest.importorskip("trl")
    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import run
    from critic.pairs import build
    from critic.pairs.rows import read_source_prompts

    items = toy_prompts(tmp_path / "toy", n=4)
    prompts, _ = read_source_prompts(items)
    monkeypatch.setattr(build, "make_policy", lambda spec: FixedPolicy({p.question: p.model_extra["meta"]["truth"]
                                                                        for p in prompts}))
    sources = [{"name": "mc", "path": str(items), "method": "correctness", "answer_field": "meta.truth",
                "extractor": COLOUR_RE, "num_pairs_per_key": 2, "proportion": 0.5},
               {"name": "open", "path": str(items), "method": "dropout_ntp", "proportion": 0.5}]
    cfg = load_dpo_config_dict(dpo_cfg(tmp_path, str(tiny_model_dir("llava")), items, sources, max_steps=2))
    summary = run(cfg, log=lambda *_: None)
    rec = json.loads((tmp_path / "run" / "round_0" / "round.json").read_text())
    assert rec["train"]["steps"] == 2 and rec["train"]["loss_type"] == MPO["loss_type"]
    assert rec["train"]["loss_weights"] == MPO["loss_weights"]
    assert rec["by_source"]["mc"]["method"] == "correctness" and rec["by_source"]["open"]["method"] == "dropout_ntp"
    rows = [json.loads(x) for x in (tmp_path / "run" / "round_0" / "pairs.jsonl").open()]
    methods = [r["method"] for r in rows]
    assert methods.count("correctness") == methods.count("dropout_ntp") > 0  # 50 / 50 mix
    assert summary["pairs"] == [len(rows)]


def test_dpo_round_critic_source_ranks_with_the_runs_critic(tiny_model_dir, tmp_path, monkeypatch, one_thread):
    """A ``critic`` source in a pairs section with no critic of its own: the run's critic ranks (the oracle)."""
    pytest.importorskip("trl")
    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import run
    from critic.pairs import build
    from critic.pairs.rows import read_source_prompts
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    items = toy_prompts(tmp_path / "toy", n=4)
    prompts, _ = read_source_prompts(items)
    truths = {p.question: p.model_extra["meta"]["truth"] for p in prompts}
    monkeypatch.setattr(build, "make_policy", lambda spec: FixedPolicy(truths))
    with ChatServer(oracle_answer) as srv:
        raw = dpo_cfg(tmp_path, str(tiny_model_dir("llava")), items,
                      [{"name": "tour", "path": str(items), "method": "critic"}], max_steps=1)
        raw["critic"] = {"backend": "openai", "model": "oracle", "base_url": [srv.base_url], "no_cache": True}
        run(load_dpo_config_dict(raw), log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "run" / "round_0" / "pairs.jsonl").open()]
    assert len(rows) == 4 and {r["method"] for r in rows} == {"critic"}
    for r in rows:  # the oracle's best answer names the right colour
        assert truths[r["prompt"][0]["content"][-1]["text"]] in r["chosen"][0]["content"][0]["text"]


@pytest.mark.slow
def test_one_mpo_round_on_correctness_pairs_raises_toy_accuracy(tmp_path, one_thread):
    """Measured once (see BENCHMARKS.md): accuracy before and after one round, oracle-graded."""
    pytest.importorskip("trl")
    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import run
    from critic.toy.policy import oracle_accuracy, sft_toy_policy
    from critic.toy.world import make_toy

    policy = sft_toy_policy(tmp_path / "policy", steps=150, shapes=("circle",))
    make_toy(tmp_path / "train", n=96, seed=11, task="pointwise", kinds=("colour",))
    make_toy(tmp_path / "held", n=96, seed=12, task="pointwise", kinds=("colour",))
    # circle questions only (what the policy was taught); the parse must be about the circle, so an
    # answer about another shape is a format-negative
    for name in ("train", "held"):
        lines = [x for x in (tmp_path / name / "items.jsonl").open() if "circle" in json.loads(x)["question"]]
        (tmp_path / name / "circle.jsonl").write_text("".join(lines))
    circle = {"kind": "regex", "pattern": r"(?i)\bcircle\b[^.]*?\b(red|green|blue|yellow|purple|orange)\b"}
    sources = [{"name": "mc", "path": str(tmp_path / "train" / "circle.jsonl"), "method": "correctness",
                "answer_field": "meta.truth", "extractor": circle}]
    cfg = load_dpo_config_dict(dpo_cfg(tmp_path, str(policy), tmp_path / "train" / "circle.jsonl", sources,
                                       epochs=1, batch_size=8))
    before = oracle_accuracy(policy, tmp_path / "held" / "circle.jsonl")
    run(cfg, log=print)
    after = oracle_accuracy(tmp_path / "run" / "round_0" / "checkpoint", tmp_path / "held" / "circle.jsonl")
    print(f"toy accuracy before {before:.3f} after {after:.3f}")
    assert after > before
