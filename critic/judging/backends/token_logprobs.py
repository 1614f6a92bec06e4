"""Per-token logprobs as an OpenAI-compatible server returns them, as plain JSON-able records.

``read_logprobs(choice.logprobs)`` turns the SDK's ``ChoiceLogprobs`` (or the raw dict) into a list of
``{"token": str, "logprob": float, "top": {token: logprob}}``, one per generated token, or None when
the server sent none (OpenAI without ``logprobs=True``, or a server that ignores it). Plain values, so
:class:`~critic.judging.backends.cache.JudgeCache` can store them beside the text.

>>> read_logprobs({"content": [{"token": "4", "logprob": -0.2, "top_logprobs": [{"token": "4", "logprob": -0.2},
...                                                                            {"token": "3", "logprob": -1.9}]}]})
[{'token': '4', 'logprob': -0.2, 'top': {'4': -0.2, '3': -1.9}}]
>>> read_logprobs(None) is None, read_logprobs({"content": None}) is None
(True, True)
"""

from __future__ import annotations

from typing import Any


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def read_logprobs(obj: Any) -> list[dict[str, Any]] | None:
    """The tokens of a choice's ``logprobs`` (see the module doc), or None when there are none."""
    content = _get(obj, "content") if obj is not None else None
    if not isinstance(content, list) or not content:
        return None
    out: list[dict[str, Any]] = []
    try:
        for t in content:
            top = {str(_get(a, "token")): float(_get(a, "logprob")) for a in (_get(t, "top_logprobs") or [])}
            out.append({"token": str(_get(t, "token")), "logprob": float(_get(t, "logprob")), "top": top})
    except (TypeError, ValueError):  # a malformed entry: no probabilities rather than wrong ones
        return None
    return out


__all__ = ["read_logprobs"]
