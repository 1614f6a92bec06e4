"""Items from the files people have: JSONL, JSON, CSV, parquet or a ``datasets`` folder, with a column map.

``critic judge``, ``critic eval`` and ``critic label-pairs`` read their ``--input`` / ``--gold``
through :func:`read_item_file`. Without a column map a ``.jsonl`` file is read exactly as before
(:class:`critic.jsonl.JsonlReader`). Any other file, or any file with ``--map field=column``, is read
as rows (:func:`critic.rows.read_rows`; parquet through ``pyarrow``; a folder through
``datasets.load_from_disk``) and mapped with the column-map vocabulary of :mod:`critic.rows`:
fields the map leaves out are read from same-named columns, the other columns are kept under
``meta`` (one warning), ``image`` stands for ``images`` and ``rationale`` goes to
``meta.rationale``. A row without an ``id`` is named by its row number.

Images may be paths (relative to the file's folder), data URLs, raw bytes, ``datasets.Image``
values (``{"bytes": ..., "path": ...}``) or PIL pictures; bytes and pictures become data URLs, so an
item stays a plain JSON record.

>>> import os, tempfile
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "prefs.csv")
>>> _ = open(p, "w").write("prompt,answer_1,answer_2,pref\\nWhich?,x,y,2\\n")
>>> got = read_item_file(p, columns=parse_map(["question=prompt", "response_a=answer_1", "response_b=answer_2",
...                                            "label=pref"]), label_map={"1": "A", "2": "B"})
>>> [(it.id, it.question, it.label) for it, _ in got.items], got.errors
([('1', 'Which?', 'B')], [])
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from critic.jsonl import JsonlReader, RecordError, RecordFileError
from critic.records import Item, collecting_unknown_keys, item_type_for, warn_unknown_keys
from critic.rows import FIELDS, ColumnError, map_columns, read_rows

#: Item fields a ``--map`` may name: the column-map fields plus candidate sets'.
MAP_FIELDS = (*FIELDS, "candidates", "scores", "meta")


def parse_map(pairs: list[str] | None, *, known: tuple[str, ...] | None = MAP_FIELDS) -> dict[str, Any]:
    """``["question=prompt", "label=v1", "label=v2"]`` → ``{"question": "prompt", "label": ["v1", "v2"]}``.

    >>> parse_map(["question=prompt", "label=v1", "label=v2"])
    {'question': 'prompt', 'label': ['v1', 'v2']}
    >>> parse_map(["colour=c"])
    Traceback (most recent call last):
    ...
    ValueError: --map colour=c: unknown item field 'colour'; known: id, question, reference, response, \
response_a, response_b, label, score, images, rationale, group, question_id, model_a, model_b, response_model, \
candidates, scores, meta, image
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"--map {pair}: expected FIELD=COLUMN")
        name = "images" if name == "image" and known is not None and "images" in known else name
        if known is not None and name not in known:
            raise ValueError(f"--map {pair}: unknown item field {name!r}; known: {', '.join((*known, 'image'))}")
        if name in out:
            prev = out[name]
            out[name] = [*(prev if isinstance(prev, list) else [prev]), column]
        else:
            out[name] = column
    return out


def parse_label_map(pairs: list[str] | None) -> dict[str, str]:
    """``["1=A", "2=B", "0=tie"]`` → ``{"1": "A", "2": "B", "0": "tie"}``."""
    out = {}
    for pair in pairs or []:
        value, sep, label = pair.partition("=")
        if not sep or label not in ("A", "B", "tie"):
            raise ValueError(f"--label-map {pair}: expected VALUE=A, VALUE=B or VALUE=tie")
        out[value] = label
    return out


@dataclass
class ItemFile:
    """What a file held: ``(item, line)`` pairs in order and the rows that could not be read."""

    path: str
    items: list[tuple[Item, int]] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)


def _mime(data: bytes) -> str:
    for magic, mime in ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"GIF8", "image/gif"),
                        (b"BM", "image/bmp")):
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def image_entry(value: Any, base: Path) -> str:
    """One image as an item holds it: a path (absolute) or a data URL.

    >>> image_entry(b"\\x89PNG...", Path("/d"))
    'data:image/png;base64,iVBORy4uLg=='
    >>> image_entry({"bytes": None, "path": "a.png"}, Path("/d"))
    '/d/a.png'
    """
    if isinstance(value, dict):  # a datasets.Image value, undecoded
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return f"data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"
    if hasattr(value, "save") and hasattr(value, "size"):  # a PIL picture (a decoded datasets.Image)
        from critic.media import to_data_url

        return to_data_url(value, max_side=1 << 30, max_bytes=1 << 62, format="PNG")
    text = str(value)
    if text.startswith("data:") or os.path.isabs(text) or "://" in text:
        return text
    return str((base / text).resolve())


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict)) and not isinstance(value, bytes)


def row_item(row: Mapping[Any, Any], columns: Mapping[str, Any], label_map: Mapping[str, str] | None,
             base: Path, default_id: str) -> Item:
    """The item one row makes (``ValueError`` / ``ValidationError`` / ``ColumnError`` when it cannot)."""
    data = map_columns(row, columns, label_map, fields=MAP_FIELDS)
    used = {c for spec in columns.values() for c in (spec if isinstance(spec, list) else [spec])}
    used |= {f for f in MAP_FIELDS if f not in columns}
    extra = {k: v for k, v in row.items() if isinstance(k, str) and k not in used}
    if "images" not in data and "image" in extra:
        data["images"] = extra.pop("image")
    if "images" in data:
        imgs = data["images"]
        imgs = imgs if isinstance(imgs, list) else [imgs]
        data["images"] = [image_entry(v, base) for v in imgs if v is not None and v != ""]
    if "rationale" in data:
        data["meta"] = {**(data.get("meta") or {}), "rationale": str(data.pop("rationale"))}
    for k in ("question", "reference"):
        if k in data and data[k] is not None:
            data[k] = str(data[k])
    extra = {k: v for k, v in extra.items() if _jsonable(v)}  # bytes and pictures are not kept in meta
    data = {**extra, **data}
    data.setdefault("id", default_id)
    return item_type_for(data).model_validate(data)


def _table_rows(path: Path, split: str | None) -> Iterator[tuple[int, Mapping[Any, Any] | None, str | None]]:
    """``(row number from 1, row, None)`` or ``(n, None, problem)`` of a parquet file or a datasets folder."""
    if path.is_dir():
        import datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split is None and len(ds) != 1:
                raise ValueError(f"{path}: several splits {sorted(ds)}; name one as {path}:SPLIT")
            ds = ds[split or next(iter(ds))]
        for n, row in enumerate(ds, start=1):
            yield n, row, None
        return
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=256):
        for row in batch.to_pylist():
            n += 1
            yield n, row, None


def read_item_file(path: str | Path, *, columns: Mapping[str, Any] | None = None,
                   label_map: Mapping[str, str] | None = None, strict: bool = False) -> ItemFile:
    """Every item of ``path`` (JSONL, JSON, CSV, parquet or a datasets folder, ``folder:split`` for one split).

    Problems are ``file:line: field: problem`` records, as for JSONL; with ``strict`` the first one
    raises :class:`critic.jsonl.RecordFileError`.
    """
    text = str(path)
    split = None
    if not Path(text).exists() and ":" in text and Path(text.rsplit(":", 1)[0]).is_dir():
        text, split = text.rsplit(":", 1)
    p = Path(text)
    out = ItemFile(str(path))
    if not p.exists():
        raise RecordFileError(RecordError(str(path), 0, "(file)", "No such file or directory"))
    if not columns and not label_map and p.suffix.lower() == ".jsonl":
        reader: JsonlReader[Any] = JsonlReader(p, item_type_for, strict=strict)
        out.items = [(it, reader.n_lines) for it in reader]
        out.errors = reader.errors
        return out
    cols = dict(columns or {})
    base = (p if p.is_dir() else p.parent).resolve()

    def fail(line: int, fld: str, problem: str) -> None:
        err = RecordError(str(path), line, fld, problem)
        if strict:
            raise RecordFileError(err)
        out.errors.append(err)

    if p.is_dir() or p.suffix.lower() == ".parquet":
        try:
            rows: Iterator[tuple[int, Any, str | None]] = _table_rows(p, split)
        except ImportError as exc:
            raise RecordFileError(RecordError(str(path), 0, "(file)", f"reading it needs {exc.name}")) from exc
    else:
        rows = ((r.line, r.value, r.problem) for r in read_rows(p))
    unknown: set[str] = set()
    n = 0
    try:
        for line, row, problem in rows:
            n += 1
            if problem is not None:
                fail(line, "(record)", problem)
                continue
            try:
                with collecting_unknown_keys(unknown):
                    out.items.append((row_item(row, cols, label_map, base, str(n)), line))
            except ValidationError as exc:
                for err in exc.errors():
                    fail(line, ".".join(str(x) for x in err["loc"]) or "(record)", err["msg"])
            except (ColumnError, ValueError, TypeError) as exc:
                fail(line, "(record)", str(exc))
    except (OSError, ValueError) as exc:
        if isinstance(exc, RecordFileError):
            raise
        raise RecordFileError(RecordError(str(path), 0, "(file)", str(exc))) from exc
    warn_unknown_keys(str(path), unknown)
    return out


__all__ = ["MAP_FIELDS", "ItemFile", "image_entry", "parse_label_map", "parse_map", "read_item_file", "row_item"]
