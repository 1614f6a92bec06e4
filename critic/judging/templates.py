"""Judge prompt templates: data files that define the prompt, the training target and the parser.

A template is one ``.jinja`` file: a YAML header inside a leading Jinja comment ``{#--- ... ---#}``
and the blocks ``system`` (optional), ``prompt`` and ``target``. It is rendered in a sandboxed,
immutable Jinja environment with ``StrictUndefined``; item text (question, responses, reference,
rubric) is passed as values and never compiled. The header's ``verdict`` section drives the
generic parser in :mod:`critic.judging.verdicts`. The format is described in ``docs/templates.md``.

>>> from critic.records import PointwiseItem
>>> t = load_template("mllm_judge_score")
>>> t.task, t.scale, t.allows_tie
('pointwise', (1.0, 5.0), False)
>>> p = t.render_prompt(PointwiseItem(id="1", question="What is {{ 7*7 }}?", response="49", images=["x.png"]))
>>> p.parts[0], "What is {{ 7*7 }}?" in p.text
({'type': 'image', 'index': 0}, True)
>>> t.parse(t.render_target("Correct.", Verdict(score=5))).verdict
Verdict(score=5.0, winner=None, scores=None)
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment

from critic.judging.pair_order import swap_item
from critic.judging.verdicts import ParseResult, Verdict, VerdictSpec, fmt_number
from critic.records import PairwiseItem, PointwiseItem

ENV_VAR = "CRITIC_TEMPLATE_PATH"
HEADER_KEYS = ("name", "task", "description", "verdict", "needs_reference", "variables")
# Names a header's fixed ``variables`` may not take (``rubric`` may: it is then the default rubric).
RESERVED = frozenset({"question", "response", "response_a", "response_b", "reference", "n_images",
                      "image", "images", "rationale", "verdict_text", "score", "winner", "token",
                      "score_a", "score_b", "scale_min", "scale_max"})
_HEADER_RE = re.compile(r"\A\ufeff?\s*\{#-{3}[ \t]*\n(?P<yaml>.*?)\n[ \t]*-{3}#\}", re.S)
_UNDEFINED_RE = re.compile(r"^'([^']+)' is undefined$")
# An image slot in rendered text: NUL, the render's nonce (``secrets.token_hex(8)``), ":", index, NUL.
# Compiled once; :func:`_slots` keeps only the matches carrying the current render's nonce. (Compiling
# a pattern with the nonce inside, fresh every render, missed ``re``'s cache: most of a render's cost.)
_SLOT_RE = re.compile("\x00([0-9a-f]{16}):(\\d+)\x00")
_EXAMPLE_RATIONALE = "Example rationale."


def _slots(text: str, nonce: str) -> Iterator[re.Match[str]]:
    """This render's image slots in ``text``, left to right (the index is group 2): the same matches
    as ``finditer`` of a pattern with ``nonce`` written into it, without compiling one per render.

    A match carrying another nonce (forged by a value) is no slot; the search resumes one character
    after its start, so it cannot swallow the NUL that opens a real slot right behind it.
    """
    pos = 0
    search = _SLOT_RE.search
    while (m := search(text, pos)) is not None:
        if m.group(1) == nonce:
            yield m
            pos = m.end()
        else:
            pos = m.start() + 1


class TemplateError(ValueError):
    """A template that cannot be loaded or rendered; the message names the template and where."""


class _RenderProblem(Exception):
    """Raised by image() inside Jinja; turned into a TemplateError with the template line."""


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: an optional system text and the user turn as ordered image / text parts."""

    system: str | None
    parts: list[dict[str, Any]]

    def messages(self) -> list[dict[str, Any]]:
        """HF chat layout. Image parts are ``{"type": "image"}``; their item indices, in order, are
        :meth:`image_order`."""
        out: list[dict[str, Any]] = []
        if self.system:
            out.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        content = [{"type": "image"} if p["type"] == "image" else {"type": "text", "text": p["text"]}
                   for p in self.parts]
        out.append({"role": "user", "content": content})
        return out

    def image_order(self) -> list[int]:
        """Indices into ``item.images`` in the order the image parts appear."""
        return [p["index"] for p in self.parts if p["type"] == "image"]

    @property
    def text(self) -> str:
        """The user turn's text parts joined by newlines (images and system left out)."""
        return "\n".join(p["text"] for p in self.parts if p["type"] == "text")


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True, eq=False)
class Template:
    """One loaded judge template. Build with :func:`load_template`."""

    name: str
    task: str
    description: str
    hash: str
    path: Path
    spec: VerdictSpec
    needs_reference: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    source: str = field(default="", repr=False)
    _jinja: JinjaTemplate | None = field(default=None, repr=False)

    # ---- header facts ------------------------------------------------------------------------
    @property
    def scale(self) -> tuple[float, float] | None:
        return self.spec.scale

    @property
    def allows_tie(self) -> bool:
        return self.spec.allows_tie

    @property
    def integer(self) -> bool:
        return self.spec.integer

    @property
    def verdict_kind(self) -> str:
        return self.spec.kind

    @property
    def takes_rubric(self) -> bool:
        """The template shows a rubric: a default in its header, or the variable in its text."""
        return "rubric" in self.variables or re.search(r"[{%][^}%]*\brubric\b", self.source) is not None

    @property
    def has_system(self) -> bool:
        return self._jinja is not None and "system" in self._jinja.blocks

    def summary(self) -> dict[str, Any]:
        """The facts ``critic templates list --json`` prints."""
        return {"name": self.name, "task": self.task, "description": self.description, "hash": self.hash,
                "verdict": self.verdict_kind, "scale": list(self.scale) if self.scale else None,
                "integer": self.integer, "allows_tie": self.allows_tie,
                "needs_reference": self.needs_reference, "path": str(self.path)}

    # ---- errors --------------------------------------------------------------------------------
    def _where(self, line: int | None = None) -> str:
        return f"template {self.name!r} ({self.path}{f':{line}' if line else ''})"

    def _line_of(self, tb: TracebackType | None) -> int | None:
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(self.path) and self._jinja is not None:
                line = self._jinja.get_corresponding_lineno(tb.tb_lineno)
            tb = tb.tb_next
        return line

    def _render_block(self, block: str, values: dict[str, Any]) -> str:
        assert self._jinja is not None
        ctx = {**self.variables, **values}
        if self.scale is not None:
            ctx.setdefault("scale_min", fmt_number(self.scale[0]))
            ctx.setdefault("scale_max", fmt_number(self.scale[1]))
        try:
            return "".join(self._jinja.blocks[block](self._jinja.new_context(ctx)))
        except TemplateError:
            raise
        except _RenderProblem as exc:
            raise TemplateError(f"{self._where(self._line_of(exc.__traceback__))}: {exc}") from None
        except UndefinedError as exc:
            m = _UNDEFINED_RE.match(exc.message or "")
            what = f"undefined variable {m.group(1)!r}" if m else f"undefined value: {exc.message}"
            raise TemplateError(f"{self._where(self._line_of(exc.__traceback__))}: {what} "
                                f"in block {block!r}") from exc
        except Exception as exc:  # sandbox violations, bad image() calls, type errors in expressions
            raise TemplateError(f"{self._where(self._line_of(exc.__traceback__))}: {type(exc).__name__}: "
                                f"{exc} (in block {block!r})") from exc

    # ---- prompt ------------------------------------------------------------------------------
    def render_prompt(self, item: PointwiseItem | PairwiseItem, *, swapped: bool = False,
                      rubric: str | None = None) -> Prompt:
        """Render the prompt for ``item``; ``swapped`` shows response B first (pairwise only)."""
        if getattr(item, "task", None) != self.task:
            raise TemplateError(f"{self._where()}: is a {self.task} template but item {item.id!r} is "
                                f"{getattr(item, 'task', type(item).__name__)}")
        values: dict[str, Any] = {"question": item.question, "reference": item.reference}
        if isinstance(item, PairwiseItem):
            shown = swap_item(item) if swapped else item
            values.update(response_a=shown.response_a, response_b=shown.response_b)
        else:
            if swapped:
                raise TemplateError(f"{self._where()}: swapped=True only applies to pairwise items")
            values["response"] = item.response
        values["rubric"] = rubric if rubric is not None else getattr(item, "rubric", None) or self.variables.get("rubric")
        if self.needs_reference and not (item.reference and item.reference.strip()):
            raise TemplateError(f"{self._where()}: needs a reference answer but item {item.id!r} has none")
        n = len(item.images)
        user_text = "".join(v for v in values.values() if isinstance(v, str))
        nonce = secrets.token_hex(8)
        while nonce in user_text:  # cannot happen in practice; guarantees values cannot forge a slot
            nonce = secrets.token_hex(8)
        placed: list[int] = []

        def image(i: int) -> str:
            if isinstance(i, bool) or not isinstance(i, int):
                raise _RenderProblem(f"image() takes an integer index, got {i!r}")
            if not 0 <= i < n:
                raise _RenderProblem(f"image({i}) but item {item.id!r} has {n} image(s)")
            if i in placed:
                raise _RenderProblem(f"image({i}) is placed twice")
            placed.append(i)
            return f"\x00{nonce}:{i}\x00"

        def images() -> str:
            return "".join(image(i) for i in range(n) if i not in placed)

        values.update(n_images=n, image=image, images=images)
        system = None
        if self.has_system:
            system = self._render_block("system", values).strip() or None
            if system and next(_slots(system, nonce), None) is not None:
                raise TemplateError(f"{self._where()}: images cannot be placed in the system block")
        rendered = self._render_block("prompt", values)
        parts: list[dict[str, Any]] = []
        start = 0
        for m in _slots(rendered, nonce):  # the text between slots, and each slot's image
            piece = rendered[start:m.start()].strip()
            if piece:
                parts.append({"type": "text", "text": piece})
            parts.append({"type": "image", "index": int(m.group(2))})
            start = m.end()
        piece = rendered[start:].strip()
        if piece:
            parts.append({"type": "text", "text": piece})
        unplaced = [{"type": "image", "index": i} for i in range(n) if i not in placed]
        return Prompt(system=system, parts=unplaced + parts)

    # ---- target and parser -------------------------------------------------------------------
    def render_target(self, rationale: str, verdict: Verdict) -> str:
        """The training target: ``rationale`` and ``verdict`` written exactly as :meth:`parse` reads them."""
        self.check(verdict)
        values = {"rationale": (rationale or "").strip(), "verdict_text": self.spec.render(verdict),
                  **self.spec.pieces(verdict)}
        return self._render_block("target", values).strip()

    def parse(self, text: str) -> ParseResult:
        """Read the verdict and rationale from a critic's output (see :meth:`VerdictSpec.parse`)."""
        return self.spec.parse(text)

    def check(self, verdict: Verdict) -> None:
        """Raise ValueError when ``verdict`` is invalid for this template (kind, scale, ties)."""
        err = self.spec.problem(verdict)
        if err:
            raise ValueError(f"template {self.name!r}: {err}")


# ---- loading ---------------------------------------------------------------------------------

def _fail(path: Path, msg: str, line: int | None = None) -> TemplateError:
    return TemplateError(f"template file {path}{f':{line}' if line else ''}: {msg}")


def _parse_header(path: Path, text: str) -> tuple[dict[str, Any], int]:
    m = _HEADER_RE.match(text)
    if not m:
        raise _fail(path, "must start with a YAML header in a Jinja comment: {#--- ... ---#}", 1)
    body = m.group("yaml")
    first_line = text.count("\n", 0, m.start("yaml")) + 1
    if "#}" in body:
        raise _fail(path, "the header may not contain '#}' (it would end the Jinja comment)", first_line)
    try:
        header = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        raise _fail(path, f"header is not valid YAML: {getattr(exc, 'problem', None) or exc}", line) from None
    if not isinstance(header, dict):
        raise _fail(path, "header must be a YAML mapping", first_line)
    return header, first_line


def _build(path: Path, raw: bytes) -> Template:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8: {exc}") from None
    header, line = _parse_header(path, text)
    unknown = sorted(set(header) - set(HEADER_KEYS))
    if unknown:
        raise _fail(path, f"unknown header key(s) {unknown}; known: {list(HEADER_KEYS)}", line)
    for key in ("name", "task", "description", "verdict"):
        if key not in header:
            raise _fail(path, f"header lacks {key!r}", line)
    name = header["name"]
    if name != path.stem:
        raise _fail(path, f"header name {name!r} must equal the file name {path.stem!r}", line)
    task = header["task"]
    if task not in ("pointwise", "pairwise"):
        raise _fail(path, f"task must be 'pointwise' or 'pairwise', got {task!r}", line)
    try:
        spec = VerdictSpec.from_header(header["verdict"])
    except ValueError as exc:
        raise _fail(path, str(exc), line) from None
    if spec.task != task:
        raise _fail(path, f"a {spec.kind!r} verdict belongs to a {spec.task} template, not {task}", line)
    variables = header.get("variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise _fail(path, "variables must be a mapping of names to values", line)
    clash = sorted(set(variables) & RESERVED)
    if clash:
        raise _fail(path, f"variables may not redefine {clash}", line)
    needs_reference = header.get("needs_reference", False)
    if not isinstance(needs_reference, bool):
        raise _fail(path, "needs_reference must be true or false", line)
    try:
        code = _ENV.compile(text, name=name, filename=str(path))
        jinja = _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)
    except TemplateSyntaxError as exc:
        raise _fail(path, f"Jinja syntax error: {exc.message}", exc.lineno) from None
    for block in ("prompt", "target"):
        if block not in jinja.blocks:
            raise _fail(path, f"has no {{% block {block} %}}")
    tpl = Template(name=name, task=task, description=str(header["description"]).strip(),
                   hash=hashlib.sha256(raw).hexdigest()[:16], path=path, spec=spec,
                   needs_reference=needs_reference, variables=dict(variables), source=text, _jinja=jinja)
    for v in spec.examples():  # the contract: what the target writes is what the parser reads
        target = tpl.render_target(_EXAMPLE_RATIONALE, v)
        got = tpl.parse(target)
        if got.verdict != v or got.rationale != _EXAMPLE_RATIONALE:
            raise _fail(path, f"the target block does not parse back: rendered {target!r} for {v}, "
                        f"parsed verdict={got.verdict} rationale={got.rationale!r} error={got.error!r}")
    return tpl


_CACHE: dict[tuple[str, str], Template] = {}


def load_template_file(path: str | Path) -> Template:
    """Load one ``.jinja`` file (cached by path and content, so an edited file is reloaded)."""
    p = Path(path).expanduser().resolve()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TemplateError(f"template file {path} does not exist") from None
    except OSError as exc:
        raise TemplateError(f"template file {path} cannot be read: {exc}") from None
    key = (str(p), hashlib.sha256(raw).hexdigest())
    if key not in _CACHE:
        if len(_CACHE) > 512:
            _CACHE.clear()
        _CACHE[key] = _build(p, raw)
    return _CACHE[key]


def template_dirs(search_dirs: Sequence[str | Path] = ()) -> list[Path]:
    """Where template names are looked up, in order: ``search_dirs``, ``$CRITIC_TEMPLATE_PATH``, shipped."""
    from critic.assets import asset_dir

    dirs = [Path(d) for d in search_dirs]
    dirs += [Path(d) for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d.strip()]
    dirs.append(asset_dir("prompt_templates"))
    return dirs


def load_template(name_or_path: str | Path, search_dirs: Sequence[str | Path] = ()) -> Template:
    """A template by name (looked up in :func:`template_dirs`) or by path to a ``.jinja`` file."""
    s = str(name_or_path)
    if s.endswith(".jinja") or "/" in s or os.sep in s:
        return load_template_file(s)
    dirs = template_dirs(search_dirs)
    for d in dirs:
        candidate = d / f"{s}.jinja"
        if candidate.is_file():
            return load_template_file(candidate)
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.jinja")})
    raise TemplateError(f"no template named {s!r} in {[str(d) for d in dirs]}; known: {known}")


def list_templates(search_dirs: Sequence[str | Path] = ()) -> list[Template]:
    """Every template visible from :func:`template_dirs`, sorted by name; earlier folders shadow later."""
    seen: dict[str, Template] = {}
    for d in template_dirs(search_dirs):
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.jinja")):
            if p.stem not in seen:
                seen[p.stem] = load_template_file(p)
    return [seen[k] for k in sorted(seen)]
