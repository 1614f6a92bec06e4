"""Video items through local models (issue 18): tiny LLaVA-OneVision and Qwen2-VL judge a clip
without error. Without torchvision (CI) their processors carry no video processor, so the frames
reach the model as images."""

from __future__ import annotations

import pytest

from critic.records import PairwiseItem, PointwiseItem
from critic.toy.motion import MotionClip, draw_clip, save_gif


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_tiny_local_families_judge_video_items(family, tiny_model_dir, tmp_path, one_thread):
    from critic.judging.critic import Critic

    clip = tmp_path / "clip.gif"
    save_gif(draw_clip(MotionClip("blue", "circle", "up", 0.5, 0.5), 32), clip)
    from critic.judging.backends.base import SamplingParams

    critic = Critic.from_pretrained(tiny_model_dir(family), progress=False, batch_size=2,
                                    sampling=SamplingParams(max_new_tokens=4))
    point = PointwiseItem(id="p", question="Which way does the circle move?", response="The circle moves up.",
                          video=str(clip), num_frames=4)
    pair = PairwiseItem(id="q", question="Which way does the circle move?", response_a="Up.", response_b="Down.",
                        video=str(clip), num_frames=3)
    j = critic.score(point)
    assert j.error is None, j.error
    c = critic.compare(pair, swap="both")
    assert all(j.error is None for j in c.judgments), [j.error for j in c.judgments]
