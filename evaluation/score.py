"""Score one system's estimate of one track: separation rows and transcription rows."""

import torch

from idm.constants import CLASSES
from idm.masking import ratio_mask
from idm.stems import fold_stems

from .confusion import confusion_counts
from .separation import score_stem
from .spaces import fold_onsets, stem_names
from .systems import Estimate
from .tracks import Track
from .transcription import WINDOW, score_onsets


def outputs_in_space(estimate: Estimate, mixture: torch.Tensor, space: int) -> dict:
    """{"masked": (S, T), "synth": (S, T)} of an estimate in a class space. Synthetic stems are
    folded first and then ratio-mask the mixture (exponent 1, STFT 1024/256), as the authors
    built the 5-group masks from the group sums; stems a system separated itself are folded."""
    outputs = {}
    if estimate.synth is not None:
        synth = fold_stems(estimate.synth.float(), space)
        outputs["masked"] = ratio_mask(mixture[None].float(), synth[None])[0]
        if estimate.score_synth:
            outputs["synth"] = synth
    if estimate.separated is not None:
        outputs["masked"] = fold_stems(estimate.separated.float(), space)
    return outputs


def scorable_spaces(track: Track, estimate: Estimate, spaces) -> list:
    """The spaces both the references and the estimate can be folded into."""
    stems = estimate.synth if estimate.synth is not None else estimate.separated
    return [s for s in spaces if s <= track.space and (stems is None or s <= stems.shape[0])]


def score_track(track: Track, estimate: Estimate, spaces=(5, 9), silent: str = "exclude",
                segment_samples: int = None, window: float = WINDOW) -> dict:
    """{"separation": rows, "transcription": rows, "confusion": ...} of one track; a row is a dict
    with `space`, `output` (separation only), `stem` and the scores. `confusion` (when both onsets
    are known and the references have the 9 classes): the 9-class confusion counts
    (`evaluation.confusion`) with each class's reference onsets."""
    separation, transcription = [], []
    for space in scorable_spaces(track, estimate, spaces):
        references, names = fold_stems(track.stems, space).double().numpy(), stem_names(space)
        for output, stems in outputs_in_space(estimate, track.mixture, space).items():
            stems = stems.double().numpy()
            for j, name in enumerate(names):
                scores = score_stem(references[j], stems[j], silent, segment_samples)
                separation.append({"space": space, "output": output, "stem": name, **scores})
        if estimate.onsets is not None and track.onsets is not None:
            reference, estimated = fold_onsets(track.onsets, space), fold_onsets(estimate.onsets, space)
            for name in names:
                transcription.append({"space": space, "stem": name,
                                      **score_onsets(reference[name], estimated[name], window)})
    result = {"separation": separation, "transcription": transcription}
    if estimate.onsets is not None and track.onsets is not None and track.space == 9:
        result["confusion"] = {"counts": confusion_counts(track.onsets, estimate.onsets, window).tolist(),
                               "n_ref": [len(track.onsets.get(c, ())) for c in CLASSES]}
    return result
