"""Video items (issue 18): uniform frame sampling, decoding files and frame folders, cache keys, a
corrupt clip as a per-item error, and the toy motion kind judged through the oracle over HTTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from critic.data.samples import gold_verdict
from critic.jsonl import read_records
from critic.judging.critic import Critic
from critic.judging.templates import load_template
from critic.records import PairwiseItem, PointwiseItem
from critic.toy.chat_server import ChatServer
from critic.toy.motion import MotionClip, draw_clip, read_motion, save_gif
from critic.toy.oracle import oracle_answer
from critic.toy.world import make_toy
from critic.video import frame_count, read_frames, sample_indices, video_key

N_MOTION = 40  # pairwise motion items judged in both orders


def test_frame_sampling_matches_a_hand_worked_index_list():
    # 30 frames, 6 wanted: segments of 5 frames, the middle of each is 2.5 + 5i -> 2, 7, 12, 17, 22, 27
    assert sample_indices(30, 6) == [2, 7, 12, 17, 22, 27]
    # 7 frames, 3 wanted: segments of 7/3; middles at 7/6, 3.5, 35/6 -> 1, 3, 5
    assert sample_indices(7, 3) == [1, 3, 5]
    assert sample_indices(4, 10) == [0, 1, 2, 3]  # fewer frames than asked: each once
    assert sample_indices(30, 6) == sample_indices(30, 6)  # no randomness anywhere
    assert frame_count(30, fps=2, source_fps=10) == 6  # 3 s at 2 frames a second
    with pytest.raises(ValueError, match="frame rate"):
        frame_count(30, fps=2)


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    clip = MotionClip("red", "square", "right", 0.5, 0.5)
    frames = draw_clip(clip, 32, n_frames=12)
    save_gif(frames, d / "c.gif")
    (d / "frames").mkdir()
    for k, f in enumerate(frames):
        f.save(d / "frames" / f"{k:03d}.png")
    import av

    with av.open(str(d / "c.mp4"), "w") as out:
        stream = out.add_stream("mpeg4", rate=8)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_image(f)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    return d, frames


def test_gif_mp4_and_frame_folder_give_the_sampled_frames(clip_files):
    d, frames = clip_files
    want = [np.asarray(frames[i]) for i in sample_indices(12, 4)]
    for src in (d / "c.gif", d / "frames"):
        got = read_frames(src, num_frames=4)
        assert [g.size for g in got] == [(32, 32)] * 4
        assert all(np.array_equal(np.asarray(g), w) for g, w in zip(got, want)), src
    mp4 = read_frames(d / "c.mp4", num_frames=4)  # lossy: the motion survives
    assert len(mp4) == 4 and read_motion(mp4) == [("red", "square", "right")]
    assert len(read_frames(d / "c.mp4", fps=4)) == 6  # 1.5 s at 4 frames a second


def test_cache_key_covers_the_clip_bytes_and_sampling(clip_files, tmp_path):
    d, _ = clip_files
    assert video_key(d / "c.gif", num_frames=4) == video_key(d / "c.gif", num_frames=4)
    assert video_key(d / "c.gif", num_frames=4) != video_key(d / "c.gif", num_frames=6)
    other = tmp_path / "o.gif"
    save_gif(draw_clip(MotionClip("red", "square", "left", 0.5, 0.5), 32, n_frames=12), other)
    assert video_key(other, num_frames=4)["sha256"] != video_key(d / "c.gif", num_frames=4)["sha256"]

    critic = Critic.from_openai("m", base_url="http://127.0.0.1:9/v1", progress=False)
    item = PointwiseItem(id="v", question="Which way does the square move?", response="Right.", video=str(d / "c.gif"),
                         num_frames=4)
    t = critic._task(item, critic.template_for("pointwise"), False)
    assert t.error is None and len(t.request.image_hashes) == 4 and len(t.request.images) == 4
    assert t.request.messages[-1]["content"][:4] == [{"type": "image"}] * 4
    keys = {critic._task(item.model_copy(update=u), critic.template_for("pointwise"), False).request.key
            for u in ({}, {"num_frames": 6}, {"video": str(other)}, {"video": str(d / "frames")})}
    assert len(keys) == 4


def test_a_corrupt_or_missing_clip_is_a_per_item_error(clip_files):
    d, _ = clip_files
    with ChatServer(oracle_answer) as srv:
        critic = Critic.from_openai("oracle", base_url=srv.base_url, progress=False)
        items = [PointwiseItem(id=name, question="Which way does the square move?",
                               response="The square moves right. It is red.", video=str(d / name))
                 for name in ("corrupt.mp4", "missing.gif", "c.gif", "frames")]
        got = {j.id: j for j in critic.score(items)}
    assert "unreadable video" in got["corrupt.mp4"].error and "corrupt.mp4" in got["corrupt.mp4"].error
    assert "no such video" in got["missing.gif"].error
    assert got["c.gif"].error is None and got["c.gif"].score == 100.0  # right on llava_critic's 1-100
    assert got["frames"].score == 100.0


def test_toy_motion_single_frames_are_ambiguous():
    """Where the shape stands in one frame happens under every direction: only the motion tells."""
    import random

    from critic.toy.motion import sample_clip

    rng = random.Random(3)
    starts = {d: [] for d in ("left", "right", "up", "down")}
    for _ in range(400):
        c = sample_clip(rng)
        starts[c.direction].append(c.position(0.0))
    x_left = [x for x, _ in starts["left"]]
    x_right = [x for x, _ in starts["right"]]
    assert max(x_right) > min(x_left)  # a first frame at x = 0.5 happens moving left and moving right
    assert any(0.45 < x < 0.55 for x in x_left) and any(0.45 < x < 0.55 for x in x_right)


@pytest.fixture(scope="module")
def motion_items(tmp_path_factory):
    out = {}
    for task, seed in (("pairwise", 31), ("pointwise", 32)):
        d = tmp_path_factory.mktemp(f"motion_{task}")
        stats = make_toy(d, n=N_MOTION, seed=seed, task=task, kinds=("motion",))
        assert stats.kinds == {"motion": N_MOTION}
        cls = PairwiseItem if task == "pairwise" else PointwiseItem
        out[task], errors = read_records(d / "items.jsonl", cls)
        assert not errors
        assert all(Path(it.video).is_file() and it.images == [] for it in out[task])
    return out


def test_toy_motion_judged_through_the_oracle_over_http_both_orders(motion_items):
    template = load_template("llava_critic_pairwise")
    items = motion_items["pairwise"]
    assert {it.label for it in items} >= {"A", "B"}
    with ChatServer(oracle_answer) as srv:
        critic = Critic.from_openai("oracle", base_url=srv.base_url, template=template, progress=False, concurrency=8)
        comparisons = critic.compare(items, swap="both")
    for swapped in (False, True):
        right = 0
        for item, c in zip(items, comparisons):
            j = next(j for j in c.judgments if j.swapped is swapped)
            assert j.error is None, j.error
            right += j.winner == gold_verdict(item, template, gold_scale=(1, 10)).winner
        assert right / len(items) >= 0.95, f"swapped={swapped}: accuracy {right / len(items):.2f}"


def test_toy_motion_pointwise_scores_through_the_oracle(motion_items):
    template = load_template("llava_critic_pointwise")
    items = motion_items["pointwise"]
    with ChatServer(oracle_answer) as srv:
        judgments = Critic.from_openai("oracle", base_url=srv.base_url, template=template, progress=False).score(items)
    agree = sum(j.score == gold_verdict(it, template, gold_scale=(1, 10)).score for it, j in zip(items, judgments))
    assert agree / len(items) >= 0.95
