"""The transcription task's objective: onset BCE, and the synthesiser's inputs held to a teacher.

`loss = onset_weight * BCE(onset_logits, grid; class weights) + kit_weight * KL(teacher kit probs || kit probs)
        + distill_weight * (mean |log v - log v_teacher| + mean |log g - log g_teacher|)`

The teacher is the frozen model training started from (`train.init`). Velocities (every class and
frame) and track gains are compared in the log domain, as the synthesiser scales by them. A class
weight scales the BCE of that class's onset frames (`objective.onset_class_weight`). Every term is
per example, as in `trainer.objective`.
"""

import torch
import torch.nn.functional as F

from idm.constants import CLASSES, class_code

TERMS = ("loss", "onset_bce", "kit_kl", "velocity_l1", "gain_l1")
"""Names of the per-example values `transcription_loss` returns, the total first."""


def onset_class_weights(weights: dict, device=None):
    """The (C, 1) weights of each class's onset frames from {class code or name: weight}; None if empty."""
    if not weights:
        return None
    by_code = {class_code(name): float(w) for name, w in weights.items()}
    return torch.tensor([by_code.get(c, 1.0) for c in CLASSES], device=device)[:, None]


def transcription_loss(analysis, teacher, grid: torch.Tensor, onset_weight: float, kit_weight: float,
                       distill_weight: float, class_weights=None) -> dict:
    """Per-example terms {name: (B,)} of `TERMS` from the student's and the teacher's `Analysis`;
    `class_weights` ((C, 1), `onset_class_weights`) weighs each class's onset frames in the BCE."""
    with torch.autocast(grid.device.type, enabled=False):
        onset = F.binary_cross_entropy_with_logits(analysis.onset_logits.float(), grid, pos_weight=class_weights,
                                                   reduction="none").mean((1, 2))
        log_probs = torch.log_softmax(analysis.kit_logits.float(), -1)
        teacher_log_probs = torch.log_softmax(teacher.kit_logits.float(), -1)
        kit = (teacher_log_probs.exp() * (teacher_log_probs - log_probs)).sum(-1)
        velocity = (analysis.velocity.float().log() - teacher.velocity.float().log()).abs().mean((1, 2))
        gain = (analysis.gains.float().log() - teacher.gains.float().log()).abs().mean(-1)
    total = onset_weight * onset + kit_weight * kit + distill_weight * (velocity + gain)
    return dict(zip(TERMS, (total, onset, kit, velocity, gain)))
