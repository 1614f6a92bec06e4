"""Which samples make each optimizer step, and how they split into micro-batches.

Every optimizer step takes exactly ``global_batch_size`` samples, in an order shuffled per epoch
from the seed (the last step of an epoch may be short), and splits them into
``world_size × gradient_accumulation_steps`` micro-batches; each rank yields its own share, with no
communication (every rank computes the same plan). The micro-batches of a step depend only on the
step's samples and on ``world_size × gradient_accumulation_steps`` — so 2 processes × 1
accumulation step and 1 process × 2 accumulation steps train on exactly the same micro-batches, and
with the loss normalised by the step's learned tokens they follow the same loss curve.

- **packed**: each micro-batch becomes one padding-free row; samples are dealt largest first to the
  row with the fewest tokens so far (LPT), so rows, and ranks, carry near-equal token counts.
- **padded**: transformers' ``BatchRebalanceSampler`` split (length-sorted contiguous groups whose
  padded cost is balanced), i.e. length-grouped batches; or, with ``group_by_length=False``, the
  step's samples in their shuffled order cut into equal-count micro-batches (plain batching).

Subclassing ``BatchRebalanceSampler`` tells Trainer that this batch sampler is already rank-aware.
"""

from __future__ import annotations

from transformers.trainer_pt_utils import BatchRebalanceSampler


def lpt_rows(indices: list[int], lengths: list[int], n_rows: int) -> list[list[int]]:
    """Deal samples largest first onto the row with the fewest tokens (ties: lowest row).

    Rows keep their samples in the given (shuffled) order. Rows may be empty if there are fewer
    samples than rows.

    >>> lpt_rows([0, 1, 2, 3, 4], [50, 10, 40, 30, 20], 2)
    [[0, 1, 4], [2, 3]]
    """
    rows: list[list[int]] = [[] for _ in range(n_rows)]
    load = [0] * n_rows
    order = sorted(range(len(indices)), key=lambda k: (-lengths[k], k))
    for k in order:
        r = min(range(n_rows), key=lambda j: (load[j], j))
        rows[r].append(k)
        load[r] += lengths[k]
    return [[indices[k] for k in sorted(row)] for row in rows]


class StepSampler(BatchRebalanceSampler):
    """Yields this rank's micro-batches (lists of dataset indices), ``grad_accum`` per optimizer step."""

    def __init__(self, lengths: list[int], *, global_batch_size: int, world_size: int, grad_accum: int,
                 packing: bool, seed: int, rank: int, drop_last: bool = False, group_by_length: bool = True):
        n_rows = world_size * grad_accum
        if global_batch_size < n_rows:
            raise ValueError(f"global_batch_size {global_batch_size} < world_size × accumulation steps {n_rows}")
        super().__init__(lengths, effective_batch_size=global_batch_size, dp_size=world_size, grad_accum=grad_accum,
                         shuffle=True, seed=seed, rank=rank, drop_last=drop_last)
        self.packing = packing
        self.group_by_length = group_by_length

    @property
    def steps_per_epoch(self) -> int:
        return self.num_global_batches

    def _assign(self, indices: list[int], lengths: list[int]) -> list[list[list[int]]]:
        n_rows = self.dp_size * self.grad_accum
        if not self.packing and self.group_by_length:
            return super()._assign(indices, lengths)
        if not self.packing:
            cuts = [len(indices) * k // n_rows for k in range(n_rows + 1)]
            chunks = [indices[a:b] for a, b in zip(cuts, cuts[1:])]
            return [[chunks[slot * self.dp_size + r] for slot in range(self.grad_accum)] for r in range(self.dp_size)]
        rows = lpt_rows(indices, lengths, n_rows)
        # heaviest rows first, dealt round-wise: slot k gets rows [k*dp, (k+1)*dp), one per rank
        rows.sort(key=lambda r: -sum(self.lengths[i] for i in r))
        return [[rows[slot * self.dp_size + r] for slot in range(self.grad_accum)] for r in range(self.dp_size)]

    def step_plan(self, epoch: int) -> list[list[list[int]]]:
        """All ranks' micro-batches of every step of ``epoch``: ``plan[step][rank * grad_accum + slot]``."""
        saved = self.rank, self.epoch
        self.epoch = epoch
        plan = []
        try:
            per_rank = []
            for r in range(self.dp_size):
                self.rank = r
                per_rank.append(list(iter(self)))
            for s in range(self.num_global_batches):
                plan.append([per_rank[r][s * self.grad_accum + k] for r in range(self.dp_size)
                             for k in range(self.grad_accum)])
        finally:
            self.rank, self.epoch = saved
        return plan


def accumulation_steps(global_batch_size: int, per_device_batch_size: int, world_size: int) -> int:
    """Accumulation steps giving ``global_batch_size`` samples per step; raises if it does not divide.

    >>> accumulation_steps(32, 4, 8), accumulation_steps(32, 4, 1)
    (1, 8)
    """
    per_step = per_device_batch_size * world_size
    if global_batch_size % per_step:
        raise ValueError(f"global_batch_size {global_batch_size} is not a multiple of per_device_batch_size × "
                         f"world size = {per_device_batch_size} × {world_size}")
    return max(1, global_batch_size // per_step)
