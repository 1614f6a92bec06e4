""":class:`RemoteCritic`: a ``critic serve`` server used like a :class:`~critic.judging.critic.Critic`.

``score`` / ``compare`` / ``rank`` call ``/v1/score``, ``/v1/compare`` and ``/v1/rank``;
``judge_stream`` calls ``/v1/judge``, so whatever runs on a critic's ``judge_stream`` — ranking
(``label-pairs``, ``best-of-n``), the judge-to-file loop (``critic judge``, ``filter``), the TRL
reward function and pairwise judge — runs unchanged against a server. ``critic ... --judge-backend
remote --judge-base-url URL`` and a ``critic dpo`` critic section with ``backend: remote`` build one
(:func:`critic.judging.factory.make_critic`).

Images go as lossless PNG data URLs (the server reads no client path), or as the paths themselves
with ``send_paths=True`` when the server shares the files under its ``--image-root``. Connection
errors and 503 are retried with backoff (``max_retries``); any other error status raises
:class:`RemoteError` with the server's message. Each thread keeps its own keep-alive connection.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from critic.records import CandidateSet, PairwiseItem, PairwiseJudgment, PointwiseItem, PointwiseJudgment

#: Items per ``/v1/judge`` request made by :meth:`RemoteCritic.judge_stream`.
CHUNK = 64


class RemoteError(RuntimeError):
    """The server answered with an error status (``status``) or could not be reached after the retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _RemoteBackend:
    """What code that inspects ``critic.backend`` reads: the judge's id."""

    def __init__(self, owner: RemoteCritic) -> None:
        self._owner = owner

    @property
    def judge_id(self) -> str:
        return self._owner.judge_id


class RemoteCritic:
    """A critic served by ``critic serve`` at ``url`` (``http://host:port``), with the same calls as :class:`Critic`."""

    def __init__(self, url: str, *, api_key: str | None = None, template: str | None = None, timeout: float = 600.0,
                 max_retries: int = 8, send_paths: bool = False, progress: bool = False) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{url}: expected http:// or https://")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path.rstrip("/")
        self._api_key = api_key
        self.template = template
        self.timeout = timeout
        self.max_retries = max_retries
        self.send_paths = send_paths
        self.progress = progress
        self._local = threading.local()
        self._judge_id: str | None = None
        self.backend = _RemoteBackend(self)

    @classmethod
    def from_spec(cls, spec: Any, progress: bool = False) -> RemoteCritic:
        """The client a :class:`~critic.judging.spec.JudgeSpec` with ``backend="remote"`` names.

        The token is read from ``$spec.api_key_env`` when the spec sets it, else from ``$CRITIC_API_KEY``
        (never ``$OPENAI_API_KEY``: an OpenAI key is not sent to a critic server by default).
        """
        if not spec.base_url:
            raise ValueError("backend remote needs base_url: the critic server's address (http://host:port)")
        var = spec.api_key_env if "api_key_env" in spec.model_fields_set else "CRITIC_API_KEY"
        return cls(spec.base_url[0], api_key=os.environ.get(var) or None, template=spec.template,
                   timeout=spec.timeout, max_retries=spec.max_retries, progress=progress)

    def __repr__(self) -> str:
        return f"RemoteCritic({self.url!r})"

    # -- HTTP -------------------------------------------------------------------------------
    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = self._local.conn = cls(self._netloc, timeout=self.timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """``body`` as JSON to ``path``; the answer's JSON. Retries connection errors and 503."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.1 * 2 ** (attempt - 1)) * (0.5 + random.random()))
            try:
                conn = self._conn()
                conn.request(method, self._prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    self._drop()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status == 503:
                last = "503 " + raw.decode("utf-8", "replace")[:200]
                continue
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                raise RemoteError(f"{path}: {resp.status}: not JSON: {raw[:200]!r}", resp.status) from None
            if resp.status >= 400:
                message = (payload or {}).get("error", {}).get("message", raw[:200]) if isinstance(payload, dict) else raw
                raise RemoteError(f"{self.url}{path}: {resp.status}: {message}", resp.status)
            return payload
        raise RemoteError(f"{self.url}{path}: no answer after {self.max_retries} retries ({last})")

    @property
    def judge_id(self) -> str:
        if self._judge_id is None:
            self._judge_id = "remote:" + str(self.request("GET", "/health").get("judge", "?"))
        return self._judge_id

    def template_for(self, task: str, override: Any = None) -> Any:
        """The :class:`~critic.judging.templates.Template` the server uses for ``task`` (or ``override``), read locally."""
        from critic.judging.templates import Template, load_template

        if isinstance(override, Template):
            return override
        name = override or self.template or self.request("GET", "/health").get("templates", {}).get(task)
        if not name:
            raise ValueError(f"the server reports no {task} template")
        t = load_template(name)
        if t.task != task:
            raise ValueError(f"template {t.name!r} is {t.task}, but a {task} template is needed")
        return t

    # -- items ------------------------------------------------------------------------------
    def _image(self, src: Any) -> str:
        from critic.media import to_data_url

        if isinstance(src, str) and (src.startswith("data:") or self.send_paths):
            return src
        return to_data_url(src, max_side=1 << 20, max_bytes=1 << 30, format="PNG")

    def _payload(self, items: Sequence[Any], pil_images: Sequence[Sequence[Any]] | None) -> list[dict[str, Any]]:
        out = []
        for n, it in enumerate(items):
            d = it.to_json_dict()
            sources = list(pil_images[n]) if pil_images is not None and pil_images[n] is not None else list(it.images)
            d["images"] = [self._image(s) for s in sources]
            out.append(d)
        return out

    def _template(self, template: Any) -> str | None:
        t = template if template is not None else self.template
        return getattr(t, "name", t)

    # -- the Critic's calls -----------------------------------------------------------------
    def score(self, items, *, template=None, pil_images=None):
        """Judgments of pointwise items, in order (one item → one judgment)."""
        single = isinstance(items, PointwiseItem)
        batch = [items] if single else list(items)
        imgs = [pil_images] if single and pil_images is not None else pil_images
        got = self.request("POST", "/v1/score", {"items": self._payload(batch, imgs),
                                                 "template": self._template(template)})
        out = [PointwiseJudgment.model_validate(j) for j in got["judgments"]]
        return out[0] if single else out

    def compare(self, items, *, swap: str = "none", rule: str = "tie", template=None, pil_images=None):
        """A :class:`~critic.judging.pair_order.Comparison` per pairwise item, in order."""
        from critic.judging.pair_order import Comparison

        single = isinstance(items, PairwiseItem)
        batch = [items] if single else list(items)
        imgs = [pil_images] if single and pil_images is not None else pil_images
        got = self.request("POST", "/v1/compare", {"items": self._payload(batch, imgs), "swap": swap, "rule": rule,
                                                   "template": self._template(template)})
        out = [Comparison.model_validate(c) for c in got["comparisons"]]
        return out[0] if single else out

    def rank(self, sets, *, mode: str = "pairwise", aggregation: str = "llava_ov", template=None, **_: Any):
        """A :class:`~critic.judging.ranking.RankedSet` per candidate set, ranked on the server."""
        from critic.judging.ranking import RankedSet

        single = isinstance(sets, CandidateSet)
        batch = [sets] if single else list(sets)
        got = self.request("POST", "/v1/rank", {"sets": self._payload(batch, None), "mode": mode,
                                                "aggregation": aggregation, "template": self._template(template)})
        out = [RankedSet.model_validate(r) for r in got["rankings"]]
        return out[0] if single else out

    def judge_stream(self, items, *, swap: str = "none", template=None, pil_images=None, desc: str = "judging",
                     skip: frozenset[tuple[str, bool]] | set[tuple[str, bool]] = frozenset()) -> Iterator[Any]:
        """Every judgment of ``items`` (both orders of a pair under ``swap="both"``), chunk by chunk.

        ``skip``: ``(id, swapped)`` pairs already judged; they are dropped from what is yielded
        (the server judges the item's other order only when it is not skipped too).
        """
        items = list(items)
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            imgs = pil_images[start:start + CHUNK] if pil_images is not None else None
            keep = [k for k, it in enumerate(chunk) if not ((it.id, False) in skip and (it.id, True) in skip
                                                            or it.task == "pointwise" and (it.id, False) in skip)]
            if not keep:
                continue
            sent = [chunk[k] for k in keep]
            got = self.request("POST", "/v1/judge", {
                "items": self._payload(sent, [imgs[k] for k in keep] if imgs is not None else None),
                "swap": swap, "template": self._template(template)})
            for js in got["judgments"]:
                for j in js:
                    judgment = (PointwiseJudgment if j.get("task") == "pointwise" else PairwiseJudgment).model_validate(j)
                    if (judgment.id, getattr(judgment, "swapped", False)) not in skip:
                        yield judgment
