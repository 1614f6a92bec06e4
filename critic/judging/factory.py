"""``make_critic(spec)``: a :class:`~critic.judging.critic.Critic` from its :class:`~critic.judging.spec.JudgeSpec`.

What ``critic judge``, ``eval-bench``, ``label-pairs``, ``best-of-n`` and ``filter``, the data
recipe's teacher and each ``critic dpo`` round build their judge with. The backend comes from
:func:`~critic.judging.backends.make.make_backend`; the judge cache is opened at ``spec.cache``, else
at the one default path (:func:`~critic.judging.backends.cache.default_cache_path`), unless
``spec.no_cache``; a local checkpoint's own templates (``critic.json``) are used unless the spec
names one. A local checkpoint whose ``critic.json`` records a reward kind (``scalar`` /
``critique_score``) gives a :class:`~critic.reward.judge.RewardCritic` (rewards, no templates, no cache).
"""

from __future__ import annotations

from critic.judging.backends.cache import JudgeCache, default_cache_path
from critic.judging.backends.make import make_backend
from critic.judging.critic import Critic, checkpoint_templates
from critic.judging.spec import JudgeSpec

__all__ = ["make_critic", "open_cache"]


def open_cache(spec: JudgeSpec) -> JudgeCache | None:
    """The judge cache ``spec`` asks for: None with ``no_cache``, else ``spec.cache`` or the default file."""
    if spec.no_cache:
        return None
    return JudgeCache(spec.cache or default_cache_path("judge"))


def make_critic(spec: JudgeSpec, *, cache: JudgeCache | None = None, progress: bool = True) -> Critic:
    """The critic ``spec`` describes; ``cache``: an open cache to use instead of the spec's own.

    ``backend="remote"`` gives a :class:`~critic.serving.client.RemoteCritic` for the ``critic serve``
    server at ``spec.base_url`` (the server judges and caches; no local cache is opened).
    """
    if spec.backend == "remote":
        from critic.serving.client import RemoteCritic

        return RemoteCritic.from_spec(spec, progress=progress)  # type: ignore[return-value]
    if spec.backend == "hf":
        from critic.judging.backends.make import check_local_model
        from critic.reward.meta import checkpoint_kind

        check_local_model(spec.model)  # first: no extra, an API name or offline without the model fail at once

        if checkpoint_kind(spec.model) != "generative":  # a reward model: critic.json says scalar / critique_score
            from critic.reward.judge import RewardCritic

            return RewardCritic.from_pretrained(  # type: ignore[return-value]
                spec.model, batch_size=spec.batch_size, max_new_tokens=spec.max_new_tokens, dtype=spec.dtype,
                device=spec.device, seed=spec.seed, progress=progress, max_image_pixels=spec.max_image_pixels,
                image_root=spec.image_root)
    backend = make_backend(spec, cache if cache is not None else open_cache(spec))
    templates = checkpoint_templates(spec.model) if spec.backend == "hf" else {}
    return Critic(backend, template=spec.template, templates=dict(templates), sampling=spec.sampling_params(),
                  seed=spec.seed, progress=progress, template_dirs=spec.template_dirs,
                  max_image_pixels=spec.max_image_pixels, image_root=spec.image_root,
                  verdict_probs=spec.verdict_probs, n_samples=spec.n_samples)
