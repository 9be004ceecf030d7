"""TensorBoard media for a few fixed validation clips: audio and an onset image.

Per clip: the mixture (logged once), the reconstruction (the sum of the synthesised stems
that inference renders from the peak-picked onsets) and the nine separated stems; and an
image with one band per class, top to bottom in CLASSES order: grey level = onset
probability, green ticks (upper half) = true onsets, red ticks (lower half) = picked onsets.
"""

import numpy as np
import torch

from idm.constants import CLASS_NAMES, CLASSES, SAMPLE_RATE
from idm.peaks import model_peak_params, peak_pick
from idm.separate import separate
from idm.sequencer import onset_frames

BAND = 12
"""Image rows per class."""


def onset_image(probs: np.ndarray, picked: np.ndarray, onsets: list) -> np.ndarray:
    """(K * BAND, M, 3) uint8 image of probabilities (K, M), picked peaks (K, M) and true onset times."""
    k, m = probs.shape
    image = np.repeat(np.repeat((probs * 255).astype(np.uint8)[:, None, :, None], BAND, 1), 3, 3)
    half = BAND // 2
    for c in range(k):
        band = image[c]
        frames = onset_frames(onsets[c]).numpy()
        frames = frames[(frames >= 0) & (frames < m)]
        band[1:half, frames] = (0, 255, 0)
        band[half:-1, np.flatnonzero(picked[c])] = (255, 0, 0)
        band[-1] = 64  # separator
    return image.reshape(k * BAND, m, 3)


@torch.no_grad()
def log_media(writer, model, dataset, n_clips: int, step: int, with_mixture: bool, separated: bool = True) -> None:
    """Separate the first `n_clips` crops of `dataset` and write their audio and onset images
    (`separated=False`: the onset images alone, no synthesis)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    for i in range(min(n_clips, len(dataset))):
        example = dataset[i]
        x = example["mixture"]
        tag = f"clip{i}"
        if with_mixture:
            writer.add_audio(f"{tag}/mixture", x.clamp(-1, 1).unsqueeze(0), step, SAMPLE_RATE)
        if separated:
            result = separate(x, model, seed=0, device=device)
            writer.add_audio(f"{tag}/reconstruction", result.synthesized[0].sum(0).clamp(-1, 1).unsqueeze(0),
                             step, SAMPLE_RATE)
            for c, code in enumerate(CLASSES):
                writer.add_audio(f"{tag}/separated_{CLASS_NAMES[code]}", result.separated[0, c].clamp(-1, 1)
                                 .unsqueeze(0), step, SAMPLE_RATE)
        probs = torch.sigmoid(model.analyse(x.unsqueeze(0).to(device)).onset_logits[0].float())
        picked = peak_pick(probs, **model_peak_params(model.config))
        writer.add_image(f"{tag}/onsets", onset_image(probs.cpu().numpy(), picked.cpu().numpy(),
                                                      example["onsets"]), step, dataformats="HWC")
    model.train(was_training)
