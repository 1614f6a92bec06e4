"""Vision-language models: loading real checkpoints and building tiny ones for offline tests.

==================  ============================================================================
``loading``         ``load_model`` / ``load_processor``, with the torchvision-free processor fallback
``tiny``            the tiny-model factory: random-initialised LLaVA, LLaVA-OneVision and Qwen2-VL, offline
``special_tokens``  item text never becomes special tokens: the strings a tokenizer matches are broken
==================  ============================================================================
"""
