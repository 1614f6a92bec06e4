"""Typed YAML configs: pydantic sections, ``--a.b value`` overrides, errors naming the file and the key.

The machinery shared by the ``critic train`` config (:mod:`critic.training.config`) and the ``critic
dpo`` config (:mod:`critic.dpo.config`). A config is a pydantic model made of :class:`Section` models,
which refuse unknown keys. A :class:`Schema` names that root model, its dotted keys
(:func:`dotted_keys`) and the error class to raise, and does the rest: it reads the YAML file
(a syntax error is named ``file:line``), applies overrides (``--a.b value`` or ``--a.b=value``; values
are read as YAML scalars; a bare key that ends exactly one dotted key stands for it), validates, and
turns a pydantic ``ValidationError`` into one ``file: key: problem`` line per problem, with a "did you
mean" for a misspelt key. The few ways the two configs differ are the schema's options.

>>> from pydantic import Field
>>> class Inner(Section):
...     rate: float = 1.0
>>> class Root(Section):
...     name: str
...     inner: Inner = Field(default_factory=Inner)
>>> Root.model_rebuild()  # resolves the annotation "Inner" (a string here) in this namespace
True
>>> schema = Schema(Root, dotted_keys(Root))
>>> schema.keys
['name', 'inner', 'inner.rate']
>>> schema.parse_overrides(["--inner.rate", "0.5", "--name=x"])
[(['inner', 'rate'], 0.5), (['name'], 'x')]
>>> schema.load_dict({"name": "n"}, ["--rate", "2"]).inner.rate
2.0
>>> schema.load_dict({"name": "n", "inner": {"rat": 1}}, source="c.yaml")
Traceback (most recent call last):
...
critic.typed_config.TypedConfigError: c.yaml: inner.rat: unknown key (did you mean 'rate'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class TypedConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key."""


class Section(BaseModel):
    """A config section: unknown keys are errors, and so are badly typed assignments."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def dotted_keys(cls: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of ``cls``, dotted, each :class:`Section`-typed field followed by its own keys."""
    out = []
    for name, f in cls.model_fields.items():
        out.append(prefix + name)
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, Section):
            out += dotted_keys(ann, prefix + name + ".")
    return out


def suggest(bad: str, keys: Sequence[str], *, whole_path: bool = True) -> str:
    """`` (did you mean 'x'?)`` naming the last part of the key closest to ``bad``, or ``""``.

    The whole dotted path is compared first (unless ``whole_path`` is false), then its last part
    against the keys' last parts.

    >>> suggest("train.lerning_rate", ["train", "train.learning_rate"])
    " (did you mean 'learning_rate'?)"
    >>> suggest("zzz", ["train"])
    ''
    """
    close = difflib.get_close_matches(bad, keys, n=1, cutoff=0.75) if whole_path else []
    if not close:
        close = difflib.get_close_matches(bad.rsplit(".", 1)[-1], [k.rsplit(".", 1)[-1] for k in keys], n=1,
                                          cutoff=0.75)
    return f" (did you mean {close[0].rsplit('.', 1)[-1]!r}?)" if close else ""


def yaml_scalar(raw: str) -> Any:
    """An override's value: ``raw`` read as YAML, or ``raw`` itself where it is not valid YAML.

    >>> yaml_scalar("0.5"), yaml_scalar("false"), yaml_scalar("[a, b]"), yaml_scalar("[oops"), yaml_scalar("")
    (0.5, False, ['a', 'b'], '[oops', '')
    >>> yaml_scalar("2020-13-45")  # looks like a date, is none: the text, for the key check to judge
    '2020-13-45'
    """
    try:
        return yaml.safe_load(raw) if raw != "" else ""
    except (yaml.YAMLError, ValueError):  # ValueError: date-like scalars that are no date
        return raw


def set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[path[0]][path[1]]... = value``, making (or replacing non-mapping) parents as mappings.

    >>> d = {"a": 1}
    >>> set_path(d, ["a", "b"], 2); d
    {'a': {'b': 2}}
    """
    node = data
    for p in path[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = node[p] = {}
        node = nxt
    node[path[-1]] = value


@dataclass(frozen=True)
class Schema(Generic[M]):
    """How to load, override and check one kind of config (the root ``model``), and its error messages."""

    model: type[M]
    keys: list[str]  # every dotted key (see dotted_keys)
    error: type[TypedConfigError] = TypedConfigError
    #: a misspelt key's suggestion compares the whole dotted path before its last part
    whole_path_suggestions: bool = True
    #: the message for an override that ends several keys; ``{keys}`` and ``{dashed}`` (``--`` each) list them
    ambiguous: str = "ambiguous; use one of {dashed}"
    #: a dotted override that is no key but still names a valid path (say, inside a free-form mapping)
    extra_key: Callable[[str], bool] | None = None
    #: said after "expected a mapping" when the data is not one
    mapping_hint: str = ""
    #: a YAML syntax error's message ends with the parser's problem
    yaml_problem: bool = True
    #: an override's value is read before its key is resolved (so a value YAML cannot build fails first)
    value_before_key: bool = False

    def suggest(self, bad: str) -> str:
        return suggest(bad, self.keys, whole_path=self.whole_path_suggestions)

    def explain(self, exc: ValidationError, source: str) -> TypedConfigError:
        """One ``source: key: problem`` line per error in ``exc``."""
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                lines.append(f"{source}: {loc}: unknown key{self.suggest(loc)}")
            elif err["type"] == "missing":
                lines.append(f"{source}: {loc}: required key is missing")
            else:
                got = err.get("input")
                shown = f" (got {got!r})" if not isinstance(got, dict) else ""
                lines.append(f"{source}: {loc or '(config)'}: {err['msg']}{shown}")
        return self.error("\n".join(lines))

    def resolve_key(self, key: str) -> list[str]:
        """The dotted path an override names: itself if it exists, else the unique key ending in it."""
        if key in self.keys:
            return key.split(".")
        matches = [k for k in self.keys if k.endswith("." + key)]
        if len(matches) == 1:
            return matches[0].split(".")
        if matches:
            listed = self.ambiguous.format(keys=", ".join(matches), dashed=", ".join("--" + m for m in matches))
            raise self.error(f"override --{key}: {listed}")
        if self.extra_key is not None and self.extra_key(key):
            return key.split(".")
        raise self.error(f"override --{key}: unknown key{self.suggest(key)}")

    def parse_overrides(self, args: Sequence[str]) -> list[tuple[list[str], Any]]:
        """``["--a.b", "1", "--c=x"]`` → ``[(["a", "b"], 1), (["c"], "x")]`` (values parsed as YAML scalars)."""
        out: list[tuple[list[str], Any]] = []
        i = 0
        while i < len(args):
            tok = args[i]
            if not tok.startswith("--") or len(tok) < 3:
                raise self.error(f"override {tok!r}: expected --key value or --key=value")
            if "=" in tok:
                key, raw = tok[2:].split("=", 1)
                i += 1
            else:
                if i + 1 >= len(args):
                    raise self.error(f"override {tok}: missing value")
                key, raw = tok[2:], args[i + 1]
                i += 2
            key = key.replace("-", "_")
            if self.value_before_key:
                value = yaml_scalar(raw)
                path = self.resolve_key(key)
            else:
                path = self.resolve_key(key)
                value = yaml_scalar(raw)
            out.append((path, value))
        return out

    def load_dict(self, data: dict[str, Any], overrides: Sequence[str] = (), *, source: str = "config") -> M:
        """Validate a config mapping after applying ``overrides`` (CLI-style strings)."""
        if not isinstance(data, dict):
            raise self.error(f"{source}: expected a mapping{self.mapping_hint}")
        data = yaml.safe_load(yaml.safe_dump(data))  # a deep copy
        for path, value in self.parse_overrides(list(overrides)):
            set_path(data, path, value)
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise self.explain(exc, source) from None

    def read_yaml(self, path: Path) -> Any:
        """The YAML document in ``path`` (``{}`` when empty); errors name the file (and the line)."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise self.error(f"{path}: cannot read the config: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise self.error(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = f": {getattr(exc, 'problem', None) or exc}" if self.yaml_problem else ""
            raise self.error(f"{path}{where}: not valid YAML{problem}") from None

    def load(self, path: str | Path, overrides: Sequence[str] = ()) -> M:
        """Read a YAML config file and apply ``overrides``; errors name the file and the key."""
        p = Path(path)
        return self.load_dict(self.read_yaml(p), overrides, source=str(p))
