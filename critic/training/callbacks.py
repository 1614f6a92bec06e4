"""Trainer callbacks: the progress bar, the sampler's epoch, judging held-out items at each save."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressCallback(TrainerCallback):
    """A tqdm bar over optimizer steps with loss, tokens/s and ETA (main process only).

    Without a terminal (``bar=False``) it prints one line per logging step instead.
    """

    def __init__(self, bar: bool = True):
        self.bar_enabled = bar and sys.stderr.isatty()
        self.bar: Any = None
        self.t0 = 0.0
        self.step0 = 0

    def on_train_begin(self, args, state, control, **kw):
        if not state.is_world_process_zero:
            return
        self.t0, self.step0 = time.perf_counter(), state.global_step
        if self.bar_enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, unit="step", desc="training",
                            dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        shown = {"loss": f"{logs['loss']:.4f}"}
        if "tokens_per_s" in logs:
            shown["tok/s"] = f"{logs['tokens_per_s']:.0f}"
        if "learning_rate" in logs:
            shown["lr"] = f"{logs['learning_rate']:.2e}"
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            return
        done = state.global_step - self.step0
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (state.max_steps - state.global_step) if done else 0.0
        print(f"step {state.global_step}/{state.max_steps} " + " ".join(f"{k} {v}" for k, v in shown.items())
              + f" eta {_fmt_eta(eta)}", file=sys.stderr, flush=True)

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EpochCallback(TrainerCallback):
    """Sets the step sampler's epoch from the global step, so resumed runs reshuffle identically."""

    def __init__(self, sampler: Any):
        self.sampler = sampler

    def on_epoch_begin(self, args, state, control, **kw):
        self.sampler.set_epoch(state.global_step // max(1, self.sampler.steps_per_epoch))


class EvalCallback(TrainerCallback):
    """After each checkpoint is saved, judge held-out items with it (main process) and log the metrics."""

    def __init__(self, items: str, *, max_items: int, swap: str, max_new_tokens: int, batch_size: int):
        self.items = items
        self.kwargs = dict(max_items=max_items, swap=swap, max_new_tokens=max_new_tokens, batch_size=batch_size)
        self.last: dict[str, Any] | None = None
        self.trainer: Any = None

    def on_save(self, args, state, control, **kw):
        if not state.is_world_process_zero:
            return
        from critic.training.evaluation import evaluate_checkpoint

        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not ckpt.is_dir():
            return
        metrics = evaluate_checkpoint(ckpt, self.items, **self.kwargs)  # type: ignore[arg-type]
        self.last = {"step": state.global_step, **metrics}
        with (Path(args.output_dir) / "eval.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(self.last) + "\n")
        print(f"eval at step {state.global_step}: " + ", ".join(f"{k} {v}" for k, v in metrics.items()),
              file=sys.stderr, flush=True)
        if self.trainer is not None:
            self.trainer.log({f"eval_{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
