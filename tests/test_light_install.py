"""The light install (issue 21): an API judge and ``critic eval`` without torch, extras named, backend inference.

A core-only install is simulated in a child interpreter whose import system refuses every library of
an extra (``critic.extras.EXTRAS``), so ``importlib.util.find_spec`` and ``import`` both see them
missing; CI also installs the core alone into a venv of its own (``.ci/run``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from critic.extras import EXTRAS, MissingExtra, require

HEAVY = sorted({m for mods in EXTRAS.values() for m in mods})

#: Run critic's main in a child with every extra's library hidden; print the heavy modules that were loaded.
CORE_ONLY = f"""
import importlib.abc, json, sys
HIDDEN = {HEAVY!r}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Hide())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in HIDDEN else _find(name, *a)
from critic.commands.main import main
rc = main(sys.argv[1:])
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(HIDDEN))
print("LOADED " + json.dumps(loaded), file=sys.stderr)
sys.exit(rc)
"""


def core_only(*argv, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CORE_ONLY, *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def loaded(proc: subprocess.CompletedProcess) -> list[str]:
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")][-1]
    return json.loads(line[len("LOADED "):])


def test_openai_judge_and_eval_run_without_any_extra(tmp_path):
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    made = core_only("toy", "make", "--task", "pairwise", "--n", "4", "--seed", "3", "--out", "items", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    with ChatServer(oracle_answer) as srv:
        # no --backend: a --base-url means an OpenAI-compatible server
        judged = core_only("judge", "--model", "oracle", "--base-url", srv.base_url, "--input", "items/items.jsonl",
                           "--output", "j.jsonl", "--swap", "both", "--no-cache", "--no-progress", cwd=tmp_path)
    assert judged.returncode == 0, judged.stderr
    assert loaded(judged) == []
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 8
    evaluated = core_only("eval", "--gold", "items/items.jsonl", "--judgments", "j.jsonl", "--out", "rep", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert loaded(evaluated) == []
    assert (tmp_path / "rep" / "report.json").is_file()


@pytest.mark.parametrize(("argv", "extra"), [
    (["judge", "--backend", "hf", "--model", "ckpt", "--input", "x.jsonl", "--output", "j.jsonl"], "hf"),
    (["train", "train/toy.yaml"], "train"),
    (["dpo", "x.yaml"], "train"),
    (["toy", "model", "--family", "llava", "--out", "m"], "hf"),
])
def test_a_command_without_its_extra_names_it(tmp_path, argv, extra):
    (tmp_path / "x.jsonl").write_text('{"id": "1", "question": "q", "response": "r"}\n')
    (tmp_path / "ckpt").mkdir()
    proc = core_only(*argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"pip install 'critic[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_require():
    require("hf", "train", "dpo")  # the dev install has every one of them
    with pytest.raises(MissingExtra, match=r"pip install 'critic\[nope\]'"):
        EXTRAS["nope"] = ("no_such_module_for_critic",)
        try:
            require("nope", what="x")
        finally:
            del EXTRAS["nope"]


def test_backend_inference(tmp_path):
    import argparse

    from critic.commands.judge_options import add_judge_options, judge_spec_from_args

    p = argparse.ArgumentParser()
    add_judge_options(p)
    assert judge_spec_from_args(p.parse_args(["--model", "m", "--base-url", "http://h:1/v1"])).backend == "openai"
    assert judge_spec_from_args(p.parse_args(["--model", str(tmp_path)])).backend == "hf"
    from critic.commands.errors import CommandError

    with pytest.raises(CommandError, match="--base-url is for --backend openai"):
        judge_spec_from_args(p.parse_args(["--backend", "hf", "--model", "m", "--base-url", "http://h:1/v1"]))


@pytest.mark.parametrize(("model", "offline", "hint"), [
    ("nobody/no-such-critic-model", "1", "HF_HUB_OFFLINE"),
    ("gpt-4o", "", "API model"),
])
def test_hf_backend_fails_at_once_with_a_hint(tmp_path, monkeypatch, model, offline, hint):
    from critic.commands.main import main

    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hub cache
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "1", "question": "q", "response": "r"}\n')
    t0 = time.perf_counter()
    rc = main(["judge", "--model", model, "--input", str(items), "--output", str(tmp_path / "j.jsonl"), "--no-cache"])
    assert rc == 2
    assert time.perf_counter() - t0 < 10


def test_hf_backend_hint_text(tmp_path, monkeypatch):
    from critic.judging.backends.make import check_local_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ValueError, match="not a folder and not in the Hugging Face cache.*--backend openai"):
        check_local_model("nobody/no-such-critic-model")
    with pytest.raises(ValueError, match="API model"):
        check_local_model("gpt-4o-mini")
    check_local_model(str(tmp_path))  # a folder is always local


def test_python_dash_m_critic():
    proc = subprocess.run([sys.executable, "-m", "critic", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage: critic" in proc.stdout


def test_dpo_rounds_report_to_trackers(tmp_path):
    from critic.dpo.config import DPOSection
    from critic.dpo.trainer import dpo_args

    assert dpo_args(DPOSection(), tmp_path, seed=0, use_cpu=True).report_to in ([], "none", ["none"])
    assert dpo_args(DPOSection(report_to=["tensorboard"]), tmp_path, seed=0, use_cpu=True).report_to == ["tensorboard"]
