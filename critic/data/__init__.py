"""``critic data build``: turn a recipe into a critic dataset, distilled through a teacher.

One module per idea:

==================  ============================================================================
``recipe``          the typed YAML recipe (sources, templates, teacher, augmentation, splits), ``file:line`` errors
``sources/``        one converter per input format → items (critic JSONL, ``datasets`` on disk, LLaVA, preference files, benchmarks); rows and column maps from :mod:`critic.rows`
``plan``            which samples each source item becomes (templates, augmentation, splits), before any call
``teacher``         teacher distillation through the judge's backend and cache (``teacher_judge``, ``teacher_explain``)
``worker``          one window's teacher calls, targets and serialised sample rows (runs in worker processes)
``samples``         critic training samples: an item rendered with a template plus the target to learn
``writers``         the staging folder, the image store and the three layouts (critic JSONL, LLaVA, HF messages)
``pairs``           ``layout: pairs``: preference pairs for reward models (each answer critiqued by the teacher)
``stats``           ``stats.json`` and ``card.md``
``build``           the streaming loop that ties these together, resumable after a kill
==================  ============================================================================

Flow: recipe → sources → plan → worker (teacher) → writers / stats.
"""
