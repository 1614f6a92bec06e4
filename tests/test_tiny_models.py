"""The tiny-model factory builds loadable, trainable, generating models of every family offline."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from critic.commands.main import main
from critic.models.loading import load_model, load_processor, torchvision_available
from critic.models.tiny import FAMILIES, IM_END, PAD

FAMILY_CLASSES = {
    "llava": ("LlavaForConditionalGeneration", "LlavaProcessor"),
    "llava_onevision": ("LlavaOnevisionForConditionalGeneration", "LlavaOnevisionProcessor"),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", "Qwen2VLProcessor"),
}


def _images():
    return [Image.new("RGB", (32, 32), (230, 20, 20)), Image.new("RGB", (32, 32), (20, 20, 230))]


@pytest.mark.parametrize("family", FAMILIES)
def test_cli_builds_family_and_auto_classes_load_it(family, tmp_path):
    out = tmp_path / family
    assert main(["toy", "model", "--family", family, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == [FAMILY_CLASSES[family][0]]
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin")), "weights must be safetensors only"

    model = load_model(out)
    processor = load_processor(out)
    assert type(model).__name__ == FAMILY_CLASSES[family][0]
    assert type(processor).__name__ == FAMILY_CLASSES[family][1]
    tok = processor.tokenizer
    gen = model.generation_config
    assert gen.eos_token_id == tok.convert_tokens_to_ids(IM_END)
    assert gen.pad_token_id == tok.convert_tokens_to_ids(PAD)
    assert gen.pad_token_id != gen.eos_token_id
    assert sum(p.numel() for p in model.parameters()) < 3_000_000


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_backward_generate_with_images(family, tiny_model_dir):
    d = tiny_model_dir(family)
    model = load_model(d)
    processor = load_processor(d)
    one = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the circle?"}]}]
    two = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Compare"}, {"type": "image"},
                                         {"type": "text", "text": "Which is red?"}]}]
    texts = [processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in (one, two)]
    assert texts[0].endswith("<|im_start|>assistant\n")
    imgs = _images()
    batch = processor(text=texts, images=[[imgs[0]], imgs], return_tensors="pt", padding=True)
    # left padding for batched generation: the shorter row starts with padding and ends with a token
    short = int(batch["attention_mask"].sum(1).argmin())
    assert batch["attention_mask"].sum(1).unique().numel() == 2
    assert batch["attention_mask"][short, 0] == 0 and batch["attention_mask"][short, -1] == 1

    model.train()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    out = model(**batch, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    vision_grad = [p.grad for n, p in model.named_parameters() if ("vision" in n or "visual" in n) and p.grad is not None]
    assert vision_grad and any(g.abs().sum() > 0 for g in vision_grad), "image must reach the loss"

    model.eval()
    with torch.no_grad():
        gen = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert gen.shape[0] == 2 and gen.shape[1] <= batch["input_ids"].shape[1] + 5


def test_image_changes_the_output(tiny_model_dir):
    """Different pixels give different logits: the vision tower is wired in, not ignored."""
    d = tiny_model_dir("llava")
    model, processor = load_model(d), load_processor(d)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "colour?"}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    red, blue = _images()
    with torch.no_grad():
        a = model(**processor(text=[text], images=[[red]], return_tensors="pt")).logits[0, -1]
        b = model(**processor(text=[text], images=[[blue]], return_tensors="pt")).logits[0, -1]
    assert not torch.allclose(a, b)


def test_llava_loads_with_plain_autoprocessor(tiny_model_dir):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model_dir("llava"))
    assert type(proc).__name__ == "LlavaProcessor"


@pytest.mark.skipif(torchvision_available(), reason="checks the torchvision-free fallback")
def test_onevision_needs_the_image_only_fallback_without_torchvision(tiny_model_dir):
    from transformers import AutoProcessor

    with pytest.raises((OSError, ValueError, ImportError)):
        AutoProcessor.from_pretrained(tiny_model_dir("qwen2_vl"))
    assert type(load_processor(tiny_model_dir("qwen2_vl"))).__name__ == "Qwen2VLProcessor"


def test_same_seed_same_weights(tmp_path):
    from critic.models.tiny import TinySpec, build_tiny

    a, _ = build_tiny(TinySpec(seed=3))
    b, _ = build_tiny(TinySpec(seed=3))
    c, _ = build_tiny(TinySpec(seed=4))
    pa, pb, pc = (next(m.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_initializer_range_sets_the_language_model_init_and_is_checked():
    from critic.models.tiny import TinySpec, build_tiny

    model, _ = build_tiny(TinySpec(initializer_range=0.05, hidden_size=64, vision_hidden_size=64))
    lm = model.model.language_model.layers[0].mlp.up_proj.weight
    vision = model.model.vision_tower.encoder.layers[0].mlp.fc1.weight
    assert abs(float(lm.detach().std()) - 0.05) < 0.005
    default, _ = build_tiny(TinySpec(hidden_size=64, vision_hidden_size=64))
    assert abs(float(default.model.language_model.layers[0].mlp.up_proj.weight.detach().std()) - 0.02) < 0.002
    vision_default = default.model.vision_tower.encoder.layers[0].mlp.fc1.weight
    assert abs(float(vision.detach().std()) - float(vision_default.detach().std())) < 0.005  # the vision tower keeps its own init
    for bad in (0, -0.1, True, "0.05"):
        with pytest.raises(ValueError, match=f"initializer_range must be a positive number, got {bad!r}"):
            TinySpec(initializer_range=bad)
