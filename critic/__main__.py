"""``python -m critic ...`` runs the ``critic`` command."""

from critic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
