"""Which stems a separation writes: the nine classes or LarsNet's five groups, and a subset."""

import torch

from .constants import CLASS_NAMES, CLASSES, STEM_GROUPS

RESIDUAL = "residual"
"""Name of the output holding what no written stem took (mixture minus their sum)."""


def stem_layout(merge: int = 9) -> dict:
    """Stem name -> class indices it sums: 9 (one per class) or 5 (LarsNet's groups)."""
    if merge == 9:
        return {CLASS_NAMES[code]: (k,) for k, code in enumerate(CLASSES)}
    if merge == 5:
        return {name: tuple(CLASSES.index(c) for c in codes) for name, codes in STEM_GROUPS.items()}
    raise ValueError(f"merge must be 9 (classes) or 5 (kick, snare, toms, hihat, cymbals), not {merge!r}")


def select_stems(layout: dict, names=None) -> dict:
    """The part of `layout` named in `names` (stem names, or class codes in the 9-stem layout)."""
    if not names:
        return dict(layout)
    chosen = []
    for name in names:
        stem = CLASS_NAMES.get(name, name)
        if stem not in layout:
            raise ValueError(f"unknown stem {name!r} (stems: {', '.join(layout)})")
        if stem not in chosen:
            chosen.append(stem)
    return {stem: layout[stem] for stem in layout if stem in chosen}


def fold(stems: torch.Tensor, layout: dict) -> torch.Tensor:
    """Class stems (..., K, T) -> the layout's stems (..., S, T), each the sum of its classes."""
    return torch.stack([stems[..., list(idx), :].sum(-2) for idx in layout.values()], dim=-2)


def fold_stems(stems: torch.Tensor, space: int) -> torch.Tensor:
    """Stems (..., 9, T) in CLASSES order, or (..., S, T) already in `space` -> (..., S, T)."""
    if stems.shape[-2] == space:
        return stems
    if stems.shape[-2] != len(CLASSES):
        raise ValueError(f"stems of {stems.shape[-2]} classes cannot be folded into {space} stems")
    return fold(stems, stem_layout(space))
