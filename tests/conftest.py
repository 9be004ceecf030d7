"""Shared fixtures: the released checkpoint (through $IDM_CHECKPOINTS), the reference outputs
and demo loop from the shared folder, and small generated audio."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from idm import load_model

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IDM_SHARED", REPO.parent / "shared"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} not found: set IDM_SHARED to the folder holding reference/ and audio/"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def reference():
    return dict(np.load(_require(SHARED / "reference" / "idm-demo-mix.npz")))


@pytest.fixture(scope="session")
def demo_path():
    return _require(SHARED / "audio" / "idm-demo-mix.wav")


@pytest.fixture(scope="session")
def demo_audio(demo_path):
    audio, rate = sf.read(str(demo_path), dtype="float32")
    assert rate == 44100
    return torch.from_numpy(audio)


@pytest.fixture(scope="session")
def model():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return load_model("idm-44-train-kits")


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2)))


def run_idm(*args):
    """Run the real `idm` command line in a subprocess."""
    return subprocess.run([sys.executable, "-m", "idm", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory, demo_audio):
    """The first 4 s of the demo loop as a float WAV (short inputs keep command-line tests fast)."""
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(str(path), demo_audio[: 4 * 44100].numpy(), 44100, subtype="FLOAT")
    return path


def read_folder(folder, ext: str = "wav") -> dict:
    """{stem: samples} of every audio file with suffix `ext` in `folder`."""
    return {p.stem: sf.read(str(p), dtype="float32")[0] for p in sorted(Path(folder).glob(f"*.{ext}"))}
