"""Read a large JSON array one element at a time, with the line each element starts on.

``json.load`` holds a whole file in memory; LLaVA-style conversation files are often a single JSON
list of hundreds of megabytes. :func:`iter_json_array` decodes element by element from a sliding
buffer instead, so memory stays at about one chunk plus one element.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "a.json")
>>> _ = open(p, "w").write('[\\n {"a": 1},\\n {"b": [2, 3]}\\n]\\n')
>>> list(iter_json_array(p))
[(2, {'a': 1}), (3, {'b': [2, 3]})]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_WS = " \t\r\n"


class JsonArrayError(ValueError):
    """The file is not a JSON array, or an element is malformed; ``line`` says where."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def iter_json_array(path: str | Path, chunk: int = 1 << 20) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, element)`` for each element of the JSON array in ``path``.

    Raises :class:`JsonArrayError` at the first element that cannot be decoded (a JSON array cannot
    be resynchronised after a syntax error); everything before it has been yielded.
    """
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8") as fh:
        buf, pos, line, eof = "", 0, 1, False

        def more() -> bool:
            nonlocal buf, pos, eof
            data = fh.read(chunk)
            if not data:
                eof = True
                return False
            buf = buf[pos:] + data
            pos = 0
            return True

        def skip(chars: str) -> str | None:
            """Skip ``chars``; the next character (None at the end of the file)."""
            nonlocal pos, line
            while True:
                while pos < len(buf) and buf[pos] in chars:
                    line += buf[pos] == "\n"
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not more():
                    return None

        if skip(_WS + "\ufeff") != "[":
            raise JsonArrayError(line, "not a JSON array (expected '[')")
        pos += 1
        first = True
        while True:
            c = skip(_WS)
            if c is None:
                raise JsonArrayError(line, "the file ends inside the array (no closing ']')")
            if c == "]":
                return
            if not first:
                if c != ",":
                    raise JsonArrayError(line, f"expected ',' or ']' between elements, got {c!r}")
                pos += 1
                if skip(_WS) is None:
                    raise JsonArrayError(line, "the file ends inside the array")
            first = False
            while True:
                try:
                    obj, end = dec.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if eof or not more():
                        raise JsonArrayError(line + buf.count("\n", pos, exc.pos),
                                             f"malformed JSON: {exc.msg}") from None
            yield line, obj
            line += buf.count("\n", pos, end)
            pos = end
