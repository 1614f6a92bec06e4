"""``critic judge`` refuses sampling and request values that cannot work, before loading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from critic.commands.main import main


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--timeout", "0", "must be a number above 0"),
    ("--timeout", "nan", "must be a number above 0"),
    ("--temperature", "-1", "must be a finite number of at least 0"),
    ("--top-p", "5", "must be a number in (0, 1]"),
    ("--top-p", "0", "must be a number in (0, 1]"),
    ("--max-new-tokens", "0", "must be a whole number of at least 1"),
    ("--batch-size", "0", "must be a whole number of at least 1"),
    ("--concurrency", "-3", "must be a whole number of at least 1"),
    ("--max-retries", "-1", "must be a whole number of at least 0"),
])
def test_out_of_range_values_are_usage_errors(tmp_path: Path, capsys, flag: str, value: str, says: str) -> None:
    """issue 14.14: --timeout 0, --temperature -1, --top-p 5, --max-new-tokens 0 were accepted."""
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "1", "question": "q", "response": "r"}\n')
    with pytest.raises(SystemExit) as exc:
        main(["judge", "--input", str(items), "--output", str(tmp_path / "out.jsonl"), "--model", "nowhere",
              flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {says}, got {value!r}" in err
    assert not (tmp_path / "out.jsonl").exists()


def test_values_in_range_still_parse() -> None:
    """issue 14.14: the checks refuse only what cannot work (temperature 0, top-p 1, no retries)."""
    from critic.commands.main import build_parser

    args = build_parser().parse_args(["judge", "--input", "i", "--output", "o", "--model", "m", "--timeout", "0.5",
                                      "--temperature", "0", "--top-p", "1", "--max-new-tokens", "1",
                                      "--max-retries", "0"])
    assert (args.timeout, args.temperature, args.top_p, args.max_new_tokens, args.max_retries) == (0.5, 0.0, 1.0, 1, 0)
