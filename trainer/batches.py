"""Which crops each rank trains on at each step, and the per-example randomness of a step.

Step `s` trains on `batch_size` crops: positions 0..batch_size-1 of the step's global
batch. They are cut into `world_size * accumulate` slots, as evenly as possible; micro-step
`a` of rank `r` takes slot `a * world_size + r`. Position `p` of step `s` is crop
`(s % steps_per_epoch) * batch_size + p` of epoch `s // steps_per_epoch` of the
`CropDataset`, and its gain augmentation and synthesiser noise are drawn from a generator
seeded by (seed, s, p). So what an example is, and the noise it gets, depend only on the
seed, the step and its position: not on the number of ranks, workers or restarts.
"""

import numpy as np
import torch

from idm.model import n_frames
from idm.sequencer import onset_times_to_grid


def slots(batch_size: int, world_size: int, accumulate: int) -> list:
    """[(first, stop) positions] of each slot of a step's global batch, slot = a * world_size + rank."""
    n = world_size * accumulate
    if batch_size < n:
        raise ValueError(f"train.batch_size {batch_size} is smaller than ranks x accumulate = {n}: "
                         "every micro-batch needs at least one crop")
    sizes = [batch_size // n + (j < batch_size % n) for j in range(n)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    return [(int(starts[j]), int(starts[j + 1])) for j in range(n)]


class StepSampler:
    """Batch sampler for a DataLoader: yields this rank's crop keys `(epoch, index)`, one list per
    micro-step, for steps `start_step` to `steps - 1`."""

    def __init__(self, crops_per_epoch: int, batch_size: int, world_size: int, rank: int, accumulate: int,
                 start_step: int, steps: int):
        self.steps_per_epoch = crops_per_epoch // batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"an epoch of {crops_per_epoch} crops holds no batch of {batch_size}; "
                             "lower train.batch_size or raise data.crops_per_epoch")
        self.batch_size, self.world_size, self.rank = batch_size, world_size, rank
        self.slots = slots(batch_size, world_size, accumulate)
        self.accumulate, self.start_step, self.steps = accumulate, start_step, steps

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def positions(self, micro_step: int) -> range:
        """The global-batch positions of this rank's micro-step."""
        return range(*self.slots[micro_step * self.world_size + self.rank])

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.accumulate

    def __iter__(self):
        for step in range(self.start_step, self.steps):
            epoch, base = self.epoch_of(step), (step % self.steps_per_epoch) * self.batch_size
            for a in range(self.accumulate):
                yield [(epoch, base + p) for p in self.positions(a)]


def onset_grid(onsets: list, n_samples: int, model_config, device) -> torch.Tensor:
    """Ground-truth onset grid (B, K, M) of a collated batch's onsets (times from each crop's start)."""
    m = n_frames(n_samples, model_config)
    return torch.stack([onset_times_to_grid(times, m) for times in onsets]).to(device)


def _gain(rng: np.random.Generator, objective) -> float:
    """With probability `gain_probability` a gain uniform in [gain_min, gain_max], else 1."""
    augment = rng.random() < objective.gain_probability
    gain = rng.uniform(objective.gain_min, objective.gain_max)
    return gain if augment else 1.0


def example_gains(seed: int, step: int, positions, objective, device) -> torch.Tensor:
    """Gains (B,) of the examples at `positions` of step `step` (the same as `example_randomness`'s)."""
    gains = [_gain(np.random.default_rng([seed, step, p]), objective) for p in positions]
    return torch.tensor(gains, dtype=torch.float32, device=device)


def example_randomness(seed: int, step: int, positions, objective, n_classes: int, length: int,
                       device) -> tuple:
    """Gains (B,) and synthesiser noise (B*K, 1, N) of the examples at `positions` of step `step`.

    Gains as `example_gains`; noise is standard normal, drawn on `device` by a generator
    seeded per example.
    """
    gains, noise = [], []
    for p in positions:
        rng = np.random.default_rng([seed, step, p])
        gains.append(_gain(rng, objective))
        generator = torch.Generator(device=device).manual_seed(int(rng.integers(2 ** 62)))
        noise.append(torch.randn((n_classes, 1, length), generator=generator, device=device))
    return torch.tensor(gains, dtype=torch.float32, device=device), torch.cat(noise)


def step_noise(seed: int, step: int, n_classes: int, length: int, device) -> torch.Tensor:
    """One synthesiser noise block (K, 1, N) shared by every example of step `step` (on every rank),
    for training with the true kit conditioning: examples of one kit then share their one-shots."""
    rng = np.random.default_rng([seed, step, 2 ** 32])  # a stream no example position uses
    generator = torch.Generator(device=device).manual_seed(int(rng.integers(2 ** 62)))
    return torch.randn((n_classes, 1, length), generator=generator, device=device)
