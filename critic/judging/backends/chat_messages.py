"""Chat-completions messages from HF-layout ones, and data URLs encoded once per image.

``{"type": "text"}`` parts stay, the i-th ``{"type": "image"}`` part becomes ``{"type": "image_url",
"image_url": {"url": <the i-th URL>}}``, and system and assistant turns are sent as plain strings
(their text parts joined). :class:`ImageUrlMemo` backs
:meth:`~critic.judging.backends.openai_compat.OpenAIBackend.reuse_images`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any


def to_chat_messages(
    messages: Sequence[dict[str, Any]], image_urls: Sequence[str], *, detail: str | None = None
) -> list[dict[str, Any]]:
    """HF-layout ``messages`` as chat-completions messages, the i-th image part → ``image_urls[i]``.

    >>> to_chat_messages([{"role": "system", "content": [{"type": "text", "text": "Be fair."}]},
    ...                   {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}],
    ...                  ["data:image/png;base64,AAAA"])  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'Be fair.'},
     {'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,AAAA'}},
                                  {'type': 'text', 'text': 'Q'}]}]
    """
    out: list[dict[str, Any]] = []
    urls = iter(image_urls)
    for msg in messages:
        role, content = msg["role"], msg.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for part in content or []:
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": part.get("text", "")})
            elif kind == "image":
                url: dict[str, Any] = {"url": next(urls, "")}
                if detail:
                    url["detail"] = detail
                parts.append({"type": "image_url", "image_url": url})
            else:
                raise ValueError(f"unsupported content part type {kind!r}")
        if role in ("system", "assistant"):
            if any(p["type"] != "text" for p in parts):
                raise ValueError(f"{role} messages cannot hold images")
            out.append({"role": role, "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": role, "content": parts})
    n_parts = sum(
        1 for m in out if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_url"
    )
    if n_parts != len(image_urls):
        raise ValueError(f"{len(image_urls)} images given but the messages have {n_parts} image parts")
    return out


class ImageUrlMemo:
    """Data URLs by key, each computed once even when threads ask for it at the same moment.

    Keeps the ``max_items`` most recently added URLs: a candidate set's requests are sent together,
    so an image is rarely needed again once its set is done.
    """

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._urls: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._guard = threading.Lock()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}

    def get(self, key: tuple[Any, ...], make: Callable[[], str]) -> str:
        url = self._urls.get(key)
        if url is not None:
            return url
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # concurrent requests for one image wait for a single encode
            url = self._urls.get(key)
            if url is None:
                url = make()
                with self._guard:
                    self._urls[key] = url
                    while len(self._urls) > self.max_items:
                        old, _ = self._urls.popitem(last=False)
                        self._locks.pop(old, None)
        return url
