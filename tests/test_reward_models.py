"""Reward models (issue 15): losses by hand, critique-only targets, a short training of each kind, and a
reward-model checkpoint in every judge command with no other argument. The learnability runs are in
``tests/test_reward_learnability.py`` (slow).

Time: the two trainings are one step each on 8 pairs (the setup is mostly imports and building the
model), shared by every test through module-scoped fixtures; the label-pairs / best-of-n / filter /
eval-bench runs (each loads the checkpoint again) are ``slow``, ``judge`` covers the same path by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from critic.reward.losses import IGNORE, bradley_terry_loss, centring_loss, critique_nll, critique_score_loss

TINY = {"family": "llava", "hidden_size": 64, "num_layers": 2, "vision_hidden_size": 64, "vision_layers": 1,
        "image_size": 32, "patch_size": 8, "seed": 0}


def test_bradley_terry_loss_matches_a_hand_worked_batch():
    c, r = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 1.0, -1.0])
    # -log sigmoid(2) = 0.126928, -log sigmoid(-1) = 1.313262, -log sigmoid(0) = 0.693147
    assert bradley_terry_loss(c, r).item() == pytest.approx((0.126928 + 1.313262 + 0.693147) / 3, abs=1e-5)
    assert centring_loss(c, r).item() == pytest.approx((4 + 1 + 4) / 3)


def test_critique_score_loss_is_nll_plus_bt_plus_centring():
    c, r = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    # logits favour token 1 at every position; labels: only position 2 is learned (token 1)
    logits = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[IGNORE, IGNORE, 1]])
    nll = critique_nll(logits, labels)
    assert nll.item() == pytest.approx(0.693147, abs=1e-5)  # log 2: uniform over two tokens
    total = critique_score_loss(c, r, nll, centre_weight=0.01)
    assert total.item() == pytest.approx(0.693147 + (0.126928 + 1.313262) / 2 + 0.01 * 2.5, abs=1e-5)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from critic.toy.pairs import write_toy_pairs
    from critic.toy.world import make_toy

    root = tmp_path_factory.mktemp("rm")
    write_toy_pairs(root / "pairs", n=8, seed=0)
    make_toy(root / "pairwise", n=6, seed=1000, task="pairwise", kinds=("colour",), extra_claims=False)
    make_toy(root / "pointwise", n=4, seed=1001, task="pointwise", kinds=("colour",), extra_claims=False)
    make_toy(root / "sets", n=2, seed=1002, task="candidates", kinds=("colour",), extra_claims=False, k=3)
    return root


def _train(root: Path, kind: str) -> Path:
    from critic.training.config import load_config_dict
    from critic.training.objectives import run_training

    out = root / f"rm_{kind}"
    cfg = load_config_dict({
        "model": {"tiny": TINY}, "data": {"train": str(root / "pairs" / "train.jsonl"), "max_length": 512},
        "train": {"objective": kind, "output_dir": str(out), "max_steps": 1, "global_batch_size": 2,
                  "per_device_batch_size": 2, "learning_rate": 1e-3, "progress": False, "logging_steps": 1},
        "reward": {"stats_samples": 2}})
    res = run_training(cfg)
    assert res.output_dir == str(out) and res.final_loss is not None
    return out


@pytest.fixture(scope="module")
def scalar_rm(toy):
    return _train(toy, "scalar")


@pytest.fixture(scope="module")
def critique_rm(toy):
    return _train(toy, "critique_score")


def test_critique_tokens_are_the_only_lm_targets(scalar_rm):
    from PIL import Image

    from critic.models.loading import load_processor
    from critic.reward.encode import RewardEncoder

    proc = load_processor(str(scalar_rm))
    tok = proc.tokenizer
    enc = RewardEncoder(proc, {tok.convert_tokens_to_ids("<|im_end|>")})
    img = Image.new("RGB", (32, 32), (255, 0, 0))
    e = enc.encode("What colour is the circle?", [img], "The circle is red.", "The circle is red. Right.")
    learned = tok.decode(e.input_ids[e.labels != IGNORE])
    assert learned == "The circle is red. Right.<|im_end|>"
    assert (e.labels[e.input_ids == proc.image_token_id] == IGNORE).all()
    scalar = enc.encode("What colour is the circle?", [img], "The circle is red.")
    assert (scalar.labels == IGNORE).all()  # a scalar model learns no tokens
    assert tok.decode(scalar.input_ids[-1:]) == "<|im_end|>"  # the reward is read at the answer's end of turn
    # reward.lm_weight: the response's tokens as response_labels, in a scalar and in a critique model's sequence
    grm = enc.encode("What colour is the circle?", [img], "The circle is red.", learn_response=True)
    assert (grm.labels == IGNORE).all()
    assert tok.decode(grm.input_ids[grm.response_labels != IGNORE]) == "The circle is red.<|im_end|>"
    both = enc.encode("What colour is the circle?", [img], "The circle is red.", "Right.", learn_response=True)
    assert tok.decode(both.input_ids[both.response_labels != IGNORE]) == "The circle is red.<|im_end|>"
    assert tok.decode(both.input_ids[both.labels != IGNORE]) == "Right.<|im_end|>"


def test_lm_weight_learns_the_chosen_response_only_and_adds_its_nll(scalar_rm, toy):
    """``reward.lm_weight`` (GRM's SFT regulariser): labels on the chosen rows' responses, none on the
    rejected rows', and the trainer's loss is Bradley–Terry + lm_weight · NLL of the chosen responses."""
    from critic.reward.model import RewardNet
    from critic.training.config import load_config_dict
    from critic.training.reward_data import load_pairs
    from critic.training.reward_trainer import build_reward_trainer

    cfg = load_config_dict({
        "model": {"tiny": TINY}, "data": {"train": str(toy / "pairs" / "train.jsonl"), "max_length": 512},
        "train": {"objective": "scalar", "output_dir": str(toy / "grm"), "max_steps": 1, "global_batch_size": 2,
                  "per_device_batch_size": 2, "progress": False},
        "reward": {"lm_weight": 0.5}})
    trainer, info = build_reward_trainer(cfg)
    pairs = load_pairs(cfg.data.train, kind="scalar")
    batch = info["collator"]([pairs[0], pairs[1]])
    assert "labels" not in batch  # a scalar model learns no critique
    learned = (batch["response_labels"] != IGNORE).sum(1)
    assert (learned[:2] > 0).all() and (learned[2:] == 0).all()  # chosen rows learn their answer, rejected none
    net: RewardNet = trainer.model
    net.eval()
    with torch.no_grad():
        out = net(**{k: v for k, v in batch.items() if k != "n_pairs"})
        loss = trainer.compute_loss(net, dict(batch))
    expected = bradley_terry_loss(out["rewards"][:2], out["rewards"][2:]) + 0.5 * out["response_nll"]
    assert out["nll"] is None and out["response_nll"].item() > 0
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    cfg.reward.lm_weight = 0.0  # off (the default): Bradley–Terry alone
    trainer, info = build_reward_trainer(cfg)
    assert "response_labels" not in info["collator"]([pairs[0]])


def test_checkpoint_records_its_kind_and_head(scalar_rm, critique_rm):
    from critic.reward import checkpoint_kind

    for path, kind, head in ((scalar_rm, "scalar", "ScalarHead"), (critique_rm, "critique_score", "CritiqueHead")):
        meta = json.loads((path / "critic.json").read_text())
        assert meta["kind"] == kind == checkpoint_kind(path)
        assert meta["reward"]["head"] == head and {"mean", "std"} <= set(meta["reward"])
        assert (path / "reward_head.safetensors").is_file() and (path / "README.md").is_file()


def test_ixc_style_methods(scalar_rm, toy):
    from critic.reward import RewardModel

    rm = RewardModel.from_pretrained(scalar_rm)
    img = str(toy / "pairwise" / "images" / "00000.png")
    chat = [{"role": "user", "content": "What colour is the circle?"},
            {"role": "assistant", "content": "The circle is red."}]
    other = [chat[0], {"role": "assistant", "content": "The circle is blue."}]
    s = rm.get_score(chat, [img])
    assert isinstance(s, float)
    both = rm.get_scores([chat, other], [[img], [img]])
    assert both[0] == pytest.approx(s, abs=1e-5)  # batched == alone (padding does not leak)
    assert rm.compare(chat, [img], other, [img]) == (both[0] > both[1])
    assert sorted(rm.rank([chat, other, chat], [[img]] * 3)) == [0, 1, 2]
    assert rm.normalise(rm.mean) == 0.0


def test_reward_critic_scores_compares_and_ranks_without_generating(scalar_rm, toy):
    from critic.jsonl import read_items
    from critic.judging.factory import make_critic
    from critic.judging.spec import JudgeSpec
    from critic.reward.judge import RewardCritic

    critic = make_critic(JudgeSpec(model=str(scalar_rm)))
    assert isinstance(critic, RewardCritic)
    pairs = read_items(toy / "pairwise" / "items.jsonl", strict=True)[0]
    comps = critic.compare(pairs, swap="both")
    for c in comps:  # a scalar model is order-free
        a, b = c.judgments
        assert a.winner == b.winner and a.scores == b.scores
    point = read_items(toy / "pointwise" / "items.jsonl", strict=True)[0]
    assert all(isinstance(j.score, float) for j in critic.score(point))
    calls = []
    orig = critic.model.score_triples
    critic.model.score_triples = lambda t: calls.append(len(t)) or orig(t)
    sets = read_items(toy / "sets" / "items.jsonl", strict=True)[0]
    ranked = critic.rank(sets, mode="pairwise")  # a K-answer tournament still costs K forwards
    assert calls == [sum(len(set(c.candidates)) for c in sets)] and all(r.has_pair or r.reason for r in ranked)


def test_critique_score_model_writes_a_critique_then_scores(critique_rm, toy):
    from critic.jsonl import read_items
    from critic.reward.judge import RewardCritic

    critic = RewardCritic.from_pretrained(critique_rm, max_new_tokens=8)
    j = critic.compare(read_items(toy / "pairwise" / "items.jsonl", strict=True)[0][0]).judgments[0]
    assert j.rationale.startswith("Response A: ") and "\nResponse B: " in j.rationale
    assert len(j.scores) == 2


def test_a_reward_model_checkpoint_works_in_judge(scalar_rm, toy, tmp_path):
    from critic.commands.main import main

    rm = str(scalar_rm)
    assert main(["judge", "--model", rm, "--input", str(toy / "pairwise" / "items.jsonl"),
                 "--output", str(tmp_path / "j.jsonl"), "--swap", "both"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["judge"].startswith("reward-scalar:") for r in rows)


@pytest.mark.slow
def test_a_reward_model_checkpoint_works_in_the_other_judge_commands(scalar_rm, toy, tmp_path):
    from critic.commands.main import main

    rm = str(scalar_rm)
    sets = str(toy / "sets" / "items.jsonl")
    assert main(["label-pairs", "--input", sets, "--output", str(tmp_path / "dpo.jsonl"), "--judge-model", rm]) == 0
    assert main(["best-of-n", "--input", sets, "--output", str(tmp_path / "best.jsonl"), "--judge-model", rm]) == 0
    assert (tmp_path / "best.jsonl").read_text().count("\n") == 2
    assert main(["filter", "--input", str(toy / "pointwise" / "items.jsonl"), "--output", str(tmp_path / "kept.jsonl"),
                 "--min-score", "-1000", "--judge-model", rm]) == 0
    assert (tmp_path / "kept.jsonl").read_text().count("\n") == 4
    assert main(["eval-bench", "generic_pairwise", "--data", str(toy / "pairwise" / "items.jsonl"),
                 "--out", str(tmp_path / "bench"), "--judge-model", rm]) == 0
    report = json.loads((tmp_path / "bench" / "report.json").read_text())
    assert report


def test_trl_reward_function_gives_one_float_per_completion(scalar_rm, toy):
    from PIL import Image

    from critic.judging.factory import make_critic
    from critic.judging.spec import JudgeSpec
    from critic.judging.trl_adapters import CriticRewardFunc

    fn = CriticRewardFunc(make_critic(JudgeSpec(model=str(scalar_rm))))
    img = Image.open(toy / "pairwise" / "images" / "00000.png").convert("RGB")
    prompts = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is it?"}]}]] * 3
    completions = [[{"role": "assistant", "content": t}] for t in ("It is red.", "It is blue.", "Green.")]
    rewards = fn(prompts, completions, images=[[img]] * 3)
    assert len(rewards) == 3 and all(isinstance(r, float) for r in rewards)


def test_a_reward_model_checkpoint_labels_a_dpo_round(scalar_rm, toy, tmp_path):
    """``critic dpo`` with ``critic: {model: <reward-model checkpoint>}``: a round's sets are ranked by reward
    (K forwards each), the higher-reward answer chosen."""
    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import _label_round
    from critic.dpo.loop import make_critic as dpo_critic
    from critic.jsonl import read_items, write_records
    from critic.reward.judge import RewardCritic

    sets = [s.model_copy(update={"images": [str(toy / "sets" / p) for p in s.images]})
            for s in read_items(toy / "sets" / "items.jsonl", strict=True)[0]]
    cfg = load_dpo_config_dict({"output_dir": str(tmp_path), "prompts": "unused.jsonl",
                                "policy": {"name_or_path": "unused"}, "critic": {"model": str(scalar_rm)},
                                "eval": {"enabled": False}})
    assert isinstance(dpo_critic(cfg), RewardCritic)
    folder = tmp_path / "round_0"
    folder.mkdir()
    write_records(folder / "samples.jsonl", sets)  # sampling is done: the round goes straight to labelling
    record = _label_round(cfg, 0, "unused", sets, [], folder, log=lambda *_: None)
    rows = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
    assert record["pairs"] == len(rows) >= 1
    for r in rows:
        assert r["judge"].startswith("reward-scalar:") and r["chosen_reward"] > r["rejected_reward"]
