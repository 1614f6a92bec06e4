"""Credentials inside a base URL are never written or printed (issue 14.15).

``http://user:key@host`` as ``--base-url`` (or a recipe's ``teacher.base_url``) reached
``OUTPUT.failed.jsonl``, ``card.md`` and ``stats.json``; the fix masks them with
:func:`critic.secrets.redact_url` wherever a URL is written.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import yaml
from PIL import Image

from critic.commands.main import main
from critic.records import PointwiseItem
from critic.secrets import redact, redact_url
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import oracle_answer

SECRET = "sk-sekrit-4711"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _everything(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_redact_url_masks_userinfo_and_key_parameters():
    assert redact_url(f"http://me:{SECRET}@h:1/v1") == "http://***@h:1/v1"
    assert SECRET not in redact_url(f"see https://h/v1?token={SECRET}, http://{SECRET}@x/")
    assert redact_url("plain text, no URL: a=b") == "plain text, no URL: a=b"
    assert redact(("http://a:b@c/", 3)) == ("http://***@c/", 3)


def test_judge_failures_and_messages_hold_no_credentials(tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    rows = [PointwiseItem(id=f"i{k}", images=["a.png"], question="q", response="r").to_json_dict() for k in range(2)]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"http://user:{SECRET}@127.0.0.1:{_closed_port()}/v1"
    main(["judge", "--backend", "openai", "--model", "m", "--base-url", url, "--input", str(tmp_path / "items.jsonl"),
          "--output", str(tmp_path / "j.jsonl"), "--no-cache", "--no-progress", "--max-retries", "0",
          "--timeout", "5"])
    printed = capsys.readouterr()
    failed = tmp_path / "j.jsonl.failed.jsonl"
    assert failed.exists() or "127.0.0.1" in printed.err  # the failures were written, or the run stopped
    assert SECRET not in _everything(tmp_path) and SECRET not in printed.out + printed.err
    assert "***@127.0.0.1" in _everything(tmp_path) + printed.err


def test_data_build_card_and_stats_hold_no_credentials(tmp_path):
    from critic.data.build import BuildOptions, build_dataset
    from critic.toy.world import make_toy

    make_toy(tmp_path / "toy", n=3, seed=7, task="pointwise")
    with ChatServer(oracle_answer) as srv:
        good = srv.base_url.replace("http://", f"http://user:{SECRET}@")
        down = f"http://user:{SECRET}@127.0.0.1:{_closed_port()}/v1"
        for name, url in (("ok", good), ("down", down)):
            rcp = tmp_path / f"{name}.yaml"
            rcp.write_text(yaml.safe_dump({
                "name": "t", "sources": [{"kind": "jsonl", "path": "toy/items.jsonl", "gold_scale": [1, 10]}],
                "templates": {"llava_critic_pointwise": 1},
                "teacher": {"model": "oracle", "base_url": url, "concurrency": 2, "max_retries": 0,
                            "timeout": 5}}))
            try:
                build_dataset(rcp, tmp_path / name, BuildOptions(no_cache=True, progress=False))
            except Exception as exc:  # noqa: BLE001 - a dead teacher may stop the build: its message is checked
                assert SECRET not in str(exc)
    assert "user:" not in (tmp_path / "ok" / "card.md").read_text()
    assert SECRET not in _everything(tmp_path / "ok")
    if (tmp_path / "down").exists():
        assert SECRET not in _everything(tmp_path / "down")


def test_dpo_run_config_holds_no_credentials(tmp_path, monkeypatch):
    from critic.dpo import loop
    from critic.dpo.config import DPORunConfig

    fields = DPORunConfig.model_fields
    assert "critic" in fields and "output_dir" in fields
    seen: dict[str, str] = {}

    def stop(*a, **k):
        seen["config"] = (tmp_path / "run" / "run_config.json").read_text()
        raise SystemExit(0)

    monkeypatch.setattr("critic.dpo.sampling.read_prompts", stop)
    cfg = DPORunConfig.model_validate({
        "output_dir": str(tmp_path / "run"), "policy": {"name_or_path": "p"}, "prompts": str(tmp_path / "p.jsonl"),
        "critic": {"backend": "openai", "model": "m", "base_url": [f"http://u:{SECRET}@h/v1"]}})
    try:
        loop.run(cfg, log=lambda *_: None)
    except SystemExit:
        pass
    assert SECRET not in seen["config"] and "http://***@h/v1" in seen["config"]
