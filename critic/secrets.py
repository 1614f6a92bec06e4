"""Credentials never leave in what critic writes: :func:`redact_url` for every URL in a message or file.

A base URL may carry a key (``http://user:key@host/v1``, ``...?api_key=...``). Whatever critic writes
or prints that may hold such a URL — error messages, ``OUTPUT.failed.jsonl``, ``card.md`` (it quotes
the recipe), ``stats.json``, ``run_config.json``, summaries, logs and reprs — passes it through
:func:`redact_url` first. It works on a bare URL and on any text with URLs inside, and leaves text
without credentials unchanged.

>>> redact_url("http://user:sk-123@gpu1:8000/v1")
'http://***@gpu1:8000/v1'
>>> redact_url("teacher failed (https://api.example.com/v1?api_key=sk-9&x=1): HTTP 500")
'teacher failed (https://api.example.com/v1?api_key=***&x=1): HTTP 500'
>>> redact_url("base_url: http://localhost:8000/v1")
'base_url: http://localhost:8000/v1'
"""

from __future__ import annotations

import re
from typing import Any

# scheme://userinfo@ — userinfo is everything up to the @ that has no /, whitespace or quote in it
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s\"'<>]+)@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:api[_-]?key|key|token|access[_-]?token|auth|secret|password|passwd|pwd|sig|signature)=)"
    r"(?P<value>[^&#;\s\"'<>]+)", re.IGNORECASE)
MASK = "***"


def redact_url(text: str) -> str:
    """``text`` with the user/password of every URL and the values of key-like query parameters masked."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    return _SECRET_PARAM.sub(lambda m: m.group("name") + MASK, text)


def redact(value: Any) -> Any:
    """``value`` (text, or lists / tuples / dicts of them, nested) with :func:`redact_url` applied to all text.

    >>> redact({"critic": {"base_url": ["http://u:p@h/v1"]}, "seed": 3})
    {'critic': {'base_url': ['http://***@h/v1']}, 'seed': 3}
    """
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


__all__ = ["MASK", "redact", "redact_url"]
