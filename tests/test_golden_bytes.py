"""Refactors change no byte: cache keys and dataset bytes equal what main produced before the
package-layout move (issue 12), on a fixed input.

Everything is driven through the ``critic`` command line (the one interface a refactor must not
change): toy items, a data build through the oracle teacher, and judging with the OpenAI-compatible
backend and with a local tiny checkpoint. The recorded digests were taken on main at 7beafc2 with
``python tests/test_golden_bytes.py`` (which prints them). If a change is *meant* to alter cache
keys or dataset bytes, re-record them and say why in the commit. ``judge_hf_keys`` was re-recorded
on 2026-12-02 (issue 13): the tiny model's tokenizer gained capitalised words, so the tiny checkpoint's
files, and with them its fingerprint in the judge id, changed; the other four digests did not move.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

RECORDED = {
    "dataset": "6745ea1ae09fb94b6379461a5ba2d1b2ebbfbaca41d0e1700a1df8a5bb8b26d1",
    "teacher_keys": "86fcc94af93a985810d5ebefc52f356b27952c8a4d180ed746e39e70cfc3997e",
    "judge_openai_keys": "ca1ceb7b05749e4ce988d411e526d5da7b932a19c05f3cdfb54acd0cb3ce31e4",
    "judge_openai_rows": "f323cc79d77f862bde2ba4d2730efbbccc2697902efc3bda17791cc67513a247",
    "judge_hf_keys": "b28df362335a0d9f81963fec160c8297eb51c6263d65a8096e91a3e849934ad3",
}


def _critic(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run([sys.executable, "-m", "critic", *argv], check=True, capture_output=True, text=True, cwd=cwd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest_files(root: Path, skip: set[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in skip:
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _digest_keys(cache: Path) -> str:
    with sqlite3.connect(cache) as con:
        keys = sorted(k for (k,) in con.execute("SELECT key FROM results"))
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def _digest_rows(path: Path) -> str:
    """Judgment rows without what varies by run (timings, the server's address)."""
    rows = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for k in ("latency_s", "created", "elapsed_s", "judge_params"):
            row.pop(k, None)
        rows.append(json.dumps(row, sort_keys=True))
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


def measure(tmp: Path) -> dict[str, str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    teacher = subprocess.Popen([sys.executable, "-m", "critic", "toy", "teacher", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or teacher.poll() is not None:
                    raise RuntimeError("oracle teacher did not start") from None
                time.sleep(0.2)
        recipe = {
            "name": "golden", "seed": 1,
            "sources": [
                {"kind": "toy", "task": "pointwise", "n": 8, "seed": 1, "kinds": ["colour", "shape"]},
                {"kind": "toy", "task": "pairwise", "n": 8, "seed": 2, "kinds": ["colour", "count"]},
            ],
            "templates": {"llava_critic_pointwise": 1, "mllm_judge_score": 1, "llava_critic_pairwise": 2},
            "teacher": {"model": "oracle", "base_url": base, "concurrency": 4},
            "augment": {"swap_rate": 0.5},
            "splits": {"train": 0.75, "test": 0.25},
        }
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        _critic("data", "build", str(tmp / "recipe.yaml"), "--out", str(tmp / "ds"),
                "--cache", str(tmp / "teacher.sqlite"), "--no-progress")
        _critic("toy", "make", "--task", "pairwise", "--n", "6", "--seed", "5", "--out", str(tmp / "items"))
        items = str(tmp / "items" / "items.jsonl")
        _critic("judge", "--backend", "openai", "--model", "oracle", "--base-url", base, "--input", items,
                "--output", str(tmp / "j_openai.jsonl"), "--swap", "both", "--cache", str(tmp / "judge.sqlite"),
                "--no-progress")
    finally:
        teacher.terminate()
        teacher.wait(10)
    _critic("toy", "model", "--family", "llava", "--out", str(tmp / "tiny"), "--seed", "0")
    for f in (tmp / "tiny").iterdir():  # the checkpoint fingerprint in the judge id reads mtimes
        os.utime(f, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    # relative --model: the judge id (part of every key) holds the path as given
    _critic("judge", "--backend", "hf", "--model", "tiny", "--input", items,
            "--output", str(tmp / "j_hf.jsonl"), "--max-new-tokens", "4", "--cache", str(tmp / "hf.sqlite"),
            "--no-progress", cwd=tmp)
    return {
        "dataset": _digest_files(tmp / "ds", skip={"card.md"}),
        "teacher_keys": _digest_keys(tmp / "teacher.sqlite"),
        "judge_openai_keys": _digest_keys(tmp / "judge.sqlite"),
        "judge_openai_rows": _digest_rows(tmp / "j_openai.jsonl"),
        "judge_hf_keys": _digest_keys(tmp / "hf.sqlite"),
    }


def test_cache_keys_and_dataset_bytes_are_unchanged(tmp_path):
    got = measure(tmp_path)
    if not all(RECORDED.values()):
        pytest.fail(f"record these digests in RECORDED: {json.dumps(got, indent=2)}")
    assert got == RECORDED


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(json.dumps(measure(Path(d)), indent=4))
