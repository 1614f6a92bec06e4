"""Where critic's shipped data lives: templates, recipes, training and eval configs.

In the repository they are top-level folders (``prompt_templates/``, ``data_recipes/``, ``train/``,
``eval/``); in an installed wheel they are the packages ``critic.prompt_templates`` and so on
(``pyproject.toml`` maps one onto the other). :func:`asset_dir` finds whichever exists.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_FOLDERS = {
    "prompt_templates": "prompt_templates",
    "data_recipes": "data_recipes",
    "train_configs": "train",
    "eval_configs": "eval",
}


def asset_dir(name: str) -> Path:
    """The folder holding the shipped asset group ``name`` (a key of ``_FOLDERS``).

    >>> asset_dir("prompt_templates").is_dir()
    True
    """
    if name not in _FOLDERS:
        raise KeyError(f"unknown asset group {name!r}; known: {sorted(_FOLDERS)}")
    spec = importlib.util.find_spec(f"critic.{name}")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if Path(loc).is_dir():
                return Path(loc)
    checkout = Path(__file__).resolve().parent.parent / _FOLDERS[name]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"critic's {name} folder is missing from this installation (looked for {checkout})")


def shipped_or_given(path: str | Path, name: str) -> Path:
    """``path`` when it exists; otherwise the shipped file it names, so README commands such as
    ``critic train train/toy_rm.yaml`` also work after ``pip install critic`` from any folder.

    ``path`` names a shipped file when it is ``FOLDER/FILE`` with ``FOLDER`` the group's repository
    folder (``train/``, ``data_recipes/``, ``eval/``) or a bare ``FILE``, with or without ``.yaml``.
    Anything else comes back unchanged, for the caller's own "cannot read" error. A note on stderr
    says which file is used, since a local file of that name would win.

    >>> shipped_or_given("toy_rm", "train_configs") == asset_dir("train_configs") / "toy_rm.yaml"
    True
    >>> shipped_or_given("no/such.yaml", "train_configs")
    PosixPath('no/such.yaml')
    """
    import sys

    given = Path(path)
    if given.exists() or given.is_absolute() or len(given.parts) > 2:
        return given
    if len(given.parts) == 2 and given.parts[0] != _FOLDERS[name]:
        return given
    try:
        folder = asset_dir(name)
    except FileNotFoundError:
        return given
    for candidate in (folder / given.name, folder / f"{given.name}.yaml"):
        if candidate.is_file():
            print(f"critic: {path} is not in {Path.cwd()}; using the shipped {candidate}", file=sys.stderr)
            return candidate
    return given
