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
