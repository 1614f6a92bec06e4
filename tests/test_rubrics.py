"""Rubrics (issue 18): per-item or --rubric FILE, rendered into the prompt, in the cache key and the judgment."""

from __future__ import annotations

import json

import yaml

from critic.commands.main import main
from critic.judging.templates import load_template
from critic.records import PointwiseItem

RUBRIC = {"criteria": "Does it name the colour?", "score1_description": "No colour.",
          "score5_description": "The right colour."}


def _item(**kw):
    return PointwiseItem(id="1", question="Colour?", response="red", reference="red", **kw)


def test_rubric_is_rendered_and_templates_say_they_take_one():
    t = load_template("prometheus_absolute")
    assert t.takes_rubric and not load_template("llava_critic_pointwise").takes_rubric
    text = t.render_prompt(_item(rubric=RUBRIC)).text
    assert "[Does it name the colour?]\nScore 1: No colour.\nScore 5: The right colour." in text
    assert "Is the response accurate, helpful" not in text  # the header's default is replaced
    assert "Is the response accurate, helpful" in t.render_prompt(_item()).text


def test_rubric_changes_the_cache_key_and_is_recorded(tmp_path):
    from critic.toy.chat_server import ChatServer

    (tmp_path / "items.jsonl").write_text(json.dumps(_item().to_json_dict()) + "\n")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(RUBRIC))
    seen = []

    def judge(body, images):
        seen.append(json.dumps(body))
        return "Feedback: fine. [RESULT] 4"

    common = ["judge", "--input", str(tmp_path / "items.jsonl"), "--backend", "openai", "--model", "m", "--template",
              "prometheus_absolute", "--no-progress", "--cache", str(tmp_path / "c.sqlite")]
    with ChatServer(judge) as srv:
        for out, extra in (("a.jsonl", []), ("b.jsonl", ["--rubric", str(tmp_path / "r.yaml")]),
                           ("c.jsonl", ["--rubric", str(tmp_path / "r.yaml")])):
            assert main([*common, "--base-url", srv.base_url, "--output", str(tmp_path / out), *extra]) == 0
    assert len(seen) == 2  # no rubric, then the rubric (a new key); the third run is a cache hit
    assert "Score 5: The right colour." in seen[1] and "Score 5: The right colour." not in seen[0]
    a, b, c = (json.loads((tmp_path / f).read_text()) for f in ("a.jsonl", "b.jsonl", "c.jsonl"))
    assert "rubric" not in a and b["rubric"].startswith("[Does it name the colour?]") and c["cached"]


def test_rubric_round_trips_through_data_build(tmp_path):
    from critic.data.build import BuildOptions, build_dataset
    from critic.records import TrainingSample

    rows = [dict(_item(rubric=f"Grade item {i} strictly.").to_json_dict(), id=str(i), score=4,
                 meta={"rationale": "It names the colour."}) for i in range(3)]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rcp = tmp_path / "recipe.yaml"
    rcp.write_text(yaml.safe_dump({"name": "r", "seed": 1, "templates": {"prometheus_absolute": 1},
                                   "sources": [{"kind": "jsonl", "path": "items.jsonl", "target": "gold",
                                                "gold_scale": [1, 5]}]}))
    build_dataset(rcp, tmp_path / "out", BuildOptions(cache=tmp_path / "c.sqlite", progress=False))
    samples = [TrainingSample.model_validate_json(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert len(samples) == 3
    for s in samples:
        prompt = " ".join(p.get("text") or "" for m in s.prompt_messages for p in m.content)
        assert f"Grade item {s.id.split(':')[1]} strictly." in prompt


def _gold_rows(n, own=()):
    return [dict(_item(**({"rubric": f"Own rubric {i}."} if i in own else {})).to_json_dict(), id=str(i), score=4,
                 meta={"rationale": "It names the colour."}) for i in range(n)]


def _recipe(tmp_path, rows, **extra):
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rcp = tmp_path / "recipe.yaml"
    rcp.write_text(yaml.safe_dump({"name": "r", "seed": 3, "templates": {"prometheus_absolute": 1},
                                   "sources": [{"kind": "jsonl", "path": "items.jsonl", "target": "gold",
                                                "gold_scale": [1, 5]}], **extra}, sort_keys=False))
    return rcp


def _prompts(out):
    from critic.records import TrainingSample

    samples = [TrainingSample.model_validate_json(x) for x in (out / "train.jsonl").read_text().splitlines()]
    return {s.id.split(":")[1]: " ".join(p.get("text") or "" for m in s.prompt_messages for p in m.content)
            for s in samples}


def test_data_build_rubric_flag_fills_items_without_one(tmp_path):
    rcp = _recipe(tmp_path, _gold_rows(3, own={0}), rubrics=["Recipe rubric."])
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(RUBRIC))
    assert main(["data", "build", str(rcp), "--out", str(tmp_path / "out"), "--no-progress",
                 "--rubric", str(tmp_path / "r.yaml")]) == 0
    prompts = _prompts(tmp_path / "out")
    assert "Own rubric 0." in prompts["0"] and "Score 5: The right colour." not in prompts["0"]
    for i in ("1", "2"):  # the flag comes before the recipe's rubrics
        assert "[Does it name the colour?]\nScore 1: No colour." in prompts[i] and "Recipe rubric." not in prompts[i]


def test_recipe_rubrics_are_drawn_deterministically_and_spread(tmp_path):
    from critic.data.build import BuildOptions, build_dataset
    from critic.data.plan import Planner
    from critic.data.recipe import load_recipe

    (tmp_path / "strict.txt").write_text("Be strict.\n")
    (tmp_path / "p.json").write_text(json.dumps(RUBRIC))
    rubrics = ["strict.txt", "p.json", "Be lenient about wording."]
    rcp = _recipe(tmp_path, _gold_rows(12, own={5}), rubrics=rubrics)
    texts = ["Be strict.", "[Does it name the colour?]", "Be lenient about wording."]
    for out in ("a", "b"):
        build_dataset(rcp, tmp_path / out, BuildOptions(progress=False))
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    prompts = _prompts(tmp_path / "a")
    assert "Own rubric 5." in prompts["5"] and not any(t in prompts["5"] for t in texts)
    drawn = {i: [t for t in texts if t in p] for i, p in prompts.items() if i != "5"}
    assert all(len(v) == 1 for v in drawn.values())

    recipe = load_recipe(rcp)
    planner = Planner(recipe, rcp, 0, None, None, None)
    counts = {}
    for i in range(600):
        r = planner.rubric_for(str(i))
        assert r == planner.rubric_for(str(i))
        counts[r] = counts.get(r, 0) + 1
    assert len(counts) == 3 and min(counts.values()) > 150  # about 200 each
    assert {i: v[0] for i, v in drawn.items()} == {
        str(i): next(t for t in texts if planner.rubric_for(str(i)).startswith(t)) for i in range(12) if i != 5}
    other = Planner(recipe.model_copy(update={"seed": 4}), rcp, 0, None, None, None)
    assert [planner.rubric_for(str(i)) for i in range(40)] != [other.rubric_for(str(i)) for i in range(40)]


def test_source_rubrics_file_with_a_list_overrides_the_recipes(tmp_path):
    from critic.data.recipe import load_recipe

    (tmp_path / "list.yaml").write_text(yaml.safe_dump(["First.", RUBRIC]))
    rcp = _recipe(tmp_path, _gold_rows(1), rubrics=["Top."])
    data = yaml.safe_load(rcp.read_text())
    data["sources"][0]["rubrics"] = "list.yaml"
    rcp.write_text(yaml.safe_dump(data, sort_keys=False))
    r = load_recipe(rcp)
    assert r.rubrics == ["Top."]
    assert r.sources[0].rubrics == ["First.", "[Does it name the colour?]\nScore 1: No colour.\nScore 5: The right colour."]


def test_bad_rubric_files_are_clear_errors(tmp_path, capsys):
    import pytest

    from critic.data.recipe import RecipeError, load_recipe

    rcp = _recipe(tmp_path, _gold_rows(2))
    assert main(["data", "build", str(rcp), "--out", str(tmp_path / "o"), "--rubric", str(tmp_path / "nope.yaml")]) == 2
    assert f"--rubric {tmp_path / 'nope.yaml'}:" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"criteria": "x", "colour": 1}')
    assert main(["data", "build", str(rcp), "--out", str(tmp_path / "o"), "--rubric", str(tmp_path / "bad.json")]) == 2
    assert "scoreN_description" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

    rcp.write_text(rcp.read_text() + "rubrics:\n- Fine text.\n- missing.txt\n- {criteria: c, oops: 1}\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(rcp)
    lines = rcp.read_text().splitlines()
    msg = str(exc.value)
    assert f"{rcp}:{lines.index('- missing.txt') + 1}: rubrics.1: " in msg and "missing.txt" in msg
    assert f"{rcp}:{lines.index('- {criteria: c, oops: 1}') + 1}: rubrics.2: " in msg
    rcp.write_text(rcp.read_text().split("rubrics:")[0] + "rubrics: []\n")
    with pytest.raises(RecipeError, match=r"recipe.yaml:\d+: rubrics: "):
        load_recipe(rcp)
    rcp.write_text(rcp.read_text().split("rubrics:")[0] + "rubrics: gone.yaml\n")
    with pytest.raises(RecipeError, match=r"recipe.yaml:\d+: rubrics: .*cannot read the rubrics file"):
        load_recipe(rcp)
