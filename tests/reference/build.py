"""Build this folder's compact reference files from the full ones in ../shared (run from the repo root).

    python tests/reference/build.py [SHARED [OUT]]

The full files are the authors' outputs (IDM) and the official LarsNet code's outputs; the
compact ones keep what the tests compare, so a clone without ../shared still runs every parity
test. Only the released checkpoint comes from outside. Kept:
- `idm-demo-mix.flac`: the 10 s demo loop, lossless (16-bit, as the WAV holds it).
- `idm-demo-mix-stages.npz`: every inference stage at seed 1234. Small tensors whole (onset
  logits, velocities, kit probabilities, the onset frames); the noise as its SHA-256; one-shots,
  synthesised and separated stems at fixed sample positions, with each class's L2 norm.
- `idm-train-step.npz`: one training step of the authors' code, less the audio (the crops are
  the demo loop's first 9 s) and its float16 waveform excerpts.
- `larsnet-rule-weights.npz`: everything but the 14 s input, which is the demo loop tiled
  (channel 0) and `float32(0.7) * roll(channel 0, 300)` (channel 1).
"""

import hashlib
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
POSITIONS = 8192
"""Sample positions kept of each long array (the same sorted random positions for every class)."""
ATTACK = 2048
"""One-shots are also kept whole over their first samples, where they change fastest."""


def positions(length: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(length, POSITIONS, replace=False))


def stages(full: dict) -> dict:
    out = {k: full[k] for k in ("seed", "onset_logits", "velocity", "kit_probs")}
    out["noise_sha256"] = np.array(hashlib.sha256(full["noise"].astype(np.float32).tobytes()).hexdigest())
    out["onset_frames"] = np.argwhere(full["onsets"][0] > 0).astype(np.int32)  # (n, 2): class, frame
    out["n_frames"] = np.array(full["onsets"].shape[-1])
    samples = full["samples"][0]
    index = np.union1d(np.arange(ATTACK), positions(samples.shape[-1], 1))
    out["samples_index"], out["samples_at_index"] = index, samples[:, index]
    out["samples_norm"] = np.linalg.norm(samples, axis=-1)
    for name in ("synth_stems", "separated"):
        x = full[name][0]
        index = positions(x.shape[-1], 2)
        out[f"{name}_index"], out[f"{name}_at_index"] = index, x[:, index]
        out[f"{name}_norm"] = np.linalg.norm(x.astype(np.float64), axis=-1)
    out["length"] = np.array(full["separated"].shape[-1])
    return out


def main(shared: Path, out: Path = HERE) -> None:
    audio, rate = sf.read(str(shared / "audio" / "idm-demo-mix.wav"), dtype="int16")
    sf.write(str(out / "idm-demo-mix.flac"), audio, rate, subtype="PCM_16")
    full = dict(np.load(shared / "reference" / "idm-demo-mix.npz"))
    np.savez_compressed(out / "idm-demo-mix-stages.npz", **stages(full))

    step = dict(np.load(shared / "reference" / "idm-train-step.npz"))
    assert np.array_equal(step["mix_pcm16"], audio[: len(step["mix_pcm16"])])
    step["mix_samples"] = np.array(len(step.pop("mix_pcm16")))
    for name in ("mix_estimate_first_2s_f16", "samples_first_250ms_f16"):
        del step[name]
    np.savez_compressed(out / "idm-train-step.npz", **step)

    lars = dict(np.load(shared / "reference" / "larsnet-rule-weights.npz"))
    x = lars.pop("input")
    tiled = np.resize(audio.astype(np.float32) / 32768, x.shape[-1])
    assert np.array_equal(x, np.stack([tiled, np.float32(0.7) * np.roll(tiled, 300)]))
    lars["input_length"] = np.array(x.shape[-1])
    np.savez_compressed(out / "larsnet-rule-weights.npz", **lars)


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:3])) if len(sys.argv) > 1 else main(HERE.parents[2] / "shared")
