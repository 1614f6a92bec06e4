"""Local batched generation with transformers.

``AutoModelForImageTextToText`` + the checkpoint's own processor and chat template (never a
hard-coded one). Requests are sorted by (number of images, prompt length) so a batch pads little,
padded on the left, and generated greedily unless sampling asks otherwise. A batch that fails is
retried one request at a time so one bad request cannot sink its neighbours. Caching is not
this module's business: wrap the backend in :class:`~critic.judging.backends.cached.CachedBackend`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from critic.judging.backends.base import GenRequest, GenResult, SamplingParams
from critic.media import fit_pixels
from critic.models.special_tokens import escape_messages, special_strings

#: Images are scaled down to this many pixels before the processor sees them: Qwen2-VL's default
#: ``max_pixels`` (the most any supported family uses; LLaVA and OneVision resize far smaller).
PROCESSOR_MAX_PIXELS = 12_845_056


def checkpoint_fingerprint(path: str | Path) -> str:
    """A short hash of a local checkpoint's config and weight files (name, size, mtime).

    It goes into the judge id, so a checkpoint retrained in place never hits stale cache entries.
    """
    p = Path(path)
    if not p.is_dir():
        return "hub"
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.suffix in {".json", ".safetensors"}:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


class HFBackend:
    """Generate with a local transformers checkpoint, batched.

    ``dtype`` defaults to bfloat16 on GPU and the checkpoint's own dtype on CPU.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        batch_size: int = 8,
        dtype: str | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
    ):
        import torch

        from critic.models.loading import load_model, load_processor

        self.path = str(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "bfloat16" if self.device.startswith("cuda") else "auto"
        self.batch_size = max(1, int(batch_size))
        self.model = load_model(model, dtype=dtype, device=self.device, trust_remote_code=trust_remote_code)
        self.processor = load_processor(model, trust_remote_code=trust_remote_code)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        if getattr(self.processor, "chat_template", None) is None and getattr(self.tokenizer, "chat_template", None) is None:
            raise ValueError(f"{model}: the checkpoint has no chat template; critic needs one to format prompts")
        self.judge_id = f"hf:{self.path}@{checkpoint_fingerprint(model)}"
        self.special = special_strings(self.processor)  # item text never becomes these tokens (issue 14.9)

    # -- one batch -------------------------------------------------------------------------
    def encode(self, reqs: list[GenRequest]) -> Any:
        """The processor's batch for ``reqs``: chat template applied to the messages, their special-token
        strings broken first (:mod:`critic.models.special_tokens`), and images decoded."""
        texts = [self.processor.apply_chat_template(escape_messages(r.messages, self.special),
                                                    add_generation_prompt=True, tokenize=False) for r in reqs]
        n_images = [len(r.images) for r in reqs]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(n_images):
            # decoded here, one batch at a time (requests carry lazy images), and no bigger than the
            # processor needs: it would resize a 16 MP picture anyway, slowly (issue 14.4)
            kwargs["images"] = [[fit_pixels(im, PROCESSOR_MAX_PIXELS) for im in r.images] for r in reqs]
        return self.processor(**kwargs).to(self.device)

    def _generate_batch(self, reqs: list[GenRequest], sampling: SamplingParams) -> list[GenResult]:
        import torch

        batch = self.encode(reqs)
        gen_kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens}
        if sampling.temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**batch, **gen_kwargs)
        prompt_len = batch["input_ids"].shape[1]
        new = out[:, prompt_len:]
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        pad = self.model.generation_config.pad_token_id
        results = []
        prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()
        for row, n_prompt in zip(new.tolist(), prompt_tokens):
            n = 0
            for t in row:
                if t in eos_ids:
                    n += 1
                    break
                if t == pad:
                    break
                n += 1
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            results.append(GenResult(text=text, prompt_tokens=int(n_prompt), completion_tokens=n))
        return results

    def _safe_batch(self, reqs: list[GenRequest], sampling: SamplingParams) -> list[GenResult]:
        try:
            return self._generate_batch(reqs, sampling)
        except Exception as exc:  # noqa: BLE001 - isolate the bad request below
            if len(reqs) == 1:
                return [GenResult(text=None, error=f"{type(exc).__name__}: {exc}")]
            return [self._safe_batch([r], sampling)[0] for r in reqs]

    # -- the Backend protocol --------------------------------------------------------------
    def stream(self, requests: Sequence[GenRequest], sampling: SamplingParams) -> Iterator[tuple[int, GenResult]]:
        todo = list(range(len(requests)))

        def length(i: int) -> tuple[int, int]:
            r = requests[i]
            return (len(r.images), len(json.dumps(r.messages)))

        todo.sort(key=length)
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            # keep batches homogeneous in image count: processors differ in how they take mixed lists
            groups: dict[int, list[int]] = {}
            for i in idx:
                groups.setdefault(len(requests[i].images), []).append(i)
            for group in groups.values():
                for i, res in zip(group, self._safe_batch([requests[i] for i in group], sampling)):
                    yield i, res
