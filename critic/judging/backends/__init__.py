"""Generation backends a critic runs on: local transformers (:mod:`.hf`) and OpenAI-compatible
servers (:mod:`.openai_compat`). Both take :class:`~critic.judging.backends.base.GenRequest` and return
:class:`~critic.judging.backends.base.GenResult`; the judge above them knows nothing of either.

==================  ============================================================================
``base``            the contract: the ``Backend`` protocol, ``BackendFatalError``, ``generate_all``
``generation``      the values it passes: ``SamplingParams``, ``GenRequest``, ``GenResult``
``hf``              local batched generation with transformers
``openai_compat``   any OpenAI-compatible server: concurrency, pacing, retries, failover, cost, image reuse
``openai_errors``   its failure messages and the consecutive-failure rule that stops a dead server
``chat_messages``   HF-layout messages → chat-completions messages; the data-URL memo of ``reuse_images``
``cache``           the SQLite cache of model calls and the one default cache path rule
``cached``          ``CachedBackend(backend, cache)``: caching as a wrapper around any backend
``make``            ``make_backend(spec)``: the one place a backend is made from a ``JudgeSpec``
==================  ============================================================================
"""
