"""Learnability: does a tiny critic trained on CPU learn to judge toy-world items by looking at the image?

Trains a tiny random-initialised LLaVA on toy-world critic samples (colour questions, one-claim
responses, one-sentence rationales, the ``compact_*`` templates; both tasks mixed), then judges
held-out items with ``Critic.from_pretrained(checkpoint)`` — the real path — and prints pairwise
accuracy without ties, pointwise Pearson with gold, the parse-failure rate and the wall time.
``--blank`` trains the same model on blank images (the control: it must stay near chance).

    python bench/train_learnability.py                 # the full run (targets: ≥ 0.9, ≥ 0.8, ≤ 2 %, ≤ 5 min)
    python bench/train_learnability.py --blank         # the control
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/learnability"))
    ap.add_argument("--n-pairwise", type=int, default=2000)
    ap.add_argument("--n-pointwise", type=int, default=2000)
    ap.add_argument("--epochs", type=float, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--global-batch", type=int, default=32)
    ap.add_argument("--per-device", type=int, default=32)
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--family", default="llava")
    ap.add_argument("--blank", action="store_true", help="train on blank images (control)")
    ap.add_argument("--no-packing", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rationale", choices=["compare", "fact"], default="compare")
    ap.add_argument("--tiny", default="{}", help="JSON TinySpec overrides")
    ap.add_argument("--eval-every", type=int, default=0, help="also judge the held-out items every N steps")
    args = ap.parse_args()

    from critic.toy.training_set import write_heldout, write_training_set
    from critic.training.config import load_config_dict
    from critic.training.evaluation import evaluate_checkpoint
    from critic.training.trainer import train

    if args.out.exists():
        shutil.rmtree(args.out)
    t0 = time.perf_counter()
    data = write_training_set(args.out / "data", n_pairwise=args.n_pairwise, n_pointwise=args.n_pointwise,
                              seed=args.seed, rationale=args.rationale)
    held = write_heldout(args.out / "heldout", n=args.eval_n, seed=1000 + args.seed)
    t_data = time.perf_counter() - t0
    tiny = {"family": args.family, "seed": args.seed, **json.loads(args.tiny)}
    cfg = load_config_dict({
        "model": {"tiny": tiny},
        "data": {"train": str(data), "packing": not args.no_packing, "cache_encoded": True,
                 "image_ablation": "blank" if args.blank else "none"},
        "train": {"output_dir": str(args.out / "model"), "epochs": args.epochs, "learning_rate": args.lr, "adam_beta2": args.beta2,
                  "global_batch_size": args.global_batch, "per_device_batch_size": args.per_device,
                  "warmup_ratio": 0.05, "weight_decay": 0.0, "save_steps": args.eval_every or 100000,
                  "logging_steps": 20, "seed": args.seed, "progress": False},
        "eval": {"items": str(held["both"]) if args.eval_every else None, "max_items": 2 * args.eval_n,
                 "max_new_tokens": 32},
    })
    res = train(cfg)
    t_train = res.wall_s
    t1 = time.perf_counter()
    m_pw = evaluate_checkpoint(res.output_dir, held["pairwise"], max_items=args.eval_n, max_new_tokens=32)
    m_pt = evaluate_checkpoint(res.output_dir, held["pointwise"], max_items=args.eval_n, max_new_tokens=32)
    t_eval = time.perf_counter() - t1
    speeds = res.tokens_per_s[1:] or res.tokens_per_s
    out = {
        "blank_images": args.blank, "family": args.family, "steps": res.global_step,
        "final_loss": round(res.final_loss, 4),
        "train_s": round(t_train, 1), "data_s": round(t_data, 1), "eval_s": round(t_eval, 1),
        "tokens_per_s_median": sorted(speeds)[len(speeds) // 2] if speeds else None,
        "pairwise_accuracy_without_ties": m_pw["accuracy_without_ties"],
        "pairwise_accuracy_with_ties": m_pw["accuracy_with_ties"],
        "pairwise_parse_failure_rate": m_pw["pairwise_parse_failure_rate"],
        "pointwise_pearson": m_pt["pearson"], "pointwise_parse_failure_rate": m_pt["pointwise_parse_failure_rate"],
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
