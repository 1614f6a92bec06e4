"""``critic toy``: the offline test bed — toy-world items and tiny random-initialised models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    toy = sub.add_parser("toy", help="toy world and tiny models for offline testing",
                         description="Offline test bed: toy-world judging tasks and tiny random-initialised models.")
    toy_sub = toy.add_subparsers(dest="toy_command", metavar="TOY_COMMAND")
    toy_sub.required = True

    make = toy_sub.add_parser(
        "make", help="generate toy-world judging items with images",
        description="Write DIR/items.jsonl and DIR/images/: judging tasks whose answer is only in the image. "
        "Same arguments, same bytes.",
    )
    make.add_argument("--n", type=int, required=True, help="number of items")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--task", choices=["pointwise", "pairwise", "candidates"], required=True)
    make.add_argument("--out", type=Path, required=True, help="output folder")
    make.add_argument("--image-size", type=int, default=32, help="image side in pixels (default 32)")
    make.add_argument("--kinds", default=None,
                      help="comma-separated question kinds (colour,shape,count,position; motion: a clip where a shape "
                      "moves, never by default); default the four image kinds")
    make.add_argument("--k", type=int, default=5, help="candidates per set for --task candidates")
    make.add_argument("--one-claim", action="store_true",
                      help="responses state only the answer (no second claim): the easiest task, for tiny critics")
    make.set_defaults(func=run_make)

    pairs = toy_sub.add_parser(
        "pairs", help="write toy preference pairs (the training file of train/toy_rm.yaml)",
        description="Write DIR/train.jsonl (preference pairs: a colour question, the answer the world grades "
        "higher as chosen, with the oracle's critique of each answer) and its images; ties are dropped.",
    )
    pairs.add_argument("--out", type=Path, required=True, help="output folder")
    pairs.add_argument("--n", type=int, required=True, help="pairwise toy items to draw (ties dropped, so fewer pairs)")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--split", default="train", help="file stem: DIR/SPLIT.jsonl (default train)")
    pairs.set_defaults(func=run_pairs)

    model = toy_sub.add_parser(
        "model", help="build a tiny random-initialised vision-language model",
        description="Build and save a tiny model + processor loadable with AutoModelForImageTextToText and "
        "critic's processor loader (AutoProcessor, image-only where torchvision is absent).",
    )
    model.add_argument("--family", choices=["llava", "llava_onevision", "qwen2_vl"], default="llava")
    model.add_argument("--out", type=Path, required=True)
    model.add_argument("--seed", type=int, default=0)
    model.add_argument("--hidden-size", type=int, default=128)
    model.add_argument("--layers", type=int, default=4, help="language-model layers")
    model.add_argument("--vision-hidden-size", type=int, default=128)
    model.add_argument("--vision-layers", type=int, default=2)
    model.add_argument("--image-size", type=int, default=32)
    model.add_argument("--patch-size", type=int, default=8)
    model.set_defaults(func=run_model)

    policy = toy_sub.add_parser(
        "policy", help="a tiny policy fine-tuned to answer toy colour questions (for `critic dpo` on CPU)",
        description="Fine-tune a tiny LLaVA on toy answers of mixed quality (right and wrong colours, some about "
        "another shape), so that its samples differ and a critic can rank them: a random-initialised policy writes "
        "no answer and gives iterative DPO no pair to learn from.",
    )
    policy.add_argument("--out", type=Path, required=True, help="output folder")
    policy.add_argument("--steps", type=int, default=150, help="fine-tuning steps of 16 answers (default 150)")
    policy.add_argument("--off-topic", type=float, default=0.65, help="share of answers about another shape")
    policy.add_argument("--seed", type=int, default=0)
    policy.set_defaults(func=run_policy)

    teacher = toy_sub.add_parser(
        "teacher", help="serve the oracle teacher (an OpenAI-compatible judge that reads toy images)",
        description="Serve chat completions on HOST:PORT/v1 answered by the oracle teacher: it decodes the toy "
        "images it is sent, grades the response(s) and answers like a GPT-4o judge in the format the prompt asks "
        "for. Fault options inject 429 (with Retry-After), 500, slow, malformed and empty answers at given rates.",
    )
    from critic.toy.chat_server import add_server_args

    add_server_args(teacher)
    teacher.add_argument("--model", action="append", default=None, metavar="NAME",
                         help="serve only this model name (repeatable; default: any name)")
    teacher.set_defaults(func=run_teacher)


def run_make(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.toy.world import ALL_KINDS, DEFAULT_KINDS, make_toy

    if args.n <= 0:
        raise CommandError("--n must be positive")
    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else tuple(DEFAULT_KINDS)
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown:
        raise CommandError(f"unknown --kinds {unknown}; choose from {', '.join(ALL_KINDS)}")
    stats = make_toy(args.out, n=args.n, seed=args.seed, task=args.task, image_size=args.image_size,
                     kinds=kinds, k=args.k, extra_claims=not args.one_claim)
    print(f"wrote {stats.n_items} {args.task} items and {stats.n_images} images to {args.out}")
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.toy.pairs import write_toy_pairs

    if args.n <= 0:
        raise CommandError("--n must be positive")
    path = write_toy_pairs(args.out, n=args.n, seed=args.seed, split=args.split)
    rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    print(f"wrote {rows} preference pairs to {path}")
    return 0


def run_model(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.models.tiny import TinySpec, make_tiny

    try:
        spec = TinySpec(
            family=args.family, seed=args.seed, hidden_size=args.hidden_size, num_layers=args.layers,
            vision_hidden_size=args.vision_hidden_size, vision_layers=args.vision_layers,
            image_size=args.image_size, patch_size=args.patch_size,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    out = make_tiny(args.out, spec)
    meta = json.loads((out / "config.json").read_text())
    print(f"wrote a tiny {args.family} model ({meta.get('architectures', ['?'])[0]}) to {out}")
    return 0


def run_teacher(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.toy.chat_server import BindError, faults_from_args, serve_forever
    from critic.toy.oracle import oracle_answer

    try:
        faults = faults_from_args(args)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.latency < 0:
        raise CommandError(f"--latency is seconds, at least 0, got {args.latency}")
    try:
        serve_forever(oracle_answer, args.host, args.port, faults, args.latency, api_key=args.api_key,
                      models=args.model)
    except BindError as exc:
        raise CommandError(str(exc)) from None
    return 0


def run_policy(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.toy.policy import sft_toy_policy

    if args.steps < 1 or not 0 <= args.off_topic <= 1:
        raise CommandError("--steps must be positive and --off-topic in [0, 1]")
    out = sft_toy_policy(args.out, steps=args.steps, off_topic=args.off_topic, seed=args.seed)
    print(f"wrote a tiny toy policy ({args.steps} fine-tuning steps) to {out}")
    return 0
