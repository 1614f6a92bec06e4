"""Where a critic dataset is written: staging folder, image store and the three sample layouts.

``critic data build --out DIR`` writes into ``DIR/.partial/`` and moves the files into place only
when the build has finished (:meth:`Staging.commit`), so a killed build never leaves a dataset that
looks complete, and a rerun starts from a clean staging folder (the teacher cache makes it cheap).
Images go straight into ``DIR/images/`` (content-addressed). The layouts (see ``docs/data.md``;
``layout: pairs`` writes only ``DIR/{split}.jsonl`` of preference pairs, through :class:`PairWriter`):

* ``DIR/{split}.jsonl`` — one :class:`~critic.records.TrainingSample` a line, image paths relative to DIR;
* ``DIR/llava/{split}.json`` — LLaVA conversation JSON (``id``, ``image``, ``conversations``);
* ``DIR/hf/`` — a ``datasets.DatasetDict`` (``save_to_disk``) with the columns of :data:`HF_FEATURES`;
* ``DIR/images/`` — every image once, named by the SHA-256 of its bytes (hard-linked when possible).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any

from PIL import Image, UnidentifiedImageError

from critic.media import DEFAULT_MAX_IMAGE_PIXELS, MediaError, check_inside, check_pixels
from critic.records import TrainingSample

PARTIAL = ".partial"
OUTPUTS = ("llava", "hf", "card.md", "stats.json")
_EXT = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


class ImageStore:
    """Images copied into ``root/images/`` under content-hash names (``copy_files=False``: files are
    only checked and keep their path; in-memory images are still written).

    Each source path is read, decoded once (a missing or unreadable image raises
    :class:`~critic.media.MediaError`) and remembered, so an image shared by many items costs once.
    """

    def __init__(self, root: Path, *, copy_files: bool = True) -> None:
        self.root = root
        self.folder = root / "images"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.copy_files = copy_files
        self.max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS  # larger images are refused from their header
        self.image_root: str | Path | None = None  # paths outside this folder are refused unread
        self._by_path: dict[str, str | MediaError] = {}
        self.sizes: dict[str, int] = {}  # stored file name -> bytes

    def _store(self, data: bytes, ext: str, src: Path | None) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ext
        if src is not None and not self.copy_files:
            return str(src)
        dest = self.folder / name
        if name not in self.sizes:
            self.sizes[name] = len(data)
            if not dest.exists():
                try:
                    if src is None:
                        raise OSError
                    os.link(src, dest)
                except OSError:
                    tmp = dest.with_suffix(dest.suffix + ".tmp")
                    tmp.write_bytes(data)
                    os.replace(tmp, dest)
        return str(dest)

    def add_path(self, src: str) -> str:
        """The stored copy of the image file ``src`` (absolute path; the source path with ``copy_files=False``).

        The file is read once and checked (format recognised, structure verified); pixels are decoded
        later by whoever renders the prompt, which reports an image that still fails.
        """
        got = self._by_path.get(src)
        if got is None:
            try:
                path = Path(src)
                check_inside(path, self.image_root)
                if not path.is_file():
                    raise MediaError(src, "no such file" if not path.exists() else "not a file")
                data = path.read_bytes()
                with Image.open(io.BytesIO(data)) as im:
                    ext = _EXT.get(im.format or "", path.suffix.lower() or ".img")
                    check_pixels(im.size, src, self.max_pixels)
                    im.verify()
                got = self._store(data, ext, path)
            except MediaError as exc:
                got = exc
            except UnidentifiedImageError:
                got = MediaError(src, "not an image (Pillow cannot identify the format)")
            except Image.DecompressionBombError as exc:  # not an OSError: it used to end the build
                got = MediaError(src, f"image too large ({exc})")
            except (OSError, SyntaxError, ValueError) as exc:
                got = MediaError(src, f"unreadable image ({exc})")
            self._by_path[src] = got
        if isinstance(got, MediaError):
            raise got
        return got

    def add_pil(self, image: Image.Image) -> str:
        """The stored PNG of an in-memory image (absolute path)."""
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG", optimize=False, compress_level=6)
        return self._store(buf.getvalue(), ".png", None)

    def __len__(self) -> int:
        return len(self.sizes)


def is_missing(exc: MediaError) -> bool:
    """Whether a media error means the file is not there (rather than unreadable)."""
    return exc.reason in ("no such file", "not a file", "no such video file or folder")


class Staging:
    """``DIR/.partial``, built from scratch by every run and moved into ``DIR`` by :meth:`commit`.

    Images are the exception: they go straight into ``DIR/images`` (content-addressed, so adding a
    file never changes one a previous dataset uses); :meth:`commit` removes those this build does
    not reference.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out = Path(out_dir).resolve()
        self.root = self.out / PARTIAL
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.images = ImageStore(self.out)

    def commit(self, splits: list[str], images: set[str]) -> None:
        """Replace DIR's outputs with the staged ones (split files, layouts, card, stats); remove the
        images no sample uses (``images``: the file names to keep) and the layouts this build does not
        write (``llava/`` and ``hf/`` of an earlier build, when this one writes pairs)."""
        for name in [*OUTPUTS, *(f"{s}.jsonl" for s in splits)]:
            src, dest = self.root / name, self.out / name
            if not src.exists() and name not in OUTPUTS:
                continue
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            if src.exists():
                os.replace(src, dest)
        shutil.rmtree(self.root, ignore_errors=True)
        for entry in os.scandir(self.images.folder):
            if entry.name not in images:
                os.unlink(entry.path)


def llava_record(sample: TrainingSample, rel_images: list[str]) -> dict[str, Any]:
    """A sample as a LLaVA conversation: ``<image>`` where each image goes; the system text first.

    >>> from critic.records import Message
    >>> s = TrainingSample(id="1", task="pointwise", images=["images/a.png"], template="t", template_hash="h",
    ...     messages=[Message(role="user", content=[{"type": "image"}, {"type": "text", "text": "Rate it."}]),
    ...               Message(role="assistant", content=[{"type": "text", "text": "Good. Score: 9"}])])
    >>> llava_record(s, ["images/a.png"])["conversations"][0]["value"]
    '<image>\\nRate it.'
    """
    human: list[str] = []
    for m in sample.prompt_messages:
        for part in m.content:
            human.append("<image>" if part.get("type") == "image" else part.get("text", ""))
    rec: dict[str, Any] = {"id": sample.id}
    if len(rel_images) == 1:
        rec["image"] = rel_images[0]
    elif rel_images:
        rec["image"] = list(rel_images)
    rec["conversations"] = [{"from": "human", "value": "\n".join(human)},
                            {"from": "gpt", "value": sample.completion}]
    return rec


class _JsonArrayWriter:
    """A JSON list written one element at a time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("w", encoding="utf-8")
        self._fh.write("[")
        self._n = 0

    def write(self, element: str) -> None:
        """Append one element, already serialised as JSON text."""
        self._fh.write(("\n" if self._n == 0 else ",\n") + element)
        self._n += 1

    def close(self) -> None:
        self._fh.write("\n]\n" if self._n else "]\n")
        self._fh.close()


def record_line(record: dict[str, Any]) -> str:
    """A record as one JSONL line, byte for byte what :class:`~critic.jsonl.JsonlWriter` writes."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class SampleWriter:
    """Writes serialised samples as they come: ``{split}.jsonl``, ``llava/{split}.json`` and the HF rows
    (Arrow record batches, turned into ``hf/`` at the end).

    Lines arrive serialised by :func:`record_line` (the worker processes do the serialising) and are
    written through a buffered file; a killed build leaves only the staging folder, so per-line
    flushing would buy nothing here.
    """

    def __init__(self, root: Path, splits: list[str]) -> None:
        import pyarrow as pa

        self.root = root
        self.schema = arrow_schema()
        self._jsonl = {s: (root / f"{s}.jsonl").open("w", encoding="utf-8") for s in splits}
        self._llava = {s: _JsonArrayWriter(root / "llava" / f"{s}.json") for s in splits}
        (root / ".hf_rows").mkdir(exist_ok=True)
        self._sinks = {s: pa.OSFile(str(root / ".hf_rows" / f"{s}.arrow"), "wb") for s in splits}
        self._arrow = {s: pa.ipc.new_stream(self._sinks[s], self.schema) for s in splits}
        self.images: set[str] = set()  # file names under images/ that samples use

    def write(self, split: str, line: str, llava: str | None, images: list[str]) -> None:
        """One sample: its JSONL line, its LLaVA conversation (JSON text), its image paths (relative)."""
        self.images.update(p.rsplit("/", 1)[-1] for p in images)
        self._jsonl[split].write(line)
        if llava is not None:
            self._llava[split].write(llava)

    def write_batch(self, split: str, batch: Any) -> None:
        """HF rows of ``split`` (a pyarrow RecordBatch with :func:`arrow_schema`), in sample order."""
        self._arrow[split].write_batch(batch)

    def close(self) -> None:
        for s in self._jsonl:
            self._jsonl[s].close()
            self._llava[s].close()
            self._arrow[s].close()
            self._sinks[s].close()


class PairWriter:
    """Writes preference pairs (``layout: pairs``, :mod:`critic.data.pairs`) as they come: ``{split}.jsonl``
    only, one :class:`~critic.reward.pairs.PreferencePair` a line; there is no LLaVA or HF layout of pairs."""

    def __init__(self, root: Path, splits: list[str]) -> None:
        self._jsonl = {s: (root / f"{s}.jsonl").open("w", encoding="utf-8") for s in splits}
        self.images: set[str] = set()  # file names under images/ that pairs use

    def write(self, split: str, line: str, llava: str | None, images: list[str]) -> None:
        """One pair: its JSONL line and its image paths (relative); ``llava`` is None (kept for the build loop)."""
        self.images.update(p.rsplit("/", 1)[-1] for p in images)
        self._jsonl[split].write(line)

    def write_batch(self, split: str, batch: Any) -> None:  # pairs have no HF rows
        raise ValueError("the pairs layout has no HF rows")

    def close(self) -> None:
        for fh in self._jsonl.values():
            fh.close()


def hf_row(record: dict[str, Any], image_files: list[str] | None = None) -> dict[str, Any]:
    """A sample's JSON record as a row of the HF layout (:func:`hf_features`).

    ``images`` are ``datasets.Image`` values: the bytes of ``image_files`` (the stored files, in the
    record's order; default the record's paths) and the path relative to the dataset. ``prompt``
    and ``completion`` are both conversational (TRL's prompt-completion format): the messages
    without the assistant turn, and the assistant turn alone.
    """
    messages = [{"role": m["role"], "content": [{"type": p.get("type"), "text": p.get("text")} for p in m["content"]]}
                for m in record["messages"]]
    rel = record.get("images", [])
    images = [{"bytes": Path(f).read_bytes(), "path": r} for f, r in zip(image_files or rel, rel)]
    return {"id": record["id"], "task": record["task"], "images": images, "messages": messages,
            "prompt": messages[:-1], "completion": messages[-1:], "template": record["template"],
            "template_hash": record["template_hash"], "source": record.get("source"),
            "swapped": bool(record.get("swapped")), "verdict": json.dumps(record.get("verdict"), sort_keys=True)}


def hf_features() -> Any:
    """The HF layout's schema (messages, prompt and completion nested: role + content parts of type /
    text; images as ``datasets.Image``, bytes embedded)."""
    from datasets import Features, Image, List, Value

    part = {"type": Value("string"), "text": Value("string")}
    message = {"role": Value("string"), "content": List(part)}
    return Features({"id": Value("string"), "task": Value("string"), "images": List(Image()),
                     "messages": List(message), "prompt": List(message), "completion": List(message),
                     "template": Value("string"), "template_hash": Value("string"), "source": Value("string"),
                     "swapped": Value("bool"), "verdict": Value("string")})


def arrow_schema() -> Any:
    """:func:`hf_features` as a pyarrow schema (built without importing ``datasets``)."""
    import pyarrow as pa

    part = pa.struct([("type", pa.string()), ("text", pa.string())])
    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.list_(part))]))
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets.Image's storage
    return pa.schema([("id", pa.string()), ("task", pa.string()), ("images", pa.list_(image)),
                      ("messages", message), ("prompt", message), ("completion", message),
                      ("template", pa.string()), ("template_hash", pa.string()), ("source", pa.string()),
                      ("swapped", pa.bool_()), ("verdict", pa.string())])


def write_hf(root: Path, splits: list[str], num_proc: int | None = None) -> None:
    """Turn the staged Arrow rows into ``root/hf`` (``DatasetDict.save_to_disk``), then drop them."""
    import datasets

    rows = root / ".hf_rows"
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        parts = {}
        for split in splits:
            ds = datasets.Dataset.from_file(str(rows / f"{split}.arrow"), split=datasets.NamedSplit(split))
            parts[split] = datasets.Dataset(ds.data, info=datasets.DatasetInfo(features=hf_features()),
                                            split=datasets.NamedSplit(split), fingerprint=_digest(root / f"{split}.jsonl"))
        datasets.DatasetDict(parts).save_to_disk(str(root / "hf"))
        del parts
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        shutil.rmtree(rows, ignore_errors=True)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]
