"""Class spaces of the scores: the 9 classes, and LarsNet's 5 groups (the headline).

References and estimates are folded the same way: stems summed over the classes of a
group, onsets of those classes merged into one sorted list.
"""

import numpy as np

from idm.constants import CLASSES
from idm.stems import stem_layout

SPACES = (5, 9)
"""Class spaces scored, by their number of stems; 5 is the headline."""


def stem_names(space: int) -> tuple:
    """Stem names of a space, in output order (`kick`, `snare`, ... as `idm separate` names them)."""
    return tuple(stem_layout(space))


def fold_onsets(onsets: dict, space: int) -> dict:
    """Onsets {class code: times} -> {stem name of `space`: sorted times of its classes}."""
    return {name: np.sort(np.concatenate([np.asarray(onsets[CLASSES[k]], np.float64).reshape(-1)
                                          for k in classes]))
            for name, classes in stem_layout(space).items()}
