"""``critic train`` end to end: checkpoints a critic can judge with, resume after SIGKILL, 2 processes.

Runs are subprocesses with one intra-op thread (``OMP_NUM_THREADS=1``), so they are deterministic
and comparable. Tolerances: resumed vs uninterrupted final loss — equal to 1e-6 (the same
arithmetic, replayed from saved weights, optimizer and scheduler states); 2 processes × 1
accumulation step vs 1 process × 2 — every logged step's loss within 1e-4 relative (only the order
of the gradient all-reduce sum differs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from critic.commands.main import main
from critic.jsonl import read_items
from critic.judging.critic import Critic
from critic.toy.training_set import write_items, write_training_set

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_training_set(tmp_path_factory.mktemp("rundata"), n_pairwise=24, n_pointwise=20, seed=1, text_only=4)


def config(tmp_path: Path, data: Path, **train) -> Path:
    cfg = {"model": {"tiny": {"family": "llava", "hidden_size": 64, "intermediate_size": 128,
                              "vision_hidden_size": 64}},
           "data": {"train": str(data)},
           "train": {"output_dir": str(tmp_path / "out"), "epochs": 1, "global_batch_size": 8,
                     "per_device_batch_size": 4, "learning_rate": 1e-3, "warmup_ratio": 0.0, "logging_steps": 1,
                     "save_steps": 100, "progress": False, **train}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def run_cli(args: list[str], *, nproc: int = 1, timeout: float = 300) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)] if nproc > 1 \
        else [sys.executable]
    return subprocess.run([*launcher, "-m", "critic", "train", *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout, check=False)


def losses(out: Path) -> list[float]:
    state = json.loads((out / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h and "train_runtime" not in h]


def test_cli_trains_and_the_checkpoint_judges_with_no_other_argument(tmp_path: Path, data: Path) -> None:
    cfg = config(tmp_path, data)
    assert main(["train", str(cfg), "--train.save_steps", "4", "--train.seed", "3"]) == 0
    out = tmp_path / "out"
    meta = json.loads((out / "critic.json").read_text())
    assert meta["default_templates"] == {"pairwise": "compact_pairwise", "pointwise": "compact_pointwise"}
    assert {t["name"] for t in meta["trained_templates"]} == {"compact_pairwise", "compact_pointwise"}
    assert all(len(t["hash"]) == 16 for t in meta["trained_templates"])
    assert meta["train_config"]["train"]["seed"] == 3 and meta["data"]["used"] == 48
    for f in ("model.safetensors", "config.json", "generation_config.json", "chat_template.jinja", "README.md",
              "tokenizer.json"):
        assert (out / f).is_file(), f
    assert "compact_pairwise" in (out / "README.md").read_text()
    assert (out / "checkpoint-4" / "critic.json").is_file()  # every checkpoint is a usable critic
    assert "critic_packed_sdpa" not in (out / "config.json").read_text()
    assert len(losses(out)) == 6

    items_path = write_items(tmp_path / "items", task="pairwise", n=4, seed=9)
    items, _ = read_items(items_path)
    critic = Critic.from_pretrained(out, progress=False)
    from critic.judging.backends.base import SamplingParams

    critic.sampling = SamplingParams(max_new_tokens=8)
    judgments = list(critic.judge_stream(items))
    assert len(judgments) == 4 and all(j.template == "compact_pairwise" and j.error is None for j in judgments)


def test_existing_checkpoints_need_resume(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = config(tmp_path, data, max_steps=2, save_steps=1)
    assert main(["train", str(cfg)]) == 0
    assert main(["train", str(cfg)]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_resume_after_sigkill_reaches_the_same_final_loss(tmp_path: Path, data: Path) -> None:
    full = config(tmp_path / "a", data, epochs=2, save_steps=3)
    ref = run_cli([str(full)])
    assert ref.returncode == 0, ref.stderr[-3000:]
    reference = losses(tmp_path / "a" / "out")

    cfg = config(tmp_path / "b", data, epochs=2, save_steps=3)
    out = tmp_path / "b" / "out"
    proc = subprocess.Popen([sys.executable, "-m", "critic", "train", str(cfg)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (out / "checkpoint-3" / "trainer_state.json").is_file():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "critic.json").exists(), "killed before the end: no final model"
    resumed = run_cli([str(cfg), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "checkpoint-" in resumed.stderr
    got = losses(out)
    assert got[-1] == pytest.approx(reference[-1], rel=1e-6, abs=1e-6)
    assert len(got) <= len(reference)


def test_two_processes_follow_the_one_process_loss_curve(tmp_path: Path, data: Path) -> None:
    """torchrun --nproc_per_node 2 (gloo, 1 micro-batch each) = 1 process with 2 accumulation steps."""
    one = run_cli([str(config(tmp_path / "one", data))])
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli([str(config(tmp_path / "two", data))], nproc=2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "world size 2, 1 micro-batch(es) per rank" in two.stderr
    a, b = losses(tmp_path / "one" / "out"), losses(tmp_path / "two" / "out")
    assert len(a) == len(b) == 6
    assert b == pytest.approx(a, rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_on_two_cpu_processes_follows_the_one_process_curve(tmp_path: Path, stage: str) -> None:
    """DeepSpeed's CPU accelerator (gloo without Intel's oneCCL) runs ZeRO-2 / ZeRO-3; most micro-batches
    here are text-only, so ZeRO-3 only finishes because each gets the masked dummy image."""
    pytest.importorskip("deepspeed")
    from critic.models.tiny import make_tiny

    base = make_tiny(tmp_path / "base", family="llava", hidden_size=64, intermediate_size=128, vision_hidden_size=64)
    mixed = write_training_set(tmp_path / "mixed", n_pairwise=4, n_pointwise=4, seed=0, text_only=16)
    common = ["--model.tiny", "null", "--model.name_or_path", str(base), "--data.train", str(mixed),
              "--train.global_batch_size", "4", "--train.per_device_batch_size", "2"]
    one = run_cli([str(config(tmp_path / "one", mixed)), *common])
    assert one.returncode == 0, one.stderr[-3000:]
    ds = run_cli([str(config(tmp_path / "ds", mixed)), *common, "--train.deepspeed", stage], nproc=2, timeout=900)
    assert ds.returncode == 0, ds.stderr[-3000:]
    assert losses(tmp_path / "ds" / "out") == pytest.approx(losses(tmp_path / "one" / "out"), rel=1e-4)
