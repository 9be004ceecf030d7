"""NMFD drum separation (Smaragdis 2004; Dittmar & Mueller 2016), the authors' five cases."""

from .cases import CASES, separate
from .templates import TemplateBank

__all__ = ["CASES", "separate", "TemplateBank"]
