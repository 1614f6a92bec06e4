"""Pushing a folder to the Hugging Face Hub: a dataset (``critic data build``, ``critic pairs build``)
or a checkpoint (``critic train``), through ``huggingface_hub``.

:func:`plan_push` lists what would be uploaded — every file under the folder except hidden ones
(``.partial/``, locks, caches), plus ``card.md`` again as ``README.md`` when the folder has no
``README.md`` (the Hub shows ``README.md``; ``card.md`` carries the Hub's front matter) — without
any network call; :meth:`PushPlan.describe` is what ``--push-dry-run`` prints. :func:`push` creates
the repository (private unless asked otherwise; an existing one is reused) and uploads exactly the
planned files in one commit. Every failure — no network, no token, no rights — is a :class:`HubError` with one line
saying what failed, never a traceback.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "train.jsonl").write_text("{}\\n"); _ = (d / "card.md").write_text("---\\n---\\n")
>>> (d / ".partial").mkdir(); _ = (d / ".partial" / "x").write_text("skip me")
>>> plan = plan_push(d, "me/data", repo_type="dataset")
>>> [(f.path_in_repo, f.size) for f in plan.files]
[('README.md', 8), ('card.md', 8), ('train.jsonl', 3)]
>>> print(plan.describe())  # doctest: +ELLIPSIS
would push 3 files (19 B) to the private dataset repository me/data:
  README.md  8 B  (card.md)
  card.md  8 B
  train.jsonl  3 B
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

RepoType = Literal["dataset", "model"]


class HubError(Exception):
    """A push that cannot happen or failed; the message is one line for the user."""


@dataclass(frozen=True)
class PushFile:
    """One file of a push: where it lands in the repository, where it comes from, its size in bytes."""

    path_in_repo: str
    local: Path
    size: int


@dataclass(frozen=True)
class PushPlan:
    """What a push would upload (:func:`plan_push`): the repository, its kind and visibility, the files."""

    repo: str
    repo_type: RepoType
    private: bool
    folder: Path
    files: list[PushFile] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def describe(self) -> str:
        """The file list and total size, as ``--push-dry-run`` prints it."""
        vis = "private" if self.private else "public"
        head = (f"would push {len(self.files)} files ({human_size(self.total_bytes)}) to the {vis} "
                f"{self.repo_type} repository {self.repo}:")
        lines = [f"  {f.path_in_repo}  {human_size(f.size)}"
                 + (f"  ({f.local.name})" if f.local.name != Path(f.path_in_repo).name else "") for f in self.files]
        return "\n".join([head, *lines])


def human_size(n: int) -> str:
    """Bytes in B / KB / MB / GB (powers of 1024).

    >>> human_size(19), human_size(2048), human_size(5 * 1024 ** 3)
    ('19 B', '2.0 KB', '5.0 GB')
    """
    size, unit = float(n), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            break
        size /= 1024
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def plan_push(folder: str | Path, repo: str, *, repo_type: RepoType, private: bool = True) -> PushPlan:
    """What pushing ``folder`` to ``repo`` would upload; no network call. Raises :class:`HubError` for a
    repository name that is not ``NAME`` or ``OWNER/NAME``, or a folder that is missing or empty."""
    parts = repo.split("/")
    if not repo or len(parts) > 2 or not all(parts):
        raise HubError(f"--push-to-hub {repo!r}: give the repository as NAME or OWNER/NAME")
    root = Path(folder)
    if not root.is_dir():
        raise HubError(f"cannot push {root}: no such folder")
    files = [PushFile(p.relative_to(root).as_posix(), p, p.stat().st_size)
             for p in sorted(root.rglob("*")) if p.is_file() and not _hidden(p.relative_to(root))]
    if (root / "card.md").is_file() and not (root / "README.md").is_file():
        card = root / "card.md"
        files.append(PushFile("README.md", card, card.stat().st_size))
    if not files:
        raise HubError(f"cannot push {root}: it holds no files")
    files.sort(key=lambda f: f.path_in_repo)
    return PushPlan(repo, repo_type, private, root, files)


def push(plan: PushPlan, api: Any = None) -> str:
    """Create the repository (``exist_ok``) and upload exactly the plan's files in one commit; the repository URL.

    ``api`` is a ``huggingface_hub.HfApi`` (default: a new one, which reads the token from
    ``HF_TOKEN`` or ``huggingface-cli login``).
    """
    try:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        from huggingface_hub import CommitOperationAdd

        url = api.create_repo(plan.repo, repo_type=plan.repo_type, private=plan.private, exist_ok=True)
        ops = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.local)) for f in plan.files]
        api.create_commit(repo_id=plan.repo, repo_type=plan.repo_type, operations=ops,
                          commit_message="Upload with critic")
    except ModuleNotFoundError as exc:
        raise HubError(f"pushing to the Hub needs huggingface_hub ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - network, auth, rights: every failure is one line for the user
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise HubError(f"push to {plan.repo} failed ({type(exc).__name__}): {msg[:300]}") from None
    return str(getattr(url, "url", url) or f"https://huggingface.co/{plan.repo}")


__all__ = ["HubError", "PushFile", "PushPlan", "human_size", "plan_push", "push"]
