"""The judge's command-line options, generated from :class:`~critic.judging.spec.JudgeSpec`: one flag per field.

``add_judge_options(parser)`` adds them (``--max-new-tokens`` for ``max_new_tokens``; help, choices
and defaults from the field), grouped as the spec is (the judge, the server, the local checkpoint,
sampling); ``judge_spec_from_args(args)`` maps the parsed flags back onto a spec, so a field added to
the spec is a flag everywhere a judge is chosen (``judge``, ``eval-bench``, ``label-pairs``,
``best-of-n``, ``filter``). With ``prefix="judge-"`` the flags that name the judge (backend, model,
base URL, template) read ``--judge-model`` and so on, next to commands' own ``--model``-like flags.

Flags left out take the spec's defaults (argparse's default is None for every one of them).
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from critic.commands.errors import CommandError
from critic.judging.spec import JudgeSpec, LocalOptions, SamplingOptions, ServerOptions

#: Fields whose flag takes the command's prefix (``--judge-model``).
PREFIXED = ("backend", "model", "base_url", "template")
#: Flags not spelt like their field.
FLAG_NAMES = {"template_dirs": "template-dir"}
#: Placeholders in ``--help`` (otherwise N for whole numbers, X for others, the flag's name for text).
METAVARS: dict[str, Any] = {"base_url": "URL", "template_dirs": "DIR", "cache": "PATH", "api_key_env": "VAR",
                            "timeout": "SECONDS", "price_per_mtok": ("IN", "OUT"), "image_root": "DIR"}


def flag(name: str, prefix: str = "") -> str:
    """The flag of spec field ``name``: ``flag("base_url", "judge-") == "--judge-base-url"``."""
    return "--" + (prefix if name in PREFIXED else "") + FLAG_NAMES.get(name, name.replace("_", "-"))


def _dest(name: str, prefix: str) -> str:
    return flag(name, prefix)[2:].replace("-", "_")


def _groups(prefix: str) -> list[tuple[str, list[str]]]:
    parts: list[tuple[str, type[BaseModel]]] = [
        (f"OpenAI-compatible server (--{prefix}backend openai)", ServerOptions),
        (f"local checkpoint (--{prefix}backend hf)", LocalOptions),
        ("sampling", SamplingOptions),
    ]
    grouped = {name for _, cls in parts for name in cls.model_fields}
    own = [name for name in JudgeSpec.model_fields if name not in grouped]
    return [("judge", own)] + [(title, list(cls.model_fields)) for title, cls in parts]


def _argument(name: str, field: FieldInfo) -> dict[str, Any]:
    """argparse keywords for one field: the kind of value from its annotation, help from its description."""
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
        ann = args[0]  # X | None
    origin = typing.get_origin(ann)
    kw: dict[str, Any] = {"default": None}
    if ann is bool:
        kw = {"action": "store_true", "default": None}
    elif origin is list:
        kw["action"] = "append"
    elif origin is tuple:
        kw.update(nargs=len(typing.get_args(ann)), type=typing.get_args(ann)[0])
    elif origin is Literal:
        kw["choices"] = list(typing.get_args(ann))
    elif ann in (int, float):
        kw.update(type=ann, metavar="N" if ann is int else "X")
    if name in METAVARS:
        kw["metavar"] = METAVARS[name]
    text = field.description or ""
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    if not (default is None or default is False or default == []) and "default" not in text:
        text += f" (default {default})"
    if field.is_required() and name != "model":  # the spec checks model (backend remote needs none)
        kw["required"] = True
    return {**kw, "help": text}


def add_judge_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Every :class:`JudgeSpec` field as a flag (see the module doc), plus ``--no-progress``."""
    for title, names in _groups(prefix):
        group = parser.add_argument_group(title)
        for name in names:
            if flag(name, prefix) in parser._option_string_actions:
                continue  # the command has its own (eval-bench's --image-root): that value fills the field
            group.add_argument(flag(name, prefix), dest=_dest(name, prefix),
                               **_argument(name, JudgeSpec.model_fields[name]))
        if title == "judge":
            group.add_argument("--no-progress", action="store_true", help="no progress bar")


def judge_spec_from_args(args: argparse.Namespace, prefix: str = "") -> JudgeSpec:
    """The :class:`JudgeSpec` the parsed flags describe; a bad value raises :class:`CommandError` naming its flag."""
    values: dict[str, Any] = {}
    for name in JudgeSpec.model_fields:
        value = getattr(args, _dest(name, prefix))
        if value is not None:
            values[name] = ([str(v) for v in value] if isinstance(value, list)
                            else str(value) if isinstance(value, PurePath) else value)
    if values.get("backend") == "hf" and values.get("base_url"):
        raise CommandError(f"{flag('base_url', prefix)} is for {flag('backend', prefix)} openai")
    try:
        return JudgeSpec.model_validate(values)
    except ValidationError as exc:
        problems = [f"{flag(str(e['loc'][0]), prefix) if e['loc'] else 'judge'}: {e['msg']}" for e in exc.errors()]
        raise CommandError("; ".join(problems)) from None
