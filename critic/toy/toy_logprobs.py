"""Per-token logprobs for the toy chat server's answers, so ``--verdict-probs`` is tested end to end.

When a request asks for ``logprobs``, :class:`~critic.toy.chat_server.ChatServer` cuts its answer into
tokens (a word or a punctuation mark with the whitespace before it; trailing whitespace alone) that
spell the answer exactly, and gives each a fixed, hand-workable distribution:

* a whole number ``n``: ``P(n) = 0.8``, ``P(n-1) = P(n+1) = 0.1`` (same leading whitespace);
* ``A`` / ``B``, ``first`` / ``second``: ``P(self) = 0.8``, ``P(the other) = 0.2``;
* anything else: ``P(self) = 1``.

``top_logprobs`` alternatives are listed, most likely first, at most as many as asked (0: none).

>>> [t["token"] for t in toy_logprobs("Fine. Score: 4", 2)["content"]]
['Fine', '.', ' Score', ':', ' 4']
>>> {a["token"]: round(math.exp(a["logprob"]), 3) for a in toy_logprobs("Score: 4", 5)["content"][-1]["top_logprobs"]}
{' 4': 0.8, ' 3': 0.1, ' 5': 0.1}
"""

from __future__ import annotations

import math
import re
from typing import Any

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")
_PAIRS = {"A": "B", "B": "A", "first": "second", "second": "first"}


def alternatives(token: str) -> dict[str, float]:
    """The toy distribution of ``token`` (see the module doc): token → probability."""
    lead = token[: len(token) - len(token.lstrip())]
    core = token.strip()
    if re.fullmatch(r"\d+", core):
        n = int(core)
        return {token: 0.8, f"{lead}{n - 1}": 0.1, f"{lead}{n + 1}": 0.1}
    if core in _PAIRS:
        return {token: 0.8, lead + _PAIRS[core]: 0.2}
    return {token: 1.0}


def toy_logprobs(content: str, top: int) -> dict[str, Any]:
    """The ``choices[0].logprobs`` object of an answer ``content``, with ``top`` alternatives per token."""
    rows = []
    for tok in _TOKEN.findall(content):
        dist = alternatives(tok)
        alts = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in dist.items()][: max(0, top)]
        rows.append({"token": tok, "logprob": math.log(dist[tok]), "bytes": list(tok.encode()), "top_logprobs": alts})
    return {"content": rows}


__all__ = ["alternatives", "toy_logprobs"]
