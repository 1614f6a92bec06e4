"""Generation backends a critic runs on: local transformers (:mod:`.hf`) and OpenAI-compatible
servers (:mod:`.openai_compat`). Both take :class:`~critic.judging.backends.base.GenRequest` and return
:class:`~critic.judging.backends.base.GenResult`; the judge above them knows nothing of either."""
