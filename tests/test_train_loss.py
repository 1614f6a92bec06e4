"""The loss: token-normalised across the accumulated batch, so accumulation equals one large batch."""

from __future__ import annotations

import pytest
import torch

from critic.models.loading import load_model, load_processor
from critic.toy.training_set import write_training_set
from critic.training.collate import Collator, critic_loss, model_inputs
from critic.training.data import TrainingData, index_training_file
from critic.training.encode import IGNORE, SampleEncoder, eos_token_ids


@pytest.fixture(scope="module")
def parts(tiny_model_dir, tmp_path_factory):
    path = write_training_set(tmp_path_factory.mktemp("lossdata"), n_pairwise=4, n_pointwise=4, seed=5)
    d = tiny_model_dir("llava")
    model = load_model(d)
    model.train()
    proc = load_processor(d)
    enc = SampleEncoder(proc, eos_token_ids(proc, model.generation_config))
    refs, _ = index_training_file(path, enc, max_length=4096)
    return model, TrainingData(path, refs), enc


def grads(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("packing", [True, False])
def test_accumulated_micro_batches_equal_one_large_batch(parts, packing: bool) -> None:
    model, data, enc = parts
    col = Collator(data, enc, packing=packing)
    # unequal micro-batches: 1 sample and 5 samples, with different numbers of learned tokens
    small, large, whole = col([0]), col([1, 2, 3, 4, 5]), col([0, 1, 2, 3, 4, 5])
    total = sum(int((b["labels"] != IGNORE).sum()) for b in (small, large))
    assert total == int((whole["labels"] != IGNORE).sum())

    model.zero_grad(set_to_none=True)
    one = critic_loss(model(**model_inputs(whole)), whole["labels"])
    one.backward()
    reference = grads(model).clone()

    model.zero_grad(set_to_none=True)
    acc = 0.0
    for b in (small, large):  # what Trainer does: num_items_in_batch = learned tokens of the whole step
        loss = critic_loss(model(**model_inputs(b)), b["labels"], num_items_in_batch=torch.tensor(total))
        loss.backward()
        acc += loss.item()
    assert abs(acc - one.item()) < 1e-5
    assert torch.allclose(grads(model), reference, atol=1e-6, rtol=1e-4)

    # the micro-batches hold different numbers of learned tokens: per-micro-batch means (the classic
    # accumulation bug) would weight each of the small batch's tokens several times more
    n_small, n_large = (int((b["labels"] != IGNORE).sum()) for b in (small, large))
    assert n_large > 2 * n_small


def test_loss_counts_only_learned_tokens_and_reads_kept_logits(parts) -> None:
    model, data, enc = parts
    b = Collator(data, enc, packing=True)([0, 1])
    with torch.no_grad():
        kept = critic_loss(model(**model_inputs(b)), b["labels"])
        inputs = {k: v for k, v in model_inputs(b).items() if k != "logits_to_keep"}
        logits = model(**inputs).logits  # all positions
    labels = b["labels"]
    ref = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=IGNORE)
    assert abs(kept.item() - ref.item()) < 1e-5
