"""A tiny toy-world policy that answers colour questions, for iterative DPO on a CPU.

A random-initialised model writes no answer at all, so every critic — the oracle teacher included —
rates all its samples the same and a DPO round finds no pair. This fine-tunes a tiny LLaVA (plain
torch steps; prompt and padding masked) on toy answers of mixed quality to "What colour is the
<shape>?": right and wrong colours as the toy world draws them, and a share ``off_topic`` of
answers about another shape (the oracle's lowest grade). Sampling from it at temperature 0.7 then
gives K answers a critic can tell apart, which is what iterative DPO needs to start.

``critic toy policy --out DIR`` runs :func:`sft_toy_policy`.
"""

from __future__ import annotations

import random
from pathlib import Path

from critic.toy.scene import SHAPES


def _off_topic(answer: str, question_shape: str, rng: random.Random) -> str:
    other = rng.choice([s for s in SHAPES if s != question_shape])
    return answer.replace(question_shape, other)


def sft_toy_policy(out: str | Path, *, steps: int = 150, off_topic: float = 0.65, lr: float = 2e-3, batch: int = 16,
                   n_sets: int = 600, seed: int = 0, shapes: tuple[str, ...] | None = None) -> Path:
    """Write a fine-tuned tiny LLaVA policy to ``out``; ``shapes`` limits the questions (default: all)."""
    import torch

    from critic.dpo.pairs import answer_messages, prompt_messages
    from critic.models.loading import load_model, load_processor
    from critic.models.tiny import make_tiny
    from critic.toy.world import generate_items, parse_question

    torch.manual_seed(seed)
    rng = random.Random(seed)
    folder = make_tiny(out, family="llava", seed=seed)
    model, proc = load_model(folder, dtype="float32"), load_processor(folder)
    model.train()
    examples = []
    for cs, imgs in generate_items(n_sets, seed=100 + seed, task="candidates", kinds=("colour",), extra_claims=False,
                                   k=4):
        shape = parse_question(cs.question).shape
        if shapes is not None and shape not in shapes:
            continue
        prompt = proc.apply_chat_template(prompt_messages(cs.question, 1), add_generation_prompt=True, tokenize=False)
        n_prompt = proc(text=[prompt], images=[imgs], return_tensors="pt")["input_ids"].shape[1]
        for answer in cs.candidates:
            if rng.random() < off_topic:
                answer = _off_topic(answer, shape, rng)
            full = proc.apply_chat_template(prompt_messages(cs.question, 1) + answer_messages(answer), tokenize=False)
            enc = proc(text=[full], images=[imgs], return_tensors="pt")
            labels = enc["input_ids"][0].clone()
            labels[:n_prompt] = -100
            examples.append((enc["input_ids"][0], labels, enc["pixel_values"][0]))
    if not examples:
        raise ValueError(f"no toy candidate sets asked about {shapes}")
    pad = proc.tokenizer.pad_token_id
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        rows = rng.sample(examples, min(batch, len(examples)))
        width = max(len(r[0]) for r in rows)
        ids = torch.full((len(rows), width), pad)
        labels = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
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
    return Path(folder)


def oracle_accuracy(policy_dir: str | Path, items: str | Path, n: int = 8) -> float:
    """Share of ``n`` sampled answers per question of ``items`` that the oracle grades right (on-topic and
    the right colour): the held-out measure of a toy policy before and after a DPO round."""
    from critic.media import load_image
    from critic.pairs.policy import LocalPolicy, PolicyRequest, PolicySampling
    from critic.pairs.rows import read_source_prompts
    from critic.toy.world import analyse_image, grade_response

    prompts, _ = read_source_prompts(items)
    policy = LocalPolicy(str(policy_dir), batch_size=64, dtype="float32")
    answers = policy.generate([PolicyRequest(p.question, list(p.images)) for p in prompts],
                              PolicySampling(max_new_tokens=16, seed=123), n=n)
    right = sum(grade_response(analyse_image(load_image(p.images[0])), p.question, a).correctness == "right"
                for p, texts in zip(prompts, answers) for a in texts)
    return right / (n * len(prompts))
