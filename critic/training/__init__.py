"""``critic train``: cross-entropy fine-tuning of LLaVA-style critics on transformers' Trainer.

One module per idea:

==================  ============================================================================
``config``          the typed training config (YAML + ``--key value`` overrides), errors name the key
``data``            the training JSONL as an indexed, lazily read dataset; lengths, drops, missing images
``encode``          one sample → input ids + labels (prompt, image and padding masked; answer + end-of-turn learned)
``collate``         micro-batches: padding-free packed rows or padded batches; dummy image; position ids
``sampler``         which samples make each optimizer step and how they split into micro-batches
``model_setup``     loading the base model, freezing parts, LoRA, gradient checkpointing
``attention``       per-sample SDPA for packed rows (``critic_packed_sdpa``), registered with transformers
``param_groups``    learning rates per model part (``train.group_lr``: vision tower, projector, language model)
``schedule``        the warmup-stable-decay schedule's decay steps from ``train.decay_ratio``
``trainer``         the Trainer subclass, its arguments, checkpoint-weight restore on resume, ``train``
``callbacks``       progress bar (loss, tokens/s, ETA), the sampler's epoch, judging held-out items at saves
``evaluation``      judging items with a checkpoint (``Critic.from_pretrained``) and ``critic.evaluation.evaluate`` metrics
``checkpoint``      critic metadata (``critic.json``), model card, resumable-checkpoint lookup, export
==================  ============================================================================
"""
