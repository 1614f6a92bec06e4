"""The package layout holds: commands → stages → shared records and I/O, no import cycles.

Every ``import`` of a ``critic`` module anywhere in a file counts, function-local ones included (a
lazy import is still a dependency). Rooms are the subpackages of ``critic``; the root modules
(records, jsonl, rows, media, assets, typed_config) form the room ``root``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "critic"

#: Each room may import rooms of its own layer or below. The stages follow the flow: models are
#: loaded by judges; evaluation measures judgments; data builds through a judge (the teacher) and
#: reads benchmark files; training judges held-out items and measures them; DPO labels with a
#: judge; the toy world exercises all of them; commands sit on top. Serving shares the judging layer:
#: the server needs only the judge, and the judge factory builds the remote client for backend "remote".
#: Pairs shares the DPO layer: it writes DPO's row layout (dpo.pairs) and the DPO loop builds each
#: round's pairs through it, per source (no module cycle: dpo.loop / dpo.config -> pairs -> dpo.pairs).
#: Reward shares the judging layer too: a reward model is a judge (make_critic builds its RewardCritic from
#: a checkpoint's critic.json), and training (above) imports its heads, losses and encoder.
LAYERS = {"root": 0, "models": 1, "judging": 2, "serving": 2, "reward": 2, "evaluation": 3, "data": 4, "training": 5, "dpo": 6,
          "pairs": 6, "toy": 7, "commands": 8}
#: The public face (lazy re-exports) and the entry points that only start the command line.
ENTRY_POINTS = {"critic", "critic.__main__", "critic.cli"}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name not in mods:
            if "." not in name:
                return None
            name = name.rsplit(".", 1)[0]
        return name

    edges: dict[str, set[str]] = defaultdict(set)
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets: list[str | None] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "critic":
                targets = [resolve(f"{node.module}.{a.name}") or resolve(node.module) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names if a.name.split(".")[0] == "critic"]
            edges[m].update(t for t in targets if t and t != m)
    return edges


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PKG / parts[1]).is_dir() else "root"


def test_every_room_has_a_layer():
    rooms = {p.parent.name for p in PKG.glob("*/__init__.py")}
    assert rooms <= set(LAYERS), f"new subpackage(s) without a layer in LAYERS: {sorted(rooms - set(LAYERS))}"


def test_no_module_imports_a_layer_above_it():
    bad = [f"{a} -> {b}" for a, targets in _graph().items() if a not in ENTRY_POINTS
           for b in targets if LAYERS[_room(b)] > LAYERS[_room(a)]]
    assert not bad, "imports that go up a layer:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = _graph()
    # Tarjan's strongly connected components; any component with more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_is_over_the_size_limit():
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 460}
    assert not long, f"modules over ~400 lines (split them by idea): {long}"
