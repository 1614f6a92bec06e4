"""Judging end to end on tiny local models: the Critic API and `critic judge` with the hf backend."""

from __future__ import annotations

import json

import pytest

from critic.commands.main import main
from critic.jsonl import read_records
from critic.models.tiny import FAMILIES
from critic.records import PairwiseJudgment, PointwiseItem, PointwiseJudgment


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    assert main(["toy", "make", "--task", "pointwise", "--n", "6", "--seed", "1", "--out", str(root / "pw")]) == 0
    assert main(["toy", "make", "--task", "pairwise", "--n", "6", "--seed", "2", "--out", str(root / "pair")]) == 0
    return root


@pytest.fixture(scope="module")
def llava(tiny_model_dir):
    return tiny_model_dir("llava")


def _rows(path, cls):
    rows, errors = read_records(path, cls, resolve_images=False)
    assert not errors
    return rows


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_judges_through_the_cli(family, tiny_model_dir, toy, tmp_path, capsys):
    model = str(tiny_model_dir(family))
    out_pw, out_pair = tmp_path / "pw.jsonl", tmp_path / "pair.jsonl"
    common = ["--backend", "hf", "--model", model, "--max-new-tokens", "6", "--no-cache", "--no-progress"]
    assert main(["judge", *common, "--input", str(toy / "pw" / "items.jsonl"), "--output", str(out_pw)]) == 0
    assert main(["judge", *common, "--input", str(toy / "pair" / "items.jsonl"), "--output", str(out_pair),
                 "--swap", "both", "--batch-size", "4"]) == 0
    pw = _rows(out_pw, PointwiseJudgment)
    pair = _rows(out_pair, PairwiseJudgment)
    assert len(pw) == 6 and len(pair) == 12
    # an untrained model writes no verdict: every row is an explicit parse failure, never a number
    for j in pw + pair:
        assert j.judge.startswith("hf:") and j.template.startswith("llava_critic")
        assert (j.parse_error is None) or (getattr(j, "score", None) is None and getattr(j, "winner", None) is None)
    assert sorted((j.id, j.swapped) for j in pair) == sorted({(j.id, s) for j in pair for s in (False, True)})
    assert "parse failures" in capsys.readouterr().out


def test_resume_skips_done_and_bad_input_does_not_stop_the_run(llava, toy, tmp_path, capsys):
    src = (toy / "pw" / "items.jsonl").read_text().splitlines()
    bad_img = json.loads(src[1])
    bad_img["id"] = "missing-image"
    bad_img["images"] = ["images/does-not-exist.png"]
    lines = src[:3] + ["{not json", json.dumps({"id": "x", "question": "q"}), json.dumps(bad_img)] + src[3:]
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(lines) + "\n")
    # items.jsonl refers to images relative to its folder
    (tmp_path / "images").symlink_to(toy / "pw" / "images")
    out = tmp_path / "j.jsonl"
    args = ["judge", "--backend", "hf", "--model", str(llava), "--input", str(items), "--output", str(out),
            "--no-cache", "--no-progress", "--max-new-tokens", "8"]
    assert main(args) == 1  # skipped inputs and a failed judgment: exit 1 (issue 14.12)
    text = capsys.readouterr().err
    assert f"{items}:4: (json)" in text and f"{items}:5: response" in text
    assert "failed missing-image" in text and "does-not-exist.png" in text
    rows = _rows(out, PointwiseJudgment)
    # an untrained critic: every row is written, with its raw text and a parse error (never a score)
    assert len(rows) == 6 and all(r.score is None and r.parse_error for r in rows)
    failed = out.with_name(out.name + ".failed.jsonl")
    assert json.loads(failed.read_text())["id"] == "missing-image"

    # a torn last line (killed writer) is repaired, finished ids are skipped
    out.write_text(out.read_text() + '{"id": "torn')
    assert main(args) == 1  # the bad input lines are still there
    text = capsys.readouterr().out
    assert "judged 0 (0 from cache, 6 already in" in text
    assert len(_rows(out, PointwiseJudgment)) == 6


def test_cache_makes_a_second_run_free(llava, toy, tmp_path, capsys):
    cache = tmp_path / "cache.sqlite"
    base = ["judge", "--backend", "hf", "--model", str(llava), "--input", str(toy / "pw" / "items.jsonl"),
            "--cache", str(cache), "--no-progress", "--max-new-tokens", "8"]
    assert main([*base, "--output", str(tmp_path / "a.jsonl")]) == 0
    capsys.readouterr()
    assert main([*base, "--output", str(tmp_path / "b.jsonl")]) == 0
    assert "judged 6 (6 from cache" in capsys.readouterr().out
    a, b = _rows(tmp_path / "a.jsonl", PointwiseJudgment), _rows(tmp_path / "b.jsonl", PointwiseJudgment)
    assert [x.raw for x in a] == [x.raw for x in b] and all(x.cached for x in b)


def test_template_task_mismatch_is_a_clear_error(llava, toy, tmp_path, capsys):
    rc = main(["judge", "--backend", "hf", "--model", str(llava), "--input", str(toy / "pw" / "items.jsonl"),
               "--output", str(tmp_path / "o.jsonl"), "--template", "mllm_judge_pair", "--no-cache", "--no-progress"])
    assert rc == 2
    assert "mllm_judge_pair" in capsys.readouterr().err


def test_multi_image_items_and_pil_images(llava, tmp_path):
    """Two images in one item, and PIL images passed directly instead of paths."""
    from PIL import Image

    from critic.judging.backends.base import SamplingParams
    from critic.judging.critic import Critic

    critic = Critic.from_pretrained(llava, batch_size=2, progress=False, sampling=SamplingParams(max_new_tokens=4))
    red, blue = Image.new("RGB", (32, 32), (220, 20, 20)), Image.new("RGB", (32, 32), (20, 20, 220))
    red.save(tmp_path / "r.png")
    blue.save(tmp_path / "b.png")
    two = PointwiseItem(id="two", images=[str(tmp_path / "r.png"), str(tmp_path / "b.png")], question="Same?",
                        response="No.")
    one = PointwiseItem(id="one", images=[str(tmp_path / "r.png")], question="Colour?", response="Red.")
    none = PointwiseItem(id="none", question="Text only?", response="Yes.")
    out = critic.score([two, one, none])
    assert [j.id for j in out] == ["two", "one", "none"]
    assert all(j.error is None and j.usage.prompt_tokens > 0 for j in out)
    assert out[0].usage.prompt_tokens > out[1].usage.prompt_tokens  # the second image's tokens are there
    pil = critic.score(PointwiseItem(id="pil", question="Colour?", response="Red."), pil_images=[red])
    assert pil.error is None and pil.usage.prompt_tokens == out[1].usage.prompt_tokens
