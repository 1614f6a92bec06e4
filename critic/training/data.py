"""The training file as an indexed dataset: one pass to measure, lazy reads while training.

``critic data build`` writes ``DIR/{split}.jsonl`` (one :class:`~critic.records.TrainingSample` a
line, image paths relative to the file) and ``DIR/images/``. :func:`index_training_file` reads it once,
line by line, keeping only each usable line's byte offset and its measured length, so a dataset of
any size costs a few integers per sample in memory. With ``encoded`` (``data.cache_encoded``, which
keeps every encoded sample in memory anyway) it encodes each sample in full instead of measuring it,
so the file is read, parsed and tokenized once rather than twice (~0.5 ms a sample saved on the
toy critic's 8,950: measuring was a third of an encoding). Lines are reported, never silently lost:

- a line that is not a valid sample: ``file:line: field: problem``;
- a sample whose image is missing or unreadable: ``file:line: images[i]: ...``;
- a sample longer than ``max_length`` tokens: dropped and counted (never truncated — cutting
  through image tokens is what makes models fail with "image features and image tokens do not match").

``strict`` turns the first problem into an error.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from pydantic import ValidationError

from critic.records import TrainingSample
from critic.training.encode import Encoded, EncodeError, SampleEncoder


class DataError(ValueError):
    """The training data cannot be used (strict mode, or nothing usable left)."""


@dataclass(frozen=True)
class SampleRef:
    """Where one usable sample lives and what it costs."""

    offset: int
    line: int
    length: int
    n_learned: int
    n_images: int
    task: str
    template: str
    template_hash: str


@dataclass
class DataReport:
    """What indexing found: counts and the first few problems of each kind."""

    path: str
    n_lines: int = 0
    n_used: int = 0
    bad_lines: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)
    n_bad: int = 0
    n_missing: int = 0
    n_too_long: int = 0
    templates: dict[str, int] = field(default_factory=dict)
    n_tokens: int = 0
    n_learned: int = 0

    KEEP = 5

    def note(self, kind: str, msg: str) -> None:
        setattr(self, f"n_{kind}", getattr(self, f"n_{kind}") + 1)
        shown = {"bad": self.bad_lines, "missing": self.missing_images, "too_long": self.too_long}[kind]
        if len(shown) < self.KEEP:
            shown.append(msg)

    def summary(self) -> str:
        lines = [f"{self.path}: {self.n_used} samples used of {self.n_lines} lines "
                 f"({self.n_tokens} tokens, {self.n_learned} learned)"]
        for n, what, shown in ((self.n_bad, "invalid lines", self.bad_lines),
                               (self.n_missing, "samples with a missing or unreadable image", self.missing_images),
                               (self.n_too_long, "samples longer than max_length dropped", self.too_long)):
            if n:
                lines.append(f"  {n} {what}:")
                lines += [f"    {m}" for m in shown] + ([f"    ... and {n - len(shown)} more"] if n > len(shown) else [])
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"path": self.path, "lines": self.n_lines, "used": self.n_used, "invalid": self.n_bad,
                "missing_images": self.n_missing, "dropped_too_long": self.n_too_long, "tokens": self.n_tokens,
                "learned_tokens": self.n_learned, "templates": dict(self.templates)}


def _resolve(images: list[str], base: Path) -> list[str]:
    return [p if os.path.isabs(p) else str((base / p).resolve()) for p in images]


def parse_line(raw: bytes, base: Path) -> TrainingSample:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if isinstance(data.get("images"), list):
        data["images"] = _resolve(data["images"], base)
    return TrainingSample.model_validate(data)


def load_images(paths: list[str], ablation: str = "none") -> list[Image.Image]:
    """The images as RGB; ``ablation="blank"`` replaces each by a white one of its size."""
    out = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")
        out.append(Image.new("RGB", im.size, (255, 255, 255)) if ablation == "blank" else im)
    return out


def image_sizes(paths: list[str]) -> list[tuple[int, int]]:
    """(height, width) of each image, from the file header only."""
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append((im.height, im.width))
    return out


def index_training_file(path: str | Path, encoder: SampleEncoder, *, max_length: int, strict: bool = False,
                        encoded: dict[int, Encoded] | None = None, image_ablation: str = "none",
                        progress: bool = False) -> tuple[list[SampleRef], DataReport]:
    """Measure every line of ``path``; return the usable samples and the report.

    With ``encoded`` (a dict, filled here), each sample is encoded in full (images loaded, with
    ``image_ablation``) instead of measured, and kept under its index among the usable samples.
    ``progress`` shows a bar over the file's bytes.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: training file not found")
    base = p.parent.resolve()
    report = DataReport(path=str(p))
    refs: list[SampleRef] = []
    templates: Counter[str] = Counter()

    def fail(kind: str, msg: str) -> None:
        if strict:
            raise DataError(msg)
        report.note(kind, msg)

    from tqdm.auto import tqdm

    bar = tqdm(total=p.stat().st_size, unit="B", unit_scale=True, disable=not progress,
               desc="encoding training samples" if encoded is not None else "measuring training samples")
    with p.open("rb") as fh, bar:
        offset = 0
        for lineno, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            bar.update(len(raw))
            report.n_lines = lineno
            if not raw.strip():
                continue
            try:
                sample = parse_line(raw, base)
            except json.JSONDecodeError as exc:
                fail("bad", f"{p}:{lineno}: (json): not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(x) for x in err["loc"]) or "(record)"
                fail("bad", f"{p}:{lineno}: {loc}: {err['msg']}")
                continue
            except ValueError as exc:
                fail("bad", f"{p}:{lineno}: (record): {exc}")
                continue
            try:  # headers only when measuring; the pixels (read once) when encoding
                images = load_images(sample.images, image_ablation) if encoded is not None else None
                sizes = [(im.height, im.width) for im in images] if images is not None else image_sizes(sample.images)
            except (OSError, ValueError) as exc:
                which = next((i for i, q in enumerate(sample.images) if not Path(q).is_file()), None)
                where = f"images[{which}]" if which is not None else "images"
                what = "image not found" if which is not None else "image unreadable"
                fail("missing", f"{p}:{lineno}: {where}: {what}: "
                     f"{sample.images[which] if which is not None else exc}")
                continue
            try:
                if images is None:
                    length, n_learned = encoder.measure(sample, sizes)
                else:
                    seg = encoder.encode(sample, images)
                    length, n_learned = len(seg), seg.n_learned
            except EncodeError as exc:
                fail("bad", f"{p}:{lineno}: messages: {exc}")
                continue
            if length > max_length:
                fail("too_long", f"{p}:{lineno}: {length} tokens > max_length {max_length} (id {sample.id})")
                continue
            if encoded is not None:
                encoded[len(refs)] = seg
            refs.append(SampleRef(start, lineno, length, n_learned, len(sizes), sample.task, sample.template,
                                  sample.template_hash))
            templates[f"{sample.template}@{sample.template_hash}"] += 1
            report.n_tokens += length
            report.n_learned += n_learned
    report.n_used = len(refs)
    report.templates = dict(templates)
    if not refs:
        raise DataError(f"{p}: no usable training samples\n{report.summary()}")
    return refs, report


class TrainingData:
    """Random access to the usable samples of a training file (reads one line per access)."""

    def __init__(self, path: str | Path, refs: list[SampleRef]):
        self.path = Path(path)
        self.base = self.path.parent.resolve()
        self.refs = refs

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> int:
        # The DataLoader hands indices to the collator, which loads and encodes (in workers if any).
        return i

    def load(self, i: int) -> TrainingSample:
        ref = self.refs[i]
        with self.path.open("rb") as fh:
            fh.seek(ref.offset)
            return parse_line(fh.readline(), self.base)

    @property
    def lengths(self) -> list[int]:
        return [r.length for r in self.refs]

    def where(self, i: int) -> str:
        return f"{self.path}:{self.refs[i].line}"
