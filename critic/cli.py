"""Deprecated location of the ``critic`` command (``critic.commands.main``); kept for one release.

``python -m critic ...`` still works; use ``python -m critic ...`` or the ``critic`` script.
"""

import sys
import warnings

from critic.commands.errors import CommandError
from critic.commands.main import build_parser, main

__all__ = ["CommandError", "build_parser", "main"]

warnings.warn("critic.cli is deprecated: use critic.commands.main (or `python -m critic`)", DeprecationWarning,
              stacklevel=2)

if __name__ == "__main__":
    sys.exit(main())
