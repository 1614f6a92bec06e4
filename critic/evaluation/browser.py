"""The judgment browser: one HTML page per judgments file that works from ``file://`` with no network.

``critic eval --out DIR`` writes ``DIR/report.html``; ``critic view`` writes the same page for any
judgments, with or without gold, one judge or two side by side. The page is
``browser.html.jinja`` with the data (:func:`critic.evaluation.browser_data.page_data`) embedded as one
JSON blob; the page builds every card with ``textContent``, so a question, response or rationale is
never read as HTML, and the blob is escaped so that no text can close its ``<script>`` element.
Images are copied next to the page as thumbnails (``PAGE_files/``, at most 256 px a side), the full
image linked by its path relative to the page (``copy_images=True`` copies it too, for a page that
moves to another machine). A Content-Security-Policy forbids any request other than files and
``data:`` URLs, so the page cannot reach the network even by accident.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from critic.evaluation.browser_data import page_data

THUMB_SIDE = 256
TEMPLATE = Path(__file__).with_name("browser.html.jinja")
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
HINTS = {
    "first_position_rate": "0.5 = no position bias",
    "tie_rate": "compare with the gold's tie rate",
    "parse_failure_rate": "lower is better",
    "mae": "lower is better",
    "ranking_edit_distance": "lower is better",
    "pearson": "higher is better; 0 = no correlation",
    "spearman": "higher is better; 0 = no correlation",
    "kendall_tau": "higher is better; 0 = no correlation",
}


@dataclass
class PageInfo:
    """What was written: the page, its size and the size of the files it links (thumbnails, plots)."""

    path: Path
    html_bytes: int
    asset_bytes: int
    n_assets: int

    @property
    def total_bytes(self) -> int:
        return self.html_bytes + self.asset_bytes

    def describe(self) -> str:
        mb = 1024 * 1024
        return (f"{self.path} ({self.html_bytes / mb:.1f} MB page + {self.asset_bytes / mb:.1f} MB in "
                f"{self.n_assets} linked files)")


def url(path: Path | str, page_dir: Path) -> str:
    """``path`` relative to the page's folder as a URL (posix separators, percent-encoded)."""
    rel = os.path.relpath(Path(path).resolve(), page_dir.resolve())
    return quote(Path(rel).as_posix())


class Thumbnails:
    """Image path → ``[thumbnail URL, full-size URL]`` relative to the page; thumbnails go to ``files``."""

    def __init__(self, page_dir: Path, files: Path, *, copy_images: bool = False) -> None:
        self.page_dir, self.files, self.copy_images = page_dir, files, copy_images
        self.memo: dict[str, list[str] | None] = {}

    def __call__(self, path: str) -> list[str] | None:
        if path not in self.memo:
            self.memo[path] = self._make(Path(path))
        return self.memo[path]

    def _make(self, src: Path) -> list[str] | None:
        from PIL import Image, UnidentifiedImageError

        if not src.is_file():
            return None
        stem = hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:16]
        (self.files / "img").mkdir(parents=True, exist_ok=True)
        try:
            with Image.open(src) as img:
                small = max(img.size) <= THUMB_SIDE and img.format in ("PNG", "JPEG", "GIF", "WEBP")
                if small:
                    thumb = self.files / "img" / f"{stem}-t{src.suffix.lower()}"
                    shutil.copyfile(src, thumb)
                else:
                    img.thumbnail((THUMB_SIDE, THUMB_SIDE))
                    alpha = img.mode in ("RGBA", "LA", "P")
                    thumb = self.files / "img" / f"{stem}-t.{'png' if alpha else 'jpg'}"
                    if alpha:
                        img.save(thumb)
                    else:
                        img.convert("RGB").save(thumb, quality=80)
        except (OSError, UnidentifiedImageError, ValueError):
            return None
        full = src
        if self.copy_images:
            full = self.files / "img" / f"{stem}{src.suffix.lower()}"
            shutil.copyfile(src, full)
        return [url(thumb, self.page_dir), url(full, self.page_dir)]


def _escape_json(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_ESCAPES.get(ch, ch) for ch in text) if any(c in text for c in _ESCAPES) else text


def render(data: dict[str, Any]) -> str:
    """The page's HTML for page data (escaped JSON in a ``<script type="application/json">``)."""
    from jinja2 import Environment
    from markupsafe import Markup

    env = Environment(autoescape=True, keep_trailing_newline=True)
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(title=data["meta"]["title"], data_json=Markup(_escape_json(data)))


def headline(named_reports: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The metrics table(s) at the top of the page: one column per judge, value and interval per metric."""
    from critic.evaluation.report import COMPARE_ROWS

    out = []
    for section in ("pairwise", "pointwise"):
        secs = [r.get(section) for _, r in named_reports]
        if not any(secs):
            continue
        rows = []
        for m in COMPARE_ROWS[section][2:]:
            vals = [[s[m], *(s.get(f"{m}_ci") or [None, None])] if s and s.get(m) is not None else None for s in secs]
            if any(vals):
                rows.append({"m": m, "hint": HINTS.get(m, "higher is better"), "vals": vals})
        first = next(s for s in secs if s)
        gold_tie = first.get("gold_tie_rate")
        for r in rows:
            if r["m"] == "tie_rate" and gold_tie is not None:
                r["hint"] = f"compare with the gold's tie rate, {gold_tie:.3f}"
        n = first.get("n_items", first.get("n"))
        out.append({"section": section, "n": n, "columns": [name for name, _ in named_reports], "rows": rows})
    return out


def write_page(data: dict[str, Any], path: Path, files: Path | None = None, extra_assets: Sequence[Path] = ()) -> PageInfo:
    """Write the page; the returned sizes count the page, everything under ``files`` and ``extra_assets``."""
    html = render(data)
    path.write_text(html, encoding="utf-8")
    assets = [p for p in files.rglob("*") if p.is_file()] if files is not None and files.is_dir() else []
    assets += [p for p in extra_assets if p.is_file()]
    return PageInfo(path, len(html.encode("utf-8")), sum(p.stat().st_size for p in assets), len(assets))


def write_browser(
    out: str | Path,
    judgments: Any,
    *,
    gold: Any = None,
    items: str | Path | None = None,
    compare: Any = None,
    title: str | None = None,
    judge_scale: Sequence[float] | None = None,
    gold_scale: Sequence[float] | None = None,
    reports: Sequence[tuple[str, dict[str, Any]]] = (),
    plots: Sequence[tuple[Path, str]] = (),
    copy_images: bool = False,
) -> PageInfo:
    """Write the browser for ``judgments`` (and ``compare``, a second judge) to the HTML file ``out``.

    ``reports`` are ``(judge name, report.json dict)`` pairs for the headline table; ``plots`` are
    ``(PNG path, caption)`` pairs shown at the top, linked relative to the page.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = out.with_name(out.stem + "_files")
    if files.exists():
        shutil.rmtree(files / "img", ignore_errors=True)
    thumbs = Thumbnails(out.parent, files, copy_images=copy_images)
    data = page_data(judgments, gold=gold, items=items, compare=compare, image_ref=thumbs,
                     judge_scale=judge_scale, gold_scale=gold_scale,
                     title=title or _title(judgments, compare))
    data["meta"]["headline"] = headline(reports)
    data["meta"]["plots"] = [{"src": url(p, out.parent), "title": caption} for p, caption in plots]
    outside = [p for p, _ in plots if files.resolve() not in p.resolve().parents]
    return write_page(data, out, files, outside)


def _title(judgments: Any, compare: Any) -> str:
    names = [Path(str(p)).name if isinstance(p, (str, Path)) else "records" for p in (judgments, compare) if p is not None]
    return "critic judgments: " + " vs ".join(names)


def write_report_page(report: Any, out_dir: str | Path, plots: Sequence[Path] = ()) -> PageInfo | None:
    """``report.html`` beside a ``critic eval`` report, from the files the report was computed from.

    ``None`` when the report was computed from records in memory (there is no file to show), or when
    the page could not be written: like the plots, the page is an extra, so a failure is a warning
    and the report (already on disk) stands."""
    inputs = report.inputs
    if inputs.get("judgments", "<records>") == "<records>" or inputs.get("gold", "<records>") == "<records>":
        return None
    scales = (report.pointwise.scales if report.pointwise is not None else None) or {}
    name = ", ".join(report.judges) or Path(inputs["judgments"]).name
    try:
        return write_browser(
            Path(out_dir) / "report.html", inputs["judgments"], gold=inputs["gold"], judge_scale=scales.get("judge"),
            gold_scale=scales.get("gold"), title=f"critic eval: {name}", reports=[(name, report.to_dict())],
            plots=[(Path(p), Path(p).stem.replace("_", " ")) for p in plots if Path(p).suffix == ".png"])
    except Exception as exc:  # noqa: BLE001 — the numbers are written; the page must not take them down
        warnings.warn(f"report.html not written: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
        return None


__all__ = ["PageInfo", "Thumbnails", "headline", "render", "write_browser", "write_page", "write_report_page"]
