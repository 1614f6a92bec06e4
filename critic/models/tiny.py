"""Tiny-model factory: random-initialised vision-language models of each supported family, offline.

Every test and the quickstart run the *real* loading / generation / training path on these models:
they are saved with ``save_pretrained`` and loaded back with ``AutoProcessor`` and
``AutoModelForImageTextToText`` like any hub checkpoint. Nothing here is special-cased elsewhere.

What the factory has to provide by hand, because no library ships it offline:

- a byte-level BPE tokenizer trained in memory (``tokenizers``) on a small built-in corpus, with the
  family's special tokens, a pad token distinct from the end-of-turn token, and a ChatML chat
  template that places image tokens where the family's processor expects them;
- PIL-backed image processors (the ``*ImageProcessorPil`` classes), so no torchvision is needed;
- for LLaVA-OneVision and Qwen2-VL, whose processors also declare a video processor (which needs
  torchvision in transformers 5), the processor is built and saved without it
  (:func:`critic.models.loading.image_only`); :func:`critic.models.loading.load_processor` loads it back;
- a generation config whose ``eos_token_id`` is the end-of-turn token and whose ``pad_token_id``
  is the pad token, or ``generate`` never stops.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

from critic.models.loading import image_only

Family = Literal["llava", "llava_onevision", "qwen2_vl"]
FAMILIES: tuple[str, ...] = ("llava", "llava_onevision", "qwen2_vl")

# ChatML turn markers shared by every family (Qwen2 text backbones use them natively).
IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
FAMILY_SPECIAL_TOKENS: dict[str, list[str]] = {
    "llava": ["<image>"],
    "llava_onevision": ["<image>", "<video>"],
    "qwen2_vl": ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
}
# How one image appears in the chat template's text, before the processor expands it.
IMAGE_IN_TEXT: dict[str, str] = {
    "llava": "<image>",
    "llava_onevision": "<image>",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
}

# ChatML with typed content parts; {"type": "image"} parts become the family's image text.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ IMAGE }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    """Sizes of a tiny model. Defaults give a ~1M-parameter model that trains on 2 CPU cores.

    ``initializer_range`` is the standard deviation of the language model's and projector's random
    weights (transformers' ``initializer_range``; the vision tower keeps CLIP / SigLIP's own scheme).
    transformers' 0.02 is tuned for wide models: at width 128 a 0.02 layer shrinks a vector to ~0.23
    of its norm, and attention stays near uniform for hundreds of steps (BENCHMARKS.md, "Issue 13").
    """

    family: Family = "llava"
    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    vision_hidden_size: int = 128
    vision_layers: int = 2
    vision_heads: int = 4
    image_size: int = 32
    patch_size: int = 8
    max_position_embeddings: int = 4096
    initializer_range: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """What makes this spec unbuildable (an empty list when it builds).

        >>> TinySpec(hidden_size=0)
        Traceback (most recent call last):
        ...
        ValueError: hidden_size must be a whole number of at least 1, got 0
        >>> TinySpec(patch_size=64)
        Traceback (most recent call last):
        ...
        ValueError: patch_size 64 is larger than image_size 32 (an image would have no patch)
        """
        if self.family not in FAMILIES:
            return [f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}"]
        out = []
        if isinstance(self.initializer_range, bool) or not isinstance(self.initializer_range, int | float) \
                or not self.initializer_range > 0:
            out.append(f"initializer_range must be a positive number, got {self.initializer_range!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            if type(f.default) is int and (isinstance(v, bool) or not isinstance(v, int) or v < (f.name != "seed")):
                out.append(f"{f.name} must be a whole number of at least {int(f.name != 'seed')}, got {v!r}")
        if out:
            return out
        for size, heads in (("hidden_size", "num_heads"), ("num_heads", "num_kv_heads"),
                            ("vision_hidden_size", "vision_heads")):
            if getattr(self, size) % getattr(self, heads):
                out.append(f"{size} {getattr(self, size)} is not a multiple of {heads} {getattr(self, heads)}")
        if self.patch_size > self.image_size:
            out.append(f"patch_size {self.patch_size} is larger than image_size {self.image_size} "
                       "(an image would have no patch)")
        return out


def _corpus() -> list[str]:
    """Text the BPE tokenizer is trained on: enough English, digits and markup for critic prompts."""
    words = (
        "the a an is are was of to and or in on at for with by from this that which what how many "
        "image picture shows show response responses answer answers question questions first second "
        "better worse equally good bad correct incorrect wrong right partly partially accurate "
        "colour color shape count position left right above below circle square triangle object objects "
        "red green blue yellow purple orange black white grey gray one two three four five six seven "
        "eight nine ten score rating overall final verdict reason rationale because therefore so "
        "assistant user system evaluate judge quality helpful helpfulness relevance detail details "
        "reference rubric result tie both neither it its there they their not no yes does do "
        "please provide give explanation based compare comparison scale out points response_a response_b "
        "says say about looking have has see seen rate"
    ).split()
    # Capitalised forms too: a sentence-initial word ("Question", "Which", "Verdict", "Score") would
    # otherwise cost 3-6 byte tokens, as no real model's tokenizer does (measured on the toy critic
    # data: 102 -> 84 tokens a sample, a training step ~1.25x faster).
    words += [w[:1].upper() + w[1:] for w in words]
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    lines += [f"{w} {w}" for w in words]  # each word at a line start (no space before it) and after one
    lines += [
        "Overall score: 87/100. [[5]] [[A]] [[B]] [[C]] [[A>B]] [[A>>B]] [[A=B]] [[B>A]] [RESULT] 4",
        "Response A: ... Response B: ... Assistant 1 Assistant 2 7 9 8.5 10 100 0 1 2 3 4 5 6 7 8 9",
        "The first response is better. The second response is better. Two responses are equally good.",
        "**Rationale:** `code` # Heading - item * item ( ) [ ] { } < > : ; , . ! ? ' \" / \\ | = + -",
    ]
    return lines * 4


def build_tokenizer(family: Family, vocab_size: int = 2048):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ChatML and the family's image tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, IM_START, IM_END, *FAMILY_SPECIAL_TOKENS[family]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    extra = {"image_token": "<image>"} if family != "qwen2_vl" else {}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=None,
        padding_side="left",
        model_max_length=4096,
        extra_special_tokens=extra or None,
    )
    fast.chat_template = CHAT_TEMPLATE.replace("IMAGE", repr(IMAGE_IN_TEXT[family]))
    return fast


def _text_config(spec: TinySpec, tok) -> dict:
    return dict(
        vocab_size=len(tok),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=None,
        eos_token_id=tok.convert_tokens_to_ids(IM_END),
        pad_token_id=tok.convert_tokens_to_ids(PAD),
        tie_word_embeddings=True,
        initializer_range=spec.initializer_range,
    )


def _build_llava(spec: TinySpec, tok):
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlavaConfig, LlavaProcessor, Qwen2Config

    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden_size,
        intermediate_size=spec.vision_hidden_size * 2,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden_size,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=Qwen2Config(**_text_config(spec, tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        image_seq_length=(spec.image_size // spec.patch_size) ** 2,
        tie_word_embeddings=True,
    )
    size = spec.image_size
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}, do_center_crop=True
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=tok.chat_template,
    )
    return config, processor


def _build_onevision(spec: TinySpec, tok):
    from transformers import LlavaOnevisionConfig, LlavaOnevisionProcessor, Qwen2Config, SiglipVisionConfig
    from transformers.models.llava_onevision import LlavaOnevisionImageProcessorPil

    size = spec.image_size
    vision = SiglipVisionConfig(
        hidden_size=spec.vision_hidden_size,
        intermediate_size=spec.vision_hidden_size * 2,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=size,
        patch_size=spec.patch_size,
    )
    pinpoints = [[size, size], [size, 2 * size], [2 * size, size], [2 * size, 2 * size]]
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=Qwen2Config(**_text_config(spec, tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        image_grid_pinpoints=pinpoints,
        tie_word_embeddings=True,
    )
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": size, "width": size}, image_grid_pinpoints=pinpoints, do_pad=True
    )
    processor = image_only(LlavaOnevisionProcessor)(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=None,
        num_image_tokens=(size // spec.patch_size) ** 2,
        vision_feature_select_strategy="full",
        chat_template=tok.chat_template,
    )
    return config, processor


def _build_qwen2_vl(spec: TinySpec, tok):
    from transformers import Qwen2VLConfig, Qwen2VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    text = _text_config(spec, tok)
    head_dim = spec.hidden_size // spec.num_heads
    # M-RoPE splits each head's rotary half into (temporal, height, width) sections.
    half = head_dim // 2
    section = [half - 2 * (half // 4), half // 4, half // 4]
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section}
    vision = dict(
        depth=spec.vision_layers,
        embed_dim=spec.vision_hidden_size,
        hidden_size=spec.hidden_size,
        num_heads=spec.vision_heads,
        mlp_ratio=2,
        patch_size=spec.patch_size,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    px = spec.image_size * spec.image_size
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=spec.patch_size,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": px, "longest_edge": px},
    )
    processor = image_only(Qwen2VLProcessor)(
        image_processor=image_processor, tokenizer=tok, video_processor=None, chat_template=tok.chat_template
    )
    return config, processor


_BUILDERS = {"llava": _build_llava, "llava_onevision": _build_onevision, "qwen2_vl": _build_qwen2_vl}


def build_tiny(spec: TinySpec):
    """Return ``(model, processor)`` for ``spec``, random-initialised with ``spec.seed``."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    if spec.family not in _BUILDERS:
        raise ValueError(f"unknown family {spec.family!r}; choose one of {', '.join(FAMILIES)}")
    tok = build_tokenizer(spec.family, spec.vocab_size)
    config, processor = _BUILDERS[spec.family](spec, tok)
    torch.manual_seed(spec.seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.convert_tokens_to_ids(IM_END),
        pad_token_id=tok.convert_tokens_to_ids(PAD),
        do_sample=False,
        max_new_tokens=64,
    )
    return model, processor


def make_tiny(out_dir: str | Path, spec: TinySpec | None = None, **overrides) -> Path:
    """Build a tiny model and save model, processor and generation config to ``out_dir``."""
    spec = spec or TinySpec(**overrides)
    model, processor = build_tiny(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    fields_ = asdict(spec)
    if spec.initializer_range == TinySpec.initializer_range:
        # added after checkpoints were fingerprinted: written only when set, so a default spec's files
        # (and the judge-cache keys that hash them, tests/test_golden_bytes.py) keep their bytes
        del fields_["initializer_range"]
    (out / "tiny_spec.json").write_text(json.dumps(fields_, indent=2) + "\n")
    return out
