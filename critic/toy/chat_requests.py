"""The chat-completions requests :mod:`critic.toy.chat_server` answers: their shape, images and usage.

A request the server cannot answer because of its shape (``messages`` not a list, a text part that is
not text...) gets a 400 with a JSON error naming the field (:func:`request_problem`), never a dropped
connection.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from critic.media import decode_data_url


def _words(text: str) -> int:
    return len(text.split())


def usage(body: dict[str, Any], content: str, n_images: int) -> dict[str, int]:
    prompt = 0
    for msg in body.get("messages") or []:
        c = msg.get("content")
        if isinstance(c, str):
            prompt += _words(c)
        elif isinstance(c, list):
            prompt += sum(_words(p.get("text", "")) for p in c if isinstance(p, dict))
    prompt += 85 * n_images
    completion = _words(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def request_problem(body: Any) -> str | None:
    """Why a chat request body cannot be answered (its shape, not its content), or None.

    >>> request_problem({"messages": "hi"})
    'messages must be a list of message objects'
    >>> request_problem({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]})
    'messages[0].content[0].text must be a string'
    >>> request_problem({"messages": [{"role": "user", "content": "hi"}]}) is None
    True
    """
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return "messages must be a list of message objects"
    for i, msg in enumerate(messages):
        content = msg.get("content")
        if content is None or isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"messages[{i}].content must be a string or a list of parts"
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            if not isinstance(part, dict):
                return f"{where} must be an object"
            if part.get("type") == "text" and not isinstance(part.get("text", ""), str):
                return f"{where}.text must be a string"
            url = part.get("image_url", {})
            if part.get("type") == "image_url" and not isinstance(url.get("url", "") if isinstance(url, dict) else url, str):
                return f"{where}.image_url must be a URL string or an object with one"
    return None


def request_images(body: dict[str, Any]) -> list[Image.Image]:
    """Decode every ``image_url`` part of a chat request body, in order (data URLs only)."""
    images = []
    for msg in body.get("messages") or []:
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = part.get("image_url", {})
                images.append(decode_data_url(url.get("url", "") if isinstance(url, dict) else url))
    return images


__all__ = ["request_images", "request_problem", "usage"]
