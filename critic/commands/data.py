"""``critic data``: build critic training datasets from recipes (``critic data build``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from critic.assets import shipped_or_given
from critic.commands.hub_options import add_push_options, check_push_options, push_after
from critic.commands.rubric_option import add_rubric_option


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="build critic training datasets from recipes",
                          description="Build critic training datasets (see docs/data.md).")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data_sub.required = True
    b = data_sub.add_parser(
        "build", help="build a critic dataset from a recipe",
        description="Read the recipe's sources, ask the teacher where the recipe says so (cached: a rerun "
        "re-sends only what never succeeded), and write DIR/{split}.jsonl, DIR/llava/, DIR/hf/, DIR/images/, "
        "DIR/card.md and DIR/stats.json (with `layout: pairs`: DIR/{split}.jsonl of preference pairs for reward "
        "models, DIR/images/, the card and the stats). API keys are read from the environment only.",
    )
    b.add_argument("recipe", type=Path, help="recipe YAML (e.g. data_recipes/toy.yaml)")
    b.add_argument("--out", type=Path, default=None, help="output folder (required unless --dry-run)")
    b.add_argument("--teacher-base-url", action="append", default=None, metavar="URL",
                   help="override the recipe's teacher base URL (repeat for several in rotation)")
    b.add_argument("--teacher-model", default=None, help="override the recipe's teacher model")
    b.add_argument("--dry-run", action="store_true",
                   help="print the calls, estimated tokens and cost; send and write nothing")
    b.add_argument("--num-proc", type=int, default=None,
                   help="worker processes rendering, calling the teacher, parsing and serialising (default 1; the "
                   "teacher's concurrency is shared among them; the output does not depend on it)")
    b.add_argument("--cache", type=Path, default=None,
                   help="teacher cache (default: the recipe's teacher.cache, else $CRITIC_CACHE_DIR/teacher.sqlite "
                   "when the variable is set and not empty, else ~/.cache/critic/teacher.sqlite)")
    b.add_argument("--no-cache", action="store_true", help="do not read or write the teacher cache")
    b.add_argument("--max-image-pixels", type=int, default=50_000_000, metavar="N",
                   help="an image of more pixels (width x height) drops its item, never decoded (default 50000000)")
    b.add_argument("--image-root", type=Path, default=None, metavar="DIR",
                   help="read images only inside this folder; an item with a path outside it is dropped, unread")
    b.add_argument("--no-progress", action="store_true")
    add_rubric_option(b)
    add_push_options(b, "DIR")
    b.set_defaults(func=run_build)


def _fmt_cost(tokens_in: int, tokens_out: int, price: tuple[float, float] | None) -> str:
    if price is None:
        return "unknown (no price known for this model; set teacher.price_per_mtok)"
    cost = (tokens_in * price[0] + tokens_out * price[1]) / 1e6
    return f"${cost:,.2f} (at ${price[0]:g} in / ${price[1]:g} out per million tokens)"


def run_build(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.data.build import BuildOptions, build_dataset
    from critic.data.recipe import RecipeError
    from critic.judging.backends.base import BackendFatalError

    if args.out is None and not args.dry_run:
        raise CommandError("--out DIR is required (or --dry-run)")
    if args.num_proc is not None and args.num_proc < 1:
        raise CommandError("--num-proc must be at least 1")
    check_push_options(args)
    if args.dry_run and args.push_to_hub:
        raise CommandError("--dry-run writes nothing, so there is nothing to push: drop --push-to-hub "
                           "(--push-dry-run lists what a real build would upload)")
    rubric = None
    if args.rubric is not None:
        from critic.rubrics import read_rubric_file

        try:
            rubric = read_rubric_file(args.rubric)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--rubric {args.rubric}: {exc}") from exc
    opts = BuildOptions(teacher_base_url=args.teacher_base_url, teacher_model=args.teacher_model, cache=args.cache,
                        no_cache=args.no_cache, dry_run=args.dry_run, num_proc=args.num_proc,
                        max_image_pixels=args.max_image_pixels, image_root=args.image_root, rubric=rubric,
                        progress=not args.no_progress and sys.stderr.isatty())
    try:
        args.recipe = shipped_or_given(args.recipe, "data_recipes")
        res = build_dataset(args.recipe, args.out, opts)
    except RecipeError as exc:
        raise CommandError(str(exc)) from exc
    except BackendFatalError as exc:
        raise CommandError(f"teacher: {exc}") from exc
    s = res.stats.to_json()
    drops = s["drops"]
    planned = ", ".join(f"{k} {v}" for k, v in sorted(res.planned.items())) or "none"
    unit = "preference pairs" if res.recipe.layout == "pairs" else "samples"
    if res.estimate is not None:
        e = res.estimate
        print(f"dry run of recipe {res.recipe.name!r}: nothing was sent or written")
        print(f"  items read: {sum(s['items_read'].values())}; dropped inputs: {drops['total']} {drops['by_reason']}")
        print(f"  {unit} planned: {sum(res.planned.values())} ({planned})")
        if res.teacher_model:
            urls = res.recipe.teacher.base_urls or ["(the OpenAI API or $OPENAI_BASE_URL)"]
            print(f"  teacher calls: {e.calls} to {res.teacher_model} at {', '.join(urls)} "
                  f"({e.cached} already cached, {e.calls - e.cached} to send)")
            print(f"  estimated tokens: {e.prompt_tokens:,} prompt + {e.output_tokens:,} output "
                  f"(text chars/4, GPT-4o image tokens, {res.recipe.teacher.est_output_tokens} output tokens per call)")
            print(f"  estimated cost: {_fmt_cost(e.prompt_tokens, e.output_tokens, res.price)}")
        return 0
    t = s["teacher"]
    print(f"wrote {s['samples']['total']} {unit} ({', '.join(f'{k} {v}' for k, v in s['samples']['by_split'].items())}) "
          f"and {s['images']['unique']} images to {res.out} in {res.wall_s:.1f} s")
    if res.teacher_model:
        cost = "unknown" if t["cost_usd"] is None else f"${t['cost_usd']:.4f}"
        run = res.stats.teacher
        print(f"teacher {res.teacher_model}: {t['calls']} calls ({run['cached']} from the cache, {run['sent']} sent), "
              f"{t['prompt_tokens']:,} + {t['completion_tokens']:,} tokens, cost {cost}")
    if drops["total"]:  # diagnostics: stderr (issue 14.12)
        print(f"dropped {drops['total']} inputs: " + ", ".join(f"{k} {v}" for k, v in drops["by_reason"].items()),
              file=sys.stderr)
        for d in drops["listed"][:5]:
            print(f"  {d['where']}: {d['reason']}: {d['detail'][:160]}", file=sys.stderr)
        print(f"  (all listed in {res.out}/stats.json)", file=sys.stderr)
    if not s["samples"]["total"]:
        print(f"critic data build: error: recipe {res.recipe.name!r} built no {unit} (see the drops above)",
              file=sys.stderr)
        return 1
    if t["failed_count"]:
        print(f"{t['failed_count']} teacher calls failed after retries; run the same command again to retry "
              "only those (the rest comes from the cache)", file=sys.stderr)
        return 1
    assert res.out is not None  # a build that made samples has its output folder
    push_after(args, res.out, "dataset")
    return 0
