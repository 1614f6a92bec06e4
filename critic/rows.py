"""Rows of table-like files, read one at a time, and the column map that turns a row into item fields.

``critic data build`` (the ``pairwise_file``, ``llava`` and ``hf_disk`` sources) and the judge
benchmarks (:mod:`critic.evaluation.benchmarks`) both read files of rows and map their columns onto
item fields; this module is the one reader and the one mapping vocabulary they share.

**Reading.** :func:`read_rows` takes a JSON array (streamed element by element: LLaVA-style files
run to hundreds of megabytes), JSON Lines, or CSV (by the ``.csv`` extension; the first line names
the columns and every value is text). A leading UTF-8 byte-order mark is dropped. Each row comes as
a :class:`Row` with the line it starts on. A row that cannot be read (not valid JSON, not an object)
carries a ``problem`` instead of a value and reading goes on, except where the rest of the file
cannot be found again: after a syntax error inside a JSON array or a CSV error, that problem is
``fatal`` and is the last row.

>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
>>> _ = open(p, "w").write('{"q": "Which?"}\\n\\n{"q": \\n[1, 2]\\n')
>>> for row in read_rows(p):
...     print(row.line, row.value, row.problem)
1 {'q': 'Which?'} None
3 None not valid JSON: Expecting value at column 7
4 None expected an object, got list

**Mapping.** A column map has the same two keys in data recipes and in benchmark definitions:

- ``columns``: item field → the column that holds it, or a list of columns. A dotted name reaches
  into nested objects (``answer1.answer``) when no column has that exact name. For ``question`` and
  ``reference`` the non-empty values of a list are joined by a blank line (PandaLM's instruction +
  input); for ``label`` each column of a list is one vote and the majority wins; for any other
  field the first column present counts.
- ``label_map``: a label as text (``"1"``, ``"model_a"``) → ``A`` / ``B`` / ``tie``; a value it
  does not name is kept as it is. Recipes used to call it ``labels``; that name still works, with
  a :class:`RenamedKeyWarning` naming the file (:func:`current_names`).

>>> row = {"prompt": "Which?", "out": {"a": "x", "b": "y"}, "v1": 1, "v2": 1, "v3": 2}
>>> map_columns(row, {"question": "prompt", "response_a": "out.a", "response_b": "out.b",
...                   "label": ["v1", "v2", "v3"]}, {"1": "A", "2": "B"}, same_names=False)
{'question': 'Which?', 'response_a': 'x', 'response_b': 'y', 'label': 'A'}
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from critic.jsonl import encoding_problem

_WS = " \t\r\n"


@dataclass(frozen=True)
class Row:
    """One row of a file: where it starts, and its columns (a JSON object, or CSV text) or its problem."""

    path: str
    line: int
    value: dict[Any, Any] | None = None
    problem: str | None = None
    fatal: bool = False

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def read_rows(path: str | Path, *, chunk: int = 1 << 20) -> Iterator[Row]:
    """Every row of a JSON-array, JSONL or CSV file, in order (CSV by extension, JSON sniffed by content)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path)
    elif _first_char(path) == "[":
        yield from _array_rows(path, chunk)
    else:
        yield from _jsonl_rows(path)


def _first_char(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        while data := fh.read(4096):
            data = data.lstrip(_WS + "\ufeff")
            if data:
                return data[0]
    return ""


def _object(path: Path, line: int, value: Any) -> Row:
    if isinstance(value, dict):
        return Row(str(path), line, value)
    return Row(str(path), line, problem=f"expected an object, got {type(value).__name__}")


def _jsonl_rows(path: Path) -> Iterator[Row]:
    # surrogateescape: a byte that is not UTF-8 costs its own line, not the whole file
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
        for line, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            if (bad := encoding_problem(text)) is not None:
                yield Row(str(path), line, problem=bad)
                continue
            try:
                value = json.loads(text.rstrip("\n"))  # without it a cut-off line's error is at column 1 of "line 2"
            except json.JSONDecodeError as exc:
                yield Row(str(path), line, problem=f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            yield _object(path, line, value)


def _array_rows(path: Path, chunk: int) -> Iterator[Row]:
    try:
        for line, value in iter_json_array(path, chunk):
            yield _object(path, line, value)
    except JsonArrayError as exc:
        yield Row(str(path), exc.line, problem=exc.problem, fatal=True)
    except UnicodeDecodeError as exc:  # one JSON document: a bad byte ends it (JSONL and CSV lose one row)
        yield Row(str(path), 0, problem=f"not valid UTF-8: byte 0x{exc.object[exc.start]:02x} at byte offset "
                  f"{exc.start} of a read", fatal=True)


def _csv_rows(path: Path) -> Iterator[Row]:
    """Rows as :class:`csv.DictReader` makes them (extra cells under ``None``, missing ones ``None``)."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Row(str(path), start, problem=f"not valid CSV: {exc}", fatal=True)
                return
            if header is None:
                header = cells
                continue
            if not cells:
                continue
            if (bad := next((b for c in cells if (b := encoding_problem(c))), None)) is not None:
                yield Row(str(path), start, problem=bad)
                continue
            value: dict[Any, Any] = dict(zip(header, cells))
            if len(cells) > len(header):
                value[None] = cells[len(header):]
            for name in header[len(cells):]:
                value[name] = None
            yield Row(str(path), start, value)


class JsonArrayError(ValueError):
    """The file is not a JSON array, or an element is malformed; ``line`` says where."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def iter_json_array(path: str | Path, chunk: int = 1 << 20) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, element)`` for each element of the JSON array in ``path``, one at a time.

    ``json.load`` would hold the whole file in memory; this decodes element by element from a
    sliding buffer, so memory stays at about one chunk plus one element. Raises
    :class:`JsonArrayError` at the first element that cannot be decoded (a JSON array cannot be
    resynchronised after a syntax error), or at anything after the closing ``]``; everything before
    it has been yielded.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> _ = open(p, "w").write('[\\n {"a": 1},\\n {"b": [2, 3]}\\n]\\n')
    >>> list(iter_json_array(p))
    [(2, {'a': 1}), (3, {'b': [2, 3]})]
    """
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8-sig") as fh:
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
                pos += 1
                if skip(_WS) is not None:
                    raise JsonArrayError(line, "not valid JSON: extra data after the closing ']'")
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
                                             f"not valid JSON: {exc.msg}") from None
            yield line, obj
            line += buf.count("\n", pos, end)
            pos = end


# -- the column map -----------------------------------------------------------------------------
#: Every item field a column map may name; each reader says which of them it takes.
FIELDS = ("id", "question", "reference", "response", "response_a", "response_b", "label", "score", "images",
          "rationale", "group", "question_id", "model_a", "model_b", "response_model")
#: Fields whose list of columns is joined by a blank line (``label``'s is a vote).
JOINED = ("question", "reference")


class ColumnError(ValueError):
    """A row the column map cannot read: a column it names is missing, or label votes have no majority."""

    def __init__(self, kind: Literal["missing", "no majority"], message: str) -> None:
        super().__init__(message)
        self.kind = kind


_ABSENT = object()


def _get(row: Mapping[Any, Any], name: Any) -> Any:
    if name in row:
        return row[name]
    if not (isinstance(name, str) and "." in name):
        return _ABSENT
    cur: Any = row
    for part in name.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return _ABSENT
        cur = cur[part]
    return cur


def lookup(row: Mapping[Any, Any], spec: Any) -> Any:
    """The value of the first column of ``spec`` (a name or a list of names) the row has, else None.

    >>> lookup({"a": {"b": 3}}, "a.b"), lookup({"x": 1}, "y"), lookup({"a.b": 1, "a": {"b": 2}}, ["z", "a.b"])
    (3, None, 1)
    """
    for name in spec if isinstance(spec, list) else [spec]:
        value = _get(row, name)
        if value is not _ABSENT:
            return value
    return None


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def majority(votes: list[str]) -> str | None:
    """The label more than half of ``votes`` agree on, or None.

    >>> majority(["A", "A", "tie"]), majority(["A", "B", "tie"]), majority(["B"])
    ('A', None, 'B')
    """
    for v in set(votes):
        if votes.count(v) * 2 > len(votes):
            return v
    return None


def map_columns(row: Mapping[Any, Any], columns: Mapping[str, Any], label_map: Mapping[str, str] | None = None,
                *, fields: Sequence[str] = FIELDS, same_names: bool = True, strict: bool = True) -> dict[str, Any]:
    """The item fields a row holds: field → value, for the fields it has.

    With ``same_names`` each of ``fields`` that ``columns`` leaves out is read from the column of
    its own name, if there is one. With ``strict`` a column ``columns`` names that the row lacks is a
    :class:`ColumnError` (``missing``); otherwise that field is left out. A label is text, mapped
    through ``label_map``; an empty label is no label. A single column's value is returned as it is
    (the caller types it); a list of ``question`` / ``reference`` columns gives the joined text.
    """
    cols = {f: columns.get(f, f) for f in fields} if same_names else dict(columns)
    out: dict[str, Any] = {}
    for field, spec in cols.items():
        names = spec if isinstance(spec, list) else [spec]
        present = [v for v in (_get(row, n) for n in names) if v is not _ABSENT]
        if not present:
            if strict and field in columns:
                raise ColumnError("missing", f"column {names[0]!r} is missing")
            continue
        if field == "label":
            votes = [_text(v) for v in present]
            mapped = [label_map.get(v, v) for v in votes] if label_map else votes
            label = mapped[0] if len(mapped) == 1 else majority(mapped)
            if label is None:
                raise ColumnError("no majority", f"votes {votes} have no majority")
            if label != "":
                out["label"] = label
        elif field in JOINED and isinstance(spec, list):
            out[field] = "\n\n".join(t for t in (_text(v).strip() for v in present) if t)
        else:
            out[field] = present[0]
    return out


# -- renamed keys -------------------------------------------------------------------------------
#: Column-map keys renamed when recipes and benchmark definitions came to share one vocabulary.
RENAMED_KEYS = {"labels": "label_map"}


class RenamedKeyWarning(FutureWarning):
    """A config uses a key's old name (a FutureWarning, so the person editing the config sees it)."""


def current_names(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``config`` with every old key name of :data:`RENAMED_KEYS` replaced by the current one.

    Warns once per old key, naming ``where`` (the file); giving both names is a ``ValueError``.

    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     current_names({"columns": {}, "labels": {"1": "A"}}, "recipe.yaml")
    {'columns': {}, 'label_map': {'1': 'A'}}
    >>> print(seen[0].message)
    recipe.yaml: `labels` is now called `label_map`; the old name still works, for now
    """
    out = dict(config)
    for old, new in RENAMED_KEYS.items():
        if old in out:
            if new in out:
                raise ValueError(f"give `{new}` only (`{old}` is its old name)")
            warnings.warn(f"{where}: `{old}` is now called `{new}`; the old name still works, for now",
                          RenamedKeyWarning, stacklevel=2)
            out[new] = out.pop(old)
    return out


__all__ = ["FIELDS", "ColumnError", "JsonArrayError", "RenamedKeyWarning", "Row", "current_names", "iter_json_array",
           "lookup", "majority", "map_columns", "read_rows"]
