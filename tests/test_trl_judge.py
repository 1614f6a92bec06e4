"""The TRL-style pairwise judge and reward function on a critic, against the oracle teacher over HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest

from critic.judging.trl_adapters import CriticPairwiseJudge, CriticRewardFunc, completion_text, split_prompt
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer


@pytest.fixture(scope="module")
def toy():
    from critic.toy.world import generate_items

    pairs = list(generate_items(16, seed=21, task="pairwise"))
    cands = list(generate_items(3, seed=22, task="candidates", k=4))
    return pairs, cands


@pytest.fixture(scope="module")
def critic():
    from critic.judging.critic import Critic

    with ChatServer(oracle_answer) as srv:
        yield Critic.from_openai("oracle", base_url=srv.base_url, progress=False)


def test_judge_returns_the_better_index_whatever_the_shown_order(toy, critic):
    pairs, _ = toy
    prompts = [it.question for it, _ in pairs]
    completions = [[it.response_a, it.response_b] for it, _ in pairs]
    images = [imgs for _, imgs in pairs]
    judge = CriticPairwiseJudge(critic, ties="fail", seed=3)
    got = judge.judge(prompts, completions, images=images)
    want = [{"A": 0, "B": 1, "tie": -1}[it.label] for it, _ in pairs]
    assert got == want
    shown = [j.swapped for j in judge.last_judgments]
    assert not any(shown)  # the judge shuffles the pair itself and shows it as given to the critic
    scores = judge.judge(prompts, completions, images=images, return_scores=True, shuffle_order=False)
    assert scores == [{"A": 1.0, "B": 0.0, "tie": 0.5}[it.label] for it, _ in pairs]
    ties = CriticPairwiseJudge(critic, ties="first").judge(prompts, completions, images=images)
    assert ties == [{"A": 0, "B": 1, "tie": 0}[it.label] for it, _ in pairs]


def test_conversational_prompts_carry_their_images(toy, critic):
    pairs, _ = toy
    it, imgs = pairs[0]
    prompt = [{"role": "system", "content": "Answer briefly."},
              {"role": "user", "content": [{"type": "image", "image": imgs[0]}, {"type": "text", "text": it.question}]}]
    completions = [[[{"role": "assistant", "content": it.response_a}], [{"role": "assistant", "content": it.response_b}]]]
    assert split_prompt(prompt) == (it.question, [imgs[0]])
    assert completion_text(completions[0][0]) == it.response_a
    [got] = CriticPairwiseJudge(critic, ties="fail").judge([prompt], completions)
    assert got == {"A": 0, "B": 1, "tie": -1}[it.label]


def test_no_verdict_is_minus_one():
    from critic.judging.critic import Critic

    with ChatServer(lambda body, images: "Both have merits.") as srv:
        judge = CriticPairwiseJudge(Critic.from_openai("x", base_url=srv.base_url, progress=False))
        assert judge.judge(["q?", "q2?"], [["a", "b"], ["c", "d"]]) == [-1, -1]
        assert judge.judge(["q?"], [["a", "b"]], return_scores=True) == [-1]
    with pytest.raises(ValueError, match="exactly 2 completions"):
        judge.judge(["q"], [["a", "b", "c"]])


def test_reward_function_ranks_completions_of_each_prompt(toy, critic):
    """GRPO-style batches: G completions per prompt, images from the dataset column."""
    _, cands = toy
    prompts, completions, images, gold = [], [], [], []
    for cs, imgs in cands:
        for text, score in zip(cs.candidates, cs.scores):
            prompts.append([{"role": "user", "content": cs.question}])
            completions.append([{"role": "assistant", "content": text}])
            images.append(imgs)
            gold.append(score)
    reward = CriticRewardFunc(critic)
    got = reward(prompts=prompts, completions=completions, images=images, trainer_state=None)
    assert reward.__name__ == "critic_reward" and len(reward.last_rankings) == 3
    for g in range(3):
        r, s = got[4 * g: 4 * g + 4], gold[4 * g: 4 * g + 4]
        assert all(x is not None for x in r) and abs(sum(r)) < 1e-9  # relative rewards sum to zero per prompt
        best, worst = r.index(max(r)), r.index(min(r))
        assert s[best] >= s[worst]
    # online DPO: prompts repeated twice (first half, second half), the image column repeated with them
    cs, imgs = cands[0]
    two = reward(prompts=[cs.question] * 2, completions=cs.candidates[:2], image=[imgs[0]] * 2)
    assert len(reward.last_rankings) == 1 and len(two) == 2


def test_importing_the_adapter_does_not_import_trl():
    code = "import sys, critic.judging.trl_adapters; assert 'trl' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
