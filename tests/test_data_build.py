"""``critic data build``: layouts, determinism, faults, kill -9, bad inputs, secrets, dry runs.

The teacher is the oracle (``critic.toy.oracle.oracle_answer``) behind a real loopback HTTP server; the
builds go through critic's OpenAI backend and SQLite cache exactly as they would against GPT-4o.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from critic.commands.main import main
from critic.data.build import BuildOptions, build_dataset
from critic.jsonl import JsonlWriter
from critic.judging.pair_order import swap_verdict
from critic.judging.templates import load_template
from critic.judging.verdicts import Verdict
from critic.records import TrainingSample
from critic.toy.chat_server import ChatServer, FaultConfig
from critic.toy.oracle import oracle_answer, prompt_text
from critic.toy.world import make_toy

ROOT = Path(__file__).resolve().parent.parent


def recipe(tmp: Path, base_url: str, name: str = "recipe.yaml", **over) -> Path:
    data = {
        "name": "test",
        "seed": 1,
        "sources": [
            {"kind": "toy", "task": "pointwise", "n": 10, "seed": 1, "kinds": ["colour", "shape"]},
            {"kind": "toy", "task": "pairwise", "n": 10, "seed": 2, "kinds": ["colour", "count"]},
        ],
        "templates": {"llava_critic_pointwise": 1, "mllm_judge_score": 1, "llava_critic_pairwise": 2},
        "teacher": {"model": "oracle", "base_url": base_url, "concurrency": 4, "max_retries": 6},
        "augment": {"swap_rate": 0.5},
        "splits": {"train": 0.7, "test": 0.3},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    p = tmp / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def tree(d: Path, *, card: bool = True) -> dict[str, bytes]:
    """Every file under ``d``; ``card=False`` leaves out card.md (it quotes the recipe, URLs and all)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and (card or p.name != "card.md")}


def build(rcp: Path, out: Path, cache: Path, **kw) -> object:
    return build_dataset(rcp, out, BuildOptions(cache=cache, progress=False, **kw))


@pytest.fixture()
def oracle():
    with ChatServer(oracle_answer) as srv:
        yield srv


def test_build_writes_every_layout(oracle, tmp_path, capsys):
    import datasets

    rcp = recipe(tmp_path, oracle.base_url)
    out = tmp_path / "out"
    assert main(["data", "build", str(rcp), "--out", str(out), "--cache", str(tmp_path / "c.sqlite"),
                 "--no-progress"]) == 0
    assert "wrote 20 samples" in capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"]["total"] == 20 and stats["teacher"]["calls"] == 20 and stats["drops"]["total"] == 0
    assert set(stats["samples"]["by_split"]) == {"train", "test"} and stats["samples"]["swapped"] > 0
    hf = datasets.load_from_disk(str(out / "hf"))
    n_swapped = 0
    for split in ("train", "test"):
        lines = (out / f"{split}.jsonl").read_text().splitlines()
        llava = json.loads((out / "llava" / f"{split}.json").read_text())
        rows = hf[split]
        assert len(lines) == len(llava) == len(rows) == stats["samples"]["by_split"][split]
        assert set(rows.column_names) >= {"id", "task", "images", "messages", "prompt", "completion", "template"}
        for line, conv, row in zip(lines, llava, rows):
            s = TrainingSample.model_validate_json(line)
            assert all(not os.path.isabs(p) and (out / p).is_file() for p in s.images)
            assert conv["id"] == row["id"] == s.id and conv["image"] == s.images[0]
            assert row["images"][0].tobytes() == Image.open(out / s.images[0]).tobytes()  # datasets.Image, embedded
            assert conv["conversations"][0]["value"].count("<image>") == len(s.images) == 1
            assert row["completion"][0]["role"] == "assistant"  # conversational, as the prompt
            assert conv["conversations"][1]["value"] == row["completion"][0]["content"][0]["text"] == s.completion
            assert [m["role"] for m in row["prompt"]] == [m.role for m in s.prompt_messages]
            template = load_template(s.template)
            shown = Verdict.from_dict(s.verdict)
            if s.swapped:
                shown = swap_verdict(shown)
                n_swapped += 1
            assert template.parse(s.completion).verdict == shown  # the target reads back as the verdict shown
    assert n_swapped == stats["samples"]["swapped"]
    with JsonlWriter(tmp_path / "again.jsonl") as w:  # the lines are exactly what JsonlWriter writes
        for line in (out / "train.jsonl").read_text().splitlines():
            w.write(json.loads(line))
    assert (tmp_path / "again.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()
    assert len(list((out / "images").iterdir())) == stats["images"]["unique"] == 15  # 10 + 5 questions
    assert not (out / ".partial").exists()
    card = (out / "card.md").read_text()
    assert "20 samples" in card and "whitespace-separated words" in card and "name: test" in card
    front = yaml.safe_load(card.split("---\n")[1])  # the Hub's front matter
    assert front["license"] and "image-text-to-text" in front["task_categories"] and "critic" in front["tags"]
    assert {f["split"] for f in front["configs"][0]["data_files"]} == {"train", "test"}


def test_rebuild_from_cache_is_byte_identical_and_sends_nothing(oracle, tmp_path):
    rcp = recipe(tmp_path, oracle.base_url)
    cache = tmp_path / "c.sqlite"
    build(rcp, tmp_path / "a", cache)
    sent = oracle.stats.requests
    assert sent == 20
    build(rcp, tmp_path / "b", cache)
    build(rcp, tmp_path / "a", cache)  # over an existing dataset
    assert oracle.stats.requests == sent
    ta, tb = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert ta == tb and len(ta) > 10


def test_parallel_workers_write_the_same_bytes(oracle, tmp_path):
    rcp = recipe(tmp_path, oracle.base_url, teacher={"window": 6})
    build(rcp, tmp_path / "one", tmp_path / "c1.sqlite")
    build(rcp, tmp_path / "two", tmp_path / "c2.sqlite", num_proc=2)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_twenty_percent_faults_then_retry_only_failures(tmp_path):
    rcp = recipe(tmp_path, "http://unused/v1")
    with ChatServer(oracle_answer) as clean:
        ref = build(recipe(tmp_path, clean.base_url, name="ref.yaml"), tmp_path / "ref", tmp_path / "ref.sqlite")
    assert ref.stats.total == 20
    faults = FaultConfig(rate_429=0.05, rate_500=0.05, rate_malformed=0.05, rate_empty=0.05, retry_after=0.01, seed=3)
    with ChatServer(oracle_answer, faults=faults) as srv:  # with retries: everything arrives
        res = build(recipe(tmp_path, srv.base_url, teacher={"max_retries": 8}), tmp_path / "a", tmp_path / "a.sqlite")
        assert res.stats.teacher["failed"] == 0 and sum(srv.stats.outcomes[k] for k in ("429", "500", "malformed", "empty")) > 0
    assert tree(tmp_path / "a", card=False) == tree(tmp_path / "ref", card=False)
    faults = FaultConfig(rate_500=0.2, seed=5)
    with ChatServer(oracle_answer, faults=faults) as srv:  # no retries: failures are listed
        rcp = recipe(tmp_path, srv.base_url, teacher={"max_retries": 0})
        assert main(["data", "build", str(rcp), "--out", str(tmp_path / "b"), "--cache", str(tmp_path / "b.sqlite"),
                     "--no-progress"]) == 1
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    failed = stats["teacher"]["failed"]
    assert failed and len(failed) == stats["teacher"]["failed_count"] == stats["drops"]["by_reason"]["teacher call failed"]
    assert all(f["error"].startswith("HTTP 500") and f["where"].startswith("toy:") for f in failed)
    with ChatServer(oracle_answer) as srv:  # the rerun sends exactly the failed calls
        build(recipe(tmp_path, srv.base_url, teacher={"max_retries": 0}), tmp_path / "b", tmp_path / "b.sqlite")
        assert srv.stats.requests == len(failed)
    assert tree(tmp_path / "b", card=False) == tree(tmp_path / "ref", card=False)


def _cached(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_9_then_rerun_finishes_the_same_dataset_without_resending(tmp_path):
    over = {"sources": [{"kind": "toy", "task": "pointwise", "n": 30, "seed": 4}],
            "templates": {"llava_critic_pointwise": 1}, "augment": {}, "teacher": {"concurrency": 2}}
    with ChatServer(oracle_answer) as fast:
        build(recipe(tmp_path, fast.base_url, name="ref.yaml", **over), tmp_path / "ref", tmp_path / "ref.sqlite")
    with ChatServer(oracle_answer, latency=0.1) as slow:
        rcp = recipe(tmp_path, slow.base_url, **over)
        cache, out = tmp_path / "c.sqlite", tmp_path / "out"
        cmd = [sys.executable, "-m", "critic", "data", "build", str(rcp), "--out", str(out), "--cache", str(cache),
               "--no-progress"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while _cached(cache) < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = _cached(cache)
        assert 6 <= done < 30, f"the build was not killed mid-run ({done} cached)"
        assert not (out / "stats.json").exists() and (out / ".partial").exists()
        before = slow.stats.requests
        rerun = subprocess.run(cmd, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert slow.stats.requests - before == 30 - done  # nothing that had succeeded is sent again
    assert tree(out, card=False) == tree(tmp_path / "ref", card=False)


def test_api_key_comes_from_the_environment_and_is_never_written(tmp_path, monkeypatch, capsys):
    secret = "sk-critic-test-9f8e7d6c5b4a"
    monkeypatch.setenv("CRITIC_TEST_KEY", secret)
    with ChatServer(oracle_answer, api_key=secret) as srv:
        rcp = recipe(tmp_path, srv.base_url, teacher={"api_key_env": "CRITIC_TEST_KEY"})
        cache = tmp_path / "cache" / "teacher.sqlite"
        assert main(["data", "build", str(rcp), "--out", str(tmp_path / "out"), "--cache", str(cache),
                     "--no-progress"]) == 0
        assert srv.stats.outcomes["ok"] == 20 and srv.stats.outcomes["401"] == 0
        monkeypatch.setenv("CRITIC_TEST_KEY", "sk-wrong-key")
        assert main(["data", "build", str(rcp), "--out", str(tmp_path / "out2"), "--no-cache", "--no-progress"]) == 2
    printed = capsys.readouterr()
    blobs = [p.read_bytes() for d in (tmp_path / "out", tmp_path / "out2", cache.parent) for p in d.rglob("*") if p.is_file()]
    assert blobs and not any(secret.encode() in b or b"sk-wrong-key" in b for b in blobs)
    assert secret not in printed.out + printed.err and "authentication failed" in printed.err


def test_bad_inputs_are_counted_with_file_and_line(tmp_path):
    make_toy(tmp_path / "toy", n=4, seed=7, task="pointwise")
    good = (tmp_path / "toy" / "items.jsonl").read_text().splitlines()
    Image.new("RGB", (4, 4)).save(tmp_path / "toy" / "images" / "ok.png")
    (tmp_path / "toy" / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    first = json.loads(good[0])
    lines = [good[0], "{oops", json.dumps({"id": "m", "question": "q"}),
             json.dumps({**first, "id": "noimg", "images": ["images/none.png"]}),
             json.dumps({**first, "id": "broken", "images": ["images/broken.png"]}),
             json.dumps({**first, "id": "refuse", "response": "REFUSE this one."}), good[1]]
    (tmp_path / "toy" / "items.jsonl").write_text("\n".join(lines) + "\n")

    def answer(body, images):
        return "I will not judge this." if "REFUSE" in prompt_text(body) else oracle_answer(body, images)

    with ChatServer(answer) as srv:
        rcp = recipe(tmp_path, srv.base_url, sources=[{"kind": "jsonl", "path": "toy/items.jsonl", "gold_scale": [1, 10]}],
                     templates={"llava_critic_pointwise": 1, "no_such_template": 1})
        res = build(rcp, tmp_path / "out", tmp_path / "c.sqlite")
    assert res.stats.total == 2
    listed = json.loads((tmp_path / "out" / "stats.json").read_text())["drops"]["listed"]
    got = {d["reason"]: d["where"].rsplit("/", 1)[-1] for d in listed}
    line = rcp.read_text().splitlines().index("  no_such_template: 1") + 1
    assert got == {"unknown template": f"recipe.yaml:{line}", "malformed line": "items.jsonl:2",
                   "missing field": "items.jsonl:3", "missing image": "items.jsonl:4",
                   "unreadable image": "items.jsonl:5", "teacher answer unparseable": "items.jsonl:6"}


def test_teacher_explain_keeps_agreeing_answers_and_drops_contradictions(tmp_path):
    over = {"sources": [{"kind": "toy", "task": "pairwise", "n": 16, "seed": 8, "target": "teacher_explain"}],
            "templates": {"llava_critic_pairwise": 1}, "augment": {"swap_rate": 0.0}}
    with ChatServer(oracle_answer) as srv:
        res = build(recipe(tmp_path, srv.base_url, **over), tmp_path / "a", tmp_path / "a.sqlite")
    assert res.stats.total == 16 and res.stats.drops == {}
    sample = TrainingSample.model_validate_json((tmp_path / "a" / "train.jsonl").read_text().splitlines()[0])
    assert "The image shows" in sample.completion
    liar = lambda body, images: "Looks fine to me. Therefore, the first response is better."  # noqa: E731
    with ChatServer(liar) as srv:
        res = build(recipe(tmp_path, srv.base_url, name="r2.yaml", **over), tmp_path / "b", tmp_path / "b.sqlite")
        text = srv.stats.requests
    labels = [json.loads(line)["verdict"]["winner"] for f in ("train", "test")
              for line in (tmp_path / "a" / f"{f}.jsonl").read_text().splitlines()]
    assert text == 16 and res.stats.total == labels.count("A")
    assert res.stats.drops["teacher verdict contradicts the label"] == 16 - labels.count("A")


def test_gold_target_swaps_and_drops_references_without_a_teacher(tmp_path):
    make_toy(tmp_path / "toy", n=12, seed=9, task="pairwise")
    rows = [json.loads(x) for x in (tmp_path / "toy" / "items.jsonl").read_text().splitlines()]
    for r in rows:
        r["reference"] = f"The answer is {r['meta']['truth']}."
    (tmp_path / "toy" / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rcp = recipe(tmp_path, "http://127.0.0.1:9/v1", sources=[{"kind": "jsonl", "path": "toy/items.jsonl", "target": "gold"}],
                 templates={"reference_pair": 1, "mllm_judge_pair": 1}, templates_per_item=2,
                 augment={"swap_rate": 1.0, "reference_drop_rate": 1.0}, splits={"train": 1})
    res = build(rcp, tmp_path / "out", tmp_path / "c.sqlite")
    assert res.stats.total == 24 and res.stats.swapped == 24 and res.stats.teacher["calls"] == 0
    by_id = {r["id"]: r for r in rows}
    for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines():
        s = TrainingSample.model_validate_json(line)
        item = by_id[s.id.split(":")[1]]
        assert s.swapped and s.verdict == {"winner": item["label"]}
        prompt = " ".join(p.get("text", "") for m in s.prompt_messages for p in m.content)
        assert prompt.index(item["response_b"]) < prompt.index(item["response_a"])  # B shown first
        assert ("The answer is" in prompt) == (s.template == "reference_pair")  # dropped where not needed
        assert "Response B" in s.completion.split(". ")[2] or item["meta"]["rationale"].count("Response") == 0


def test_dry_run_prints_the_bill_and_spends_nothing(oracle, tmp_path, capsys):
    rcp = recipe(tmp_path, oracle.base_url, teacher={"model": "gpt-4o", "base_url": oracle.base_url})
    out = tmp_path / "out"
    assert main(["data", "build", str(rcp), "--out", str(out), "--dry-run", "--cache", str(tmp_path / "c.sqlite")]) == 0
    text = capsys.readouterr().out
    assert "teacher calls: 20 to gpt-4o" in text and "0 already cached" in text
    assert "estimated tokens:" in text and "estimated cost: $" in text
    assert oracle.stats.requests == 0 and not out.exists() and not (tmp_path / "c.sqlite").exists()


def test_recipe_errors_name_file_line_and_key(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ntemplates: {llava_critic_pointwise: 1}\nsources:\n  - kind: toy\n    task: pointwise\n"
                 "    n: 3\n    colums: 4\nteacher:\n  api_key: sk-nope\n")
    assert main(["data", "build", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{p}:7: sources.0.colums: unknown key 'colums'" in err
    assert f"{p}:9: teacher.api_key: unknown key 'api_key'" in err


def test_shipped_recipes_are_valid():
    from critic.data.recipe import RecipeError, load_recipe
    from critic.pairs.recipe import load_pairs_recipe

    names, pairs = {}, {}
    for p in sorted((ROOT / "data_recipes").glob("*.yaml")):  # data-build recipes, and pairs-build ones
        if "policy" in yaml.safe_load(p.read_text()):
            pairs[p.stem] = load_pairs_recipe(p)
            with pytest.raises(RecipeError, match="critic pairs build"):
                load_recipe(p)
        else:
            names[p.stem] = load_recipe(p)
    assert "toy_mmpr" in pairs
    assert {"toy", "llava_critic_113k"} <= set(names)
    toy = names["toy"]
    assert {s.kind for s in toy.sources} == {"toy"} and toy.uses_teacher
    for t in toy.templates:
        load_template(t)
    big = names["llava_critic_113k"]
    assert {s.target for s in big.sources} >= {"teacher_judge", "teacher_explain"}
    assert all(load_template(t) for t in big.templates)


@pytest.mark.slow
def test_memory_stays_flat_as_the_dataset_grows(tmp_path):
    peaks = []
    for n in (500, 4000):
        rcp = recipe(tmp_path, "http://127.0.0.1:9/v1", name=f"r{n}.yaml", teacher={"window": 256},
                     sources=[{"kind": "toy", "task": "pointwise", "n": n, "seed": 1, "target": "gold"}])
        code = ("import resource, sys; from critic.commands.main import main; main(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        res = subprocess.run([sys.executable, "-c", code, "data", "build", str(rcp), "--out", str(tmp_path / f"o{n}"),
                              "--no-progress"], capture_output=True, text=True, check=True)
        peaks.append(int(res.stdout.split()[-1]))
    assert peaks[1] < peaks[0] * 1.25, peaks


def test_a_missing_source_stops_the_build_and_the_dry_run(tmp_path, capsys, monkeypatch):
    """A source file that is not there is the recipe's error (line, path, unset variable), never a dropped line."""
    monkeypatch.delenv("CRITIC_TEST_DATA", raising=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "r", "templates": {"llava_critic_pointwise": 1},
        "sources": [{"kind": "jsonl", "path": "$CRITIC_TEST_DATA/items.jsonl", "target": "teacher_judge"}],
        "teacher": {"model": "gpt-4o"}}, sort_keys=False))
    for extra in (["--dry-run"], ["--out", str(tmp_path / "out")]):
        assert main(["data", "build", str(recipe), *extra]) == 2
        err = capsys.readouterr().err
        assert f"{recipe}:" in err and "sources[0].path" in err and "does not exist" in err, err
        assert "$CRITIC_TEST_DATA not set" in err, err
    assert not (tmp_path / "out").exists()
