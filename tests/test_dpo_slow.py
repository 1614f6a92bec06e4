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
import random
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def circle_sets(n: int, seed: int):
    """Toy colour candidate sets whose question is about the circle."""
    from critic.toy_world import generate_items

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


def sft_policy(out: Path, *, steps: int, off_topic: float = 0.65, lr: float = 2e-3, batch: int = 16, seed: int = 0):
    """A tiny LLaVA trained on toy answers of mixed quality (prompt and padding tokens masked)."""
    import torch

    from critic.dpo.pairs import answer_messages, prompt_messages
    from critic.hf_loading import load_model, load_processor
    from critic.tiny_models import make_tiny

    torch.manual_seed(seed)
    rng = random.Random(seed)
    folder = make_tiny(out, family="llava", seed=seed)
    model, proc = load_model(folder, dtype="float32"), load_processor(folder)
    model.train()
    examples = []
    for cs, imgs in circle_sets(600, 100 + seed):
        prompt = proc.apply_chat_template(prompt_messages(cs.question, 1), add_generation_prompt=True, tokenize=False)
        n_prompt = proc(text=[prompt], images=[imgs], return_tensors="pt")["input_ids"].shape[1]
        for answer in cs.candidates:
            if rng.random() < off_topic:
                answer = answer.replace("circle", rng.choice(["square", "triangle"]))
            full = proc.apply_chat_template(prompt_messages(cs.question, 1) + answer_messages(answer), tokenize=False)
            enc = proc(text=[full], images=[imgs], return_tensors="pt")
            labels = enc["input_ids"][0].clone()
            labels[:n_prompt] = -100
            examples.append((enc["input_ids"][0], labels, enc["pixel_values"][0]))
    pad = proc.tokenizer.pad_token_id
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        rows = rng.sample(examples, batch)
        width = max(len(r[0]) for r in rows)
        ids = torch.full((batch, width), pad)
        labels = torch.full((batch, width), -100)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for i, (a, b, _) in enumerate(rows):
            ids[i, : len(a)], labels[i, : len(b)], mask[i, : len(a)] = a, b, 1
        loss = model(input_ids=ids, attention_mask=mask, pixel_values=torch.stack([r[2] for r in rows]),
                     labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    return folder


@pytest.fixture()
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread per process avoids oversubscription stalls
    yield
    torch.set_num_threads(n)


def test_iterative_dpo_raises_the_oracle_reward(tmp_path, one_thread):
    pytest.importorskip("trl")
    import yaml

    from critic.chat_server import ChatServer
    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import run
    from critic.oracle import oracle_answer

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
