"""idm: drum source separation and transcription with the Inverse Drum Machine."""

from .checkpoint import load_model, save_model
from .config import ModelConfig
from .model import InverseDrumMachine
from .separate import Separation, separate

__all__ = ["InverseDrumMachine", "ModelConfig", "Separation", "load_model", "save_model", "separate"]
__version__ = "0.1.0"
