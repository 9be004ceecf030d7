"""Shared fixtures: the released checkpoint (through $IDM_CHECKPOINTS), the compact reference
outputs and demo loop in tests/reference, and small generated audio."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from idm import load_model

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "reference"
"""Compact reference outputs of the authors' code and the demo loop (see reference/build.py)."""


def reference_file(name: str) -> dict:
    return dict(np.load(REFERENCE / name))


@pytest.fixture(scope="session")
def reference():
    """The released model's inference stages on the demo loop (seed 1234), compact."""
    return reference_file("idm-demo-mix-stages.npz")


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory):
    """The demo loop as the 16-bit WAV it was released as (restored from the lossless FLAC)."""
    audio, rate = sf.read(str(REFERENCE / "idm-demo-mix.flac"), dtype="int16")
    path = tmp_path_factory.mktemp("demo") / "idm-demo-mix.wav"
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


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


def assert_matches_at_positions(ours: np.ndarray, reference: dict, name: str, min_snr_db: float,
                                norm_rtol: float = 1e-4) -> None:
    """Compare (K, T) `ours` with a compact reference: each class's values at `{name}_index`
    (SNR >= min_snr_db) and its L2 norm; a class whose reference is silent must be exactly silent."""
    index, values, norms = reference[f"{name}_index"], reference[f"{name}_at_index"], reference[f"{name}_norm"]
    for k, (row, norm) in enumerate(zip(values, norms)):
        if norm == 0:
            assert not np.any(ours[k]), f"{name}[{k}] should be exactly silent"
            continue
        assert snr_db(row, ours[k][index]) >= min_snr_db, f"{name}[{k}]"
        assert np.linalg.norm(ours[k].astype(np.float64)) == pytest.approx(norm, rel=norm_rtol), f"{name}[{k}]"


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


STEMGMD_KITS = ("brooklyn", "bluebird")
"""The generated StemGMD tree's kits: one training kit (id 0), one test kit (id 6)."""


def stemgmd_takes():
    from data.generate import Take
    return (Take("drummer1", "session1", "train", 4, 100, True),
            Take("drummer1", "session2", "validation", 4, 126, True),
            Take("drummer1", "eval_session", "test", 4, 84, True))


@pytest.fixture(scope="session")
def stemgmd_tree(tmp_path_factory):
    """A generated StemGMD-shaped tree (two kits, a train, a validation and an eval_session take,
    every GMD pitch, tempo changes) with the real set's quirks: the validation take's ride stem
    is absent with the training kit, the train take's kick is mono and its snare is at 48 kHz.
    Returns (root, {(performance, kit, stem folder): original 44.1 kHz mono samples})."""
    from scipy.signal import resample_poly

    from data.generate import generate
    root = tmp_path_factory.mktemp("stemgmd")
    rows = generate(root, stemgmd_takes(), STEMGMD_KITS, renderer="procedural", seed=3)
    originals = {}
    for path in sorted((root / "audio").rglob("*.wav")):
        kit, stem = path.parts[-3], path.parts[-2]
        originals[(path.stem, kit, stem)] = sf.read(str(path), dtype="float32")[0].mean(axis=1)
    train, val = rows[0]["midi_filename"], rows[1]["midi_filename"]
    audio = root / "audio" / Path(train).parent
    kick = audio / "brooklyn" / "kick" / (Path(train).stem + ".wav")
    sf.write(str(kick), sf.read(str(kick))[0].mean(axis=1), 44100, subtype="PCM_16")
    snare = audio / "brooklyn" / "snare" / (Path(train).stem + ".wav")
    stereo = sf.read(str(snare))[0]
    sf.write(str(snare), resample_poly(stereo, 160, 147, axis=0), 48000, subtype="PCM_16")
    (root / "audio" / Path(val).parent / "brooklyn" / "ride" / (Path(val).stem + ".wav")).unlink()
    return root, originals


def autograd_nodes(tensor: torch.Tensor) -> set:
    """The names of the autograd nodes that `tensor` was computed through (e.g. `_TCNBackward`:
    the synthesiser's training path)."""
    nodes, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in nodes:
            nodes.add(node)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return {type(node).__name__ for node in nodes}


def run_module(module, *args, **kwargs):
    """Run `python -m module args` in a subprocess from the repository root."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, **kwargs)


def make_process(*args, **kwargs) -> subprocess.Popen:
    """The real `make` in the repository, started with this interpreter's venv (not reinstalled)."""
    venv = Path(sys.prefix)
    return subprocess.Popen(["make", "-o", str(venv / ".installed"), f"VENV={venv}", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, **kwargs)


def make(*args, timeout: int = 1200) -> subprocess.CompletedProcess:
    """`make_process`, run to its end."""
    proc = make_process(*args)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="session")
def stemgmd_data(stemgmd_tree, tmp_path_factory):
    """The generated tree preprocessed by the real command (two workers)."""
    out = tmp_path_factory.mktemp("stemgmd-out")
    proc = run_module("data.preprocess", "stemgmd", stemgmd_tree[0], out, "-j", "2")
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal, even where the suite was
    started in the background (where the shell leaves SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
