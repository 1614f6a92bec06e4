"""Iterative DPO with a critic as the preference labeller (``critic dpo CONFIG.yaml``, extra ``dpo``).

One module per idea; only ``trainer`` and ``loop`` (when training) import TRL, so the rest — and
``critic label-pairs``, which writes the same rows — work without the ``dpo`` extra:

==============  ==========================================================================
``config``      the typed run config (YAML + ``--key value`` overrides)
``pairs``       TRL's conversational preference rows built from ranked candidate sets; loading them
``sampling``    K answers per prompt from the current policy (transformers or an OpenAI-compatible server)
``drs``         Dynamic Reward Scaling: the per-pair β(δ) of MM-RLHF
``trainer``     TRL's DPOTrainer with a per-example β column (DRS) and one round of training
``loop``        the rounds: sample → label → train → evaluate, resumable, one folder per round
==============  ==========================================================================
"""
