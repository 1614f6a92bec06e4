"""``python -m critic ...`` runs the ``critic`` command."""

import sys

from critic.commands.main import main

if __name__ == "__main__":
    sys.exit(main())
