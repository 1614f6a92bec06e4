"""Which pairs help? One DPO round from each pair source alone, and their mix, same budget, one table.

    python bench/pair_sources.py --critic-checkpoint DIR [--seed 0 | --seeds 0,1,2] [--train-items 384] [--held-items 384]

The toy world of ``tests/test_pairs_mpo.py`` (its slow MPO test), arm by arm:

- one policy per seed, made once: the tiny LLaVA fine-tuned on circle colour questions
  (:func:`critic.toy.policy.sft_toy_policy`, 150 steps; it often answers about another shape);
- training and held-out questions: the circle questions of ``--train-items`` / ``--held-items``
  toy colour items (about a third of them ask about the circle);
- every source's pairs are built once from that policy, at round 0, into ``OUT/pool/NAME``
  (``critic.pairs.build.build_pairs`` with the round's recipe, :func:`critic.pairs.round.round_recipe`):

  * ``correctness``: N sampled answers per question, parsed with a circle-anchored colour regex
    against the gold (``meta.truth``); positive × negative and positive × format-negative pairs
    (an answer about another shape does not parse: a format-negative), ≤ 15 per question;
  * ``dropout_ntp``: the policy's answer vs. the second half of it rewritten without the image;
  * ``critic_oracle``: a K-answer pairwise tournament judged by the toy oracle (the teacher of
    ``critic toy teacher``: :func:`critic.toy.oracle.oracle_answer` behind the loopback
    :class:`critic.toy.chat_server.ChatServer`, OpenAI backend, model ``oracle``);
  * ``critic_tiny``: the same tournament judged by a tiny trained critic (``--critic-checkpoint``,
    hf backend, its own template; e.g. the checkpoint ``critic quickstart`` writes);

- each arm is one ``critic dpo`` round (:func:`critic.dpo.loop.run`) whose ``pairs`` section names
  its sources, their pool folders copied into the round (the builder resumes: nothing is sampled or
  judged again). The mix is the four sources with proportion 0.25 each.

Same budget: pairs are capped, not steps. Every arm trains on exactly **P** pairs, P = the
smallest source's pair count rounded down to a multiple of 4 (the pairs recipe's ``max_pairs``;
each source's pairs are a seeded subsample, the mix takes P/4 from each), one epoch at batch
``--batch-size``, so every arm takes the same ceil(P / batch) optimizer steps. A source that makes
no pair is reported with its reasons instead of an accuracy and is left out of P and of the mix
(then P is a multiple of the sources left). DPO settings are the slow test's: MPO's loss mixture
``sigmoid + bco_pair + sft`` (0.8 / 0.2 / 1), β 0.1, lr 5e-4 constant, no warm-up, float32.

Accuracy: the share of 8 sampled answers per held-out circle question (seed 123, 16 new tokens)
that the oracle grades *right* (on-topic and the right colour) — :func:`critic.toy.policy.oracle_accuracy`, as in the slow test.
``--seed`` moves everything: the toy items (seeds 11 + 1000·s and 12 + 1000·s), the SFT, pair
sampling and the DPO run; ``--seeds`` runs several and adds a table of the mean and spread.
Defaults: 384 training and 384 held-out toy items (≈ 125 and ≈ 105 circle questions), N 8, K 5,
DPO batch 8; about 90 s a seed on a 2-core CPU (far longer when other jobs hold the cores).

Also printed: how the oracle grades each source's chosen and rejected answers (right, wrong =
on-topic with the wrong colour, off_topic), over every pair built.

Columns: pairs used, optimizer steps, held-out accuracy, seconds building the arm's pairs (the sum
of its sources' build times; the mix needs all four), seconds of the DPO round (mix + training),
seconds of the accuracy evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MPO = {"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0]}
CIRCLE = {"kind": "regex", "pattern": r"(?i)\bcircle\b[^.]*?\b(red|green|blue|yellow|purple|orange)\b"}
SOURCES = ("correctness", "dropout_ntp", "critic_oracle", "critic_tiny")
NOWHERE = {"backend": "openai", "model": "oracle", "base_url": ["http://127.0.0.1:9/v1"], "no_cache": True}


def pair_grades(rows: Path) -> Counter:
    """How the oracle grades each pair's chosen and rejected answer: (right | wrong | off_topic, ...) counts."""
    from critic.dpo.pairs import read_pair_rows
    from critic.media import load_image
    from critic.toy.world import analyse_image, grade_response

    got: Counter = Counter()
    for r in read_pair_rows(rows) if rows.exists() else []:
        scene, question = analyse_image(load_image(r["images"][0])), r["prompt"][0]["content"][-1]["text"]
        got[tuple(grade_response(scene, question, r[side][0]["content"][0]["text"]).correctness
                  for side in ("chosen", "rejected"))] += 1
    return got


def _grades(c: Counter) -> str:
    n = sum(c.values()) or 1
    return ", ".join(f"{a} > {b} {v / n:.0%}" for (a, b), v in c.most_common(4))


def circle_items(folder: Path, n: int, seed: int) -> Path:
    """Toy colour items, the circle questions kept (what the policy was taught)."""
    from critic.toy.world import make_toy

    make_toy(folder, n=n, seed=seed, task="pointwise", kinds=("colour",))
    lines = [x for x in (folder / "items.jsonl").open() if "circle" in json.loads(x)["question"]]
    (folder / "circle.jsonl").write_text("".join(lines))
    return folder / "circle.jsonl"


def source_spec(name: str, train: Path, args: argparse.Namespace) -> dict[str, Any]:
    if name == "correctness":
        return {"name": name, "path": str(train), "method": "correctness", "answer_field": "meta.truth",
                "extractor": CIRCLE}
    if name == "dropout_ntp":
        return {"name": name, "path": str(train), "method": "dropout_ntp"}
    return {"name": name, "path": str(train), "method": "critic", "k": args.k}


def run_config(out: Path, policy: Path, train: Path, sources: list[dict[str, Any]], critic: dict[str, Any],
               args: argparse.Namespace, max_pairs: int | None = None) -> Any:
    from critic.dpo.config import load_dpo_config_dict

    pairs: dict[str, Any] = {"sampling": {"n": args.n, "max_new_tokens": 12}, "sources": sources}
    if max_pairs is not None:
        pairs["max_pairs"] = max_pairs
    return load_dpo_config_dict({
        "output_dir": str(out), "prompts": str(train), "rounds": 1, "seed": args.seed,
        "policy": {"name_or_path": str(policy), "dtype": "float32"},
        "sampling": {"batch_size": 32, "max_new_tokens": 12},
        "critic": critic,
        "dpo": {"beta": 0.1, "learning_rate": 5e-4, "batch_size": args.batch_size, "epochs": 1, "logging_steps": 1,
                "bf16": False, "lr_scheduler": "constant", "warmup_ratio": 0.0, **MPO},
        "eval": {"enabled": False},
        "pairs": pairs})


def build_pool(name: str, pool: Path, policy: Path, train: Path, critic: dict[str, Any],
               args: argparse.Namespace) -> dict[str, Any]:
    """Build one source's pairs from the round-0 policy into ``pool/NAME``; returns its stats."""
    from critic.dpo.loop import make_critic
    from critic.pairs.build import build_pairs
    from critic.pairs.round import round_recipe

    cfg = run_config(pool / name, policy, train, [source_spec(name, train, args)], critic, args)
    recipe = round_recipe(cfg.pairs, cfg.sampling, cfg.policy, str(policy), 0, cfg.seed)
    stats = build_pairs(recipe, pool / name, judge_factory=lambda: make_critic(cfg), ranking=cfg.critic,
                        log=lambda *_: None)  # what a critic dpo round does (critic.pairs.round)
    return stats["sources"][0]


def one_seed(args: argparse.Namespace, s: int, out: Path) -> tuple[list[dict[str, Any]], dict[str, Counter]]:
    """Every arm at seed ``s``: its row (pairs, steps, accuracy or why it has none, seconds); each source's grades."""
    from critic.dpo.loop import run
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer
    from critic.toy.policy import oracle_accuracy, sft_toy_policy

    t0 = time.perf_counter()
    policy = sft_toy_policy(out / "policy", steps=args.sft_steps, shapes=("circle",), seed=s)
    t_sft = time.perf_counter() - t0
    train = circle_items(out / "train", args.train_items, 11 + 1000 * s)
    held = circle_items(out / "held", args.held_items, 12 + 1000 * s)
    n_train, n_held = (sum(1 for _ in p.open()) for p in (train, held))
    print(f"seed {s}: policy SFT {args.sft_steps} steps ({t_sft:.0f} s); {n_train} training / {n_held} held-out "
          f"circle questions; correctness N {args.n}, critic K {args.k}; torch threads {args.threads}; out {out}",
          flush=True)

    tiny = {"backend": "hf", "model": str(args.critic_checkpoint), "batch_size": args.critic_batch_size,
            "max_new_tokens": args.critic_max_new_tokens, "dtype": "float32", "no_cache": True}
    built: dict[str, dict[str, Any]] = {}
    with ChatServer(oracle_answer) as srv:
        oracle = {"backend": "openai", "model": "oracle", "base_url": [srv.base_url], "concurrency": 8,
                  "no_cache": True}
        judges = {"critic_oracle": oracle, "critic_tiny": tiny}
        for name in SOURCES:
            t = time.perf_counter()
            try:
                built[name] = build_pool(name, out / "pool", policy, train, judges.get(name, NOWHERE), args)
            except Exception as exc:  # noqa: BLE001 - a source that cannot run is reported, not fatal
                built[name] = {"pairs": 0, "error": f"{type(exc).__name__}: {exc}", "dropped": {}}
            built[name]["wall"] = time.perf_counter() - t
            b = built[name]
            print(f"  built {name}: {b['pairs']} pairs, types {b.get('pair_types')}, no pair: {b['dropped'] or 'none'}"
                  f"{' ERROR ' + b['error'] if 'error' in b else ''} ({b['wall']:.0f} s)", flush=True)
    grades = {n: pair_grades(out / "pool" / n / "sources" / n / "rows.jsonl") for n in SOURCES}
    for n in SOURCES:
        print(f"  {n} pairs, oracle grades chosen > rejected: {_grades(grades[n]) or 'none'}", flush=True)

    usable = [n for n in SOURCES if built[n]["pairs"] > 0]
    if not usable:
        raise SystemExit("no source made a pair")
    budget = min(built[n]["pairs"] for n in usable) // len(usable) * len(usable)  # the mix: equal shares
    if budget == 0:
        raise SystemExit(f"the scarcest source has too few pairs: {[(n, built[n]['pairs']) for n in usable]}")
    print(f"  budget: {budget} pairs per arm, {math.ceil(budget / args.batch_size)} steps "
          f"(batch {args.batch_size}, one epoch)", flush=True)

    t = time.perf_counter()
    acc0 = oracle_accuracy(policy, held)
    rows = [{"arm": "round 0 (SFT, no DPO)", "pairs": 0, "steps": 0, "accuracy": acc0, "pairs_s": None,
             "dpo_s": None, "eval_s": time.perf_counter() - t}]
    print(f"  round 0: accuracy {acc0:.3f}", flush=True)
    arms: list[tuple[str, list[str]]] = [(n, [n]) for n in SOURCES]
    arms.append((f"mix ({len(usable)} × {1 / len(usable):.2g})", usable))
    for label, names in arms:
        missing = [n for n in names if built[n]["pairs"] == 0]
        if missing:
            b = built[missing[0]]
            why = b.get("error") or "; ".join(f"{r} ({c} questions)" for r, c in b["dropped"].items()) or "?"
            rows.append({"arm": label, "pairs": 0, "steps": None, "accuracy": None, "why": why})
            print(f"  {label}: no pairs ({why})", flush=True)
            continue
        arm_out = out / "arms" / label.split()[0] / "run"
        for n in names:  # the pool's pairs: the round's builder finds every question done
            shutil.copytree(out / "pool" / n / "sources" / n, arm_out / "round_0" / "sources" / n, dirs_exist_ok=True)
        specs = [{**source_spec(n, train, args), "proportion": 1 / len(names)} for n in names]
        cfg = run_config(arm_out, policy, train, specs, NOWHERE, args, max_pairs=budget)
        t = time.perf_counter()
        run(cfg, log=lambda *_: None)
        t_dpo = time.perf_counter() - t
        rec = json.loads((arm_out / "round_0" / "round.json").read_text())
        t = time.perf_counter()
        acc = oracle_accuracy(rec["checkpoint"], held)
        rows.append({"arm": label, "pairs": rec["pairs"], "steps": rec["train"]["steps"], "accuracy": acc,
                     "pairs_s": sum(built[n]["wall"] for n in names), "dpo_s": t_dpo,
                     "eval_s": time.perf_counter() - t})
        print(f"  {label}: {rec['pairs']} pairs ({rec['mix']}), {rec['train']['steps']} steps, accuracy {acc:.3f}",
              flush=True)
    print(f"  seed {s}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows, grades


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--critic-checkpoint", type=Path, required=True, help="tiny trained critic (hf backend)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, help="several seeds, comma-separated (instead of --seed): "
                                                  "per-seed tables, then mean and spread")
    ap.add_argument("--train-items", type=int, default=384, help="toy colour items; their circle questions train")
    ap.add_argument("--held-items", type=int, default=384, help="toy colour items; their circle questions evaluate")
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument("--n", type=int, default=8, help="correctness: answers sampled per question")
    ap.add_argument("--k", type=int, default=5, help="critic: answers per question in the tournament")
    ap.add_argument("--batch-size", type=int, default=8, help="DPO batch")
    ap.add_argument("--critic-batch-size", type=int, default=32)
    ap.add_argument("--critic-max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    ap.add_argument("--out", type=Path, default=None, help="working folder (default: a new temporary one)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    out = args.out or Path(tempfile.mkdtemp(prefix="pair_sources_"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    by_seed, grades = {}, {n: Counter() for n in SOURCES}
    for s in seeds:
        by_seed[s], got = one_seed(args, s, out / f"seed{s}")
        for n in SOURCES:
            grades[n] += got[n]
    print(f"\n{len(seeds)} seed(s), {time.perf_counter() - t0:.0f} s in all")
    for s, rows in by_seed.items():
        print(f"\nseed {s}\n| arm | pairs | steps | held-out accuracy (oracle) | pairs s | DPO s | eval s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            acc = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else f"no pairs: {r['why']}"
            print(f"| {r['arm']} | {r['pairs']} | {_s(r['steps'])} | {acc} | {_s(r.get('pairs_s'))} | "
                  f"{_s(r.get('dpo_s'))} | {_s(r.get('eval_s'))} |")
    print(f"\nevery pair built, seeds {','.join(map(str, seeds))}: oracle grades of chosen > rejected")
    for n in SOURCES:
        print(f"  {n} ({sum(grades[n].values())} pairs): {_grades(grades[n]) or 'none'}")
    if len(seeds) > 1:
        print(f"\nseeds {','.join(map(str, seeds))}\n| arm | pairs | steps | accuracy per seed | mean | sd | "
              f"gain over round 0 (mean, min..max) |")
        print("| --- | --- | --- | --- | ---: | ---: | --- |")
        arms = [r["arm"] for r in next(iter(by_seed.values()))]
        for i, arm in enumerate(arms):
            got = [rows[i] for rows in by_seed.values()]
            accs = [r["accuracy"] for r in got if r["accuracy"] is not None]
            base = [rows[0]["accuracy"] for rows in by_seed.values() if rows[i]["accuracy"] is not None]
            gains = [a - b for a, b in zip(accs, base)]
            mean = statistics.fmean(accs) if accs else None
            sd = statistics.stdev(accs) if len(accs) > 1 else None
            print(f"| {arm} | {'/'.join(str(r['pairs']) for r in got)} | {'/'.join(_s(r['steps']) for r in got)} | "
                  f"{' '.join(f'{a:.3f}' if a is not None else 'none' for a in (r['accuracy'] for r in got))} | "
                  f"{'-' if mean is None else f'{mean:.3f}'} | {'-' if sd is None else f'{sd:.3f}'} | "
                  f"{f'{statistics.fmean(gains):+.3f} ({min(gains):+.3f}..{max(gains):+.3f})' if i and gains else '-'} |")


if __name__ == "__main__":
    main()
