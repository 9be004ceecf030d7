"""LarsNet (Mezza et al. 2024): five U-Nets separating kick, snare, toms, hi-hat and cymbals."""

from .model import STEMS, LarsNet, LarsNetConfig
from .weights import WeightsError, load_larsnet

__all__ = ["STEMS", "LarsNet", "LarsNetConfig", "WeightsError", "load_larsnet"]
