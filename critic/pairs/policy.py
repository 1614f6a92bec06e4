"""The policy that answers: a local checkpoint or an OpenAI-compatible server, N samples per request.

Both take :class:`PolicyRequest` s — a question, its image paths and, for Dropout NTP, an assistant
``prefix`` to continue — and return N texts per request. A request with ``images=[]`` sends no
image at all: the local policy's prompt has no image slot (so no image token in its input ids,
kept in :attr:`LocalPolicy.last_input_ids`), the server request has no ``image_url`` part.

- :class:`LocalPolicy`: transformers ``generate`` (left-padded batches of same-image-count requests;
  ``temperature``, ``top_k``, ``top_p``; one seed per batch). A prefix is appended after the chat
  template's generation prompt, so the model continues its own answer.
- :class:`ServerPolicy`: one chat completion with ``n`` choices per request (vLLM / SGLang take
  ``top_k`` in the body); a prefix is sent as a final assistant message with vLLM's
  ``continue_final_message`` (and ``add_generation_prompt: false``). :func:`server_body` builds it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from critic.dpo.pairs import prompt_messages


@dataclass
class PolicyRequest:
    question: str
    images: list[str] = field(default_factory=list)
    prefix: str | None = None


@dataclass
class PolicySampling:
    """MMPR's sampling: temperature 0.7, top-k 50, top-p 1.0."""

    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0


class LocalPolicy:
    """A checkpoint on this machine (``name_or_path``), loaded once."""

    def __init__(self, name_or_path: str, *, batch_size: int = 32, dtype: str = "auto", device: str | None = None,
                 trust_remote_code: bool = False):
        import torch

        from critic.models.loading import load_model, load_processor
        from critic.models.special_tokens import special_strings

        self.name = str(name_or_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_model(name_or_path, dtype=dtype, device=self.device, trust_remote_code=trust_remote_code)
        self.model.eval()
        self.processor = load_processor(name_or_path, trust_remote_code=trust_remote_code)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        self.batch_size = max(1, batch_size)
        self.special = special_strings(self.processor)
        cfg = self.model.config
        self.image_token_id = getattr(cfg, "image_token_id", None) or getattr(cfg, "image_token_index", None)
        self.last_input_ids: list[list[int]] = []

    def _text(self, req: PolicyRequest) -> str:
        from critic.models.special_tokens import escape_messages, neutralise

        msgs = escape_messages(prompt_messages(req.question, len(req.images)), self.special)
        text = self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        return text + (neutralise(req.prefix, self.special) if req.prefix else "")

    def generate(self, requests: Sequence[PolicyRequest], sampling: PolicySampling, n: int = 1) -> list[list[str]]:
        """``n`` sampled texts per request (requests grouped by image count, batched)."""
        import torch

        from critic.media import load_image

        flat = [(i, r) for i, r in enumerate(requests) for _ in range(n)]
        flat.sort(key=lambda x: len(x[1].images))
        out: list[list[str]] = [[] for _ in requests]
        self.last_input_ids = []
        for b, start in enumerate(range(0, len(flat), self.batch_size)):
            part = flat[start:start + self.batch_size]
            groups: dict[int, list[tuple[int, PolicyRequest]]] = {}
            for item in part:
                groups.setdefault(len(item[1].images), []).append(item)
            for n_images, group in groups.items():
                kwargs: dict[str, Any] = {"text": [self._text(r) for _, r in group], "return_tensors": "pt",
                                          "padding": True}
                if n_images:
                    kwargs["images"] = [[load_image(p) for p in r.images] for _, r in group]
                batch = self.processor(**kwargs).to(self.device)
                self.last_input_ids += [row[m.bool()].tolist() for row, m in
                                        zip(batch["input_ids"], batch["attention_mask"])]
                torch.manual_seed(sampling.seed + b)
                with torch.inference_mode():
                    gen = self.model.generate(**batch, max_new_tokens=sampling.max_new_tokens, do_sample=True,
                                              temperature=sampling.temperature, top_k=sampling.top_k,
                                              top_p=sampling.top_p)
                new = gen[:, batch["input_ids"].shape[1]:]
                for (i, _), row in zip(group, new):
                    out[i].append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return out


def server_body(req: PolicyRequest, sampling: PolicySampling, model: str, n: int) -> dict[str, Any]:
    """The chat-completion arguments of one request (images as data URLs; a prefix continued).

    >>> b = server_body(PolicyRequest("Colour?", [], prefix="The circle"), PolicySampling(), "m", 1)
    >>> b["messages"], b["extra_body"]
    ([{'role': 'user', 'content': [{'type': 'text', 'text': 'Colour?'}]}, {'role': 'assistant', 'content': 'The circle'}], {'top_k': 50, 'continue_final_message': True, 'add_generation_prompt': False})
    """
    from critic.media import to_data_url

    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": to_data_url(p)}} for p in req.images]
    content.append({"type": "text", "text": req.question})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    extra: dict[str, Any] = {"top_k": sampling.top_k}
    if req.prefix:
        messages.append({"role": "assistant", "content": req.prefix})
        extra.update(continue_final_message=True, add_generation_prompt=False)
    return {"model": model, "messages": messages, "n": n, "temperature": sampling.temperature,
            "top_p": sampling.top_p, "max_tokens": sampling.max_new_tokens, "extra_body": extra}


class ServerPolicy:
    """A policy behind an OpenAI-compatible server (vLLM, SGLang); requests spread over ``base_url`` s."""

    def __init__(self, model: str, base_url: Sequence[str], *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 32, timeout: float = 600.0):
        import openai

        key = os.environ.get(api_key_env) or "EMPTY"
        self.name = model
        self.clients = [openai.OpenAI(base_url=u, api_key=key, timeout=timeout) for u in base_url]
        self.concurrency = concurrency
        self.last_bodies: list[dict[str, Any]] = []

    def generate(self, requests: Sequence[PolicyRequest], sampling: PolicySampling, n: int = 1) -> list[list[str]]:
        bodies = [server_body(r, sampling, self.name, n) for r in requests]
        self.last_bodies = bodies

        def one(i: int) -> list[str]:
            resp = self.clients[i % len(self.clients)].chat.completions.create(**bodies[i])
            return [(c.message.content or "").strip() for c in resp.choices]

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, range(len(bodies))))
