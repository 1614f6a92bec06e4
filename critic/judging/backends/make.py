"""``make_backend(spec)``: the one place a backend is made from a :class:`~critic.judging.spec.JudgeSpec`.

The spec names the backend (``hf``: a local transformers checkpoint; ``openai``: an OpenAI-compatible
server) and its settings; the API key is read from ``$<spec.api_key_env>`` here and only here. With
a cache, the backend is wrapped in :class:`~critic.judging.backends.cached.CachedBackend`.
:func:`critic.judging.factory.make_critic` builds a whole critic on top; ``Critic.from_openai`` and
``Critic.from_pretrained`` come here too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from critic.judging.backends.base import Backend
from critic.judging.backends.cache import JudgeCache
from critic.judging.backends.cached import CachedBackend
from critic.judging.spec import JudgeSpec


def make_backend(spec: JudgeSpec, cache: JudgeCache | None = None, **options: Any) -> Backend:
    """The backend ``spec`` names, behind ``cache`` when one is given.

    ``options`` go to the backend's constructor over the spec's settings (e.g. ``api_key=``, or
    ``max_image_side=`` for the OpenAI backend).
    """
    backend: Backend
    if spec.backend == "remote":
        raise ValueError("backend remote is a critic serve server, not a generation backend: use make_critic")
    if spec.backend == "hf":
        if spec.base_url:
            raise ValueError("base_url is for backend openai; backend hf runs a local checkpoint")
        check_local_model(spec.model)
        from critic.judging.backends.hf import HFBackend

        settings: dict[str, Any] = {"batch_size": spec.batch_size, "dtype": spec.dtype, "device": spec.device,
                                    "trust_remote_code": spec.trust_remote_code}
        backend = HFBackend(spec.model, **{**settings, **options})
    else:
        from critic.judging.backends.openai_compat import OpenAIBackend

        settings = {"base_urls": spec.base_url, "api_key": os.environ.get(spec.api_key_env),
                    "concurrency": spec.concurrency, "timeout": spec.timeout, "max_retries": spec.max_retries,
                    "rpm": spec.rpm, "image_detail": spec.image_detail, "price_per_mtok": spec.price_per_mtok}
        backend = OpenAIBackend(spec.model, **{**settings, **options})
    return CachedBackend(backend, cache) if cache is not None else backend


#: Model names that are served behind an API, never Hugging Face checkpoints: with backend hf they would
#: only cost a minute of Hub retries before failing.
_API_NAMES = re.compile(r"^(gpt-|chatgpt|o[1-9](-|$)|claude|gemini)", re.IGNORECASE)
_TRUE = {"1", "true", "yes", "on"}


def check_local_model(model: str) -> None:
    """Fail at once, with a hint, where backend hf could not load ``model`` without a long wait.

    Raises :class:`~critic.extras.MissingExtra` without torch / transformers, and ``ValueError`` for an
    API model name (``gpt-4o``) that is not a folder, or for a name that is neither a folder nor in the
    Hugging Face cache while ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` is set.
    """
    from critic.extras import require

    require("hf", what="backend hf (a local transformers checkpoint)")
    if Path(model).expanduser().exists():
        return
    served = "--backend openai --model NAME [--base-url URL] for a served model"
    if _API_NAMES.match(model):
        raise ValueError(f"model {model!r} is an API model, not a local checkpoint: use {served}")
    offline = any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if offline and not _in_hub_cache(model):
        raise ValueError(f"model {model!r} is not a folder and not in the Hugging Face cache, and HF_HUB_OFFLINE is "
                         f"set: give a checkpoint folder, download it first (unset HF_HUB_OFFLINE), or use {served}")


def _in_hub_cache(model: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, "config.json")
    except Exception:  # not a valid repo id either  # noqa: BLE001
        return False
    return isinstance(found, str)
