"""The authors' five NMFD cases (Dittmar & Mueller's informed / uninformed grid) and one call that runs them."""

from dataclasses import dataclass

import torch

from idm.constants import CLASSES

from .nmfd import N_FFT, nmfd, onset_activations, random_templates, ratio_mask_separate, stft, template_frames


@dataclass(frozen=True)
class Case:
    """How one NMFD case is informed: where templates and activations start, what is updated."""

    name: str
    one_shot_templates: bool
    """Templates start from one-shots of the kit (else uniform random [0, 1))."""
    update_templates: bool
    onset_activations: bool
    """Activations start from the true onsets through NEMA (else constant ones, blind)."""
    iterations: int
    frames: int
    """Template length T in frames."""

    @property
    def info(self) -> str:
        """The information the case uses, stated next to its scores."""
        parts = ["mixture"]
        if self.one_shot_templates:
            parts.append("test-kit one-shots" + (" (updated)" if self.update_templates else ""))
        if self.onset_activations:
            parts.append("true onsets")
        return " + ".join(parts)


CASES = {c.name: c for c in (
    Case("1a", True, False, True, 50, template_frames()),
    Case("1b", True, True, True, 20, template_frames()),
    Case("2", True, True, False, 200, template_frames()),
    Case("3", False, True, True, 20, 7),
    Case("4", False, True, False, 200, 15),
)}
"""Case 1a is the paper's NMFD baseline."""


def initial_templates(case: Case, templates: torch.Tensor, seed: int) -> torch.Tensor:
    """(K, R, T) starting templates: the one-shots (R, K, T) where given and non-silent, else random."""
    k = N_FFT // 2 + 1
    W = random_templates(k, len(CLASSES), case.frames, seed)
    if case.one_shot_templates:
        if templates is None:
            raise ValueError(f"NMFD case {case.name} needs one-shot templates")
        if tuple(templates.shape) != (len(CLASSES), k, case.frames):
            raise ValueError(f"one-shot templates of shape {tuple(templates.shape)}, expected "
                             f"{(len(CLASSES), k, case.frames)}")
        given = templates.double().cpu().permute(1, 0, 2)
        present = given.sum((0, 2)) > 0
        W[:, present] = given[:, present]
    return W


def separate(mixture: torch.Tensor, case: str, templates: torch.Tensor = None, onsets=None,
             seed: int = 0) -> torch.Tensor:
    """Separate a mono mixture (T,) into the nine classes (9, T), CLASSES order, with NMFD `case`.

    `templates` (9, 1025, T) are one-shot magnitude spectrograms (see `baselines.nmf.templates`),
    needed by cases 1a, 1b and 2; `onsets` ({class code: times} or 9 arrays in CLASSES order)
    are needed by cases 1a, 1b and 3. Random templates are drawn from `seed`.
    """
    case = CASES[case]
    spec = stft(mixture.double())  # float64: float32 rounding swamps the 1e-10 activation floor
    V, m = spec.abs(), spec.shape[-1]
    if m < case.frames:  # shorter than a template: pad the spectrogram with silent frames
        V = torch.nn.functional.pad(V, (0, case.frames - m))
    W = initial_templates(case, templates, seed).to(V)
    n = V.shape[-1] - case.frames + 1
    if case.onset_activations:
        if onsets is None:
            raise ValueError(f"NMFD case {case.name} needs the onsets")
        times = [onsets[c] for c in CLASSES] if isinstance(onsets, dict) else list(onsets)
        H = onset_activations(times, n).to(V)
    else:
        H = torch.ones((len(CLASSES), n)).to(V)
    W, H, _ = nmfd(V, W, H, case.iterations, update_templates=case.update_templates)
    return ratio_mask_separate(spec, W, H, mixture.shape[-1]).to(mixture.dtype)
