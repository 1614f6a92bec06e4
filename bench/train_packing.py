"""Packing: efficiency (real tokens / computed token slots) and training tokens/s, packed vs padded.

1. **Efficiency** of the micro-batches critic's step sampler builds, from sample lengths alone:
   padded batches as plain batches (shuffled order, ``data.group_by_length: false``) and as critic's
   length-grouped batches (the default when packing is off), and packed rows.
   Two length profiles: the toy critic dataset (measured with the tiny LLaVA's processor) and a
   LLaVA-Critic-like profile — *synthetic*, stated here because the real dataset is not available
   offline: LLaVA-OneVision anyres image tokens (729 per 384-px view, 1 base view + 0–9 crops,
   ~25 % of crop tokens removed by unpadding), a prompt of 60–1500 text tokens (log-normal, pairwise
   prompts hold two responses) and a 60–500-token rationale + verdict.
2. **Training tokens/s**, packed vs padded, the same samples in the same optimizer steps, one run,
   through the real Trainer path (``critic.training.trainer.train``), tiny LLaVA on CPU; on the toy
   data and on a scaled-down variable-length set (toy samples whose responses are padded with words
   to lengths drawn from the LLaVA-Critic-like profile ÷ ``--scale``).

    python bench/train_packing.py                      # both parts
    python bench/train_packing.py --skip-speed         # efficiency only (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def llava_critic_like_lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        crops = rng.choice([0, 2, 4, 4, 6, 6, 9, 9, 9])  # anyres grids up to 3x3
        image = 729 + int(crops * 729 * rng.uniform(0.6, 0.9))
        pairwise = rng.random() < 0.5
        prompt = int(min(1500, max(60, rng.lognormvariate(5.6 if pairwise else 5.0, 0.7))))
        target = int(min(500, max(60, rng.lognormvariate(5.0, 0.5))))
        out.append(image + prompt + target)
    return out


def efficiency(lengths: list[int], *, global_batch: int, world: int, per_device: int, seed: int = 0) -> dict:
    from critic.training.sampler import StepSampler, accumulation_steps

    gas = accumulation_steps(global_batch, per_device, world)
    real = sum(lengths)
    res = {}
    for name, packing, grouped in (("padded_length_grouped", False, True), ("packed", True, True),
                                   ("padded_plain", False, False)):
        s = StepSampler(lengths, global_batch_size=global_batch, world_size=world, grad_accum=gas,
                        packing=packing, seed=seed, rank=0, group_by_length=grouped)
        slots = 0
        used = 0
        for step in s.step_plan(0):
            for mb in step:
                ls = [lengths[i] for i in mb]
                used += sum(ls)
                slots += sum(ls) if packing else len(ls) * max(ls)
        res[name] = round(used / slots, 4)
    res["samples"], res["mean_length"] = len(lengths), round(real / len(lengths), 1)
    return res


def padded_dataset(src: Path, out: Path, lengths: list[int], seed: int = 0) -> Path:
    """Copy toy samples, lengthening each response with filler words towards the target length."""
    from critic.records import TrainingSample

    rng = random.Random(seed)
    words = "the image shows a shape of some colour and the answer is given here in detail".split()
    rows = [TrainingSample.model_validate_json(x) for x in src.read_text().splitlines()]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "train.jsonl"
    with path.open("w") as fh:
        for k, target in enumerate(lengths):
            s = rows[k % len(rows)].model_copy(deep=True)
            s.id = f"{s.id}:{k}"
            s.images = [str((src.parent / p).resolve()) for p in s.images]
            part = s.messages[0].content[-1]
            part["text"] += " " + " ".join(rng.choice(words) for _ in range(max(0, target - 80) // 2))
            fh.write(s.model_dump_json(exclude_none=True) + "\n")
    return path


def speed(data: Path, out: Path, *, steps: int, global_batch: int, per_device: int) -> dict:
    from critic.training.config import load_config_dict
    from critic.training.trainer import train

    res = {}
    arms = [("padded_plain", False, False), ("padded_length_grouped", False, True), ("packed", True, True)]
    for name, packing, grouped in arms * 2:  # interleaved, twice: the machine may be shared
        shutil.rmtree(out, ignore_errors=True)
        cfg = load_config_dict({
            "model": {"tiny": {"family": "llava"}},
            "data": {"train": str(data), "packing": packing, "group_by_length": grouped, "max_length": 4096},
            "train": {"output_dir": str(out), "max_steps": steps, "global_batch_size": global_batch,
                      "per_device_batch_size": per_device, "learning_rate": 5e-4, "logging_steps": steps,
                      "save_steps": 10 ** 6, "save_final": False, "progress": False},
        })
        r = train(cfg)
        trainer = r.trainer
        stats = {"wall_s": r.wall_s}
        plan = trainer.step_sampler.step_plan(0)[:steps]
        lengths = trainer.train_dataset.lengths
        stats["tokens"] = sum(lengths[i] for step in plan for mb in step for i in mb)
        best = res.get(name)
        if best is None or stats["wall_s"] < best["wall_s"]:
            res[name] = stats
    for v in res.values():
        v["tokens_per_s"] = round(v["tokens"] / v["wall_s"], 1)
        v["wall_s"] = round(v["wall_s"], 2)
    for base in ("padded_length_grouped", "padded_plain"):
        res[f"packed_over_{base}"] = round(res["packed"]["tokens_per_s"] / res[base]["tokens_per_s"], 3)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_packing"))
    ap.add_argument("--n-toy", type=int, default=512)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--scale", type=int, default=8, help="LLaVA-Critic-like lengths ÷ this for the CPU speed run")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()

    from critic.models.loading import load_processor
    from critic.models.tiny import make_tiny
    from critic.toy.training_set import write_training_set
    from critic.training.data import index_training_file
    from critic.training.encode import SampleEncoder, eos_token_ids

    args.out.mkdir(parents=True, exist_ok=True)
    toy = write_training_set(args.out / "toy", n_pairwise=args.n_toy // 2, n_pointwise=args.n_toy // 2, seed=0)
    tiny = make_tiny(args.out / "tiny")
    proc = load_processor(tiny)
    from transformers import GenerationConfig

    enc = SampleEncoder(proc, eos_token_ids(proc, GenerationConfig.from_pretrained(tiny)))
    refs, _ = index_training_file(toy, enc, max_length=4096)
    toy_lengths = [r.length for r in refs]
    report = {
        "efficiency": {
            "toy (8 GPUs × 4 samples, global 32)": efficiency(toy_lengths, global_batch=32, world=8, per_device=4),
            "llava_critic_like (8 GPUs × 4 samples, global 32)":
                efficiency(llava_critic_like_lengths(4096), global_batch=32, world=8, per_device=4),
        },
        "machine": {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
    }
    if not args.skip_speed:
        t0 = time.perf_counter()
        report["speed_toy"] = speed(toy, args.out / "run", steps=args.steps, global_batch=32, per_device=16)
        lengths = [max(90, x // args.scale) for x in llava_critic_like_lengths(32 * args.steps, seed=1)]
        varlen = padded_dataset(toy, args.out / "varlen", lengths)
        report["speed_llava_critic_like_scaled"] = speed(varlen, args.out / "run", steps=args.steps,
                                                          global_batch=32, per_device=8)
        report["speed_wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
