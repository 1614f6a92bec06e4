"""Every command in README.md is real and works.

The project rule: each command in the README is exercised by a test — the offline ones run as
written, the ones that need a GPU, an API key, a hub model or many minutes run against stand-ins
(tiny models, the oracle teacher, step caps) with the same flags.

* :func:`readme_commands` extracts the shell commands of README.md's ```bash blocks (continuation
  lines joined, ``# comments`` and a trailing ``&`` dropped; ``accelerate launch ... -m critic``
  keeps the part after ``-m critic``; install, ``pytest`` and ``export`` lines skipped).
* :data:`COVERAGE` names, for every extracted command (its exact text), the test that exercises it;
  a README command without an entry, or an entry without a README command, fails
  ``test_every_readme_command_is_covered`` — so a new README command needs a test here.
* The offline commands run as written, in README order, in one temporary working directory
  (fixture ``offline``): the oracle teacher is a subprocess on a free port that replaces 8000 in
  every later command (the only change made to an offline command); recipe / config paths are
  made absolute (they are relative to the repository root). Caches go to a temporary
  ``$CRITIC_CACHE_DIR``.
* Stand-ins: in-process :class:`critic.toy.chat_server.ChatServer` oracles for GPT-4o and the vLLM
  URLs (``$OPENAI_BASE_URL`` / URL substitution), tiny models from ``critic toy model`` for hub
  checkpoints (``--model.name_or_path``), ``--train.max_steps`` / ``--dpo.max_steps`` caps,
  and the CPU equivalents of GPU settings (``STANDIN_GPU_TRAIN``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from critic.commands.main import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIXTURES = Path(__file__).parent / "fixtures"
ASSET_PREFIXES = ("train/", "data_recipes/", "eval/")  # train/accelerate/ is under train/


# ------------------------------------------------------------------------------------------ extraction

@dataclass(frozen=True)
class Command:
    """A `critic` command from a README ```bash block."""

    line: int                       # README line the command starts on
    text: str                       # the command as written (one line, no comment, no trailing &)
    argv: tuple[str, ...]           # the arguments of `critic`
    launcher: tuple[str, ...] = ()  # e.g. ("accelerate", "launch", "--config_file", "...")
    background: bool = False        # written with a trailing &

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


SKIPPED_PROGRAMS = {"python", "pip", "pytest", "export", ".", "source"}


def readme_commands(text: str | None = None) -> list[Command]:
    """Every `critic` command in the ```bash blocks of ``text`` (default README.md), in order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    out: list[Command] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "text")
            i += 1
            continue
        if fence != "bash" or not stripped:
            i += 1
            continue
        start, buf = i, lines[i]
        while buf.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            buf = buf.rstrip()[:-1] + " " + lines[i].strip()
        i += 1
        tokens = shlex.split(buf, comments=True)
        background = bool(tokens) and tokens[-1] == "&"
        if background:
            tokens = tokens[:-1]
        segments: list[list[str]] = [[]]
        for tok in tokens:
            if tok in ("&&", ";", "||"):
                segments.append([])
            else:
                segments[-1].append(tok)
        for seg in segments:
            if not seg or seg[0] in SKIPPED_PROGRAMS and not {"critic", "critic.cli"} & set(seg[1:]):
                continue
            if seg[0] == "critic":
                launcher, argv = (), tuple(seg[1:])
            elif "-m" in seg and seg.index("-m") + 1 < len(seg) and seg[seg.index("-m") + 1] in ("critic", "critic.cli"):
                k = seg.index("-m")
                launcher, argv, module = tuple(seg[:k]), tuple(seg[k + 2:]), seg[k + 1]
            else:
                continue
            words = [*launcher, *(("-m", module) if launcher else ("critic",)), *argv]
            out.append(Command(start + 1, " ".join(words), argv, launcher, background))
    return out


def test_extractor_on_a_sample():
    sample = "\n".join([
        "```bash",
        "python -m venv .venv && . .venv/bin/activate && pip install -e . && critic quickstart",
        "export OPENAI_API_KEY=...   # comment",
        "critic toy teacher --port 8000 &                # background",
        "critic judge --backend openai --model m \\",
        "    --input a.jsonl --output b.jsonl   # joined",
        "accelerate launch --config_file x.yaml -m critic train t.yaml   # launcher",
        'critic dpo d.yaml --critic.base_url "[http://h:1/v1]"',
        "pytest",
        "```",
        "```python",
        "critic = Critic.from_pretrained('x')",
        "```",
        "```bash",
        "critic eval --compare a/ b/",
        "```",
    ])
    got = readme_commands(sample)
    assert [c.text for c in got] == [
        "critic quickstart",
        "critic toy teacher --port 8000",
        "critic judge --backend openai --model m --input a.jsonl --output b.jsonl",
        "accelerate launch --config_file x.yaml -m critic train t.yaml",
        "critic dpo d.yaml --critic.base_url [http://h:1/v1]",
        "critic eval --compare a/ b/",
    ]
    assert [c.line for c in got] == [2, 4, 5, 7, 8, 15]
    assert got[1].background and not got[2].background
    assert got[3].argv == ("train", "t.yaml") and got[3].launcher[:2] == ("accelerate", "launch")


# ------------------------------------------------------------------------------------------ the commands

TEACHER = "critic toy teacher --port 8000"
TOY_BUILD = "critic data build data_recipes/toy.yaml --out runs/toy-data"
LC113K_DRY_RUN = "critic data build data_recipes/llava_critic_113k.yaml --out runs/lc113k --dry-run"
LC113K_BUILD = "critic data build data_recipes/llava_critic_113k.yaml --out runs/lc113k"
CANDS = "critic toy make --task candidates --n 32 --out runs/cands"
ORACLE_FLAGS = "--judge-backend openai --judge-model oracle --judge-base-url http://127.0.0.1:8000/v1"
LABEL_PAIRS = f"critic label-pairs --input runs/cands/items.jsonl --output runs/pairs.jsonl {ORACLE_FLAGS}"
BEST_OF_N = f"critic best-of-n --input runs/cands/items.jsonl --output runs/best.jsonl {ORACLE_FLAGS}"
SFT = "critic toy make --task pointwise --n 32 --out runs/sft"
FILTER = f"critic filter --input runs/sft/items.jsonl --min-score 60 --output runs/kept.jsonl {ORACLE_FLAGS}"
DPO_PROMPTS = "critic toy make --task pointwise --n 16 --kinds colour --out runs/toy_prompts"
DPO_POLICY = "critic toy policy --out runs/tiny_policy"
DPO_TOY = "critic dpo train/dpo_toy.yaml --critic.base_url [http://127.0.0.1:8000/v1]"
PAIRS_BUILD = "critic pairs build data_recipes/toy_mmpr.yaml --out runs/toy_mmpr"
RM_PAIRS = "critic toy pairs --out runs/toy-pairs --n 2400"
RM_TRAIN = "critic train train/toy_rm.yaml"
CRITIQUE_RM_TRAIN = "critic train train/toy_critique_rm.yaml"
RM_HELDOUT = "critic toy make --task pairwise --n 200 --seed 1000 --kinds colour --one-claim --out runs/heldout"
RM_JUDGE = "critic judge --model runs/toy_rm --input runs/heldout/items.jsonl --output runs/heldout/rm.jsonl"
RM_EVAL = ("critic eval --gold runs/heldout/items.jsonl --judgments runs/heldout/rm.jsonl "
           "--out runs/heldout/rm-report")

SERVE = ("critic serve --backend openai --model oracle --base-url http://127.0.0.1:8000/v1 "
         "--items runs/sft/items.jsonl --port 8001")
QUICKSTART = "critic quickstart"
JUDGE_HF = ("critic judge --backend hf --model path/to/critic-checkpoint --input items.jsonl "
            "--output judgments.jsonl --swap both --batch-size 32")
JUDGE_GPT4O = "critic judge --backend openai --model gpt-4o --input items.jsonl --output judgments.jsonl --swap both"
JUDGE_VLLM = ("critic judge --backend openai --model lmms-lab/llava-critic-7b --base-url http://gpu1:8000/v1 "
              "--base-url http://gpu2:8000/v1 --concurrency 64 --input items.jsonl --output judgments.jsonl")
EVAL = "critic eval --gold items.jsonl --judgments judgments.jsonl --out report/"
VIEW = "critic view judgments.jsonl --gold items.jsonl --compare judgments-7b.jsonl --output compare.html"
EVAL_BENCH = ("critic eval-bench vl_rewardbench --data VL_RewardBench/data --out runs/vlrb --judge-backend openai "
              "--judge-model lmms-lab/llava-critic-7b --judge-base-url http://gpu1:8000/v1")
TRAIN_TOY = "critic train train/toy.yaml"
TRAIN_TOY_OVERRIDES = ("critic train train/toy.yaml --train.learning_rate 3e-4 --data.packing false "
                       "--train.output_dir runs/toy_critic_b")
TRAIN_OV_05B = "critic train train/llava_ov_0.5b.yaml --data.train runs/lc113k/train.jsonl"
TRAIN_OV_7B_ZERO3 = ("accelerate launch --config_file train/accelerate/deepspeed_zero3.yaml -m critic train "
                     "train/llava_ov_7b.yaml")
TRAIN_OV_7B_RESUME = "critic train train/llava_ov_7b.yaml --resume"
DPO_OV_7B = "critic dpo train/dpo_llava_ov_7b.yaml"

# Run as written, in README order, by the `offline` fixture.
OFFLINE = {TEACHER, TOY_BUILD, LC113K_DRY_RUN, CANDS, LABEL_PAIRS, BEST_OF_N, SFT, FILTER, DPO_PROMPTS, DPO_POLICY, PAIRS_BUILD,
           RM_PAIRS, RM_HELDOUT}

# README command → the tests that exercise it (checked to exist).
COVERAGE = {
    QUICKSTART: ("test_every_readme_command_parses",),  # run by tests/test_quickstart.py
    JUDGE_HF: ("test_judge_hf_with_a_tiny_trained_checkpoint",),
    JUDGE_GPT4O: ("test_judge_gpt4o_then_eval_and_compare",),
    JUDGE_VLLM: ("test_judge_gpt4o_then_eval_and_compare",),
    EVAL: ("test_judge_gpt4o_then_eval_and_compare",),
    VIEW: ("test_judge_gpt4o_then_eval_and_compare",),
    EVAL_BENCH: ("test_eval_bench_vl_rewardbench",),
    TEACHER: ("test_teacher_answers_models_on_the_substituted_port",),
    TOY_BUILD: ("test_toy_data_build",),
    LC113K_DRY_RUN: ("test_lc113k_dry_run_needs_its_source_files", "test_lc113k_dry_run_without_its_data_is_a_clear_error",
                     "test_lc113k_dry_run_with_its_sources", "test_lc113k_dry_run_with_a_source_file_missing"),
    LC113K_BUILD: ("test_lc113k_build_with_a_stand_in_teacher",),
    TRAIN_TOY: ("test_train_toy",),
    TRAIN_TOY_OVERRIDES: ("test_train_toy_with_overrides",),
    TRAIN_OV_05B: ("test_train_llava_ov_05b",),
    TRAIN_OV_7B_ZERO3: ("test_train_llava_ov_7b_then_resume", "test_accelerate_config_matches_the_training_config"),
    TRAIN_OV_7B_RESUME: ("test_train_llava_ov_7b_then_resume",),
    CANDS: ("test_label_pairs",),
    LABEL_PAIRS: ("test_label_pairs",),
    BEST_OF_N: ("test_best_of_n",),
    SFT: ("test_filter",),
    FILTER: ("test_filter",),
    DPO_PROMPTS: ("test_dpo_toy_with_a_discriminating_critic",),
    DPO_POLICY: ("test_dpo_toy_with_a_discriminating_critic",),
    DPO_OV_7B: ("test_dpo_llava_ov_7b",),
    PAIRS_BUILD: ("test_pairs_build_toy_mmpr",),
    SERVE: ("test_serve_as_written",),
    DPO_TOY: ("test_dpo_toy_as_written_with_the_oracle", "test_dpo_toy_with_a_discriminating_critic"),
    RM_PAIRS: ("test_reward_models_as_in_the_readme",),
    RM_TRAIN: ("test_reward_models_as_in_the_readme",),
    CRITIQUE_RM_TRAIN: ("test_reward_models_as_in_the_readme",),
    RM_HELDOUT: ("test_reward_models_as_in_the_readme",),
    RM_JUDGE: ("test_reward_models_as_in_the_readme",),
    RM_EVAL: ("test_reward_models_as_in_the_readme",),
}


@pytest.fixture(scope="module")
def readme() -> list[Command]:
    return readme_commands()


def the(readme: list[Command], text: str) -> Command:
    """The (first) README command with this exact text; fails if the README no longer has it."""
    for c in readme:
        if c.text == text:
            return c
    raise AssertionError(f"README.md no longer has the command {text!r}; update tests/test_readme.py")


def test_every_readme_command_is_covered(readme):
    assert len(readme) >= 20, f"the extractor found only {len(readme)} commands in README.md"
    texts = {c.text for c in readme}
    uncovered = [str(c) for c in readme if c.text not in COVERAGE]
    assert not uncovered, "README commands no test exercises (add them to COVERAGE):\n" + "\n".join(uncovered)
    gone = sorted(set(COVERAGE) - texts)
    assert not gone, f"COVERAGE names commands README.md no longer has: {gone}"
    missing = sorted({name for names in COVERAGE.values() for name in names if not callable(globals().get(name))})
    assert not missing, f"COVERAGE names tests that do not exist: {missing}"


def _check_config_overrides(cmd: Command) -> None:
    """`critic train` / `critic dpo` take free-form overrides: check they name real config keys."""
    args = build_parser().parse_args(list(cmd.argv))
    if args.command == "train":
        from critic.commands.train import split_flags
        from critic.training.config import load_config

        load_config(ROOT / args.config, split_flags(args))
    elif args.command == "dpo":
        from critic.dpo.config import load_dpo_config

        load_dpo_config(ROOT / args.config, list(args.overrides or []))
    elif args.command == "eval-bench":
        from critic.evaluation.benchmarks import load_spec

        load_spec(args.benchmark)


def _asset_paths(tokens) -> list[str]:
    return [t for t in tokens if t.startswith(ASSET_PREFIXES)]


def command_problems(commands: list[Command]) -> list[str]:
    """What is wrong with each command: argparse rejects it, an override names no config key, a shipped
    asset it names does not exist."""
    parser = build_parser()
    problems = []
    for cmd in commands:
        try:
            with contextlib.redirect_stderr(io.StringIO()) as err:
                parser.parse_args(list(cmd.argv))
        except SystemExit:
            problems.append(f"{cmd}\n    {err.getvalue().strip().splitlines()[-1]}")
            continue
        try:
            _check_config_overrides(cmd)
        except Exception as exc:  # noqa: BLE001 — report every command at once
            problems.append(f"{cmd}\n    {type(exc).__name__}: {exc}")
        for p in _asset_paths([*cmd.launcher, *cmd.argv]):
            if not (ROOT / p).exists():
                problems.append(f"{cmd}\n    {p}: no such file in the repository")
    return problems


def test_every_readme_command_parses(readme):
    assert len(readme) >= 20, f"the extractor found only {len(readme)} commands in README.md"
    problems = command_problems(readme)
    assert not problems, "README commands that do not work:\n" + "\n".join(problems)


def test_the_parse_check_catches_broken_commands():
    sample = "\n".join([
        "```bash",
        "critic judge --backend openai --model m --input a.jsonl --output b.jsonl --swapp both",  # no such flag
        "critic train train/toy.yaml --train.learnig_rate 1e-4",                                 # no such key
        "critic dpo train/dpo_toy.yaml --critic.base_urls [http://h/v1]",                        # no such key
        "critic data build data_recipes/nope.yaml --out x",                                      # no such recipe
        "critic eval-bench no_such_bench --data d --out o --judge-model m",                      # no such benchmark
        "critic toy make --task pairwise --n 2 --out x",                                         # fine
        "```",
    ])
    problems = command_problems(readme_commands(sample))
    assert len(problems) == 5, problems
    for line, needle in ((2, "--swapp"), (3, "learnig_rate"), (4, "base_urls"), (5, "data_recipes/nope.yaml"),
                         (6, "no_such_bench")):
        assert any(p.startswith(f"README.md:{line}:") and needle in p for p in problems), (line, problems)


def test_accelerate_config_matches_the_training_config(readme):
    cmd = the(readme, TRAIN_OV_7B_ZERO3)
    acc_path = cmd.launcher[cmd.launcher.index("--config_file") + 1]
    acc = yaml.safe_load((ROOT / acc_path).read_text())
    assert acc["distributed_type"] == "DEEPSPEED" and acc["num_processes"] == 8
    assert (ROOT / acc["deepspeed_config"]["deepspeed_config_file"]).is_file()
    from critic.training.config import load_config

    cfg = load_config(ROOT / cmd.argv[1])
    assert cfg.train.deepspeed == "zero3" and acc["deepspeed_config"]["deepspeed_config_file"].endswith("zero3.json")


# ------------------------------------------------------------------------------------------ table synopses

def readme_synopses(text: str | None = None) -> list[tuple[int, str]]:
    """The `critic ...` synopses in the first column of README.md's tables."""
    out = []
    for n, line in enumerate((README.read_text(encoding="utf-8") if text is None else text).splitlines(), 1):
        m = re.match(r"^\|\s*`(critic [^`]+)`\s*\|", line)
        if m:
            out.append((n, m.group(1).replace("\\|", "|")))
    return out


PLACEHOLDERS = {"N": "2", "S": "0", "P": "8000", "R": "0.1", "M": "oracle", "URL": "http://127.0.0.1:8000/v1",
                "DIR": "out", "DIR1": "a", "DIR2": "b", "PATH": "data", "RECIPE.yaml": "data_recipes/toy.yaml"}


def instances(synopsis: str) -> list[list[str]]:
    """Concrete argv lists for a synopsis: optional parts included, each alternative of each `a|b|c`."""
    words = [w.strip("[]") for w in synopsis.split()[1:]]
    words = [w for w in words if w and w != "..."]
    name = "vl_rewardbench" if words[0] == "eval-bench" else "llava_critic_pairwise"
    words = [name if w == "NAME" else PLACEHOLDERS.get(w, w) for w in words]
    alts = [k for k, w in enumerate(words) if "|" in w]
    base = [w.split("|")[0] for w in words]
    out = [base]
    for k in alts:
        for choice in words[k].split("|")[1:]:
            out.append([*base[:k], choice, *base[k + 1:]])
    return out


def test_every_table_synopsis_parses():
    synopses = readme_synopses()
    assert len(synopses) >= 12, synopses
    parser = build_parser()
    problems = []
    for line, syn in synopses:
        for argv in instances(syn):
            try:
                with contextlib.redirect_stderr(io.StringIO()) as err:
                    parser.parse_args(argv)
            except SystemExit:
                problems.append(f"README.md:{line}: {syn}\n    critic {' '.join(argv)}: "
                                f"{err.getvalue().strip().splitlines()[-1]}")
            for p in _asset_paths(argv):
                if not (ROOT / p).exists():
                    problems.append(f"README.md:{line}: {p}: no such file")
    assert not problems, "README table synopses that do not parse:\n" + "\n".join(problems)


def test_templates_and_toy_synopses_run(tmp_path, monkeypatch, capsys, isolated_env):
    """The tour table's `critic templates list/show/render`, `critic toy make` and `critic toy model`, run with
    the placeholders filled in (:func:`instances`)."""
    runs = {}
    for _, syn in readme_synopses():
        for argv in instances(syn):
            runs.setdefault(" ".join(argv[:2]), []).append(argv)
    for key in ("templates list", "templates show", "templates render", "toy make", "toy model"):
        assert key in runs, f"README's table lost `critic {key}`"
    monkeypatch.chdir(tmp_path)
    make = next(a for a in runs["toy make"] if "pairwise" in a)  # --task pairwise --n 2 --seed 0 --out out
    assert main(make) == 0
    shutil.copy(tmp_path / "out" / "items.jsonl", tmp_path / "items.jsonl")
    shutil.copytree(tmp_path / "out" / "images", tmp_path / "images")
    assert len(lines(tmp_path / "items.jsonl")) == 2
    capsys.readouterr()

    [listing] = runs["templates list"]  # --json
    assert main(listing) == 0
    listed = json.loads(capsys.readouterr().out)
    shipped = sorted(p.stem for p in (ROOT / "prompt_templates").glob("*.jinja"))
    assert sorted(t["name"] for t in listed) == shipped
    said = re.search(r"\(pointwise and pairwise, (\d+) shipped\)", README.read_text())
    assert said and int(said.group(1)) == len(shipped), f"README.md says {said and said.group(1)} shipped templates"

    [show] = runs["templates show"]  # llava_critic_pairwise
    assert main(show) == 0
    shown = capsys.readouterr().out
    assert "path:" in shown and "llava_critic_pairwise.jinja" in shown and "ties allowed:" in shown

    [render] = runs["templates render"]  # llava_critic_pairwise --item items.jsonl --line 2 --swapped
    assert main(render) == 0
    rendered = capsys.readouterr().out
    assert "at items.jsonl:2 | swapped: B shown first" in rendered
    assert "The first response: [" in rendered and "--- target" in rendered

    # llava is built by the offline run (runs/tiny_policy), llava_onevision by the `tiny_ov` fixture
    model = next(a for a in runs["toy model"] if "qwen2_vl" in a)
    assert main(model) == 0
    assert json.loads((tmp_path / "out" / "config.json").read_text())["model_type"] == "qwen2_vl"


# ------------------------------------------------------------------------------------------ running commands

@dataclass
class Result:
    cmd: Command | None
    argv: list[str]
    rc: int | None = None
    out: str = ""
    err: str = ""
    exc: BaseException | None = None
    seconds: float = 0.0

    def ok(self) -> bool:
        return self.rc == 0 and self.exc is None

    def why(self) -> str:
        return (f"{self.cmd}\n  ran: critic {' '.join(self.argv)}\n  rc={self.rc} exc={self.exc!r}\n"
                f"  stdout: {self.out[-1500:]}\n  stderr: {self.err[-3000:]}")


def run_critic(argv: list[str], cwd: Path, cmd: Command | None = None) -> Result:
    """``critic argv`` in-process in ``cwd``, output captured; exceptions are recorded, not raised."""
    res = Result(cmd, list(argv))
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            res.rc = main(list(argv))
        except SystemExit as exc:
            res.rc = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:  # noqa: BLE001 — the test asserts on it
            res.exc = exc
    res.seconds = time.perf_counter() - t0
    res.out, res.err = out.getvalue(), err.getvalue()
    return res


def absolute_assets(argv) -> list[str]:
    """Recipe / config paths are relative to the repository root; the commands run elsewhere."""
    return [str(ROOT / a) if a.startswith(ASSET_PREFIXES) else a for a in argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_teacher(base_url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the teacher says it serves on ``base_url`` (its bind succeeded: the port is its own) and
    ``GET /v1/models`` answers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the teacher exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if f"serving chat completions on {base_url}" in log.read_text():
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as r:
                    if r.status == 200 and json.loads(r.read())["data"]:
                        return
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"GET {base_url}/models did not answer in {timeout} s: {log.read_text()[-2000:]}")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


@dataclass
class OfflineRun:
    """The offline README commands, run as written in one working directory."""

    work: Path
    port: int
    teacher: subprocess.Popen | None = None
    results: dict[str, list[Result]] = field(default_factory=dict)

    @property
    def teacher_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def teacher_log(self) -> Path:
        return self.work.parent / f"{self.work.name}-teacher.log"

    def substitute(self, argv) -> list[str]:
        """The one change made to an offline command: the teacher's free port for 8000."""
        out, prev = [], None
        for a in argv:
            a = a.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
            out.append(str(self.port) if prev == "--port" and a == "8000" else a)
            prev = a
        return out

    def run(self, cmd: Command) -> Result:
        argv = self.substitute(cmd.argv)
        if argv[:2] == ["toy", "teacher"]:
            res = Result(cmd, argv, rc=0)
            if self.teacher is None:  # the README starts it twice (two sections); the first one keeps serving
                with self.teacher_log.open("w") as log:
                    self.teacher = subprocess.Popen([sys.executable, "-m", "critic", *argv], stdout=log,
                                                    stderr=subprocess.STDOUT, cwd=self.work)
            wait_for_teacher(self.teacher_url, self.teacher, self.teacher_log)
        else:
            argv = absolute_assets(argv)
            if argv[:2] == ["data", "build"]:
                recipe = yaml.safe_load(Path(argv[2]).read_text())
                if (recipe.get("teacher") or {}).get("base_url") == "http://127.0.0.1:8000/v1":
                    argv += ["--teacher-base-url", self.teacher_url]
            res = run_critic(argv, self.work, cmd)
        self.results.setdefault(cmd.text, []).append(res)
        return res

    def result(self, text: str) -> Result:
        assert text in self.results, f"the offline run did not run {text!r}"
        return self.results[text][-1]

    def close(self) -> None:
        if self.teacher is not None and self.teacher.poll() is None:
            self.teacher.terminate()
            try:
                self.teacher.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.teacher.kill()
                self.teacher.wait()


@pytest.fixture(scope="module")
def isolated_env(tmp_path_factory):
    """Caches in a temporary folder; no real OpenAI settings leak in."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRITIC_CACHE_DIR", str(tmp_path_factory.mktemp("critic_cache")))
        mp.delenv("OPENAI_BASE_URL", raising=False)
        mp.delenv("OPENAI_API_KEY", raising=False)
        mp.delenv("LLAVA_CRITIC_DATA", raising=False)
        mp.setenv("OMP_NUM_THREADS", "1")  # the teacher subprocess
        import torch

        n = torch.get_num_threads()
        torch.set_num_threads(1)  # 2 shared cores: one intra-op thread avoids oversubscription stalls (10x+)
        try:
            yield mp
        finally:
            torch.set_num_threads(n)


@pytest.fixture(scope="module")
def offline(readme, tmp_path_factory, isolated_env):
    run = OfflineRun(tmp_path_factory.mktemp("readme_offline"), free_port())
    try:
        for cmd in readme:
            if cmd.text in OFFLINE:
                run.run(cmd)
        yield run
    finally:
        run.close()


def test_offline_commands_all_ran_in_readme_order(readme, offline):
    ran = [c.text for c in readme if c.text in OFFLINE]
    assert set(ran) == OFFLINE, f"offline commands missing from README.md: {OFFLINE - set(ran)}"
    assert ran.index(TEACHER) < ran.index(TOY_BUILD) < ran.index(LABEL_PAIRS), "the teacher must start first"
    for text in OFFLINE - {LC113K_DRY_RUN}:
        res = offline.result(text)
        assert res.ok(), res.why()


def test_teacher_answers_models_on_the_substituted_port(offline):
    with urllib.request.urlopen(f"{offline.teacher_url}/models", timeout=5) as r:
        assert json.loads(r.read())["data"]
    assert offline.teacher.poll() is None


def test_toy_data_build(offline):
    res = offline.result(TOY_BUILD)
    assert res.ok(), res.why()
    d = offline.work / "runs" / "toy-data"
    recipe = yaml.safe_load((ROOT / "data_recipes" / "toy.yaml").read_text())
    n = sum(s["n"] for s in recipe["sources"])
    train, test = lines(d / "train.jsonl"), lines(d / "test.jsonl")
    assert len(train) + len(test) == n and train and test
    stats = json.loads((d / "stats.json").read_text())
    assert stats["samples"]["total"] == n and stats["drops"]["total"] == 0
    assert stats["teacher"]["failed_count"] == 0 and stats["teacher"]["calls"] == n
    for f in ("card.md", "llava/train.json", "hf"):
        assert (d / f).exists(), f
    row = train[0]
    assert (d / row["images"][0]).is_file() and row["template"] in recipe["templates"]
    assert f"wrote {n} samples" in res.out


def test_lc113k_dry_run_needs_its_source_files(offline):
    """As written (no $LLAVA_CRITIC_DATA, no source files) the dry run cannot run offline: it must fail,
    name a missing source file and write nothing."""
    res = offline.result(LC113K_DRY_RUN)
    assert not res.ok(), "the dry run succeeded without its source files?"
    message = f"{res.exc}\n{res.err}"
    assert "$LLAVA_CRITIC_DATA/" in message and ".jsonl" in message, res.why()
    assert not (offline.work / "runs" / "lc113k").exists()


def test_lc113k_dry_run_without_its_data_is_a_clear_error(offline):
    res = offline.result(LC113K_DRY_RUN)
    assert res.exc is None, f"uncaught {type(res.exc).__name__}: {res.exc}"
    assert res.rc == 2 and "LLAVA_CRITIC_DATA" in res.err


def _write_lc113k_sources(d: Path) -> None:
    from PIL import Image

    (d / "img").mkdir(parents=True)
    for k in range(4):
        Image.new("RGB", (64, 48), (40 * k, 90, 200)).save(d / "img" / f"{k}.png")
    rows = [{"id": f"p{k}", "images": [f"img/{k}.png"], "question": f"What is in picture {k}?",
             "response": "A blue picture.", "reference": "A blue square."} for k in range(3)]
    (d / "pointwise_items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("vlfeedback_pairs", "llava_rlhf_pairs", "rlhf_v_pairs"):
        pairs = [{"id": f"{name}{k}", "image": f"img/{k}.png", "prompt": "Describe the image.",
                  "chosen": "A blue picture.", "rejected": "A red cat."} for k in range(2)]
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs))


def test_lc113k_dry_run_with_its_sources(readme, tmp_path, isolated_env):
    """The same command, with $LLAVA_CRITIC_DATA pointing at a few source rows: counts, tokens, cost; sends
    and writes nothing."""
    cmd = the(readme, LC113K_DRY_RUN)
    data = tmp_path / "lcdata"
    _write_lc113k_sources(data)
    isolated_env.setenv("LLAVA_CRITIC_DATA", str(data))
    try:
        res = run_critic(absolute_assets(cmd.argv), tmp_path, cmd)
    finally:
        isolated_env.delenv("LLAVA_CRITIC_DATA")
    assert res.ok(), res.why()
    assert "nothing was sent or written" in res.out
    m = re.search(r"items read: (\d+); dropped inputs: (\d+)", res.out)
    assert m and (int(m.group(1)), int(m.group(2))) == (9, 0), res.out
    assert re.search(r"teacher calls: 9 to gpt-4o", res.out) and "estimated cost: $" in res.out, res.out
    assert not (tmp_path / "runs").exists()


def test_lc113k_dry_run_with_a_source_file_missing(readme, tmp_path, isolated_env):
    """A source file that is not there must stop the dry run, not shrink the bill it prints."""
    cmd = the(readme, LC113K_DRY_RUN)
    data = tmp_path / "lcdata"
    _write_lc113k_sources(data)
    (data / "pointwise_items.jsonl").unlink()
    isolated_env.setenv("LLAVA_CRITIC_DATA", str(data))
    try:
        res = run_critic(absolute_assets(cmd.argv), tmp_path, cmd)
    finally:
        isolated_env.delenv("LLAVA_CRITIC_DATA")
    assert res.rc == 2 and res.exc is None and "pointwise_items.jsonl" in res.err, res.why()


def test_lc113k_build_with_a_stand_in_teacher(readme, tmp_path, isolated_env):
    """As written, with the GPT-4o teacher replaced by the oracle behind $OPENAI_BASE_URL (the key it needs from
    $OPENAI_API_KEY) and $LLAVA_CRITIC_DATA pointing at a few source rows: every layout is written."""
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    cmd = the(readme, LC113K_BUILD)
    data = tmp_path / "lcdata"
    _write_lc113k_sources(data)
    with ChatServer(oracle_answer, api_key="sk-test") as srv:
        isolated_env.setenv("LLAVA_CRITIC_DATA", str(data))
        isolated_env.setenv("OPENAI_BASE_URL", srv.base_url)
        isolated_env.setenv("OPENAI_API_KEY", "sk-test")
        try:
            res = run_critic(absolute_assets(cmd.argv), tmp_path, cmd)
        finally:
            for var in ("LLAVA_CRITIC_DATA", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
                isolated_env.delenv(var)
    assert res.ok(), res.why()
    out = tmp_path / "runs" / "lc113k"
    stats = json.loads((out / "stats.json").read_text())
    # nine teacher calls, two of them the same request (same prompt, same image): sent once (issue 14.2)
    assert stats["teacher"]["calls"] == 9 and srv.stats.requests == 8
    assert stats["teacher"]["failed_count"] == 0 and stats["samples"]["total"] >= 3, stats["drops"]
    assert (out / "card.md").is_file() and (out / "hf").is_dir() and list((out / "llava").glob("*.json"))
    assert "sk-test" not in "".join(p.read_text(errors="ignore") for p in out.rglob("*") if p.suffix in (".json", ".jsonl", ".md"))


def test_label_pairs(offline):
    assert offline.result(CANDS).ok()
    res = offline.result(LABEL_PAIRS)
    assert res.ok(), res.why()
    runs = offline.work / "runs"
    sets = {s["id"]: s for s in lines(runs / "cands" / "items.jsonl")}
    pairs, rankings = lines(runs / "pairs.jsonl"), lines(runs / "pairs.jsonl.rankings.jsonl")
    assert len(sets) == 32 and len(rankings) == 32
    assert len(pairs) >= 30, [r.get("reason") for r in rankings]
    for row in pairs:
        gold = sets[row["id"]]["scores"]
        assert gold[row["chosen_index"]] > gold[row["rejected_index"]], row["id"]
        assert row["prompt"] and row["chosen"] and row["rejected"]
    judgments = lines(runs / "pairs.jsonl.judgments.jsonl")
    assert len(judgments) == 32 * 5 * 4 and not [j for j in judgments if j.get("parse_error")]
    assert "parse failures 0" in res.out


def test_best_of_n(offline):
    res = offline.result(BEST_OF_N)
    assert res.ok(), res.why()
    runs = offline.work / "runs"
    sets = {s["id"]: s for s in lines(runs / "cands" / "items.jsonl")}
    best = lines(runs / "best.jsonl")
    assert len(best) == 32
    for row in best:  # the oracle reads the pixels: the best answer is a best one by gold
        gold = sets[row["id"]]["scores"]
        assert gold[row["meta"]["best_of_n"]["index"]] == max(gold), row["id"]
        assert row["response"] == sets[row["id"]]["candidates"][row["meta"]["best_of_n"]["index"]]
    assert "parse failures 0" in res.out


def test_filter(offline):
    assert offline.result(SFT).ok()
    res = offline.result(FILTER)
    assert res.ok(), res.why()
    runs = offline.work / "runs"
    kept, dropped = lines(runs / "kept.jsonl"), lines(runs / "kept.jsonl.dropped.jsonl")
    unscored = lines(runs / "kept.jsonl.unscored.jsonl")
    assert len(kept) + len(dropped) == 32 and not unscored and kept and dropped
    assert all(r["meta"]["critic_filter"]["score"] >= 60 for r in kept)
    assert all(r["meta"]["critic_filter"]["score"] < 60 for r in dropped)
    assert min(r["score"] for r in kept) > max(r["score"] for r in dropped), "the oracle keeps the right answers"
    assert "outside" not in res.err, "--min-score 60 must be on the default template's scale"


# ------------------------------------------------------------------------------------------ oracle stand-ins

def _toy_items(d: Path, n: int, task: str = "pairwise", seed: int = 3) -> Path:
    from critic.toy.world import make_toy

    make_toy(d, n=n, seed=seed, task=task)
    return d / "items.jsonl"


def test_judge_gpt4o_then_eval_and_compare(readme, tmp_path, isolated_env, monkeypatch):
    """GPT-4o → an oracle behind $OPENAI_BASE_URL that requires $OPENAI_API_KEY and serves only
    `gpt-4o`; the vLLM servers gpu1 / gpu2 → two oracles serving `lmms-lab/llava-critic-7b`. Then
    `critic eval` as written in each folder, and `critic eval --compare report-a/ report-b/`."""
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    gpt4o_cmds = [c for c in readme if c.text == JUDGE_GPT4O]
    assert len(gpt4o_cmds) == 2  # once under "Judge outputs", once under "Evaluate against human labels"
    a, b = tmp_path / "a", tmp_path / "b"
    _toy_items(a, 12)
    _toy_items(b, 12)
    key = "sk-readme-test"
    with ChatServer(oracle_answer, api_key=key, models=["gpt-4o"]) as gpt4o, \
            ChatServer(oracle_answer, models=["lmms-lab/llava-critic-7b"]) as gpu1, \
            ChatServer(oracle_answer, models=["lmms-lab/llava-critic-7b"]) as gpu2:
        monkeypatch.setenv("OPENAI_BASE_URL", gpt4o.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", key)
        res = run_critic(list(gpt4o_cmds[0].argv), a, gpt4o_cmds[0])
        assert res.ok(), res.why()
        assert gpt4o.stats.requests == 24
        again = run_critic(list(gpt4o_cmds[1].argv), a, gpt4o_cmds[1])  # the same command again: resumes
        assert again.ok(), again.why()
        assert gpt4o.stats.requests == 24 and "judged 0 (0 from cache, 24 already in judgments.jsonl)" in again.out
        monkeypatch.delenv("OPENAI_BASE_URL")
        monkeypatch.delenv("OPENAI_API_KEY")

        vllm = the(readme, JUDGE_VLLM)
        argv = [x.replace("http://gpu1:8000/v1", gpu1.base_url).replace("http://gpu2:8000/v1", gpu2.base_url)
                for x in vllm.argv]
        res = run_critic(argv, b, vllm)
        assert res.ok(), res.why()
        assert gpu1.stats.requests > 0 and gpu2.stats.requests > 0, "several --base-url run in rotation"
        assert gpu1.stats.requests + gpu2.stats.requests == 12

    judged = lines(a / "judgments.jsonl")
    assert len(judged) == 24 and sum(j["swapped"] for j in judged) == 12
    assert not [j for j in judged if j.get("parse_error")] and {j["judge"] for j in judged} == {"openai:gpt-4o"}
    assert len(lines(b / "judgments.jsonl")) == 12

    ev = the(readme, EVAL)
    for d in (a, b):
        res = run_critic(list(ev.argv), d, ev)
        assert res.ok(), res.why()
        report = json.loads((d / "report" / "report.json").read_text())
        pw = report["pairwise"]
        assert pw["n_items"] == 12 and pw["accuracy_with_ties"] >= 0.9, pw
        assert (d / "report" / "report.md").is_file() and (d / "report" / "confusion.png").is_file()
        assert (d / "report" / "report.html").is_file()  # the judgment browser
    assert json.loads((a / "report" / "report.json").read_text())["pairwise"]["consistency"] >= 0.9

    # `critic view` with the vLLM critic's judgments (b) as judgments-7b.jsonl beside GPT-4o's (a): the same items
    view = the(readme, VIEW)
    shutil.copy(b / "judgments.jsonl", a / "judgments-7b.jsonl")
    res = run_critic(list(view.argv), a, view)
    assert res.ok(), res.why()
    page = (a / "compare.html").read_text()
    assert "openai:gpt-4o" in page and "openai:lmms-lab/llava-critic-7b" in page and (a / "compare_files").is_dir()

    # the prose's `critic eval --compare report-a/ report-b/`
    shutil.move(a / "report", tmp_path / "report-a")
    shutil.move(b / "report", tmp_path / "report-b")
    prose = README.read_text()
    assert "`critic eval --compare report-a/ report-b/`" in prose
    res = run_critic(["eval", "--compare", "report-a/", "report-b/"], tmp_path)
    assert res.ok(), res.why()
    assert "gpt-4o" in res.out and "llava-critic-7b" in res.out


def _vl_rewardbench_copy(dst: Path) -> Path:
    """The VL-RewardBench fixture in the benchmark's layout, every image drawn but the missing one."""
    from PIL import Image

    shutil.copytree(FIXTURES / "vl_rewardbench", dst)
    for row in lines(dst / "data.jsonl"):
        rel = row.get("image_path")
        if isinstance(rel, str) and "missing" not in rel:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (200, 30, 30)).save(dst / rel)
    return dst


def test_eval_bench_vl_rewardbench(readme, tmp_path, isolated_env):
    """VL-RewardBench → the test fixture in its layout (VL_RewardBench/data); the vLLM critic → the oracle."""
    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    cmd = the(readme, EVAL_BENCH)
    _vl_rewardbench_copy(tmp_path / "VL_RewardBench" / "data")
    with ChatServer(oracle_answer, models=["lmms-lab/llava-critic-7b"]) as gpu1:
        argv = [x.replace("http://gpu1:8000/v1", gpu1.base_url) for x in cmd.argv]
        res = run_critic(argv, tmp_path, cmd)
        assert res.ok(), res.why()
        assert gpu1.stats.requests == 14  # 7 usable items, both orders
    out = tmp_path / "runs" / "vlrb"
    report = json.loads((out / "report.json").read_text())
    pw = report["pairwise"]
    assert (pw["n_items"], pw["n_judgments"]) == (7, 14)
    assert [j for j in lines(out / "judgments.jsonl") if j.get("parse_error")] == []
    assert report["inputs"]["benchmark"]["name"] == "vl_rewardbench" and (out / "report.md").is_file()


# ------------------------------------------------------------------------------------------ training stand-ins

# A GPU recipe on a CPU: the tiny model is given with --model.name_or_path; these are the CPU
# equivalents of its GPU settings (no flash-attention, bf16, DeepSpeed, tensorboard, loader workers).
STANDIN_GPU_TRAIN = ["--model.dtype", "float32", "--model.attn_implementation", "sdpa", "--train.bf16", "false",
                     "--train.deepspeed", "null", "--train.report_to", "[]", "--data.num_workers", "0"]
STEP_CAP = ["--train.max_steps", "2", "--train.progress", "false"]


def _sample_subset(src: Path, dst: Path, n: int = 48) -> Path:
    """``n`` samples spread over a built dataset (pointwise and pairwise), sharing its images."""
    rows = src.read_text().splitlines()
    step = max(1, len(rows) // n)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(r + "\n" for r in rows[::step][:n]))
    images = dst.parent / "images"
    if not images.exists():
        images.symlink_to(src.parent / "images", target_is_directory=True)
    return dst


@pytest.fixture(scope="module")
def tiny_ov(tmp_path_factory, isolated_env):
    """`critic toy model --family llava_onevision` (the table's synopsis), standing in for LLaVA-OneVision."""
    out = tmp_path_factory.mktemp("tiny_ov") / "model"
    res = run_critic(["toy", "model", "--family", "llava_onevision", "--out", str(out)], out.parent)
    assert res.ok(), res.why()
    return out


@pytest.fixture(scope="module")
def toy_small(offline):
    """A 48-sample slice of the README's runs/toy-data (2 capped steps need no more)."""
    assert offline.result(TOY_BUILD).ok()
    return _sample_subset(offline.work / "runs" / "toy-data" / "train.jsonl",
                          offline.work / "runs" / "toy-data-small" / "train.jsonl")


def _trained(out: Path, steps: int) -> dict:
    assert (out / "critic.json").is_file() and (out / "model.safetensors").is_file(), sorted(os.listdir(out))
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == steps
    return json.loads((out / "critic.json").read_text())


@pytest.fixture(scope="module")
def toy_critic(readme, offline):
    """`critic train train/toy.yaml` on the README's runs/toy-data, capped at 2 steps."""
    cmd = the(readme, TRAIN_TOY)
    assert offline.result(TOY_BUILD).ok()
    res = run_critic([*absolute_assets(cmd.argv), *STEP_CAP], offline.work, cmd)
    assert res.ok(), res.why()
    return offline.work / "runs" / "toy_critic"


def test_train_toy(readme, offline, toy_critic):
    meta = _trained(toy_critic, 2)
    assert {t["name"] for t in meta["trained_templates"]} == {"compact_pairwise", "compact_pointwise"}
    n_train = len((offline.work / "runs" / "toy-data" / "train.jsonl").read_text().splitlines())
    assert meta["data"]["used"] == n_train, meta["data"]  # every sample the README's build wrote
    # as written, the config trains on what the README's `critic data build` wrote
    cmd = the(readme, TRAIN_TOY)
    res = run_critic([*absolute_assets(cmd.argv), "--print-config"], offline.work, cmd)
    assert res.ok(), res.why()
    cfg = yaml.safe_load(res.out)
    assert cfg["data"]["train"] == "runs/toy-data/train.jsonl"
    assert (offline.work / cfg["data"]["train"]).is_file()
    assert cfg["train"]["output_dir"] == "runs/toy_critic"


def test_train_toy_with_overrides(readme, offline, toy_small):
    cmd = the(readme, TRAIN_TOY_OVERRIDES)
    out = offline.work / "runs" / "toy_critic_b"  # the README's own output_dir: toy.yaml's holds a run already
    assert not out.exists()
    res = run_critic([*absolute_assets(cmd.argv), "--data.train", str(toy_small), *STEP_CAP], offline.work, cmd)
    assert res.ok(), res.why()
    meta = _trained(out, 2)
    assert meta["train_config"]["train"]["learning_rate"] == 3e-4
    assert meta["train_config"]["data"]["packing"] is False
    assert "packing off" in res.err


def test_train_llava_ov_05b(readme, offline, toy_small, tiny_ov):
    """LLaVA-OneVision-0.5B → the tiny llava_onevision model; runs/lc113k/train.jsonl → toy samples there."""
    cmd = the(readme, TRAIN_OV_05B)
    _sample_subset(toy_small, offline.work / "runs" / "lc113k" / "train.jsonl")
    res = run_critic([*absolute_assets(cmd.argv), "--model.name_or_path", str(tiny_ov), *STANDIN_GPU_TRAIN,
                      *STEP_CAP], offline.work, cmd)
    assert res.ok(), res.why()
    meta = _trained(offline.work / "runs" / "llava_ov_0.5b_critic", 2)
    assert meta["train_config"]["data"]["train"] == "runs/lc113k/train.jsonl"
    assert meta["train_config"]["train"]["learning_rate"] == 2e-6


def test_train_llava_ov_7b_then_resume(readme, offline, toy_small, tiny_ov):
    """The ZeRO-3 launch → the same `critic train` in one CPU process; then `--resume` continues it."""
    first, again = the(readme, TRAIN_OV_7B_ZERO3), the(readme, TRAIN_OV_7B_RESUME)
    cfg = yaml.safe_load((ROOT / first.argv[1]).read_text())
    _sample_subset(toy_small, offline.work / cfg["data"]["train"])
    standin = ["--model.name_or_path", str(tiny_ov), *STANDIN_GPU_TRAIN, "--train.save_steps", "1",
               "--train.progress", "false"]
    res = run_critic([*absolute_assets(first.argv), *standin, "--train.max_steps", "2"], offline.work, first)
    assert res.ok(), res.why()
    out = offline.work / cfg["train"]["output_dir"]
    _trained(out, 2)
    # "after a crash": the final model is gone, checkpoint-2 is the last complete checkpoint
    (out / "critic.json").unlink()
    res = run_critic([*absolute_assets(again.argv), *standin, "--train.max_steps", "3"], offline.work, again)
    assert res.ok(), res.why()
    assert re.search(r"resuming from \S*checkpoint-2", res.err), res.err[-2000:]
    _trained(out, 3)


def test_judge_hf_with_a_tiny_trained_checkpoint(readme, tmp_path, toy_critic, isolated_env):
    """path/to/critic-checkpoint → the 2-step toy critic; --max-new-tokens caps its (untrained) generation."""
    cmd = the(readme, JUDGE_HF)
    _toy_items(tmp_path, 8)
    argv = [str(toy_critic) if a == "path/to/critic-checkpoint" else a for a in cmd.argv]
    res = run_critic([*argv, "--max-new-tokens", "12"], tmp_path, cmd)
    assert res.ok(), res.why()
    judged = lines(tmp_path / "judgments.jsonl")
    assert len(judged) == 16 and sum(j["swapped"] for j in judged) == 8
    assert {j["template"] for j in judged} == {"compact_pairwise"}  # from the checkpoint's critic.json
    assert all(j["raw"] is not None for j in judged)


# ------------------------------------------------------------------------------------------ DPO

def hash_judge(body, images) -> str:
    """A deterministic critic that tells random answers apart (the oracle rates them all as non-answers)."""
    from critic.toy.oracle import prompt_text

    text = prompt_text(body)
    h = lambda s: int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)  # noqa: E731
    pair = re.search(r"The first response: \[(.*?)\]\nThe second response: \[(.*?)\]", text, re.S)
    if pair:
        a, b = pair.groups()
        verdict = ("the two responses are equally good" if h(a) == h(b)
                   else "the first response is better" if h(a) > h(b) else "the second response is better")
        return f"Compared by hash. Therefore, {verdict}."
    resp = re.search(r"The LMM response: \[(.*?)\]", text, re.S)
    if resp is None:  # a prompt this stand-in does not know: a parseable, neutral answer (never a 500)
        return "No response to compare. Therefore, the two responses are equally good. Overall score: 50"
    return f"Scored by hash. Overall score: {h(resp.group(1)) % 100 + 1}"


DPO_CAP = ["--rounds", "1", "--dpo.max_steps", "2", "--dpo.batch_size", "2", "--sampling.max_new_tokens", "6",
           "--eval.k", "1"]


def test_dpo_toy_as_written_with_the_oracle(readme, offline, tmp_path):
    """As written (the teacher on the substituted port), but for the output folder and the round / step caps."""
    pytest.importorskip("trl")
    cmd = the(readme, DPO_TOY)
    assert offline.result(DPO_PROMPTS).ok() and offline.result(DPO_POLICY).ok()
    res = run_critic([*absolute_assets(offline.substitute(cmd.argv)), *DPO_CAP, "--output_dir",
                      str(tmp_path / "dpo_toy")], offline.work, cmd)
    assert res.ok(), res.why()  # `critic toy policy` answers, so the oracle's tournament finds pairs


def test_dpo_toy_with_a_discriminating_critic(readme, offline, tmp_path):
    """`critic dpo train/dpo_toy.yaml` with its README flag, the critic URL pointing at a hash judge, 1 round
    of 2 steps, on the prompts and policy the README's commands made."""
    pytest.importorskip("trl")
    from critic.toy.chat_server import ChatServer

    cmd = the(readme, DPO_TOY)
    assert offline.result(DPO_PROMPTS).ok() and offline.result(DPO_POLICY).ok()
    with ChatServer(hash_judge) as judge:
        argv = [a.replace("http://127.0.0.1:8000/v1", judge.base_url) for a in cmd.argv]
        res = run_critic([*absolute_assets(argv), *DPO_CAP, "--output_dir", str(tmp_path / "dpo_toy"),
                          "--critic.cache", str(tmp_path / "judge.sqlite")],  # the judge cache keys on the model name
                         offline.work, cmd)
        assert res.ok(), res.why()
        assert judge.stats.requests > 0
    rnd = json.loads((tmp_path / "dpo_toy" / "round_0" / "round.json").read_text())
    assert rnd["pairs"] >= 1 and rnd["train"]["steps"] == 2 and rnd["train"]["loss_type"] == ["sigmoid", "bco_pair", "sft"]
    assert rnd["train"]["per_pair_beta"] is True  # dpo.drs.enabled in dpo_toy.yaml
    assert (tmp_path / "dpo_toy" / "round_0" / "checkpoint" / "config.json").is_file()


def test_dpo_llava_ov_7b(readme, tiny_ov, tmp_path, isolated_env):
    """LLaVA-OneVision-7B → the tiny llava_onevision model; data/dpo_prompts.jsonl → toy prompts; the vLLM
    critic (lmms-lab/llava-critic-7b at localhost:8001) → a hash judge; 1 round of 2 steps, short answers."""
    pytest.importorskip("trl")
    from critic.toy.chat_server import ChatServer

    cmd = the(readme, DPO_OV_7B)
    cfg = yaml.safe_load((ROOT / cmd.argv[1]).read_text())
    prompts = tmp_path / cfg["prompts"]
    _toy_items(prompts.parent, 6, task="pointwise")
    shutil.copy(prompts.parent / "items.jsonl", prompts)
    with ChatServer(hash_judge, models=[cfg["critic"]["model"]]) as judge:
        standin = ["--policy.name_or_path", str(tiny_ov), "--policy.dtype", "float32", "--dpo.bf16", "false",
                   "--critic.base_url", f"[{judge.base_url}]", "--critic.cache", str(tmp_path / "judge.sqlite"),
                   "--eval.max_prompts", "2", *DPO_CAP]
        res = run_critic([*absolute_assets(cmd.argv), *standin], tmp_path, cmd)
        assert res.ok(), res.why()
    rnd = json.loads((tmp_path / cfg["output_dir"] / "round_0" / "round.json").read_text())
    assert rnd["pairs"] >= 1 and rnd["train"]["steps"] == 2
    sets = lines(tmp_path / cfg["output_dir"] / "round_0" / "samples.jsonl")
    assert len(sets) == 6 and all(len(s["candidates"]) == cfg["sampling"]["k"] for s in sets)


def test_serve_as_written(readme, tmp_path):
    """The README's server, its oracle and port substituted: answers OpenRLHF's request, drains on SIGTERM."""
    import signal

    from critic.toy.chat_server import ChatServer
    from critic.toy.oracle import oracle_answer

    cmd = the(readme, SERVE)
    assert cmd.background
    assert main(["toy", "make", "--task", "pointwise", "--n", "3", "--out", str(tmp_path / "runs" / "sft")]) == 0
    item = json.loads((tmp_path / "runs" / "sft" / "items.jsonl").read_text().splitlines()[0])
    with ChatServer(oracle_answer) as oracle:
        port = free_port()
        argv = [a.replace("http://127.0.0.1:8000/v1", oracle.base_url) for a in cmd.argv]
        argv[argv.index("--port") + 1] = str(port)
        proc = subprocess.Popen([sys.executable, "-m", "critic", *argv, "--no-cache"], cwd=tmp_path,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENAI_API_KEY": "x"})
        try:
            assert f":{port}" in proc.stderr.readline()
            body = json.dumps({"query": [item["response"]], "labels": [item["id"]]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/get_reward", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                assert len(json.loads(r.read())["rewards"]) == 1
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_pairs_build_toy_mmpr(readme, offline):
    """`critic pairs build data_recipes/toy_mmpr.yaml` as written, after the toy prompts and the tiny policy."""
    assert offline.result(DPO_PROMPTS).ok() and offline.result(DPO_POLICY).ok()
    res = offline.result(PAIRS_BUILD)
    assert res.ok(), res.why()
    stats = json.loads((offline.work / "runs" / "toy_mmpr" / "stats.json").read_text())
    by = {s["method"]: s for s in stats["sources"]}
    assert by["correctness"]["pairs"] > 0 and by["dropout_ntp"]["pairs"] > 0
    row = json.loads((offline.work / "runs" / "toy_mmpr" / "pairs.jsonl").open().readline())
    assert row["method"] == "correctness" and row["chosen_parsed"] == row["gold"] != row["rejected_parsed"]


def test_reward_models_as_in_the_readme(readme, offline):
    """The README's reward-model block from a folder without the repository: the pairs and held-out
    items as written (``offline``), both configs by their README paths (the shipped copies are found,
    with a note) under a step cap, then the reward model judges and is evaluated as written."""
    for text in (RM_PAIRS, RM_HELDOUT):
        assert offline.result(text).ok(), offline.result(text).why()
    runs = offline.work / "runs"
    pairs = lines(runs / "toy-pairs" / "train.jsonl")
    assert len(pairs) > 1900 and all(p["chosen_critique"] and p["rejected_critique"] for p in pairs[:50]), pairs[0]
    for text, out, kind in ((RM_TRAIN, "toy_rm", "scalar"), (CRITIQUE_RM_TRAIN, "toy_critique_rm", "critique_score")):
        cmd = the(readme, text)
        res = run_critic([*cmd.argv, *STEP_CAP], offline.work, cmd)  # paths as written: no absolute_assets
        assert res.ok(), res.why()
        assert "using the shipped" in res.err, res.err[-500:]
        assert _trained(runs / out, 2)["kind"] == kind
    for text in (RM_JUDGE, RM_EVAL):
        cmd = the(readme, text)
        res = run_critic(list(cmd.argv), offline.work, cmd)
        assert res.ok(), res.why()
    judged = lines(runs / "heldout" / "rm.jsonl")
    assert len(judged) == 200 and all(j["winner"] in ("A", "B") for j in judged)
    report = json.loads((runs / "heldout" / "rm-report" / "report.json").read_text())
    assert "accuracy_without_ties" in json.dumps(report)
