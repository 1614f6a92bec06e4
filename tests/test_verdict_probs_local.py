"""--verdict-probs on a local checkpoint: the teacher-forced next-token distribution at the verdict point.

A tiny random LLaVA rarely writes a parsable verdict, so its rationale is given (a fixed text ending in
the template's verdict) and the extra forward reads the probabilities: they sum to 1, and `critic eval`
computes their ECE.
"""

from __future__ import annotations

import json
import math

from critic.commands.main import main
from critic.judging.backends.generation import GenResult
from critic.judging.backends.hf import HFBackend
from critic.judging.critic import Critic
from critic.records import PairwiseItem


def test_tiny_llava_verdict_probs_sum_to_one_and_eval_computes_their_ece(tiny_model_dir, tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "red.png")
    items = [PairwiseItem(id=f"p{i}", images=[str(tmp_path / "red.png")], question="What colour?",
                          response_a="It is red.", response_b="It is blue.", label="A") for i in range(6)]
    critic = Critic(HFBackend(tiny_model_dir("llava"), batch_size=4), template="compact_pairwise", verdict_probs=True,
                    progress=False)
    tmpl = critic.template_for("pairwise")
    rows = []
    for k, it in enumerate(items):
        task = critic._task(it, tmpl, swapped=bool(k % 2))
        res = GenResult(text=f"Looks fine. Verdict: {'AB'[k % 2]}")
        rows.append((task, tmpl, res, critic._judgment(task, tmpl, res)))
    js = critic._probs.attach(rows)
    for j in js:
        assert set(j.verdict_probs) == {"A", "B", "tie"}
        assert math.isclose(sum(j.verdict_probs.values()), 1.0, abs_tol=1e-5)
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(j.to_json_dict()) + "\n" for j in js))
    gold = [it.to_json_dict() for it in items]
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    out = tmp_path / "eval"
    assert main(["eval", "--gold", str(tmp_path / "gold.jsonl"), "--judgments", str(tmp_path / "j.jsonl"),
                 "--out", str(out), "--n-resamples", "20"]) == 0
    cal = json.loads((out / "report.json").read_text())["pairwise"]["calibration"]
    assert cal["source"] == "verdict_probs" and cal["ece"] is not None
