"""``critic judge``: judge a JSONL file of items with a local or served critic, resumably."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from critic.commands import arg_types


def default_cache_path() -> Path:
    root = Path(os.environ.get("CRITIC_CACHE_DIR", Path.home() / ".cache" / "critic"))
    return root / "judge.sqlite"


def add_backend_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Options choosing and tuning a judge backend (shared with label-pairs and eval-bench)."""
    p.add_argument(f"--{prefix}backend", choices=["hf", "openai"], default="hf",
                   help="hf: local transformers checkpoint; openai: any OpenAI-compatible server")
    p.add_argument(f"--{prefix}model", required=True, help="checkpoint folder / hub id (hf) or model name (openai)")
    p.add_argument(f"--{prefix}base-url", action="append", default=None, metavar="URL",
                   help="OpenAI-compatible base URL; repeat for several servers in rotation")
    p.add_argument(f"--{prefix}template", default=None, help="template name or .jinja path (default: the checkpoint's, else llava_critic_*)")
    p.add_argument("--template-dir", action="append", default=[], type=Path, help="extra folder of user templates")
    p.add_argument("--batch-size", type=arg_types.positive_int, default=8, help="hf: generation batch size (default 8)")
    p.add_argument("--concurrency", type=arg_types.positive_int, default=16, help="openai: requests in flight (default 16)")
    p.add_argument("--max-new-tokens", type=arg_types.positive_int, default=512)
    p.add_argument("--temperature", type=arg_types.non_negative_float, default=0.0)
    p.add_argument("--top-p", type=arg_types.probability, default=1.0)
    p.add_argument("--dtype", default=None, help="hf: torch dtype (default bfloat16 on GPU, checkpoint's on CPU)")
    p.add_argument("--device", default=None, help="hf: cuda, cuda:1, cpu (default: cuda if available)")
    p.add_argument("--trust-remote-code", action="store_true", help="hf: allow code from the checkpoint (off by default)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the key")
    p.add_argument("--timeout", type=arg_types.positive_float, default=120.0, help="openai: seconds per request before retrying")
    p.add_argument("--max-retries", type=arg_types.non_negative_int, default=6, help="openai: retries on 429/5xx/timeouts")
    p.add_argument("--cache", type=Path, default=None, help=f"SQLite judge cache (default {default_cache_path()})")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the judge cache")
    p.add_argument("--seed", type=int, default=0, help="seed of the random swap coin and of sampling")
    p.add_argument("--no-progress", action="store_true")


def build_critic(args: argparse.Namespace, prefix: str = ""):
    """A :class:`critic.judging.critic.Critic` from parsed :func:`add_backend_args` options."""
    from critic.judging.backends.base import SamplingParams
    from critic.judging.backends.cache import JudgeCache
    from critic.judging.critic import Critic

    get = lambda name: getattr(args, prefix.replace("-", "_") + name)  # noqa: E731
    cache = None if args.no_cache else JudgeCache(args.cache or default_cache_path())
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                              seed=args.seed if args.temperature > 0 else None)
    common = dict(template=get("template"), sampling=sampling, seed=args.seed, progress=not args.no_progress,
                  template_dirs=args.template_dir)
    if get("backend") == "hf":
        if get("base_url"):
            raise_usage("--base-url is for --backend openai")
        return Critic.from_pretrained(get("model"), batch_size=args.batch_size, dtype=args.dtype, device=args.device,
                                      trust_remote_code=args.trust_remote_code, cache=cache, **common)
    return Critic.from_openai(
        get("model"), base_url=get("base_url"), api_key=os.environ.get(args.api_key_env), concurrency=args.concurrency,
        cache=cache, backend_options={"timeout": args.timeout, "max_retries": args.max_retries}, **common,
    )


def raise_usage(msg: str) -> None:
    from critic.commands.errors import CommandError

    raise CommandError(msg)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge", help="judge items (pointwise scores, pairwise preferences) with a critic",
        description="Judge a JSONL of items. Results stream to --output as they finish; rerunning with the "
        "same --output skips what is already judged.",
    )
    p.add_argument("--input", required=True, type=Path, help="items JSONL (pointwise and/or pairwise)")
    p.add_argument("--output", required=True, type=Path, help="judgments JSONL (appended to; resumable)")
    p.add_argument("--swap", choices=["none", "random", "both"], default="none",
                   help="pairwise position policy (default none; 'both' judges each pair in both orders)")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed input line")
    add_backend_args(p)
    p.set_defaults(func=run)


def _done_keys(path: Path) -> set[tuple[str, bool]]:
    """(id, swapped) of judgments already in the output, verdicts and parse failures alike."""
    from critic.jsonl import JsonlReader
    from critic.records import PairwiseJudgment, PointwiseJudgment

    if not path.exists():
        return set()
    pick = lambda d: PairwiseJudgment if d.get("task") == "pairwise" else PointwiseJudgment  # noqa: E731
    reader = JsonlReader(path, pick, resolve_images=False)
    done = {(j.id, getattr(j, "swapped", False)) for j in reader if j.error is None}
    for err in reader.errors:
        print(f"warning: {err} (kept; that judgment will be redone)", file=sys.stderr)
    return done


def run(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.jsonl import JsonlWriter, RecordFileError, read_items
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.summary import JudgeSummary
    from critic.records import CandidateSet

    t0 = time.perf_counter()
    try:
        items, errors = read_items(args.input, strict=args.strict)
    except RecordFileError as exc:
        raise CommandError(str(exc)) from exc
    summary = JudgeSummary()
    for e in errors:
        summary.skip(str(e))
    judgeable = []
    for it in items:
        if isinstance(it, CandidateSet):
            summary.skip(f"{args.input}: {it.id}: candidate sets are ranked by `critic label-pairs`, not judged here")
        else:
            judgeable.append(it)
    seen: set[str] = set()
    for it in judgeable:
        if it.id in seen:
            summary.skip(f"{args.input}: {it.id}: duplicate id (later lines with it are judged too but resume by id)")
        seen.add(it.id)
    done = _done_keys(args.output)
    summary.resumed = len(done)
    try:
        critic = build_critic(args)
    except (OSError, ValueError, ImportError) as exc:
        raise CommandError(f"cannot load the judge: {exc}") from exc
    if args.template:
        tasks = {it.task for it in judgeable}
        chosen = critic.template_for_name(args.template)
        if judgeable and chosen.task not in tasks:
            raise CommandError(f"--template {args.template} is a {chosen.task} template, but {args.input} has only "
                               f"{' and '.join(sorted(tasks))} items")
    failed_path = args.output.with_name(args.output.name + ".failed.jsonl")
    failed = None
    try:
        with JsonlWriter(args.output, append=True) as out:
            for j in critic.judge_stream(judgeable, swap=args.swap, skip=done):
                if j.error is not None:
                    failed = failed or JsonlWriter(failed_path)
                    failed.write(j)
                else:
                    out.write(j)
                summary.add(j)
    except BackendFatalError as exc:
        raise CommandError(str(exc)) from exc
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        if failed:
            failed.close()
    summary.wall_s = time.perf_counter() - t0
    print(summary.render(args.output, failed_path if failed else None))
    return 0
