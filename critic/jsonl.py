"""JSONL reading and writing for critic records.

Reading streams one line at a time and validates each against a record type. A bad line (a line
that is not UTF-8 included) becomes a :class:`RecordError` (``file:line: field: problem``) collected
on the reader; the rest of the file is still read, unless ``strict`` is set, in which case the first
bad line raises :class:`RecordFileError`.

Writing appends whole lines and flushes after each, so a run killed at any moment leaves a file
whose every complete line is a complete record (a torn last line is reported and skipped by the
reader, and :func:`repair_tail` trims it before appending again).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError

from critic.records import Item, collecting_unknown_keys, item_type_for, warn_unknown_keys

T = TypeVar("T", bound=BaseModel)


#: A byte that is not UTF-8, as ``errors="surrogateescape"`` decodes it (U+DC80..U+DCFF).
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def encoding_problem(line: str) -> str | None:
    """What is wrong with a line read with ``errors="surrogateescape"``, or None when it was UTF-8.

    A file is read that way so that one bad byte costs its line, not the whole file.

    >>> encoding_problem(b'{"a": "caf\\xe9"}'.decode("utf-8", "surrogateescape"))
    'not valid UTF-8: byte 0xe9 at column 11'
    >>> encoding_problem('{"a": "café"}') is None
    True
    """
    if line.isascii():
        return None
    m = _BAD_BYTE.search(line)
    if m is None:
        return None
    return f"not valid UTF-8: byte 0x{ord(m.group()) - 0xDC00:02x} at column {m.start() + 1}"


@dataclass(frozen=True)
class RecordError:
    """What is wrong with one line of a JSONL file."""

    path: str
    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.problem}"


class RecordFileError(ValueError):
    """Raised in strict mode (or when a file cannot be opened) with the first problem found."""

    def __init__(self, error: RecordError):
        super().__init__(str(error))
        self.error = error


def _validation_errors(path: str, line: int, exc: ValidationError) -> list[RecordError]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(record)"
        out.append(RecordError(path, line, loc, err["msg"]))
    return out


def _resolve_path(base: Path, p: str, dirs: dict[str, str]) -> str:
    """``str((base / p).resolve())`` for a relative ``p``.

    ``resolve()`` costs an ``lstat`` per component of the whole path; here a folder is resolved
    once (``dirs`` remembers it for the reader) and each file costs one ``lstat``. Resolving the
    folder and then its file name, which is not a symlink, gives the same path; a file that is a
    symlink, an odd last part (``..``, ``.``, a trailing slash) or a folder that fails to resolve
    (a symlink loop raises) takes the ``resolve()`` road.
    """
    head, name = os.path.split(p)
    if os.name == "posix" and name not in ("", ".", ".."):
        real = dirs.get(head)
        if real is None:
            try:
                real = str((base / head).resolve())
            except (OSError, RuntimeError):
                real = None
            else:
                dirs[head] = real
        if real is not None:
            full = os.path.join(real, name)
            try:
                link = stat.S_ISLNK(os.lstat(full).st_mode)
            except OSError:  # missing, say: resolve() keeps such a name as it is too
                link = False
            if not link:
                return full
    return str((base / p).resolve())


def _resolve_images(data: dict[str, Any], base: Path, dirs: dict[str, str] | None = None) -> None:
    if "images" not in data and isinstance(data.get("image"), (str, list)):
        data["images"] = data.pop("image")  # `image` is read as `images` (critic.records)
    images = data.get("images")
    if isinstance(images, str):
        images = data["images"] = [images]
    if isinstance(images, list):
        dirs = {} if dirs is None else dirs
        # a data: URL is an image, not a file name (issue 14.16)
        data["images"] = [
            str(p) if not isinstance(p, str) or os.path.isabs(p) or p.startswith("data:")
            else _resolve_path(base, p, dirs) for p in images
        ]
    video = data.get("video")
    if isinstance(video, str) and video and not os.path.isabs(video):  # a clip is found like an image
        data["video"] = _resolve_path(base, video, {} if dirs is None else dirs)


@dataclass
class JsonlReader(Generic[T]):
    """Iterate over the valid records of a JSONL file; problems land in ``errors``.

    ``record_type`` is a pydantic model, or a callable choosing one from the parsed dict (as
    :func:`critic.records.item_type_for` does). Blank lines are skipped silently. Relative image
    paths are resolved against the file's folder unless ``resolve_images`` is false.
    """

    path: str | Path
    record_type: type[T] | Callable[[dict[str, Any]], type[T]]
    strict: bool = False
    resolve_images: bool = True
    errors: list[RecordError] = field(default_factory=list)
    n_lines: int = 0

    def _fail(self, err: RecordError) -> None:
        if self.strict:
            raise RecordFileError(err)
        self.errors.append(err)

    def __iter__(self) -> Iterator[T]:
        path = Path(self.path)
        name = str(self.path)
        try:
            fh = path.open("r", encoding="utf-8", errors="surrogateescape")  # a bad byte costs its line only
        except OSError as exc:
            raise RecordFileError(RecordError(name, 0, "(file)", exc.strerror or str(exc))) from exc
        base = path.parent.resolve()
        dirs: dict[str, str] = {}  # resolved image folders, for _resolve_images
        unknown: set[str] = set()  # items' unknown keys, kept under meta: one warning for the file
        with fh:
            for lineno, line in enumerate(fh, start=1):
                self.n_lines = lineno
                if not line.strip():
                    continue
                bad = encoding_problem(line)
                if bad is not None:
                    self._fail(RecordError(name, lineno, "(json)", bad))  # JSON text is UTF-8 (RFC 8259)
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    self._fail(RecordError(name, lineno, "(json)", f"not valid JSON: {exc.msg} at column {exc.colno}"))
                    continue
                if not isinstance(data, dict):
                    self._fail(RecordError(name, lineno, "(record)", f"expected a JSON object, got {type(data).__name__}"))
                    continue
                if self.resolve_images:
                    _resolve_images(data, base, dirs)
                cls: type[T] = (cast("type[T]", self.record_type) if isinstance(self.record_type, type)
                                else self.record_type(data))
                try:
                    with collecting_unknown_keys(unknown):
                        record = cls.model_validate(data)
                except ValidationError as exc:
                    errs = _validation_errors(name, lineno, exc)
                    if self.strict:
                        raise RecordFileError(errs[0]) from exc
                    self.errors.extend(errs)
                    continue
                yield record
        warn_unknown_keys(name, unknown)


def read_records(
    path: str | Path, record_type: type[T], *, strict: bool = False, resolve_images: bool = True
) -> tuple[list[T], list[RecordError]]:
    """Read a whole JSONL file into a list; returns ``(records, errors)``."""
    reader = JsonlReader(path, record_type, strict=strict, resolve_images=resolve_images)
    return list(reader), reader.errors


def read_unique(path: str | Path, record_type: type[T], limit: int | None = None) -> tuple[list[T], list[str]]:
    """The records of a file, the first of each ``id`` (at most ``limit``), and the problems of bad or
    repeated lines as text (``file:line: field: problem``; ``file: id: duplicate id``)."""
    reader = JsonlReader(path, record_type)
    out: list[T] = []
    seen: set[str] = set()
    problems: list[str] = []
    for rec in reader:
        rid = rec.id  # type: ignore[attr-defined]
        if rid in seen:
            problems.append(f"{path}: {rid}: duplicate id (later lines skipped)")
            continue
        seen.add(rid)
        out.append(rec)
        if limit is not None and len(out) >= limit:
            break
    return out, problems + [str(e) for e in reader.errors]


def read_items(path: str | Path, *, strict: bool = False) -> tuple[list[Item], list[RecordError]]:
    """Read items of any kind, choosing pointwise / pairwise / candidates per line by its keys."""
    reader: JsonlReader[Any] = JsonlReader(path, item_type_for, strict=strict)
    return list(reader), reader.errors


def relativize_images(data: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Rewrite absolute image paths in a record dict relative to ``out_dir`` where they lie inside it."""
    images = data.get("images")
    if images:
        root = out_dir.resolve()
        rel = []
        for p in images:
            pp = Path(p)
            try:
                rel.append(pp.resolve().relative_to(root).as_posix())
            except ValueError:
                rel.append(p)
        data = {**data, "images": rel}
    video = data.get("video")
    if isinstance(video, str) and video:
        try:
            data = {**data, "video": Path(video).resolve().relative_to(out_dir.resolve()).as_posix()}
        except ValueError:
            pass
    return data


def repair_tail(path: str | Path) -> bool:
    """Cut a torn last line (no trailing newline, not valid JSON) left by a killed writer.

    Returns whether anything was cut. A last line that parses is kept and given its newline.
    """
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return False
    with p.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return False
        # find the start of the last line
        pos = size - 1
        chunk = 4096
        start = 0
        while pos > 0:
            read_from = max(0, pos - chunk)
            fh.seek(read_from)
            buf = fh.read(pos - read_from)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                start = read_from + idx + 1
                break
            pos = read_from
        fh.seek(start)
        tail = fh.read()
        try:
            json.loads(tail)
        except ValueError:
            fh.truncate(start)
            return True
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n")
        return False


class JsonlWriter:
    """Append records as JSONL, one complete line per write, flushed (and optionally fsynced).

    >>> import tempfile, pathlib
    >>> from critic.records import PointwiseItem
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with JsonlWriter(d / "x.jsonl") as w:
    ...     w.write(PointwiseItem(id="1", question="q", response="r"))
    >>> (d / "x.jsonl").read_text()
    '{"id":"1","images":[],"question":"q","response":"r"}\\n'
    """

    def __init__(self, path: str | Path, *, append: bool = False, fsync: bool = False, relative_to: Path | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append:
            repair_tail(self.path)
        self._fh: IO[str] = self.path.open("a" if append else "w", encoding="utf-8")
        self._fsync = fsync
        self._relative_to = relative_to

    def write(self, record: BaseModel | dict[str, Any]) -> None:
        data = record.to_json_dict() if hasattr(record, "to_json_dict") else (
            record.model_dump(mode="json", exclude_none=True) if isinstance(record, BaseModel) else record
        )
        if self._relative_to is not None:
            data = relativize_images(data, self._relative_to)
        self._fh.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_records(path: str | Path, records: list[BaseModel] | Iterator[BaseModel], *, relative_to: Path | None = None) -> int:
    """Write records to a fresh JSONL file; returns how many were written."""
    n = 0
    with JsonlWriter(path, relative_to=relative_to) as w:
        for r in records:
            w.write(r)
            n += 1
    return n


def ids_in(*paths: str | Path) -> set[str]:
    """The ``id`` of every readable line of the files that exist (resume bookkeeping).

    A torn or malformed line is skipped: the record it would have named is simply redone.
    """
    ids: set[str] = set()
    for path in map(Path, paths):
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as fh:  # a line with a bad byte: redone
                for line in fh:
                    try:
                        ids.add(str(json.loads(line)["id"]))
                    except (ValueError, KeyError, TypeError):
                        continue
    return ids
