"""Users' own data (issue 18): unknown keys under meta, `image`, --map, many file layouts, any judge's verdicts."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import warnings

import pytest
from PIL import Image

from critic.commands.main import main
from critic.item_files import read_item_file
from critic.records import PairwiseItem, PointwiseItem, UnknownKeysWarning

RED = (220, 20, 20)


def _png(rgb=RED) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), rgb).save(buf, "PNG")
    return buf.getvalue()


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_unknown_keys_kept_under_meta_with_one_warning(tmp_path):
    (tmp_path / "a.png").write_bytes(_png())
    p = _write(tmp_path / "items.jsonl", [
        {"id": str(i), "image": "a.png", "question": "?", "response": "r", "lang": "en", "source_row": i}
        for i in range(3)])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = read_item_file(p)
    ours = [w for w in seen if issubclass(w.category, UnknownKeysWarning)]
    assert len(ours) == 1 and "['lang', 'source_row']" in str(ours[0].message) and str(p) in str(ours[0].message)
    assert not got.errors and len(got.items) == 3
    it = got.items[1][0]
    assert it.meta == {"lang": "en", "source_row": 1} and it.images == [str(tmp_path / "a.png")]


def test_image_and_images_together_is_an_error():
    with pytest.raises(ValueError, match="give `images` or `image`, not both"):
        PointwiseItem.model_validate({"id": "1", "image": "a", "images": ["b"], "question": "?", "response": "r"})


def _layouts(tmp_path):
    """(name, path, --map pairs, --label-map pairs, expected (task, question, label)) for eight real-world layouts."""
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "c.png").write_bytes(_png())
    out = []
    # 1. LLaVA-Critic pairwise JSON (nested answers, 1/2 preference)
    p = tmp_path / "llava_critic_pairwise.json"
    p.write_text(json.dumps([{"id": "lc1", "image": "img/c.png", "question": "Colour?",
                              "answer1": {"model": "m1", "answer": "red"}, "answer2": {"model": "m2", "answer": "blue"},
                              "preference": 1}]))
    out.append(("llava_critic", p, ["response_a=answer1.answer", "response_b=answer2.answer", "model_a=answer1.model",
                                    "model_b=answer2.model", "label=preference"], ["1=A", "2=B"], ("pairwise", "Colour?", "A")))
    # 2. VLFeedback-like: prompt / chosen / rejected
    p = _write(tmp_path / "vlfeedback.jsonl", [{"id": "vf1", "image": "img/c.png", "prompt": "Describe.",
                                                 "chosen": "red", "rejected": "blue", "models": ["a", "b"]}])
    out.append(("vlfeedback", p, ["question=prompt", "response_a=chosen", "response_b=rejected"], [],
                ("pairwise", "Describe.", None)))
    # 3. RLAIF-V-like: idx, image_path, question, chosen, rejected, ds_name
    p = _write(tmp_path / "rlaifv.jsonl", [{"idx": 7, "image_path": "img/c.png", "question": "What?", "chosen": "x",
                                            "rejected": "y", "ds_name": "rlaif"}])
    out.append(("rlaif_v", p, ["id=idx", "images=image_path", "response_a=chosen", "response_b=rejected"], [],
                ("pairwise", "What?", None)))
    # 4. MM-RLHF jsonl: a chosen/rejected pair with its image and a ranking
    p = _write(tmp_path / "mm_rlhf.jsonl", [{"id": "mm1", "image": "img/c.png", "query": "Which?",
                                             "chosen": "c", "rejected": "r", "type": "image"}])
    out.append(("mm_rlhf", p, ["question=query", "response_a=chosen", "response_b=rejected"], [],
                ("pairwise", "Which?", None)))
    # 5. alpaca_eval annotations: instruction, output_1/2, generator_1/2, preference 1.0/2.0, no id
    p = tmp_path / "annotations.json"
    p.write_text(json.dumps([{"instruction": "Say hi", "output_1": "hi", "output_2": "bye", "generator_1": "g1",
                              "generator_2": "g2", "annotator": "gpt4", "preference": 2.0}]))
    out.append(("alpaca_eval", p, ["question=instruction", "response_a=output_1", "response_b=output_2",
                                   "model_a=generator_1", "model_b=generator_2", "label=preference"],
                ["1.0=A", "2.0=B"], ("pairwise", "Say hi", "B")))
    # 6. parquet with image bytes (a datasets.Image-style struct)
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"image": [{"bytes": _png(), "path": None}], "prompt": ["Score it"], "answer": ["red"],
                             "rating": [4.0]}), p)
    out.append(("parquet_bytes", p, ["question=prompt", "response=answer", "score=rating"], [],
                ("pointwise", "Score it", None)))
    # 7. CSV with image paths
    p = tmp_path / "pairs.csv"
    with p.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img", "prompt", "a", "b", "winner"])
        w.writerow(["img/c.png", "Pick", "red", "blue", "model_a"])
    out.append(("csv_paths", p, ["images=img", "question=prompt", "response_a=a", "response_b=b", "label=winner"],
                ["model_a=A", "model_b=B"], ("pairwise", "Pick", "A")))
    # 8. a datasets folder with Image features, native names
    import datasets

    ds = datasets.Dataset.from_dict({"id": ["d1"], "images": [[str(tmp_path / "img" / "c.png")]], "question": ["Q"],
                                     "response": ["R"]}).cast_column("images", datasets.Sequence(datasets.Image()))
    ds.save_to_disk(str(tmp_path / "hf_folder"))
    out.append(("datasets_folder", tmp_path / "hf_folder", [], [], ("pointwise", "Q", None)))
    return out


def test_eight_real_world_layouts(tmp_path):
    from critic.item_files import parse_label_map, parse_map
    from critic.media import load_image

    for name, path, maps, labels, (task, question, label) in _layouts(tmp_path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownKeysWarning)
            got = read_item_file(path, columns=parse_map(maps), label_map=parse_label_map(labels))
        assert not got.errors, (name, got.errors)
        assert len(got.items) == 1, name
        it = got.items[0][0]
        assert (it.task, it.question) == (task, question), name
        if task == "pairwise":
            assert it.label == label, name
        if name != "alpaca_eval":
            assert len(it.images) == 1, name
            assert load_image(it.images[0]).getpixel((0, 0)) == RED, name
    # what the map left out is kept: the llava-critic row's
    got = read_item_file(tmp_path / "rlaifv.jsonl", columns=parse_map(["id=idx", "images=image_path",
                                                                        "response_a=chosen", "response_b=rejected"]))
    it = got.items[0][0]
    assert it.id == "7" and it.meta == {"ds_name": "rlaif"}


def test_bad_map_and_missing_column_are_named(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("prompt,answer\nQ,A\n")
    assert main(["judge", "--input", str(p), "--output", str(tmp_path / "o.jsonl"), "--map", "colour=x",
                 "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    got = read_item_file(p, columns={"question": "prompt", "response": "nope"})
    assert [str(e) for e in got.errors] == [f"{p}:2: (record): column 'nope' is missing"]


def _judge(body, images):
    text = " ".join(p.get("text", "") for m in body["messages"] if isinstance(m["content"], list)
                    for p in m["content"] if p.get("type") == "text")
    first = re.search(r"The first response: \[(.*?)\]", text)
    if first:
        return "Reasons. Therefore, " + ("the first response is better." if "red" in first.group(1)
                                         else "the second response is better.")
    return "Reasons. Overall score: 80"


def test_judge_with_map_on_csv_then_eval_any_judges_verdicts(tmp_path, capsys):
    from critic.toy.chat_server import ChatServer

    (tmp_path / "c.png").write_bytes(_png())
    p = tmp_path / "pairs.csv"
    p.write_text("qid,img,prompt,x,y,pref\nq1,c.png,Colour?,red,blue,1\nq2,c.png,Colour?,blue,red,2\n")
    maps = ["--map", "id=qid", "--map", "images=img", "--map", "question=prompt", "--map", "response_a=x",
            "--map", "response_b=y", "--map", "label=pref", "--label-map", "1=A", "--label-map", "2=B"]
    out = tmp_path / "j.jsonl"
    with ChatServer(_judge) as srv:
        assert main(["judge", "--input", str(p), "--output", str(out), *maps, "--backend", "openai", "--model", "m",
                     "--base-url", srv.base_url, "--no-progress", "--swap", "both",
                     "--cache", str(tmp_path / "c.sqlite")]) == 0
    assert len(out.read_text().splitlines()) == 4
    # another judge's verdicts: id, a 1/2 preference, swapped — nothing else
    other = _write(tmp_path / "other.jsonl", [{"id": "q1", "pref": 1, "swapped": False, "annotator": "x"},
                                              {"id": "q2", "pref": 1, "swapped": False}])
    capsys.readouterr()
    assert main(["eval", "--gold", str(p), "--map", "id=qid", "--map", "label=pref", "--label-map", "1=A",
                 "--label-map", "2=B", "--judgments", str(other), "--judgments-map", "winner=pref",
                 "--out", str(tmp_path / "rep"), "--no-plots", "--n-resamples", "20"]) == 0
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["pairwise"]["accuracy_with_ties"] == 0.5 and report["judges"] == ["(not recorded)"]
    # already in critic's vocabulary: no map needed at all
    plain = _write(tmp_path / "plain.jsonl", [{"id": "q1", "winner": "A"}, {"id": "q2", "winner": "B"}])
    gold = _write(tmp_path / "gold.jsonl", [{"id": "q1", "label": "A"}, {"id": "q2", "label": "B"}])
    assert main(["eval", "--gold", str(gold), "--judgments", str(plain), "--out", str(tmp_path / "rep2"),
                 "--no-plots", "--n-resamples", "20"]) == 0
    assert json.loads((tmp_path / "rep2" / "report.json").read_text())["pairwise"]["accuracy_with_ties"] == 1.0


def test_python_api_takes_plain_dicts(tmp_path):
    from critic.judging.critic import Critic
    from critic.toy.chat_server import ChatServer

    (tmp_path / "c.png").write_bytes(_png())
    with ChatServer(_judge) as srv:
        critic = Critic.from_openai("m", base_url=srv.base_url, progress=False)
        scored = critic.score([{"images": [str(tmp_path / "c.png")], "question": "Colour?", "response": "red"}])
        comp = critic.compare({"image": str(tmp_path / "c.png"), "question": "?", "response_a": "red",
                               "response_b": "blue"})
        with pytest.raises(ValueError, match="response\n  Field required"):
            critic.score([{"question": "no response"}])
    assert scored[0].score == 80.0 and scored[0].id == "0"
    assert comp.winner == "A"
    assert isinstance(PairwiseItem.model_validate({"id": 1, "question": "?", "response_a": "a", "response_b": "b"}),
                      PairwiseItem)


def test_data_url_bytes_round_trip(tmp_path):
    from critic.item_files import image_entry

    url = image_entry(_png(), tmp_path)
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == _png()
