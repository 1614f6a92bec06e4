"""Preference pairs with and without a judge: MMPR's correctness and Dropout NTP pipelines, and the critic
tournament, per source (``critic pairs build RECIPE.yaml --out DIR``; the ``pairs`` section of ``critic dpo``).

One module per idea:

===============  ==========================================================================
``extract``      final-answer extractors (choice letter, number ± tolerance, exact, regex, ``\\boxed{}``)
``rows``         the prompts a source reads (gold answer at a dotted field) and the rows it writes
``correctness``  MMPR correctness pairs: positive × negative, format-negatives their own type
``dropout_ntp``  MMPR Dropout NTP pairs: own answer vs. its prefix finished without the image
``policy``       the answering policy: a local checkpoint or an OpenAI-compatible server
``recipe``       the typed recipe: sources and methods, policy, sampling, judge
``mix``          mixing sources' pairs with set proportions
``build``        every source through its method, resumably; the mix and the stats
===============  ==========================================================================

The room shares ``dpo``'s layer: it builds on ``dpo``'s sampling layout and TRL row format
(:mod:`critic.dpo.pairs`) and the DPO loop calls it for rounds with per-source methods.
"""
