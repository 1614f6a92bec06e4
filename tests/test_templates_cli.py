"""`critic templates list | show | render` through critic.commands.main.main."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from critic.commands import main as cli

TEMPLATE = """{#---
name: house_style
task: pointwise
description: the team's own format
verdict:
  kind: score
  scale: [1, 3]
  format: "Grade: {score}"
  patterns: ['grade\\s*:\\s*(?P<score>{NUM})']
---#}
{% block prompt %}{{ images() }}Q: {{ question }}
A: {{ response }}{% endblock %}
{% block target %}{{ rationale }}
{{ verdict_text }}{% endblock %}
"""


@pytest.fixture(autouse=True)
def _only_available_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other command modules are written in parallel; test this one even if a sibling is missing.
    present = [m for m in cli.COMMAND_MODULES if importlib.util.find_spec(m) is not None]
    monkeypatch.setattr(cli, "COMMAND_MODULES", present)


@pytest.fixture
def items(tmp_path: Path) -> Path:
    rows = [
        {"id": "p1", "question": "What colour?", "images": ["sq.png"], "response": "Red.", "score": 4},
        {"id": "x2", "question": "Which?", "response_a": "red", "response_b": "blue", "label": "A",
         "meta": {"rationale": "The first response is right; Response B is wrong."}},
        "not json",
        {"id": "x4", "question": "Which?", "response_a": "red", "response_b": "blue"},
        {"id": "x5", "question": "Which?", "response_a": "red", "response_b": "blue", "label": "tie"},
    ]
    p = tmp_path / "items.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(["templates", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_table_and_json(capsys, tmp_path: Path) -> None:
    rc, out, _ = run(capsys, "list")
    assert rc == 0 and "llava_critic_pointwise" in out and "wildvision_pair" in out and "NAME" in out
    (tmp_path / "house_style.jinja").write_text(TEMPLATE)
    rc, out, _ = run(capsys, "list", "--json", "--template-dir", str(tmp_path))
    rows = json.loads(out)
    assert rc == 0 and len(rows) >= 13
    by_name = {r["name"]: r for r in rows}
    assert {"name", "task", "description", "hash", "scale", "allows_tie", "needs_reference"} <= set(rows[0])
    assert by_name["house_style"]["scale"] == [1.0, 3.0]
    assert by_name["prometheus_absolute"]["needs_reference"] is True
    assert by_name["prometheus_relative"]["allows_tie"] is False


def test_show(capsys) -> None:
    rc, out, _ = run(capsys, "show", "wildvision_pair")
    assert rc == 0
    assert "example verdict: My final verdict is: [[A>B]]" in out
    assert "{% block prompt %}" in out and "ties allowed:    yes" in out


def test_render_pointwise_with_gold_score(capsys, items: Path) -> None:
    rc, out, _ = run(capsys, "render", "mllm_judge_score", "--item", str(items))
    assert rc == 0
    assert "--- system ---" in out and "--- user ---" in out and "--- target (gold verdict" in out
    assert f"[image 0: {items.parent / 'sq.png'}]" in out
    assert out.rstrip().endswith("Rating: [[4]]")
    assert f"{items}:1" in out


def test_render_pairwise_swapped_uses_meta_rationale(capsys, items: Path) -> None:
    rc, out, _ = run(capsys, "render", "mllm_judge_pair", "--item", str(items), "--line", "2", "--swapped")
    assert rc == 0 and "swapped" in out
    user = out.split("--- user ---")[1]
    assert user.index("blue") < user.index("red")
    target = out.split("--- target")[1]
    assert "The second response is right; Response A is wrong." in target
    assert target.rstrip().endswith("[[B]]")


def test_render_placeholders_when_no_gold(capsys, items: Path) -> None:
    rc, out, _ = run(capsys, "render", "llava_bench_pair", "--item", str(items), "--line", "4")
    assert rc == 0 and "placeholder verdict, placeholder rationale" in out
    assert "<rationale:" in out


def test_render_user_template(capsys, items: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "house_style.jinja").write_text(TEMPLATE)
    rc, _, err = run(capsys, "render", "house_style", "--template-dir", str(folder), "--item", str(items))
    assert rc == 2 and "items.jsonl:1" in err and "outside the scale 1–3" in err  # gold 4 is off its scale
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps({"id": "q", "question": "{{ 7*7 }}?", "response": "49", "score": 2}) + "\n")
    rc, out, _ = run(capsys, "render", "house_style", "--template-dir", str(folder), "--item", str(ok))
    assert rc == 0 and "Q: {{ 7*7 }}?" in out and out.rstrip().endswith("Grade: 2")


@pytest.mark.parametrize("argv,msg", [
    (["render", "mllm_judge_pair", "--line", "3"], "items.jsonl:3: (json): not valid JSON"),
    (["render", "mllm_judge_pair", "--line", "1"], "items.jsonl:1: item 'p1' is pointwise"),
    (["render", "mllm_judge_pair", "--line", "99"], "items.jsonl:99: no item on this line"),
    (["render", "prometheus_absolute", "--line", "1"], "items.jsonl:1: template 'prometheus_absolute'"),
    (["render", "prometheus_relative", "--line", "5"], "items.jsonl:5: the item's gold verdict does not fit"),
    (["render", "no_such_template"], "no template named 'no_such_template'"),
])
def test_render_errors_name_file_and_line(capsys, items: Path, argv: list[str], msg: str) -> None:
    rc, _, err = run(capsys, *argv[:2], "--item", str(items), *argv[2:])
    assert rc == 2
    assert msg in err and "critic templates: error:" in err


def test_show_and_list_report_broken_templates(capsys, tmp_path: Path) -> None:
    (tmp_path / "broken.jinja").write_text("no header\n")
    rc, _, err = run(capsys, "list", "--template-dir", str(tmp_path))
    assert rc == 2 and "broken.jinja" in err
    rc, _, err = run(capsys, "show", str(tmp_path / "broken.jinja"))
    assert rc == 2 and "must start with a YAML header" in err
