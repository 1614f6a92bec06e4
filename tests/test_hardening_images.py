"""Images that must not take a run down (issue 14.4) and image paths that must not escape (issue 14.16).

* 14.4 — a 20000 x 20000 PNG (about 1 MB on disk) raised Pillow's ``DecompressionBombError`` out of
  ``critic judge`` and ``critic data build``: 0 lines written. It is a per-item error now
  (``--max-image-pixels``), and the judge holds no decoded pixels before its first request
  (every item's images were decoded up front: four items of one 10000² PNG took 3.8 GB).
* 14.16 — a ``data:`` URL in a JSONL file was resolved as a file name; ``--image-root`` confines
  image reads to one folder (``../secret.png`` or an absolute path outside is a per-item error,
  the file never read or sent).
"""

from __future__ import annotations

import base64
import gc
import io
import json
import weakref
from pathlib import Path

import pytest
from PIL import Image

import critic.media as media
from critic.commands.main import main
from critic.jsonl import read_items
from critic.judging.backends.base import GenResult
from critic.judging.critic import Critic
from critic.records import PointwiseItem
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer


def _answer(body, images):
    return f"Fine. Overall score: {7 if images else 1}"


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 20000 x 20000 one-bit PNG: about 1 MB on disk, 1.2 GB once decoded to RGB."""
    p = tmp_path_factory.mktemp("bomb") / "huge.png"
    Image.new("1", (20000, 20000)).save(p, optimize=False)
    return p


def _items(folder: Path, images: list[str]) -> Path:
    Image.new("RGB", (16, 16), (200, 30, 30)).save(folder / "ok.png")
    rows = [PointwiseItem(id=f"i{k}", images=[im], question="What colour?", response="Red.").to_json_dict()
            for k, im in enumerate(images)]
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _judge(srv, items: Path, out: Path, *extra: str) -> int:
    return main(["judge", "--backend", "openai", "--model", "m", "--base-url", srv.base_url, "--input", str(items),
                 "--output", str(out), "--no-cache", "--no-progress", "--template", "llava_critic_pointwise",
                 *extra])


def test_a_huge_image_is_one_failed_item_in_judge(bomb, tmp_path):
    items = _items(tmp_path, ["ok.png", str(bomb), "ok.png"])
    out = tmp_path / "j.jsonl"
    with ChatServer(_answer) as srv:
        _judge(srv, items, out)
        assert srv.stats.requests == 2
    assert len(out.read_text().splitlines()) == 2
    failed = [json.loads(line) for line in (tmp_path / "j.jsonl.failed.jsonl").read_text().splitlines()]
    assert [f["id"] for f in failed] == ["i1"] and "too large" in failed[0]["error"]


def test_max_image_pixels_is_the_limit(tmp_path):
    Image.new("RGB", (300, 300)).save(tmp_path / "mid.png")
    items = _items(tmp_path, ["ok.png", "mid.png"])
    with ChatServer(_answer) as srv:
        _judge(srv, items, tmp_path / "j.jsonl", "--max-image-pixels", "50000")
    failed = (tmp_path / "j.jsonl.failed.jsonl").read_text()
    assert '"i1"' in failed and "300x300" in failed and '"i0"' not in failed


def test_a_huge_image_is_one_dropped_item_in_data_build(bomb, tmp_path):
    import yaml

    from critic.data.build import BuildOptions, build_dataset
    from critic.toy.world import make_toy

    make_toy(tmp_path / "toy", n=3, seed=7, task="pointwise")
    lines = (tmp_path / "toy" / "items.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    lines.append(json.dumps({**first, "id": "huge", "images": [str(bomb)]}))
    (tmp_path / "toy" / "items.jsonl").write_text("\n".join(lines) + "\n")
    with ChatServer(oracle_answer) as srv:
        rcp = tmp_path / "r.yaml"
        rcp.write_text(yaml.safe_dump({
            "name": "t", "sources": [{"kind": "jsonl", "path": "toy/items.jsonl", "gold_scale": [1, 10]}],
            "templates": {"llava_critic_pointwise": 1},
            "teacher": {"model": "oracle", "base_url": srv.base_url, "concurrency": 2}}))
        res = build_dataset(rcp, tmp_path / "out", BuildOptions(cache=tmp_path / "c.sqlite", progress=False))
    assert res.stats.total == 3
    listed = json.loads((tmp_path / "out" / "stats.json").read_text())["drops"]["listed"]
    assert [d["reason"] for d in listed] == ["unreadable image"] and "too large" in listed[0]["detail"]


class _Probe:
    """A backend that counts the decoded images still alive when the run asks for its first result."""

    judge_id = "probe"

    def __init__(self, alive: list[weakref.ref]) -> None:
        self.alive = alive
        self.at_start: int | None = None

    def stream(self, requests, sampling):
        for k, r in enumerate(requests):
            if self.at_start is None:
                gc.collect()
                self.at_start = sum(ref() is not None for ref in self.alive)
            assert [im.size for im in r.images] == [(64, 48)]
            yield k, GenResult(text="Overall score: 5")


def test_no_pixels_are_held_before_the_first_request(tmp_path, monkeypatch):
    Image.new("RGB", (64, 48), (1, 2, 3)).save(tmp_path / "a.png")
    alive: list[weakref.ref] = []
    real = media._to_rgb

    def tracked(img):
        out = real(img)
        alive.append(weakref.ref(out))
        return out

    monkeypatch.setattr(media, "_to_rgb", tracked)
    items = [PointwiseItem(id=f"i{k}", images=[str(tmp_path / "a.png")], question="q", response="r")
             for k in range(6)]
    probe = _Probe(alive)
    judged = Critic(probe, template="llava_critic_pointwise", progress=False).score(items)
    assert [j.score for j in judged] == [5.0] * 6
    assert probe.at_start == 0  # was 6: every item decoded and held before the first request


def test_hf_backend_gets_images_no_larger_than_the_processor_uses():
    from critic.judging.backends.hf import PROCESSOR_MAX_PIXELS

    small = media.fit_pixels(Image.new("RGB", (5000, 4000)), PROCESSOR_MAX_PIXELS)
    assert small.width * small.height <= PROCESSOR_MAX_PIXELS and abs(small.width / small.height - 1.25) < 0.01


# -- issue 14.16: data URLs and --image-root ------------------------------------------------------------------

def _data_url(rgb=(20, 200, 20)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_jsonl_reader_keeps_data_urls_as_they_are(tmp_path):
    url = _data_url()
    (tmp_path / "items.jsonl").write_text(json.dumps({"id": "d", "images": [url], "question": "q",
                                                      "response": "r"}) + "\n")
    (items,), errors = read_items(tmp_path / "items.jsonl")
    assert not errors and items.images == [url]


def test_judge_reads_a_data_url_image(tmp_path):
    (tmp_path / "items.jsonl").write_text(json.dumps({"id": "d", "images": [_data_url()], "question": "q",
                                                      "response": "r"}) + "\n")
    with ChatServer(_answer) as srv:
        _judge(srv, tmp_path / "items.jsonl", tmp_path / "j.jsonl")
    assert json.loads((tmp_path / "j.jsonl").read_text())["score"] == 7.0


def test_image_root_refuses_paths_outside_it(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / "secret.png")
    items = _items(root, ["ok.png", "../secret.png", str(tmp_path / "secret.png")])
    opened: list[str] = []
    real = Path.read_bytes

    def spy(self):
        opened.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    with ChatServer(_answer) as srv:
        _judge(srv, items, root / "j.jsonl", "--image-root", str(root))
        assert srv.stats.requests == 1
    failed = [json.loads(line) for line in (root / "j.jsonl.failed.jsonl").read_text().splitlines()]
    assert sorted(f["id"] for f in failed) == ["i1", "i2"]
    assert all("outside the image root" in f["error"] for f in failed)
    assert "secret.png" not in opened


def test_data_build_image_root_refuses_paths_outside_it(tmp_path):
    import yaml

    from critic.data.build import BuildOptions, build_dataset
    from critic.toy.world import make_toy

    make_toy(tmp_path / "toy", n=2, seed=7, task="pointwise")
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    lines = (tmp_path / "toy" / "items.jsonl").read_text().splitlines()
    lines.append(json.dumps({**json.loads(lines[0]), "id": "out", "images": ["../secret.png"]}))
    (tmp_path / "toy" / "items.jsonl").write_text("\n".join(lines) + "\n")
    with ChatServer(oracle_answer) as srv:
        rcp = tmp_path / "r.yaml"
        rcp.write_text(yaml.safe_dump({
            "name": "t", "sources": [{"kind": "jsonl", "path": "toy/items.jsonl", "gold_scale": [1, 10]}],
            "templates": {"llava_critic_pointwise": 1},
            "teacher": {"model": "oracle", "base_url": srv.base_url, "concurrency": 2}}))
        res = build_dataset(rcp, tmp_path / "out", BuildOptions(cache=tmp_path / "c.sqlite", progress=False,
                                                                image_root=tmp_path / "toy"))
    assert res.stats.total == 2
    listed = json.loads((tmp_path / "out" / "stats.json").read_text())["drops"]["listed"]
    assert [d["reason"] for d in listed] == ["unreadable image"] and "outside the image root" in listed[0]["detail"]
    assert not any(p.stat().st_size == (tmp_path / "secret.png").stat().st_size and p.read_bytes() ==
                   (tmp_path / "secret.png").read_bytes() for p in (tmp_path / "out" / "images").iterdir())
