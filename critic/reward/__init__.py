"""Reward models: scalar Bradley–Terry heads and critique-then-score critics, beside the generative critic.

One module per idea:

==================  ============================================================================
``meta``            ``critic.json``'s ``kind`` and ``reward`` section, read without torch
``heads``           the heads (``scalar``: Linear(h,1); ``critique_score``: MM-RLHF's MLP) and the kinds
``losses``          Bradley–Terry, centring, critique NLL (also GRM's chosen-answer NLL), the sum (doctests)
``pairs``           :class:`PreferencePair` (prompt, chosen, rejected, critiques): the training rows
``encode``          prompt + response [+ critique] → ids, labels on the critique (and the chosen answer
                    under ``reward.lm_weight``); padded batches
``model``           :class:`RewardNet`: an ``AutoModelForImageTextToText`` backbone + head; save / load;
                    the checkpoint's kind from ``critic.json``
``scorer``          :class:`RewardModel`: rewards of (question, images, response), greedy critiques, the
                    InternLM-XComposer2.5-Reward methods ``get_score`` / ``get_scores`` / ``compare`` / ``rank``
``judge``           :class:`RewardCritic`: a reward model behind the judge interface (``score``, ``compare``,
                    ``rank``, ``judge_stream``) every command takes
==================  ============================================================================

Training lives in ``critic.training`` (``reward_data``, ``reward_trainer``); this room is what a
judge needs, at the judging layer, so :func:`critic.judging.factory.make_critic` can build a
:class:`RewardCritic` from a checkpoint without importing anything above it.
"""

from critic.reward.meta import CHECKPOINT_KINDS, KINDS, checkpoint_kind

__all__ = ["CHECKPOINT_KINDS", "KINDS", "checkpoint_kind", "RewardCritic", "RewardModel"]


def __getattr__(name: str):  # lazy: importing the room pulls in neither torch nor transformers
    if name == "RewardModel":
        from critic.reward.scorer import RewardModel

        return RewardModel
    if name == "RewardCritic":
        from critic.reward.judge import RewardCritic

        return RewardCritic
    raise AttributeError(name)
