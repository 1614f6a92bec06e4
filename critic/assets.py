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
