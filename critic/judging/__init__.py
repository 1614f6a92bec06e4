"""Judging: a critic reads items through a template, generates on a backend and returns typed judgments.

One module per idea:

==================  ============================================================================
``critic``          :class:`Critic`: template + backend → judgments; ``score``, ``compare``, ``judge_stream``
``spec``            :class:`JudgeSpec`: a judge described once (backend, model, URLs, sampling, retries, cache,
                    template), in option groups the teacher and DPO configs reuse
``factory``         ``make_critic(spec)``: the critic a spec describes, its cache opened at the one default path
``run``             ``judge_to_file``: skip what the output holds, judge, append, failures aside, summarise
``run_files``       the output's lock, the resume key check, the failed and skipped side files
``templates``       template files (YAML header + Jinja blocks), sandboxed rendering, lookup, user folders
``verdicts``        verdict specs (score / choice / two scores): header keys, checking, rendering
``verdict_records`` :class:`Verdict` and :class:`ParseResult`
``verdict_parser``  the one generic parser: the concluding verdict (never a quoted one) and the rationale
``pair_order``      swap policies (``none`` / ``random`` / ``both``), combining two orders, swapping items,
                    verdicts and the position words of rationales
``ranking``         K-candidate tournaments: rewards, chosen / rejected pairs
``bradley_terry``   Bradley–Terry strengths from pairwise outcomes (Hunter's MM iteration)
``summary``         the end-of-run summary judging commands print
``trl_adapters``    a critic behind TRL's judge and reward-function interfaces
``backends/``       generation backends (local transformers, OpenAI-compatible), ``make_backend(spec)``, the
                    SQLite cache and ``CachedBackend``, the wrapper that puts any backend behind it
==================  ============================================================================

Data flows down: items → ``templates`` (prompt) → ``backends`` (text) → ``verdicts`` (parse) →
``critic`` (judgment records, in the item's original order via ``pair_order``).
"""
