"""The ``--push-to-hub REPO`` flags that ``critic data build``, ``critic train`` and ``critic pairs build`` share.

:func:`add_push_options` adds ``--push-to-hub REPO`` (private unless ``--public``) and
``--push-dry-run`` (list the files and total size; no network call); :func:`push_after` runs once
the command's output folder is written (:mod:`critic.hub`), turning any failure into a
:class:`~critic.commands.errors.CommandError`: one line, no traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from critic.commands.errors import CommandError


def add_push_options(p: argparse.ArgumentParser, what: str) -> None:
    """Add the push flags to ``p``; ``what`` names what is pushed (for the help)."""
    g = p.add_argument_group("Hugging Face Hub")
    g.add_argument("--push-to-hub", metavar="REPO", default=None,
                   help=f"after writing, upload {what} to this Hub repository (NAME or OWNER/NAME; created private "
                   "if missing; the token from HF_TOKEN or `huggingface-cli login`)")
    g.add_argument("--public", action="store_true", help="create the --push-to-hub repository public")
    g.add_argument("--push-dry-run", action="store_true",
                   help="with --push-to-hub: list the files that would be uploaded and their total size; "
                   "no network call")


def check_push_options(args: argparse.Namespace) -> None:
    """Refuse --public / --push-dry-run without --push-to-hub (before any work is done)."""
    if getattr(args, "push_to_hub", None) is None and (getattr(args, "public", False)
                                                       or getattr(args, "push_dry_run", False)):
        raise CommandError("--public and --push-dry-run need --push-to-hub REPO")


def push_after(args: argparse.Namespace, folder: str | Path, repo_type: str) -> None:
    """Push ``folder`` if ``--push-to-hub`` was given (or print the plan with ``--push-dry-run``)."""
    repo = getattr(args, "push_to_hub", None)
    if repo is None:
        return
    from critic.hub import HubError, plan_push, push

    try:
        plan = plan_push(folder, repo, repo_type=repo_type, private=not args.public)  # type: ignore[arg-type]
        if args.push_dry_run:
            print(plan.describe())
            return
        url = push(plan)
    except HubError as exc:
        raise CommandError(str(exc)) from None
    print(f"pushed {len(plan.files)} files to {url}")


__all__ = ["add_push_options", "check_push_options", "push_after"]
