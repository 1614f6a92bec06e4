"""A critic behind TRL's judge and reward-function interfaces, so TRL's online trainers can call it.

TRL defined its judges in ``trl.judges`` and later ``trl.experimental.judges``; ``trl==1.16.0``
ships neither (judges were moved to experimental in 2025 and have since been dropped), and its
online trainers (GRPO, ``trl.experimental.online_dpo``) take *reward functions* instead. Both
shapes are provided here, neither importing TRL:

- :class:`CriticPairwiseJudge` — TRL's ``BasePairwiseJudge`` interface:
  ``judge(prompts, completions, shuffle_order=True) -> list[int]``, the index (0 or 1) of the
  better completion of each pair, ``-1`` where the critic gave no verdict (TRL's convention for a
  failed judgment). ``return_scores=True`` gives the probability-like score of the first
  completion instead (1, 0, ½ for a tie). A tie has no index: by default a seeded coin picks one
  (``ties="random"``), or ``ties="first"`` / ``ties="fail"`` (-1). Images come as a parallel list
  (``images=[[img, ...], ...]``, PIL images or paths), or inside conversational prompts as TRL's
  ``{"type": "image", "image": <PIL>}`` parts.
- :class:`CriticRewardFunc` — TRL's ``reward_funcs`` callable
  ``(prompts, completions, **kwargs) -> list[float | None]``: completions of the same prompt are
  ranked together (a pairwise tournament by default, :mod:`critic.judging.ranking`) and each gets its
  reward; images come from the ``images`` / ``image`` dataset column TRL passes through kwargs.
  Online DPO's two completions per prompt play a two-answer tournament.

>>> from critic.toy.chat_server import ChatServer
>>> from critic.judging.critic import Critic
>>> with ChatServer(lambda body, images: "Therefore, the second response is better.") as srv:
...     judge = CriticPairwiseJudge(Critic.from_openai("j", base_url=srv.base_url, progress=False))
...     judge.judge(["Which is better?"], [["meh", "good"]], shuffle_order=False)
[1]
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from critic.records import CandidateSet, PairwiseItem


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def split_prompt(prompt: Any) -> tuple[str, list[Any]]:
    """``(question, images)`` of a TRL prompt: a string, or messages whose last user turn is the question."""
    if isinstance(prompt, str):
        return prompt, []
    question, images = "", []
    for msg in prompt or []:
        content = msg.get("content")
        if isinstance(content, list):
            images += [p["image"] for p in content if isinstance(p, dict) and p.get("type") == "image" and p.get("image")]
        if msg.get("role") == "user":
            question = _text(content)
    return question, images


def completion_text(completion: Any) -> str:
    """A TRL completion's text: a string, or the assistant messages' text joined."""
    if isinstance(completion, str):
        return completion
    return "".join(_text(m.get("content")) for m in completion or [] if m.get("role", "assistant") == "assistant")


def _as_list(images: Any) -> list[Any]:
    if images is None:
        return []
    return list(images) if isinstance(images, (list, tuple)) else [images]


class CriticPairwiseJudge:
    """TRL's pairwise judge interface on a :class:`critic.judging.critic.Critic` (see the module doc)."""

    def __init__(self, critic: Any, *, template: Any = None, ties: str = "random", seed: int = 0):
        if ties not in ("random", "first", "fail"):
            raise ValueError("ties must be 'random', 'first' or 'fail'")
        self.critic = critic
        self.template = template
        self.ties = ties
        self._rng = random.Random(seed)
        self.last_judgments: list[Any] = []

    def judge(self, prompts: Sequence[Any], completions: Sequence[Sequence[Any]], shuffle_order: bool = True,
              return_scores: bool = False, images: Sequence[Any] | None = None) -> list[int | float]:
        """Index of the better completion per prompt (or the first one's score with ``return_scores``)."""
        if len(completions) != len(prompts) or (images is not None and len(images) != len(prompts)):
            raise ValueError("prompts, completions (and images) must be parallel lists")
        items, pil, flips = [], [], []
        for n, (prompt, pair) in enumerate(zip(prompts, completions)):
            if len(pair) != 2:
                raise ValueError(f"prompt {n}: a pairwise judge needs exactly 2 completions, got {len(pair)}")
            question, inline = split_prompt(prompt)
            imgs = _as_list(images[n]) if images is not None else inline
            flip = shuffle_order and self._rng.random() < 0.5
            a, b = (completion_text(pair[1]), completion_text(pair[0])) if flip else map(completion_text, pair)
            items.append(PairwiseItem(id=str(n), question=question, response_a=a, response_b=b,
                                      images=[f"<image {i}>" for i in range(len(imgs))]))
            pil.append(imgs)
            flips.append(flip)
        got: dict[str, Any] = {}
        for j in self.critic.judge_stream(items, swap="none", template=self.template, pil_images=pil, desc="judging"):
            got[j.id] = j
        self.last_judgments = [got[str(n)] for n in range(len(items))]
        out: list[int | float] = []
        for j, flip in zip(self.last_judgments, flips):
            shown = j.winner  # in the shown order
            if shown is None:
                out.append(-1)
                continue
            first = {"A": 1.0, "B": 0.0, "tie": 0.5}[shown]
            if flip:
                first = 1.0 - first
            if return_scores:
                out.append(first)
            elif first == 0.5:
                out.append(-1 if self.ties == "fail" else 0 if self.ties == "first" else self._rng.randint(0, 1))
            else:
                out.append(0 if first == 1.0 else 1)
        return out


class CriticRewardFunc:
    """TRL's ``reward_funcs`` callable: completions of one prompt ranked together by the critic."""

    def __init__(self, critic: Any, *, mode: str = "pairwise", aggregation: str = "llava_ov", template: Any = None):
        self.critic = critic
        self.mode = mode
        self.aggregation = aggregation
        self.template = template
        self.__name__ = "critic_reward"  # TRL logs reward functions by name
        self.last_rankings: list[Any] = []

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **kwargs: Any) -> list[float | None]:
        from critic.judging.ranking import rank_stream

        column = kwargs.get("images", kwargs.get("image"))
        groups: dict[tuple[Any, ...], list[int]] = {}
        content: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}
        for n, prompt in enumerate(prompts):
            question, imgs = split_prompt(prompt)
            if column is not None:
                imgs = _as_list(column[n])
            key = (question, *(im if isinstance(im, str) else id(im) for im in imgs))
            groups.setdefault(key, []).append(n)
            content[key] = (question, imgs)
        sets, pil = [], {}
        for g, (key, members) in enumerate(groups.items()):
            question, imgs = content[key]
            sid = f"g{g}"
            sets.append(CandidateSet(id=sid, question=question, images=[f"<image {i}>" for i in range(len(imgs))],
                                     candidates=[completion_text(completions[n]) for n in members]))
            pil[sid] = imgs
        rewards: list[float | None] = [None] * len(prompts)
        self.last_rankings = []
        members_of = {f"g{g}": members for g, members in enumerate(groups.values())}
        for res in rank_stream(self.critic, sets, mode=self.mode, aggregation=self.aggregation, template=self.template,
                               pil_images=pil):
            self.last_rankings.append(res.ranked)
            for pos, n in enumerate(members_of[res.ranked.id]):
                rewards[n] = res.ranked.rewards[pos]
        return rewards
