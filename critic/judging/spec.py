"""A judge described once: :class:`JudgeSpec` (backend, model, where it is served, how it samples,
retries and caches, which template it reads), built by :func:`critic.judging.factory.make_critic`.

The spec is made of option groups, so a config that describes part of a judge reuses the fields
(names, defaults, checks) instead of restating them: the data recipe's teacher
(:class:`~critic.data.recipe.TeacherConfig`) is a server plus sampling, the DPO config's critic
section (:class:`~critic.dpo.config.CriticSection`) a whole spec. The command line's judge options
are generated from the same fields (:mod:`critic.commands.judge_options`).

>>> spec = JudgeSpec(backend="openai", model="gpt-4o", base_url=["http://gpu1:8000/v1"], temperature=0.7, seed=3)
>>> spec.sampling_params()
SamplingParams(max_new_tokens=512, temperature=0.7, top_p=1.0, seed=3)
>>> JudgeSpec(model="ckpt/").sampling_params().seed is None  # greedy: nothing to seed
True
>>> JudgeSpec(model="m", base_url=["http://gpu1:8000/v1"]).backend  # a base URL means a server
'openai'
>>> JudgeSpec(model="ckpt/", batch_size=0)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for JudgeSpec
batch_size
  Input should be greater than or equal to 1 [...]
    ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:  # the values module imports PIL; a spec is read where no image is (``critic --help``)
    from critic.judging.backends.generation import SamplingParams

BackendName = Literal["hf", "openai", "remote"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplingOptions(_Options):
    """How the judge generates. Greedy by default: judging should be reproducible."""

    max_new_tokens: int = Field(512, ge=1, description="longest answer, in tokens")
    temperature: float = Field(0.0, ge=0, allow_inf_nan=False, description="sampling temperature; 0 is greedy")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")

    def sampling_params(self, seed: int | None = None) -> SamplingParams:
        """These options as the backends' :class:`SamplingParams`; ``seed`` only matters when sampling."""
        from critic.judging.backends.generation import SamplingParams

        return SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                              seed=seed if self.temperature > 0 else None)


class ServerOptions(_Options):
    """An OpenAI-compatible endpoint (OpenAI, vLLM, SGLang). The key is read from ``$api_key_env`` only."""

    base_url: list[str] | None = Field(
        None, description="OpenAI-compatible base URL; several rotate and fail over (default $OPENAI_BASE_URL, "
        "else OpenAI)")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    concurrency: int = Field(16, ge=1, description="requests in flight")
    timeout: float = Field(120.0, gt=0, allow_inf_nan=False, description="seconds per request attempt")
    max_retries: int = Field(6, ge=0, description="retries on 429, 5xx, timeouts, malformed or empty bodies")
    rpm: int | None = Field(None, ge=1, description="requests per minute (start spacing)")
    image_detail: Literal["low", "high", "auto"] | None = Field(None, description="detail sent with each image")
    price_per_mtok: tuple[float, float] | None = Field(
        None, description="USD per million input and output tokens (default: the built-in price for OpenAI models)")

    @field_validator("base_url")
    @classmethod
    def _urls(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("give at least one base URL")
        return v


class LocalOptions(_Options):
    """A local transformers checkpoint."""

    batch_size: int = Field(8, ge=1, description="generation batch size")
    dtype: str | None = Field(None, description="torch dtype (default bfloat16 on GPU, the checkpoint's on CPU)")
    device: str | None = Field(None, description="cuda, cuda:1, cpu (default: cuda if available)")
    trust_remote_code: bool = Field(False, description="allow code from the checkpoint")


class ImageOptions(_Options):
    """What images a judge reads: how large (decoding is bounded) and from where (reads are confined)."""

    max_image_pixels: int | None = Field(
        50_000_000, ge=1, description="an image of more pixels (width x height) is a per-item error, never decoded")
    image_root: str | None = Field(
        None, description="read images only inside this folder; a path outside it (../, absolute, a link out) "
        "is a per-item error, never read or sent")


class JudgeSpec(SamplingOptions, ServerOptions, LocalOptions, ImageOptions):
    """Everything that makes a judge: build it with :func:`critic.judging.factory.make_critic`."""

    backend: BackendName = Field("hf", description="hf: local transformers checkpoint; openai: any "
                                 "OpenAI-compatible server; remote: a critic serve server at --base-url "
                                 "(default openai when a base URL is given, else hf)")
    model: str = Field(description="checkpoint folder / hub id (hf) or model name (openai)")
    template: str | None = Field(None, description="template name or .jinja path (default: the checkpoint's, "
                                 "else llava_critic_*)")
    template_dirs: list[str] = Field(default_factory=list, description="extra folders of user templates")
    seed: int = Field(0, description="seed of the random swap coin and of sampling")
    cache: str | None = Field(None, description="SQLite judge cache (default $CRITIC_CACHE_DIR/judge.sqlite when "
                              "the variable is set and not empty, else ~/.cache/critic/judge.sqlite)")
    no_cache: bool = Field(False, description="do not read or write the judge cache")
    verdict_probs: bool = Field(False, description="after the rationale, record P(each verdict the template "
                                "allows) and, for scores, the expected score (a local checkpoint: one extra "
                                "forward per batch; a server: its logprobs, where it returns them)")
    n_samples: int = Field(1, ge=1, description="self-consistency: sample this many rationales per item and order "
                           "(needs --temperature above 0); the verdict is their majority (mean score)")

    @model_validator(mode="before")
    @classmethod
    def _remote_model(cls, data: Any) -> Any:
        # no backend named: a base URL means an OpenAI-compatible server (a local checkpoint has none)
        if isinstance(data, dict) and data.get("backend") is None and data.get("base_url"):
            data = {**data, "backend": "openai"}
        # a critic serve server knows its own model: backend remote needs no model name
        if isinstance(data, dict) and data.get("backend") == "remote" and not data.get("model"):
            return {**data, "model": "remote"}
        return data

    def sampling_params(self, seed: int | None = None) -> SamplingParams:
        """The sampling options as :class:`SamplingParams`, seeded with ``seed`` (default: the spec's)."""
        return super().sampling_params(self.seed if seed is None else seed)

    def judge_spec(self, **changes: Any) -> JudgeSpec:
        """This spec as a plain :class:`JudgeSpec` (a config section's extra keys dropped), ``changes`` applied.

        Only the fields this spec was given are passed on, so a default stays a default: the remote
        backend tells a key variable the config named from the ``OPENAI_API_KEY`` default it must not
        send to a critic server (:meth:`critic.serving.client.RemoteCritic.from_spec`).

        >>> spec = JudgeSpec(backend="remote", base_url=["http://gpu1:8000"]).judge_spec(seed=3)
        >>> sorted(spec.model_fields_set), spec.api_key_env
        (['backend', 'base_url', 'model', 'seed'], 'OPENAI_API_KEY')
        """
        values = {name: getattr(self, name) for name in JudgeSpec.model_fields if name in self.model_fields_set}
        return JudgeSpec.model_validate({**values, **changes})

