"""``critic templates``: list, show and try out judge prompt templates.

``critic templates list [--json]`` prints every template visible from the search path;
``critic templates show NAME`` prints one file with a summary; ``critic templates render NAME --item
FILE.jsonl [--line N] [--swapped]`` renders the prompt for one item and the training target an item's
gold verdict would produce.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

PLACEHOLDER_RATIONALE = "<rationale: the critic's reasoning goes here>"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("templates", help="list, show and try out judge prompt templates",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="templates_command", metavar="ACTION")
    sub.required = True

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--template-dir", action="append", type=Path, default=[], metavar="DIR",
                        help="look for templates here first (repeatable; then $CRITIC_TEMPLATE_PATH, then shipped)")

    sp = sub.add_parser("list", help="list templates")
    sp.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    common(sp)
    sp.set_defaults(func=_list)

    sp = sub.add_parser("show", help="print a template file and a summary")
    sp.add_argument("name", help="template name or path to a .jinja file")
    common(sp)
    sp.set_defaults(func=_show)

    sp = sub.add_parser("render", help="render the prompt and an example target for one item")
    sp.add_argument("name", help="template name or path to a .jinja file")
    sp.add_argument("--item", required=True, type=Path, metavar="FILE.jsonl", help="items file")
    sp.add_argument("--line", type=int, default=None, metavar="N",
                    help="line number of the item in the file (default: the first valid item)")
    sp.add_argument("--swapped", action="store_true", help="show response B first (pairwise)")
    sp.add_argument("--rubric", default=None, help="rubric text passed to the template")
    common(sp)
    sp.set_defaults(func=_render)


def _load(name: str, dirs: list[Path]):
    from critic.commands.errors import CommandError
    from critic.judging.templates import TemplateError, load_template

    try:
        return load_template(name, dirs)
    except TemplateError as exc:
        raise CommandError(str(exc)) from None


def _scale_text(t) -> str:
    from critic.judging.verdicts import fmt_number

    return f"{fmt_number(t.scale[0])}-{fmt_number(t.scale[1])}" if t.scale else "-"


def _list(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.judging.templates import TemplateError, list_templates

    try:
        templates = list_templates(args.template_dir)
    except TemplateError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps([t.summary() for t in templates], indent=2))
        return 0
    rows = [("NAME", "TASK", "VERDICT", "SCALE", "TIES", "REF", "DESCRIPTION")]
    for t in templates:
        desc = t.description if len(t.description) <= 70 else t.description[:67] + "..."
        rows.append((t.name, t.task, t.verdict_kind, _scale_text(t), "yes" if t.allows_tie else "no",
                     "needed" if t.needs_reference else "-", desc))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return 0


def _show(args: argparse.Namespace) -> int:
    t = _load(args.name, args.template_dir)
    example = t.spec.render(t.spec.examples()[0])
    print(f"name:            {t.name}")
    print(f"path:            {t.path}")
    print(f"hash:            {t.hash}")
    print(f"task:            {t.task}")
    print(f"verdict:         {t.verdict_kind}" + (f" on {_scale_text(t)}" if t.scale else "")
          + (" (integers)" if t.scale and t.integer else ""))
    print(f"ties allowed:    {'yes' if t.allows_tie else 'no'}")
    print(f"needs reference: {'yes' if t.needs_reference else 'no'}")
    print(f"example verdict: {example}")
    print(f"description:     {t.description}")
    print("-" * 72)
    print(t.source, end="" if t.source.endswith("\n") else "\n")
    return 0


def _pick_item(path: Path, line: int | None):
    """The item on ``line`` (or the first valid one) and its line number."""
    from critic.commands.errors import CommandError
    from critic.jsonl import JsonlReader, RecordFileError
    from critic.records import item_type_for

    reader = JsonlReader(path, item_type_for)
    try:
        for item in reader:
            if line is None or reader.n_lines == line:
                return item, reader.n_lines
            if reader.n_lines > line:
                break
    except RecordFileError as exc:
        raise CommandError(str(exc)) from None
    for err in reader.errors:
        if line is None or err.line == line:
            raise CommandError(f"{err}")
    if line is None:
        raise CommandError(f"{path}: no items in the file")
    raise CommandError(f"{path}:{line}: no item on this line (the file has {reader.n_lines} line(s))")


def _example_verdict(t, item) -> tuple[Any, bool]:
    """The item's gold verdict in the template's kind, or a placeholder; and whether it is gold."""
    from critic.judging.verdicts import Verdict

    spec = t.spec
    if t.task == "pointwise":
        if item.score is not None:
            return Verdict(score=item.score), True
        return spec.examples()[0], False
    label = item.label
    meta_scores = (item.meta or {}).get("scores")
    if spec.kind == "two_scores":
        if isinstance(meta_scores, list) and len(meta_scores) == 2:
            return Verdict(scores=(meta_scores[0], meta_scores[1])), True
        if label is None:
            return spec.examples()[0], False
        same = [v for v in spec.examples() if v.winner == label]
        return (same[0] if same else Verdict(winner=label)), False
    if label is None:
        return spec.examples()[0], False
    return Verdict(winner=label), True


def _render(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.judging.pair_order import swap_rationale, swap_verdict
    from critic.judging.templates import TemplateError
    from critic.records import CandidateSet

    t = _load(args.name, args.template_dir)
    item, lineno = _pick_item(args.item, args.line)
    where = f"{args.item}:{lineno}"
    if isinstance(item, CandidateSet) or item.task != t.task:
        raise CommandError(f"{where}: item {item.id!r} is {item.task} but template {t.name!r} is {t.task}")
    try:
        prompt = t.render_prompt(item, swapped=args.swapped, rubric=args.rubric)
    except TemplateError as exc:
        raise CommandError(f"{where}: {exc}") from None
    verdict, gold = _example_verdict(t, item)
    rationale = (item.meta or {}).get("rationale")
    has_rationale = isinstance(rationale, str) and bool(rationale.strip())
    if not has_rationale:
        rationale = PLACEHOLDER_RATIONALE
    if args.swapped and t.task == "pairwise":
        verdict = swap_verdict(verdict)
        if has_rationale:
            rationale = swap_rationale(rationale)
    try:
        target = t.render_target(rationale, verdict)
    except ValueError as exc:
        raise CommandError(f"{where}: the item's gold verdict does not fit the template: {exc}") from None
    print(f"=== template {t.name} ({t.hash}) | item {item.id!r} at {where}"
          f"{' | swapped: B shown first' if args.swapped else ''} ===")
    if prompt.system:
        print("--- system ---")
        print(prompt.system)
    print("--- user ---")
    for part in prompt.parts:
        if part["type"] == "image":
            print(f"[image {part['index']}: {item.images[part['index']]}]")
        else:
            print(part["text"])
    source = ("gold" if gold else "placeholder") + " verdict, " + ("meta.rationale" if has_rationale
                                                                   else "placeholder rationale")
    print(f"--- target ({source}) ---")
    print(target)
    return 0
