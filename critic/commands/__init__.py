"""The ``critic`` command line: thin wrappers that parse flags and call the stages.

================  ================================================================================
``main``          the ``critic`` entry point: one sub-command per module below, ``CommandError`` → exit 2
``errors``        :class:`CommandError`, the error a user can fix (printed without a traceback)
``common_flags``  ``--output FILE`` / ``--out DIR``, ``--limit``, ``--json``; old spellings as warned aliases
``quickstart``    ``critic quickstart``
``templates``     ``critic templates list | show | render``
``toy``           ``critic toy make | model | policy | teacher``
``data``          ``critic data build``
``train``         ``critic train``
``judge``         ``critic judge``
``eval``          ``critic eval``, ``critic eval-bench``
``prefs``         ``critic label-pairs``, ``critic best-of-n``, ``critic filter``
``dpo``           ``critic dpo``
================  ================================================================================

Each module exposes ``register(subparsers)`` and imports heavy libraries inside its ``run``, so
``critic --help`` stays fast. Commands import stages; stages never import commands.
"""
