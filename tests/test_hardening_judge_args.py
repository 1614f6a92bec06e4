"""``critic judge`` refuses sampling and request values that cannot work, before loading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from critic.commands.main import main


@pytest.mark.parametrize(("flag", "value"), [
    ("--timeout", "0"), ("--timeout", "nan"), ("--temperature", "-1"), ("--top-p", "5"), ("--top-p", "0"),
    ("--max-new-tokens", "0"), ("--batch-size", "0"), ("--concurrency", "-3"), ("--max-retries", "-1"),
    ("--timeout", "inf"), ("--temperature", "inf"),
])
def test_out_of_range_values_are_usage_errors(tmp_path: Path, capsys, flag: str, value: str) -> None:
    """issue 14.14: --timeout 0, --temperature -1, --top-p 5, --max-new-tokens 0 were accepted."""
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "1", "question": "q", "response": "r"}\n')
    out = tmp_path / "out.jsonl"
    try:
        rc = main(["judge", "--input", str(items), "--output", str(out), "--model", "nowhere", flag, value])
    except SystemExit as exc:  # refused by argparse itself
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err
    assert f"critic judge: error: {flag}" in err and "Traceback" not in err
    assert not out.exists()
