"""One flag vocabulary (issue 21): the old --out of file-writing commands warns and still works; --limit uses
the first N rows; --json prints the summary as one JSON object on stdout."""

from __future__ import annotations

import json

import pytest

from critic.commands.main import main


def _files(tmp_path, n=12):
    gold = [{"id": f"i{k}", "label": "AB"[k % 2]} for k in range(n)]
    for judge, flip in (("j1", 0), ("j2", 3)):
        rows = [{"id": g["id"], "task": "pairwise", "winner": g["label"] if k % 4 != flip else "A", "swapped": s,
                 "template": "t", "template_hash": "h", "judge": judge} for k, g in enumerate(gold) for s in (False, True)]
        (tmp_path / f"{judge}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    return tmp_path / "j1.jsonl", tmp_path / "j2.jsonl", tmp_path / "gold.jsonl"


@pytest.mark.parametrize("cmd", ["view", "jury"])
def test_old_out_spelling_warns_and_works(tmp_path, capsys, cmd):
    j1, j2, gold = _files(tmp_path)
    out = tmp_path / ("v.html" if cmd == "view" else "jury.jsonl")
    head = ["view", str(j1)] if cmd == "view" else ["jury", "--judgments", str(j1), str(j2)]
    assert main([*head, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: --out is deprecated for this command: use --output" in err and out.is_file()
    out.unlink()
    assert main([*head, "--output", str(out)]) == 0
    assert "deprecated" not in capsys.readouterr().err and out.is_file()


def test_output_is_required_and_help_shows_only_the_new_spelling(capsys):
    with pytest.raises(SystemExit):
        main(["jury", "--judgments", "a.jsonl", "b.jsonl"])
    assert "--output" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label-pairs", "--help"])
    text = capsys.readouterr().out
    assert "--output" in text and "--out " not in text and "--limit" in text and "--json" in text


def test_eval_limit_and_json(tmp_path, capsys):
    j1, _, gold = _files(tmp_path)
    base = ["eval", "--gold", str(gold), "--judgments", str(j1), "--n-resamples", "10", "--no-plots", "--json"]
    assert main([*base, "--out", str(tmp_path / "r")]) == 0
    full = json.loads(capsys.readouterr().out)  # stdout holds the JSON object and nothing else
    assert full["report"]["pairwise"]["n_judgments"] == 24
    assert main([*base, "--out", str(tmp_path / "r4"), "--limit", "4"]) == 0
    cap = capsys.readouterr()
    limited = json.loads(cap.out)
    assert limited["report"]["pairwise"]["n_judgments"] == 4 and limited["out"] == str(tmp_path / "r4")
    assert "report:" in cap.err  # the human summary moved to stderr


def test_jury_and_view_limit_and_json(tmp_path, capsys):
    j1, j2, gold = _files(tmp_path)
    assert main(["jury", "--judgments", str(j1), str(j2), "--output", str(tmp_path / "j.jsonl"), "--limit", "6",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_items"] == 3 and summary["method"] == "majority"
    assert main(["view", str(j1), "--gold", str(gold), "--output", str(tmp_path / "v.html"), "--limit", "4",
                 "--n-resamples", "10", "--no-plots", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    (report,) = view["reports"].values()
    assert report["pairwise"]["n_judgments"] == 4


def test_limit_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--gold", "g", "--judgments", "j", "--out", "o", "--limit", "0"])
    assert "must be at least 1" in capsys.readouterr().err
