"""The ``hf/`` layout as TRL reads it: SFTTrainer takes its conversational prompt + completion as written.

A tiny gold-target build (no teacher) is loaded with ``datasets.load_from_disk``; its images are
``datasets.Image`` values, its prompt and completion conversations. A text-only smoke step of
TRL's ``SFTTrainer`` on a tiny Qwen2 causal LM (critic's tiny ChatML tokenizer) runs on the prompt
and completion columns as they are (the images column is left out: the model reads no pixels).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from critic.data.build import BuildOptions, build_dataset

datasets = pytest.importorskip("datasets")
pytest.importorskip("trl")


def _build(tmp: Path) -> Path:
    rcp = tmp / "recipe.yaml"
    rcp.write_text(yaml.safe_dump({
        "name": "hf-smoke", "seed": 0,
        "sources": [{"kind": "toy", "task": "pointwise", "n": 4, "seed": 0, "target": "gold", "kinds": ["colour"]}],
        "templates": {"llava_critic_pointwise": 1}, "splits": {"train": 1}}))
    build_dataset(rcp, tmp / "out", BuildOptions(cache=tmp / "c.sqlite", progress=False))
    return tmp / "out"


def test_sft_trainer_takes_the_hf_layout(tmp_path):
    import torch
    from PIL import Image
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import SFTConfig, SFTTrainer

    from critic.models.tiny import build_tokenizer

    out = _build(tmp_path)
    ds = datasets.load_from_disk(str(out / "hf"))["train"]
    assert isinstance(ds.features["images"].feature, datasets.Image)
    row = ds[0]
    assert isinstance(row["images"][0], Image.Image)
    assert [m["role"] for m in row["completion"]] == ["assistant"] and row["prompt"][-1]["role"] == "user"

    tok = build_tokenizer("llava", vocab_size=512)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=4096, pad_token_id=tok.pad_token_id,
                                         eos_token_id=tok.eos_token_id))
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=1, per_device_train_batch_size=2,
                     report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, max_length=2048,
                     dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds.select_columns(["prompt", "completion"]),
                         processing_class=tok)
    first = trainer.train_dataset[0]
    learned = sum(label != -100 for label in first["labels"])
    assert 0 < learned < len(first["input_ids"])  # the completion is learned, the prompt is not
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
