"""Packing: a sample inside a packed row gets exactly its logits alone; padded and packed agree.

Tolerance: float32 on CPU, max |Δlogit| ≤ 1e-4 (measured ~4e-7: only summation order differs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from critic.models.loading import load_model, load_processor
from critic.models.tiny import FAMILIES
from critic.toy.training_set import write_training_set
from critic.training.attention import NAME, register, segment_bounds
from critic.training.collate import Collator, RopeIndex, critic_loss, model_inputs
from critic.training.data import TrainingData, index_training_file
from critic.training.encode import IGNORE, SampleEncoder, eos_token_ids
from critic.training.sampler import StepSampler, lpt_rows

ATOL = 1e-4


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory) -> Path:
    return write_training_set(tmp_path_factory.mktemp("packdata"), n_pairwise=4, n_pointwise=4, seed=3, text_only=2)


def setup(family: str, tiny_model_dir, toy_file: Path, attn: str = "sdpa"):
    d = tiny_model_dir(family)
    model = load_model(d)
    if attn == NAME:
        register()
    model.set_attn_implementation(attn)
    proc = load_processor(d)
    enc = SampleEncoder(proc, eos_token_ids(proc, model.generation_config))
    refs, _ = index_training_file(toy_file, enc, max_length=4096)
    data = TrainingData(toy_file, refs)
    rope = RopeIndex(model) if RopeIndex.wanted(model) else None
    return model, data, enc, rope


def forward(model, batch):
    inputs = {k: v for k, v in model_inputs(batch).items() if k != "logits_to_keep"}
    with torch.no_grad():
        return model(**inputs).logits


CASES = [(f, "sdpa") for f in FAMILIES] + [("llava", "eager"), ("llava", NAME), ("qwen2_vl", NAME)]


@pytest.mark.parametrize(("family", "attn"), CASES)
def test_packed_logits_equal_logits_alone(family: str, attn: str, tiny_model_dir, toy_file: Path) -> None:
    model, data, enc, rope = setup(family, tiny_model_dir, toy_file, attn)
    idx = [0, 5, 8, 2, 9]  # pairwise, pointwise, text-only, pairwise, text-only: mixed images and none
    packed = Collator(data, enc, packing=True, dummy_image=False, rope_index=rope)(idx)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    full = forward(model, packed)[0]
    off = 0
    for i in idx:
        alone = Collator(data, enc, packing=True, dummy_image=False, rope_index=rope)([i])
        alone.pop("position_ids")  # alone: the model's own default positions
        logits = forward(model, alone)[0]
        n = logits.shape[0]
        assert (full[off:off + n] - logits).abs().max().item() <= ATOL, (family, attn, i)
        off += n
    assert off == full.shape[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_packed_and_padded_give_the_same_loss(family: str, tiny_model_dir, toy_file: Path) -> None:
    model, data, enc, rope = setup(family, tiny_model_dir, toy_file)
    idx = [1, 6, 3, 7]
    packed = Collator(data, enc, packing=True, rope_index=rope)(idx)
    padded = Collator(data, enc, packing=False, rope_index=rope)(idx)
    assert padded["input_ids"].shape[0] == 4 and "attention_mask" in padded
    with torch.no_grad():
        a = critic_loss(model(**model_inputs(packed)), packed["labels"])
        b = critic_loss(model(**model_inputs(padded)), padded["labels"])
    assert abs(a.item() - b.item()) < 1e-5
    # logits_to_keep: the head runs only where the next token is learned
    n_learned = int((packed["labels"] != IGNORE).sum())
    assert packed["logits_to_keep"].numel() == n_learned
    real, computed, n = packed["critic_stats"].tolist()
    assert (real, n) == (packed["input_ids"].shape[1], 4) and computed == real
    assert padded["critic_stats"][1] == padded["input_ids"].numel() >= real


@pytest.mark.parametrize("family", FAMILIES)
def test_text_only_micro_batch_gets_a_masked_dummy_image(family: str, tiny_model_dir, toy_file: Path) -> None:
    """Without an image a rank would skip the vision tower and hang ZeRO-3 / DDP; the dummy adds no loss."""
    model, data, enc, rope = setup(family, tiny_model_dir, toy_file)
    text_only = [i for i in range(len(data)) if data.refs[i].n_images == 0]
    assert text_only
    with_image = Collator(data, enc, packing=True, rope_index=rope)([0, 1])

    def used(batch) -> set[str]:
        model.zero_grad(set_to_none=True)
        critic_loss(model(**model_inputs(batch)), batch["labels"]).backward()
        return {n for n, p in model.named_parameters() if p.grad is not None}

    reference = used(with_image)
    assert any("vision" in n or "visual" in n for n in reference)
    for packing in (True, False):
        with_dummy = Collator(data, enc, packing=packing, dummy_image=True, rope_index=rope)(text_only)
        without = Collator(data, enc, packing=packing, dummy_image=False, rope_index=rope)(text_only)
        assert "pixel_values" in with_dummy and "pixel_values" not in without
        assert int((with_dummy["labels"] != IGNORE).sum()) == int((without["labels"] != IGNORE).sum())
        assert used(with_dummy) == reference, "a text-only micro-batch must use the same parameters"
        with torch.no_grad():
            a = critic_loss(model(**model_inputs(with_dummy)), with_dummy["labels"])
            b = critic_loss(model(**model_inputs(without)), without["labels"])
        assert abs(a.item() - b.item()) < 1e-5, "the dummy image adds no loss"


def test_segment_bounds_and_lpt_rows() -> None:
    assert segment_bounds(torch.tensor([[0, 1, 0, 0, 1, 2]])) == [0, 2, 3, 6]
    assert segment_bounds(torch.tensor([[0, 1, 2]])) == [0, 3]
    rows = lpt_rows(list(range(10)), [90, 80, 75, 70, 60, 50, 40, 30, 20, 10], 3)
    loads = [sum([90, 80, 75, 70, 60, 50, 40, 30, 20, 10][i] for i in r) for r in rows]
    assert sorted(i for r in rows for i in r) == list(range(10)) and max(loads) - min(loads) <= 10


@pytest.mark.parametrize(("packing", "grouped"), [(True, True), (False, True), (False, False)])
def test_steps_are_the_same_for_any_split_of_ranks_and_accumulation(packing: bool, grouped: bool) -> None:
    """2 ranks × 1 accumulation step and 1 rank × 2 see the same micro-batches, in every epoch."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(40, 400, (70,), generator=g).tolist()

    def plan(world: int, gas: int, epoch: int):
        s = StepSampler(lengths, global_batch_size=8, world_size=world, grad_accum=gas, packing=packing, seed=1,
                        rank=0, group_by_length=grouped)
        return s.step_plan(epoch)

    a, b = plan(2, 1, 0), plan(1, 2, 0)
    assert [sorted(map(tuple, step)) for step in a] == [sorted(map(tuple, step)) for step in b]
    assert len(a) == 9  # 70 samples / 8 per step, the last step short (padded up to the 2 micro-batches)
    seen = [i for step in a[:-1] for mb in step for i in mb]
    assert len(seen) == len(set(seen)) == 64 and all(len(sum(step, [])) == 8 for step in a[:-1])
    assert plan(2, 1, 1) != a and plan(2, 1, 1) == plan(2, 1, 1)  # reshuffled per epoch, deterministically
    if packing:
        for step in a[:-1]:
            loads = [sum(lengths[i] for i in mb) for mb in step]
            assert max(loads) - min(loads) <= max(lengths)
