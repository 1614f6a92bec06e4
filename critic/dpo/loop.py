"""Iterative DPO: M rounds of sample → label with the critic → train, each round from the newest policy.

``run(cfg)`` lays a run out as::

    OUTPUT_DIR/
      run_config.json            the config of the last invocation
      round_0/
        samples.jsonl            K answers per prompt from the round's policy (candidate sets)
        eval_samples.jsonl       answers to the eval prompts, and eval.json: their mean pointwise score
        pairs.jsonl              DPO rows (+ .rankings / .judgments / .failed side files: every reward)
        trainer/                 TRL's checkpoints while the round trains
        checkpoint/              the new policy (model, processor, generation config, critic_round.json)
        labelled.json            sampling, eval and labelling done (the stats of both)
        round.json               the round's record; written last: a round with it is complete
      round_1/ ...
      final/                     eval of the last policy (eval_samples.jsonl, eval.json)
      summary.json               per-round eval scores, pairs, margins, losses

Resuming: a round with ``round.json`` is skipped; inside an unfinished round each stage resumes —
sampling and labelling skip the prompts / sets already written (judgments come from the judge
cache), training resumes from TRL's last ``checkpoint-N`` and is skipped once the round's
checkpoint carries its marker. Under ``accelerate launch`` only the main process samples, evaluates
and labels (the others wait); all processes train.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

from critic.dpo.config import DPORunConfig
from critic.judging.critic import Critic
from critic.judging.spec import JudgeSpec
from critic.secrets import redact


def judge_spec(cfg: DPORunConfig, *, evaluation: bool = False) -> JudgeSpec:
    """The labelling critic's spec, or (``evaluation``) the eval step's pointwise judge.

    The ``critic`` section is a whole :class:`JudgeSpec`; its ``seed`` defaults to the run's. The eval
    judge is that critic with the ``eval`` section's template and, when given, its own model, backend
    and base URLs (a judge moved to another backend does not keep the critic's base URLs).
    """
    c, e = cfg.critic, cfg.eval
    seed = c.seed if "seed" in c.model_fields_set else cfg.seed
    if not evaluation:
        return c.judge_spec(seed=seed)
    backend = e.judge_backend or c.backend
    base_url = e.judge_base_url if e.judge_base_url is not None else (c.base_url if backend == c.backend else None)
    return c.judge_spec(seed=seed, template=e.template, backend=backend, model=e.judge_model or c.model,
                        base_url=base_url)


def make_critic(cfg: DPORunConfig, *, evaluation: bool = False) -> Critic:
    """The labelling critic, or (``evaluation``) the pointwise judge of the eval step."""
    from critic.judging.factory import make_critic as build

    return build(judge_spec(cfg, evaluation=evaluation), progress=False)


def _free() -> None:
    """Give a dropped model's GPU memory back before the next stage loads one (nothing to do on CPU)."""
    import torch

    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def _reload_server(cfg: Any, checkpoint: str, round_index: int, log: Any) -> None:
    """Run ``sampling.reload_command`` (e.g. restart vLLM on the new checkpoint) and wait until it serves."""
    import subprocess

    import openai

    cmd = cfg.reload_command.format(checkpoint=checkpoint, round=round_index)
    log(f"  reloading the sampling server: {cmd}")
    subprocess.run(cmd, shell=True, check=True)
    deadline = time.monotonic() + cfg.reload_timeout
    model = cfg.model.format(checkpoint=checkpoint, round=round_index)
    while True:
        try:
            names = [m.id for m in openai.OpenAI(base_url=cfg.base_url[0], api_key="EMPTY").models.list()]
            if model in names:
                return
        except openai.OpenAIError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sampling server did not serve {model!r} within {cfg.reload_timeout:g} s")
        time.sleep(2.0)


class _Sampler:
    """The round's policy as a sampling backend, loaded on first use and shared by sampling and eval."""

    def __init__(self, cfg: DPORunConfig, policy: str, r: int, log: Any):
        self.cfg, self.policy, self.r, self.log = cfg, policy, r, log
        self.backend: Any = None

    def sample(self, prompts: list[Any], out: Path, k: int, seed: int) -> dict[str, int]:
        from critic.dpo.sampling import done_ids, make_backend, sample_candidates

        if len(done_ids(out)) >= len(prompts):
            return {"sampled": 0, "resumed": len(prompts), "failed": 0}
        s = self.cfg.sampling
        if self.backend is None:
            if s.backend == "openai" and s.reload_command:
                _reload_server(s, self.policy, self.r, self.log)
            self.backend = make_backend(s, self.policy, self.r, dtype=self.cfg.policy.dtype,
                                        trust_remote_code=self.cfg.policy.trust_remote_code)
        return sample_candidates(self.backend, prompts, out, k=k, temperature=s.temperature, top_p=s.top_p,
                                 max_new_tokens=s.max_new_tokens, seed=seed,
                                 meta={"round": self.r, "policy": self.policy}, log=self.log)

    def close(self) -> None:
        self.backend = None
        _free()


def evaluate(cfg: DPORunConfig, sampler: _Sampler, prompts: list[Any], folder: Path, log: Any) -> dict[str, Any]:
    """Sample ``eval.k`` answers per eval prompt from the sampler's policy, score them pointwise; writes eval.json."""
    from critic.jsonl import read_records
    from critic.records import CandidateSet

    done = folder / "eval.json"
    if done.is_file():
        return json.loads(done.read_text())
    samples = folder / "eval_samples.jsonl"
    policy = sampler.policy
    sampler.sample(prompts, samples, cfg.eval.k, cfg.seed + 7919 * (sampler.r + 1))
    sampler.close()
    sets, _ = read_records(samples, CandidateSet)
    judge = make_critic(cfg, evaluation=True)
    try:
        ranked = judge.rank(sets, mode="pointwise") if sets else []
    finally:
        del judge
        _free()
    scores = [s for rs in ranked for s in (rs.scores or []) if s is not None]
    record = {"policy": policy, "prompts": len(sets), "answers": sum(rs.k for rs in ranked), "scored": len(scores),
              "parse_failures": sum(rs.n_parse_failures for rs in ranked), "errors": sum(rs.n_errors for rs in ranked),
              "mean_score": sum(scores) / len(scores) if scores else None}
    if record["errors"] == 0:  # an eval with failed requests is redone next run
        done.write_text(json.dumps(record, indent=2) + "\n")
    log(f"  eval of {policy}: mean score {record['mean_score']} over {len(scores)} answers")
    return record


def _betas(cfg: DPORunConfig, pairs: Path) -> list[float] | None:
    if not cfg.dpo.drs.enabled:
        return None
    from critic.dpo.drs import drs_betas, pair_margins
    from critic.dpo.pairs import read_pair_rows

    d = cfg.dpo.drs
    return drs_betas(pair_margins(read_pair_rows(pairs), d.margin), beta0=cfg.dpo.beta, w=d.w, k=d.k)


def _label_round(cfg: DPORunConfig, r: int, policy: str, prompts: list[Any], eval_prompts: list[Any], folder: Path,
                 log: Any) -> dict[str, Any]:
    """Sample, evaluate and label one round (main process); returns and saves ``labelled.json``."""
    from critic.dpo.pairs import label_sets
    from critic.jsonl import read_records
    from critic.records import CandidateSet

    done = folder / "labelled.json"
    if done.is_file():
        return json.loads(done.read_text())
    if cfg.pairs is not None:  # per-source methods: MMPR and critic pairs mixed (critic.pairs.round)
        from critic.pairs.round import label_round_from_sources

        record = label_round_from_sources(
            cfg, r, policy, folder, log, judge_factory=lambda: make_critic(cfg),
            evaluate=lambda: evaluate(cfg, _Sampler(cfg, policy, r, log), eval_prompts, folder, log)
            if cfg.eval.enabled else None)
        done.write_text(json.dumps(record, indent=2) + "\n")
        return record
    sampler = _Sampler(cfg, policy, r, log)
    sampling = sampler.sample(prompts, folder / "samples.jsonl", cfg.sampling.k, cfg.seed + r)
    ev = evaluate(cfg, sampler, eval_prompts, folder, log) if cfg.eval.enabled else None
    sampler.close()
    sets, _ = read_records(folder / "samples.jsonl", CandidateSet)
    critic = make_critic(cfg)
    try:
        stats = label_sets(critic, sets, folder / "pairs.jsonl", mode=cfg.critic.mode,
                           aggregation=cfg.critic.aggregation, template=cfg.critic.template)
    finally:
        del critic
        _free()
    log(f"  labelled: {stats.written} pairs from {len(sets)} sets ({stats.resumed} already done), "
        f"{len(stats.deferred)} deferred")
    if stats.deferred:
        raise RuntimeError(f"round {r}: {len(stats.deferred)} candidate sets have failed judgments "
                           f"(see {folder / 'pairs.jsonl.failed.jsonl'}); run again to retry them")
    rows = [json.loads(line) for line in (folder / "pairs.jsonl").open() if line.strip()]
    if not rows:
        raise RuntimeError(f"round {r}: the critic produced no pairs (see {folder / 'pairs.jsonl.rankings.jsonl'})")
    ranked = [json.loads(line) for line in (folder / "pairs.jsonl.rankings.jsonl").open() if line.strip()]
    no_pair: dict[str, int] = {}
    for rk in ranked:
        if rk.get("chosen") is None:
            reason = (rk.get("reason") or "?").split(" (")[0]
            no_pair[reason] = no_pair.get(reason, 0) + 1
    record = {"sampling": sampling, "eval": ev, "pairs": len(rows), "sets": len(ranked),
              "mean_margin": sum(float(x["margin"]) for x in rows) / len(rows),
              "mean_chosen_reward": sum(float(x["chosen_reward"]) for x in rows) / len(rows),
              "mean_rejected_reward": sum(float(x["rejected_reward"]) for x in rows) / len(rows), "no_pair": no_pair}
    done.write_text(json.dumps(record, indent=2) + "\n")
    return record


def run_round(cfg: DPORunConfig, r: int, policy: str, prompts: list[Any], eval_prompts: list[Any],
              log: Any = print) -> dict[str, Any]:
    """One round (resumable stage by stage); returns its record, also written to ``round_r/round.json``.

    Under ``accelerate launch`` the main process samples, evaluates and labels while the others
    wait; every process then trains.
    """
    from accelerate import PartialState

    from critic.dpo.trainer import train_round

    state = PartialState()
    folder = Path(cfg.output_dir) / f"round_{r}"
    record_path = folder / "round.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    t0 = time.perf_counter()
    if state.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        log(f"round {r}: policy {policy}")
        _label_round(cfg, r, policy, prompts, eval_prompts, folder, log)
    state.wait_for_everyone()
    labelled = json.loads((folder / "labelled.json").read_text())
    train = train_round(policy, folder / "pairs.jsonl", folder, cfg.dpo, seed=cfg.seed + r, dtype=cfg.policy.dtype,
                        trust_remote_code=cfg.policy.trust_remote_code, betas=_betas(cfg, folder / "pairs.jsonl"),
                        log=log)
    _free()
    record = {"round": r, "policy": policy, "checkpoint": str(folder / "checkpoint"), **labelled, "train": train,
              "wall_s": round(time.perf_counter() - t0, 2)}
    if state.is_main_process:
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    state.wait_for_everyone()
    return record


def run(cfg: DPORunConfig, log: Any = print) -> dict[str, Any]:
    """Run (or resume) every round and the final eval; returns the run summary (also ``summary.json``)."""
    from critic.dpo.sampling import read_prompts

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # same bytes on every rank; a base URL's credentials masked (issue 14.15)
    (out / "run_config.json").write_text(json.dumps(redact(cfg.to_dict()), indent=2) + "\n")
    prompts, problems = read_prompts(cfg.prompts, cfg.sampling.max_prompts)
    for p in problems[:10]:
        log(f"warning: {p}")
    if not prompts:
        raise ValueError(f"{cfg.prompts}: no usable prompts")
    eval_prompts = prompts
    if cfg.eval.prompts or cfg.eval.max_prompts:
        eval_prompts, _ = read_prompts(cfg.eval.prompts or cfg.prompts, cfg.eval.max_prompts)
    policy = cfg.policy.name_or_path
    rounds = []
    changed = False
    for r in range(cfg.rounds):
        changed |= not (out / f"round_{r}" / "round.json").is_file()
        rec = run_round(cfg, r, policy, prompts, eval_prompts, log)
        rounds.append(rec)
        policy = rec["checkpoint"]
    from accelerate import PartialState

    state = PartialState()
    final = None
    if cfg.eval.enabled and state.is_main_process:
        (out / "final").mkdir(exist_ok=True)
        if changed:  # a round was (re)trained: an earlier final eval scored another policy
            for stale in ("eval.json", "eval_samples.jsonl"):
                (out / "final" / stale).unlink(missing_ok=True)
        final = evaluate(cfg, _Sampler(cfg, policy, cfg.rounds, log), eval_prompts, out / "final", log)
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}
    scores = [(rec["eval"] or {}).get("mean_score") for rec in rounds] + [(final or {}).get("mean_score")]
    summary = {"rounds": len(rounds), "final_policy": policy, "eval_mean_score": scores,
               "pairs": [rec["pairs"] for rec in rounds], "mean_margin": [rec["mean_margin"] for rec in rounds],
               "train_loss": [rec["train"].get("train_loss") for rec in rounds]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"done: eval mean score by round {scores}; final policy {policy}")
    return summary
