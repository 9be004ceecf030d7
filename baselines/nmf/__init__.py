"""NMFD drum separation (Smaragdis 2004; Dittmar & Mueller 2016), the authors' five cases.

One-shot template files: `baselines.nmf.templates` (also the command that writes them).
"""

from .cases import CASES, separate

__all__ = ["CASES", "separate"]
