"""Iterative DPO: Dynamic Reward Scaling by hand, TRL's loss with per-pair β, and the loop's mechanics."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest

from critic.dpo.config import DPOConfigError, load_dpo_config, load_dpo_config_dict
from critic.dpo.drs import drs_beta, drs_betas

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------- DRS by hand

def test_drs_beta_matches_the_formula_on_a_hand_worked_batch():
    # β(δ) = β0 (1 + w (1 - e^{-kδ})) with β0 = 0.1, w = 0.5, k = 0.5
    margins = [0.0, 2.0, 4.0, 16.0]
    want = [0.1, 0.1 * (1 + 0.5 * (1 - math.exp(-1.0))), 0.1 * (1 + 0.5 * (1 - math.exp(-2.0))),
            0.1 * (1 + 0.5 * (1 - math.exp(-8.0)))]
    got = drs_betas(margins, beta0=0.1, w=0.5, k=0.5)
    assert got == pytest.approx(want, rel=1e-12)
    assert got[1] == pytest.approx(0.13160602794, rel=1e-9)
    assert all(0.1 <= b < 0.15 for b in got) and got == sorted(got)
    assert drs_beta(3.0, 0.2, 0.0, 1.0) == 0.2  # w = 0: plain DPO
    with pytest.raises(ValueError, match="margin must be >= 0"):
        drs_beta(-1.0, 0.1, 0.5, 0.5)


def _logps(model, batch) -> list[float]:
    """Sum of completion-token log-probs per sequence, computed directly from the logits."""
    import torch

    keep = {k: v for k, v in batch.items() if k not in ("completion_mask", "beta")}
    with torch.no_grad():
        logits = model(**keep).logits[:, :-1].float()
    ids = batch["input_ids"][:, 1:]
    mask = batch["completion_mask"][:, 1:].float()
    lp = torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(1).tolist()


def test_trl_loss_uses_the_per_pair_beta_and_mixes_mpo_terms(tiny_model_dir, tmp_path, one_thread):
    """A hand-worked batch of two pairs with β = 0.1 and 0.35: the trainer's loss is the formula's."""
    pytest.importorskip("trl")
    import torch
    from PIL import Image
    from trl import DPOConfig

    from critic.dpo.pairs import answer_messages, load_pairs, prompt_messages
    from critic.dpo.trainer import dpo_trainer_class
    from critic.models.loading import load_model, load_processor
    from critic.models.tiny import make_tiny

    policy_dir = tiny_model_dir("llava")
    ref_dir = make_tiny(tmp_path / "ref", family="llava", seed=7)  # a different reference: log-ratios are not 0
    Image.new("RGB", (32, 32), (220, 20, 30)).save(tmp_path / "red.png")
    rows = [dict(id=f"p{i}", images=["red.png"], prompt=prompt_messages("What colour is the circle?", 1),
                 chosen=answer_messages(c), rejected=answer_messages(r), chosen_reward=1.0, rejected_reward=0.0, margin=1.0)
            for i, (c, r) in enumerate([("The circle is red.", "The circle is blue."), ("It is red.", "A square.")])]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    betas = [0.1, 0.35]
    model, ref = load_model(policy_dir), load_model(ref_dir)
    args = DPOConfig(output_dir=str(tmp_path / "out"), beta=0.1, loss_type=["sigmoid"], report_to=[], use_cpu=True,
                     max_length=None, per_device_train_batch_size=2)
    ds = load_pairs(tmp_path / "pairs.jsonl", beta=betas)
    trainer = dpo_trainer_class()(model=model, ref_model=ref, args=args, train_dataset=ds,
                                  processing_class=load_processor(policy_dir))
    batch = trainer.data_collator([dict(ds[0]), dict(ds[1])])
    assert batch["beta"].tolist() == pytest.approx(betas)
    pol, rf = _logps(model, batch), _logps(ref, batch)
    b = torch.tensor(betas)
    chosen = torch.tensor(pol[:2]) - torch.tensor(rf[:2])  # log πθ(y_w) - log π_ref(y_w)
    rejected = torch.tensor(pol[2:]) - torch.tensor(rf[2:])
    F = torch.nn.functional
    sigmoid = (-F.logsigmoid(b * (chosen - rejected))).mean()
    with torch.no_grad():
        got = trainer.compute_loss(model, dict(batch))
    assert got.item() == pytest.approx(sigmoid.item(), rel=1e-4, abs=1e-5)
    assert trainer.beta == 0.1  # restored after the batch
    scalar = (-F.logsigmoid(0.1 * (chosen - rejected))).mean()
    assert abs(sigmoid.item() - scalar.item()) > 1e-6  # the per-pair β made a difference

    # MPO's mixture through TRL's loss list: 0.8 DPO + 0.2 BCO (per-pair β in both) + 1 SFT on chosen
    trainer.loss_types, trainer.loss_weights = ["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0]
    bco = (-F.logsigmoid(b * chosen) - F.logsigmoid(-b * rejected)).mean()
    keep = {k: v for k, v in batch.items() if k not in ("completion_mask", "beta")}
    with torch.no_grad():
        lp = torch.log_softmax(model(**keep).logits[:2, :-1].float(), -1)
        got = trainer.compute_loss(model, dict(batch))
    tok = lp.gather(-1, batch["input_ids"][:2, 1:].unsqueeze(-1)).squeeze(-1)
    sft = -tok[batch["completion_mask"][:2, 1:].bool()].mean()
    assert got.item() == pytest.approx((0.8 * sigmoid + 0.2 * bco + 1.0 * sft).item(), rel=1e-4, abs=1e-5)


# ----------------------------------------------------------------------------------- config

def test_config_overrides_and_errors(tmp_path):
    base = {"output_dir": "o", "prompts": "p.jsonl", "policy": {"name_or_path": "m"}, "critic": {"model": "c"}}
    cfg = load_dpo_config_dict(base, ["--rounds=2", "--drs.enabled", "true", "--critic.base_url", "[http://h/v1]",
                                      "--loss_type", "[sigmoid, bco_pair, sft]", "--loss_weights", "[0.8, 0.2, 1.0]"])
    assert cfg.rounds == 2 and cfg.dpo.drs.enabled and cfg.critic.base_url == ["http://h/v1"]
    assert cfg.dpo.loss_type == ["sigmoid", "bco_pair", "sft"]
    with pytest.raises(DPOConfigError, match="loss_weights has 1 entries for 2 loss types"):
        load_dpo_config_dict(base, ["--dpo.loss_type", "[sigmoid, sft]", "--dpo.loss_weights", "[1.0]"])
    with pytest.raises(DPOConfigError, match="override --betta: unknown key \\(did you mean 'beta'\\?\\)"):
        load_dpo_config_dict(base, ["--betta", "1"])
    with pytest.raises(DPOConfigError, match="ambiguous"):
        load_dpo_config_dict(base, ["--k", "3"])  # sampling.k, dpo.drs.k, eval.k
    with pytest.raises(DPOConfigError, match="critic.model: required key is missing"):
        load_dpo_config_dict({**base, "critic": {}})


@pytest.mark.parametrize("name", ["dpo_toy.yaml", "dpo_llava_ov_7b.yaml"])
def test_shipped_recipes_load(name):
    cfg = load_dpo_config(ROOT / "train" / name)
    if name == "dpo_llava_ov_7b.yaml":  # LLaVA-OneVision-Chat: K=5, T 0.7, top-p 0.9, β 0.1, lr 5e-7, 3 rounds
        s, d = cfg.sampling, cfg.dpo
        assert (s.k, s.temperature, s.top_p, d.beta, d.learning_rate, d.epochs, cfg.rounds) == (5, 0.7, 0.9, 0.1, 5e-7, 1, 3)
        assert cfg.critic.mode == "pairwise" and cfg.critic.aggregation == "llava_ov"


# ----------------------------------------------------------------------------------- the loop

def hash_judge(body, images) -> str:
    """A deterministic stand-in critic: prefers the response with the larger hash; scores by hash."""
    from critic.toy.oracle import prompt_text

    text = prompt_text(body)
    first = re.search(r"The first response: \[(.*?)\]\nThe second response: \[(.*?)\]", text, re.S)
    h = lambda s: int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)  # noqa: E731
    if first:
        a, b = first.groups()
        verdict = ("the two responses are equally good" if h(a) == h(b)
                   else "the first response is better" if h(a) > h(b) else "the second response is better")
        return f"Compared by hash. Therefore, {verdict}."
    resp = re.search(r"The LMM response: \[(.*?)\]", text, re.S).group(1)
    return f"Scored by hash. Overall score: {h(resp) % 100 + 1}"


def test_loop_runs_rounds_keeps_every_output_and_resumes(tiny_model_dir, tmp_path, capsys, one_thread):
    pytest.importorskip("trl")
    import yaml

    from critic.commands.main import main
    from critic.toy.chat_server import ChatServer
    from critic.toy.world import make_toy

    make_toy(tmp_path / "toy", n=4, seed=2, task="pointwise", kinds=("colour",))
    cfg = yaml.safe_load((ROOT / "train" / "dpo_toy.yaml").read_text())
    cfg.update(output_dir=str(tmp_path / "run"), prompts=str(tmp_path / "toy" / "items.jsonl"), rounds=2)
    cfg["policy"]["name_or_path"] = str(tiny_model_dir("llava"))
    cfg["sampling"].update(k=3, max_new_tokens=6, batch_size=12)
    cfg["critic"].update(cache=str(tmp_path / "cache.sqlite"))
    cfg["dpo"].update(max_steps=2, batch_size=2, logging_steps=1)
    cfg["eval"].update(k=1)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    with ChatServer(hash_judge) as srv:
        args = ["dpo", str(tmp_path / "cfg.yaml"), "--critic.base_url", f"[{srv.base_url}]"]
        assert main(args) == 0
        first_requests = srv.stats.requests
        for r in (0, 1):
            d = run / f"round_{r}"
            for f in ("samples.jsonl", "eval_samples.jsonl", "eval.json", "pairs.jsonl", "pairs.jsonl.rankings.jsonl",
                      "pairs.jsonl.judgments.jsonl", "checkpoint/critic_round.json", "checkpoint/config.json", "round.json"):
                assert (d / f).exists(), d / f
            rec = json.loads((d / "round.json").read_text())
            assert rec["pairs"] >= 1 and rec["train"]["steps"] == 2 and rec["train"]["per_pair_beta"] is True
            assert rec["train"]["loss_type"] == ["sigmoid", "bco_pair", "sft"]
            sets = [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines()]
            assert len(sets) == 4 and all(len(s["candidates"]) == 3 and s["meta"]["round"] == r for s in sets)
        r1 = json.loads((run / "round_1" / "round.json").read_text())
        assert r1["policy"] == str(run / "round_0" / "checkpoint")
        summary = json.loads((run / "summary.json").read_text())
        assert summary["rounds"] == 2 and len(summary["eval_mean_score"]) == 3 and summary["final_policy"].endswith(
            "round_1/checkpoint")
        assert first_requests > 0

        # finished: a rerun does nothing
        stamp = (run / "round_1" / "round.json").stat().st_mtime_ns
        assert main(args) == 0
        assert srv.stats.requests == first_requests
        assert (run / "round_1" / "round.json").stat().st_mtime_ns == stamp

        # killed during round 1's training: samples and labels are kept, training is redone, the final eval too
        (run / "round_1" / "round.json").unlink()
        (run / "round_1" / "checkpoint" / "critic_round.json").unlink()
        assert main(args) == 0
        assert (run / "round_1" / "round.json").exists() and (run / "final" / "eval.json").exists()
        redone = srv.stats.requests - first_requests
        assert 0 < redone <= 4  # only the final eval's 4 answers are judged again
    out = capsys.readouterr().out
    assert "round 0: policy" in out and "done: eval mean score by round" in out
