"""The one exception commands raise for errors the user can fix."""


class CommandError(Exception):
    """An error the user can fix; printed without a traceback, exit status 2."""
