"""Training data: masking (only the answer and end-of-turn are learned), lengths, bad input reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from critic.data.samples import make_sample
from critic.judging.templates import load_template
from critic.judging.verdicts import Verdict
from critic.models.loading import load_model, load_processor
from critic.models.tiny import FAMILIES
from critic.records import PairwiseItem, PointwiseItem
from critic.toy.training_set import compare_rationale, short_rationale, write_training_set
from critic.training.data import DataError, TrainingData, image_sizes, index_training_file, load_images
from critic.training.encode import IGNORE, SampleEncoder, eos_token_ids


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory) -> Path:
    return write_training_set(tmp_path_factory.mktemp("toydata"), n_pairwise=6, n_pointwise=6, seed=0, text_only=2)


def encoder_for(d: Path) -> SampleEncoder:
    proc = load_processor(d)
    return SampleEncoder(proc, eos_token_ids(proc, load_model(d).generation_config))


@pytest.mark.parametrize("family", FAMILIES)
def test_only_the_answer_and_end_of_turn_are_learned(family: str, tiny_model_dir, toy_file: Path) -> None:
    enc = encoder_for(tiny_model_dir(family))
    image_id = getattr(load_model(tiny_model_dir(family)).config, "image_token_id", None)
    refs, report = index_training_file(toy_file, enc, max_length=4096)
    data = TrainingData(toy_file, refs)
    assert report.n_used == 14 and report.n_bad == report.n_missing == report.n_too_long == 0
    tok = enc.tokenizer
    for i in range(len(data)):
        sample = data.load(i)
        seg = enc.encode(sample, load_images(sample.images))
        assert len(seg) == refs[i].length, "measured length (no pixels) must equal the encoded length"
        learned = seg.labels != IGNORE
        n = int(learned.sum())
        assert n == refs[i].n_learned
        # the learned tokens are the last n: the answer, ending with the end-of-turn token
        assert learned[-n:].all() and not learned[:-n].any()
        assert int(seg.input_ids[-1]) in enc.eos_ids
        assert tok.decode(seg.input_ids[-n:]) == sample.completion + tok.decode([int(seg.input_ids[-1])])
        # image tokens (and every other prompt token) are masked
        if image_id is not None and sample.images:
            assert (seg.input_ids == image_id).sum() > 0
            assert (seg.labels[seg.input_ids == image_id] == IGNORE).all()
        assert torch.equal(seg.labels[learned], seg.input_ids[learned])


@pytest.mark.parametrize("family", FAMILIES)
def test_measured_length_with_two_images_and_other_sizes(family: str, tiny_model_dir, tmp_path: Path) -> None:
    enc = encoder_for(tiny_model_dir(family))
    paths = []
    for k, size in enumerate([(32, 32), (48, 32)]):
        p = tmp_path / f"{k}.png"
        Image.new("RGB", size, (200, 20, 20)).save(p)
        paths.append(str(p))
    item = PairwiseItem(id="x", images=paths, question="Which image is red?", response_a="the first",
                        response_b="the second", label="A")
    sample = make_sample(item, load_template("compact_pairwise"), "The first is red.", Verdict(winner="A"))
    seg = enc.encode(sample, load_images(sample.images))
    assert enc.measure(sample, image_sizes(sample.images))[0] == len(seg)


@pytest.mark.parametrize("family", FAMILIES)
def test_encoding_while_indexing_equals_encoding_later(family: str, tiny_model_dir, toy_file: Path) -> None:
    """``encoded``: the same usable samples, lengths and tensors as measuring, then encoding per sample."""
    enc = encoder_for(tiny_model_dir(family))
    refs, _ = index_training_file(toy_file, enc, max_length=4096)
    kept: dict = {}
    refs_enc, report = index_training_file(toy_file, enc, max_length=4096, encoded=kept)
    assert refs_enc == refs and sorted(kept) == list(range(len(refs))) and report.n_used == len(refs)
    data = TrainingData(toy_file, refs)
    for i in range(len(data)):
        sample = data.load(i)
        seg = enc.encode(sample, load_images(sample.images))
        assert torch.equal(kept[i].input_ids, seg.input_ids) and torch.equal(kept[i].labels, seg.labels)
        assert kept[i].mm.keys() == seg.mm.keys() and all(torch.equal(kept[i].mm[k], seg.mm[k]) for k in seg.mm)
    blank: dict = {}
    index_training_file(toy_file, enc, max_length=4096, encoded=blank, image_ablation="blank")
    with_image = next(i for i in range(len(data)) if data.refs[i].n_images)
    assert not torch.equal(blank[with_image].mm["pixel_values"], kept[with_image].mm["pixel_values"])


def test_a_truncated_image_is_reported_when_encoding_while_indexing(tiny_model_dir, toy_file: Path,
                                                                   tmp_path: Path) -> None:
    enc = encoder_for(tiny_model_dir("llava"))
    rows = _lines(toy_file)[:3]
    for r in rows:
        r["images"] = [str((toy_file.parent / p).resolve()) for p in r["images"]]
    whole = Path(rows[1]["images"][0]).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not
    rows[1]["images"] = [str(cut)]
    bad = tmp_path / "train.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept: dict = {}
    refs, report = index_training_file(bad, enc, max_length=4096, encoded=kept)
    assert [r.line for r in refs] == [1, 3] and sorted(kept) == [0, 1]
    assert report.n_missing == 1 and report.missing_images[0].startswith(f"{bad}:2: images: image unreadable")


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_bad_input_is_reported_with_file_and_line(tiny_model_dir, toy_file: Path, tmp_path: Path) -> None:
    enc = encoder_for(tiny_model_dir("llava"))
    rows = _lines(toy_file)[:4]
    for r in rows:  # images are relative to the original file's folder
        r["images"] = [str((toy_file.parent / p).resolve()) for p in r["images"]]
    rows[1]["images"] = ["images/does-not-exist.png"]
    long_sample = dict(rows[2])
    long_sample["messages"] = json.loads(json.dumps(rows[2]["messages"]))
    long_sample["messages"][0]["content"][-1]["text"] += " red" * 600
    bad = tmp_path / "train.jsonl"
    with bad.open("w") as fh:
        fh.write(json.dumps(rows[0]) + "\n")
        fh.write(json.dumps(rows[1]) + "\n")            # line 2: missing image
        fh.write(json.dumps(long_sample) + "\n")        # line 3: too long
        fh.write("{not json\n")                         # line 4: invalid JSON
        fh.write(json.dumps({**rows[3], "task": "ranking"}) + "\n")  # line 5: invalid record
        fh.write(json.dumps(rows[3]) + "\n")
    refs, report = index_training_file(bad, enc, max_length=256)
    assert [r.line for r in refs] == [1, 6]
    assert report.n_missing == 1 and report.missing_images[0].startswith(f"{bad}:2: images[0]: image not found")
    assert report.n_too_long == 1 and report.too_long[0].startswith(f"{bad}:3: ") and "> max_length 256" in report.too_long[0]
    assert report.n_bad == 2 and report.bad_lines[0].startswith(f"{bad}:4: (json)")
    assert report.bad_lines[1].startswith(f"{bad}:5: task")
    assert "samples longer than max_length dropped" in report.summary()
    with pytest.raises(DataError, match=f"{bad}:2: images"):
        index_training_file(bad, enc, max_length=256, strict=True)


def test_short_rationales_state_what_the_image_shows() -> None:
    item = PointwiseItem(id="1", question="What colour is the circle?", response="r", meta={"truth": "red"})
    assert short_rationale(item) == "The circle is red."
    item = PointwiseItem(id="1", question="What colour is the circle?", response="The circle is blue.",
                         meta={"truth": "red"})
    assert compare_rationale(item) == "The circle is red. The response says blue, wrong."
    pair = PairwiseItem(id="2", question="Which colour does the square have?", meta={"truth": "green"},
                        response_a="The colour of the square is green.", response_b="The triangles are red.")
    assert compare_rationale(pair) == ("The square is green. Response A says green, right. "
                                       "Response B is about the triangle.")
    item = PointwiseItem(id="1", question="How many red objects are there?", response="r", meta={"truth": "2"})
    assert short_rationale(item) == "There are 2 red objects."
