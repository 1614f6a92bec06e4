"""The one row reader (JSON array, JSONL, CSV) and the one column map, as sources and benchmarks use them."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest

from critic.data.recipe import RecipeError, load_recipe
from critic.data.sources import SourceItem, SourceProblem, open_source
from critic.evaluation.benchmarks import BenchmarkError, load_benchmark, load_spec
from critic.rows import ColumnError, RenamedKeyWarning, map_columns, read_rows


def _rows(path: Path) -> list[tuple[int, object, str | None, bool]]:
    return [(r.line, r.value, r.problem, r.fatal) for r in read_rows(path)]


def test_json_array_rows_start_lines_and_a_fatal_syntax_error(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[\n  {"id": 1},\n  [2],\n  {"id": 3,\n   "x": "y"}\n]\n')
    assert _rows(p) == [(2, {"id": 1}, None, False), (3, None, "expected an object, got list", False),
                        (4, {"id": 3, "x": "y"}, None, False)]
    bad = tmp_path / "b.jsonl"  # sniffed by content: an array whatever the extension
    bad.write_text('[{"id": 1},\n {"id": 2,,},\n {"id": 3}]')
    rows = list(read_rows(bad))
    assert [(r.line, r.value) for r in rows[:1]] == [(1, {"id": 1})]
    assert rows[1].where == f"{bad}:2" and rows[1].fatal and rows[1].problem.startswith("not valid JSON")
    assert len(rows) == 2  # nothing after it: an array cannot be resynchronised
    extra = tmp_path / "c.json"
    extra.write_text('[{"id": 1}]\n[{"id": 2}]\n')
    assert _rows(extra) == [(1, {"id": 1}, None, False),
                            (2, None, "not valid JSON: extra data after the closing ']'", True)]


def test_jsonl_bad_lines_are_problems_and_the_rest_goes_on(tmp_path):
    p = tmp_path / "a.json"  # sniffed by content: JSON Lines whatever the extension
    p.write_bytes('\ufeff{"id": 1}\n\n{"id": \n"text"\n{"id": 5, "q": "a\u2028b"}\n'.encode())
    assert _rows(p) == [(1, {"id": 1}, None, False),
                        (3, None, "not valid JSON: Expecting value at column 8", False),
                        (4, None, "expected an object, got str", False),
                        (5, {"id": 5, "q": "a\u2028b"}, None, False)]  # U+2028 inside a string is no line break


def test_csv_rows_match_dictreader_with_the_line_each_starts_on(tmp_path):
    p = tmp_path / "a.CSV"
    with open(p, "w", newline="", encoding="utf-8-sig") as fh:  # Excel's byte-order mark
        w = csv.writer(fh)
        w.writerows([["id", "text", "label"], ["1", "one line", "A"], ["2", "two\nlines", "B"], [],
                     ["3", "short"], ["4", "long", "A", "extra", "more"]])
    with open(p, encoding="utf-8-sig", newline="") as fh:
        expected = list(csv.DictReader(fh))
    rows = list(read_rows(p))
    assert [r.value for r in rows] == expected
    assert [r.line for r in rows] == [2, 3, 6, 7]
    assert rows[2].value == {"id": "3", "text": "short", "label": None}
    assert rows[3].value[None] == ["extra", "more"]
    huge = tmp_path / "huge.csv"
    huge.write_text("id,text\n1,ok\n2,\"" + "x" * (csv.field_size_limit() + 1) + "\"\n3,never read\n")
    rows = list(read_rows(huge))
    assert [r.value for r in rows[:1]] == [{"id": "1", "text": "ok"}]
    assert rows[1].line == 3 and rows[1].fatal and rows[1].problem.startswith("not valid CSV: field larger")
    assert len(rows) == 2


def test_column_map_vocabulary():
    row = {"q": "Q ", "ctx": "", "in": "more", "out": {"a": "x"}, "out.a": "flat", "v": [1], "w": 2, "n": None}
    got = map_columns(row, {"question": ["q", "ctx", "in"], "response_a": "out.a", "label": ["w", "w", "zz"],
                            "reference": "q"}, {"2": "B"}, same_names=False)
    # a list of question columns is joined (blank ones dropped); one column is kept as it is; an exact
    # column name wins over a dotted path; label columns vote, absent ones do not count
    assert got == {"question": "Q\n\nmore", "response_a": "flat", "label": "B", "reference": "Q "}
    assert map_columns({"label": "tie", "id": 7, "x": 1}, {}) == {"label": "tie", "id": 7}  # same names
    assert map_columns({"pref": None}, {"label": "pref"}) == {}  # an empty label is no label
    with pytest.raises(ColumnError, match="column 'gone' is missing") as exc:
        map_columns(row, {"question": "gone"})
    assert exc.value.kind == "missing"
    assert map_columns(row, {"question": "gone"}, strict=False, same_names=False) == {}
    with pytest.raises(ColumnError, match=r"votes \['1', '2'\] have no majority"):
        map_columns({"a": 1, "b": 2}, {"label": ["a", "b"]})


def _recipe(tmp_path: Path, source: str) -> Path:
    (tmp_path / "p.jsonl").write_text(
        json.dumps({"q": "Q", "a": "x", "b": "y", "pref": 2}) + "\n" + "{oops\n"
        + json.dumps({"q": "Q", "a": "x", "b": "y", "pref": 1}) + "\n")
    p = tmp_path / "recipe.yaml"
    p.write_text("name: t\ntemplates: {}\nsources:\n  - kind: pairwise_file\n    path: p.jsonl\n"
                 "    columns: {question: q, response_a: a, response_b: b, label: pref}\n" + source)
    return p


def test_recipe_label_map_and_its_old_name_labels(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current name warns about nothing
        recipe = load_recipe(_recipe(tmp_path, "    label_map: {1: B, 2: A}\n"))  # YAML keys 1, 2 are labels "1", "2"
    events = list(open_source(recipe.sources[0], tmp_path / "recipe.yaml"))
    assert [e.item.label for e in events if isinstance(e, SourceItem)] == ["A", "B"]
    problems = [e for e in events if isinstance(e, SourceProblem)]
    assert [(p.where, p.reason) for p in problems] == [(f"{tmp_path / 'p.jsonl'}:2", "malformed line")]

    path = _recipe(tmp_path, "    labels: {'1': B, '2': A}\n")
    with pytest.warns(RenamedKeyWarning, match=rf"{path}: source pairwise_file: `labels` is now called `label_map`"):
        old = load_recipe(path)
    assert old.sources[0].label_map == recipe.sources[0].label_map
    with pytest.raises(RecipeError, match=r"recipe.yaml:4: .*give `label_map` only"):
        load_recipe(_recipe(tmp_path, "    labels: {'1': B}\n    label_map: {'1': B}\n"))


def test_benchmarks_read_csv_and_stop_at_a_broken_array(tmp_path):
    with open(tmp_path / "mine.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["qid", "prompt", "a", "b", "winner"], ["1", "Q?", "x", "y", "2"],
                                  ["2", "Q?", "x", "y", "9"]])
    spec = tmp_path / "mine.yaml"
    spec.write_text("name: mine\nloader: generic\ntask: pairwise\nsource: mine.csv\noptions:\n  task: pairwise\n"
                    "  columns: {id: qid, question: prompt, response_a: a, response_b: b, label: winner}\n"
                    "  label_map: {1: A, 2: B}\n")
    r = load_benchmark(load_spec(spec), tmp_path)
    assert [(it.id, it.label) for it in r.items] == [("1", "B")]
    assert r.problems == [f"{tmp_path / 'mine.csv'}:3: 2: label: Input should be 'A', 'B' or 'tie'"]
    (tmp_path / "broken.json").write_text('[\n{"idx": 0},\n{"idx": 1,,}\n]\n')
    with pytest.raises(BenchmarkError, match=r"broken.json:3: not valid JSON"):
        load_benchmark(load_spec("pandalm"), tmp_path / "broken.json")
