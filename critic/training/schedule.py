"""Learning-rate schedules that need the run's length: warmup-stable-decay (``train.decay_ratio``).

transformers ships the WSD schedule (``get_wsd_schedule``, MiniCPM's: warm up, hold the peak rate,
decay at the end) but asks for the decay as a number of steps, which a config written in epochs
cannot know. ``train.decay_ratio`` is the decay's share of the optimizer steps; the Trainer turns
it into steps once it knows how many there are:

    decay steps = max(1, round(decay_ratio x training steps))

On the toy critic (before its init scale was raised), 1.7 epochs under WSD (decay 0.25) stayed over
the bar on four runs of five and lost the off-topic rule on the fifth, so ``train/toy.yaml`` keeps
cosine (BENCHMARKS.md, "Issue 13", sixth session).

>>> schedule_kwargs("warmup_stable_decay", 0.25, 1903)
{'num_decay_steps': 476, 'decay_type': 'cosine'}
>>> schedule_kwargs("cosine", 0.25, 1903)
{}
"""

from __future__ import annotations

from typing import Any

WSD = "warmup_stable_decay"


def schedule_kwargs(lr_scheduler: str, decay_ratio: float, num_training_steps: int) -> dict[str, object]:
    """The scheduler-specific arguments transformers' ``get_scheduler`` needs for ``lr_scheduler``."""
    if lr_scheduler != WSD:
        return {}
    return {"num_decay_steps": max(1, round(decay_ratio * num_training_steps)), "decay_type": "cosine"}


class DecayRatioSchedule:
    """Trainer mixin: fills in WSD's decay steps from ``decay_ratio`` when the scheduler is built.

    ``decay_ratio`` is set by the trainer's constructor (``train.decay_ratio``).
    """

    decay_ratio: float

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        if self.lr_scheduler is None:  # type: ignore[attr-defined]
            args = self.args  # type: ignore[attr-defined]
            name = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
            args.lr_scheduler_kwargs = {**(args.lr_scheduler_kwargs or {}),
                                        **schedule_kwargs(str(name), self.decay_ratio, num_training_steps)}
        return super().create_scheduler(num_training_steps, optimizer)  # type: ignore[misc]
